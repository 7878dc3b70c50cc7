//! Command targets (taskmaster(1), COMMANDS): `all`, `PROG`, `PROG:*`, `PROG:PROG_NN`.

use super::{ProcId, Supervisor};

/// What a target names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selection {
    /// One process named by itself: a command that does not apply to it is an error for it.
    One(ProcId),
    /// Several processes (`all`, `PROG:*`, a program of several processes): a command acts on
    /// those it applies to and quietly skips the others.
    Group(Vec<ProcId>),
}

impl Supervisor {
    /// Resolves one target; `None` when it names no process.
    pub(super) fn select(&self, target: &str) -> Option<Selection> {
        if target == "all" {
            let all = self.programs.values().flat_map(|p| p.procs.iter().copied());
            return Some(Selection::Group(self.ids_by_name(all)));
        }
        let (program, process) = match target.split_once(':') {
            Some((program, process)) => (program, Some(process)),
            None => (target, None),
        };
        let found = self.programs.get(program)?;
        match process {
            Some("*") => Some(Selection::Group(found.procs.clone())),
            None if found.procs.len() == 1 => Some(Selection::One(found.procs[0])),
            None => Some(Selection::Group(found.procs.clone())),
            // `web:web_03` is process number 3 of `web`: found by its number, not by a search.
            Some(process) => process
                .strip_prefix(program)
                .and_then(|rest| rest.strip_prefix('_'))
                .and_then(|number| number.parse::<usize>().ok())
                .and_then(|n| found.procs.get(n))
                .filter(|id| self.procs.get(id).is_some_and(|p| p.name == target))
                .map(|id| Selection::One(*id)),
        }
    }

    /// The processes of `ids` sorted by name, as `status` lists them.
    pub(super) fn ids_by_name(&self, ids: impl Iterator<Item = ProcId>) -> Vec<ProcId> {
        let mut ids: Vec<ProcId> = ids.collect();
        ids.sort_by(|a, b| self.procs[a].name.cmp(&self.procs[b].name));
        ids
    }
}
