//! A program's `rlimits` (taskmaster(1), the `rlimits` key): known names, numbers or
//! `unlimited`, and, for a taskmaster that is not root, no more than its own hard limits.

use super::super::error::nearest;
use super::super::node::Node;
use super::super::raw::{Read, read_bytes};
use super::super::rlimits::{Limit, Rlimits, UNLIMITED, shown};
use super::{Here, Purpose, Validator};
use std::collections::BTreeMap;

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

impl Validator<'_> {
    pub(super) fn rlimits(&mut self, e: &Entries) -> Option<Rlimits> {
        let Some((at, pairs)) = self.mapping(e, "rlimits", "{nofile: 4096, core: 0}")? else {
            return Some(Rlimits::new());
        };
        let names: Vec<&str> = Limit::ALL.iter().map(|l| l.name()).collect();
        let mut limits = Rlimits::new();
        let mut complete = true;
        for (name, value) in pairs {
            let here = at.key(name, 0);
            let Some(limit) = Limit::named(name) else {
                let hint =
                    nearest(name, &names).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
                let msg = format!("rlimits: `{name}` is not a limit{hint}: one of {}", names.join(", "));
                self.problem(&here, None, msg);
                complete = false;
                continue;
            };
            let checked = read_limit(limit, value).and_then(|v| self.within_hard_limit(limit, v));
            match checked {
                Ok(_) if limits.contains_key(&limit) => {
                    self.problem(&here, None, format!("rlimits: `{name}` appears twice; keep one"));
                    complete = false;
                }
                Ok(v) => {
                    limits.insert(limit, v);
                }
                Err(msg) => {
                    self.problem(&here, None, format!("rlimits: {name}: {msg}"));
                    complete = false;
                }
            }
        }
        complete.then_some(limits)
    }

    /// Only root may raise a hard limit: for anyone else, a value above taskmaster's own is an
    /// error now rather than a failed spawn later (`--check` leaves it to the machine that runs).
    fn within_hard_limit(&self, limit: Limit, value: u64) -> Read<u64> {
        let hard = (self.ctx.hard_limit)(limit);
        match self.ctx.uid != 0 && self.ctx.purpose == Purpose::Run && value > hard {
            true => Err(format!(
                "{} is above taskmaster's own hard limit ({}): only root can raise it",
                shown(value),
                shown(hard)
            )),
            false => Ok(value),
        }
    }
}

/// A number (bytes with units for the sizes), or `unlimited`.
fn read_limit(limit: Limit, node: &Node) -> Read<u64> {
    if let Node::Str(s) = node
        && s.trim() == "unlimited"
    {
        return Ok(UNLIMITED);
    }
    if limit.is_size() {
        return read_bytes(node, usize::MAX).map(|b| b as u64).map_err(|e| format!("{e}, or unlimited"));
    }
    match node {
        Node::Int(i) if *i >= 0 => Ok(*i as u64),
        other => Err(format!("expected a whole number from 0, or unlimited, found {}", other.kind())),
    }
}
