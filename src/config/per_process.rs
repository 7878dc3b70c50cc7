//! The values of a program that name the process they are for (taskmaster(1), VARIABLES):
//! `${TASKMASTER_PROCESS_NUM}` and `${TASKMASTER_PROCESS_NAME}` in `cmd`, `env` values,
//! `workingdir` and the paths of `stdout` and `stderr`. The program's spec holds them filled in
//! for its first process (what `--check`'s warnings and a reload's comparison look at); each
//! process is started from `ProgramSpec::for_process`.

use super::expand::Template;
use super::node::Node;
use super::output::Output;
use super::raw::{anchor_program, normalize, read_cmd};
use super::spec::{ProgramSpec, process_name};
use super::validate::reprobe;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What differs between the processes of one program; paths are absolute, and so is a command
/// given by its path.
#[derive(Debug, Clone, Default)]
pub(crate) struct PerProcess {
    pub(crate) cmd: Option<Template>,
    pub(crate) workingdir: Option<Template>,
    pub(crate) stdout: Option<Template>,
    pub(crate) stderr: Option<Template>,
    pub(crate) env: BTreeMap<String, Template>,
    /// The target of the `ready` and `healthcheck` probe (an address, a URL, a file) as written.
    pub(crate) ready: Option<Template>,
    pub(crate) healthcheck: Option<Template>,
    /// The folder of the file the program is written in: where a relative command is found
    /// from when there is no `workingdir`.
    pub(crate) dir: PathBuf,
    pub(crate) home: Option<PathBuf>,
}

/// The same values: where they were written does not matter (a program moved to another file
/// is the same program).
impl PartialEq for PerProcess {
    fn eq(&self, other: &PerProcess) -> bool {
        (&self.cmd, &self.workingdir, &self.stdout, &self.stderr)
            == (&other.cmd, &other.workingdir, &other.stdout, &other.stderr)
            && (&self.env, &self.ready, &self.healthcheck) == (&other.env, &other.ready, &other.healthcheck)
    }
}

/// What defines each process (a change restarts it), and how it is checked (a change applies
/// in place), of a program's values that differ between processes (taskmaster(1), RELOAD).
pub(crate) fn defining(p: Option<&PerProcess>) -> impl PartialEq + use<'_> {
    p.map(|p| (&p.cmd, &p.workingdir, &p.stdout, &p.stderr, &p.env))
}

pub(crate) fn checking(p: Option<&PerProcess>) -> impl PartialEq + use<'_> {
    p.map(|p| (&p.ready, &p.healthcheck))
}

impl PerProcess {
    /// Nothing differs.
    pub(crate) fn is_empty(&self) -> bool {
        self.cmd.is_none()
            && self.workingdir.is_none()
            && self.stdout.is_none()
            && self.stderr.is_none()
            && self.env.is_empty()
            && self.ready.is_none()
            && self.healthcheck.is_none()
    }

    /// Fills in `spec`'s values for process `number`, named `name`.
    fn fill(&self, spec: &mut ProgramSpec, number: u32, name: &str) {
        let path = |t: &Template| normalize(Path::new(&t.render(number, name)));
        if let Some(t) = &self.workingdir {
            spec.workingdir = Some(path(t));
        }
        for (key, t) in &self.env {
            spec.env.insert(key.clone(), t.render(number, name));
        }
        // It split for the first process, and a number or a name adds no quote or space.
        if let Some(t) = &self.cmd
            && let Ok(cmd) = read_cmd(&Node::Str(t.render(number, name)))
        {
            spec.cmd = anchor_program(cmd, spec.workingdir.as_deref().unwrap_or(&self.dir));
        }
        for (t, output) in [(&self.stdout, &mut spec.stdout), (&self.stderr, &mut spec.stderr)] {
            if let (Some(t), Some(Output::File(file))) = (t, output) {
                file.path = path(t);
            }
        }
        // A file probe is found from the process's own folder.
        let base = spec.workingdir.clone().unwrap_or_else(|| self.dir.clone());
        let home = self.home.as_deref();
        if let (Some(t), Some(ready)) = (&self.ready, &mut spec.ready)
            && let Some(probe) = reprobe(&ready.probe, &t.render(number, name), &base, home)
        {
            ready.probe = probe;
        }
        if let (Some(t), Some(health)) = (&self.healthcheck, &mut spec.healthcheck)
            && let Some(probe) = reprobe(&health.probe, &t.render(number, name), &base, home)
        {
            health.probe = probe;
        }
    }
}

impl ProgramSpec {
    /// The spec as process `number` runs it; `None` when it is the same for every process.
    pub(crate) fn for_process(&self, number: u32) -> Option<ProgramSpec> {
        let holes = self.per_process.as_deref()?;
        let mut spec = self.clone();
        holes.fill(&mut spec, number, &process_name(&self.name, self.numprocs, number));
        Some(spec)
    }

    /// Each process's `stdout` and `stderr`, in order.
    pub(crate) fn outputs(&self) -> Vec<[Option<Output>; 2]> {
        (0..self.numprocs)
            .map(|n| {
                let spec = self.for_process(n);
                let spec = spec.as_ref().unwrap_or(self);
                [spec.stdout.clone(), spec.stderr.clone()]
            })
            .collect()
    }
}

/// A path template made absolute as `raw::resolve_path` makes a path: `~` is `home`, and a
/// relative one starts from `base`. A hole never starts with `/` or `~`.
pub(crate) fn resolve(t: &Template, base: &Template, home: Option<&Path>) -> Result<Template, String> {
    let written = t.render(0, "x");
    if written == "~" || written.starts_with("~/") {
        let Some(home) = home else {
            return Err(format!("`{}` starts with ~ but HOME is not set", t.written()));
        };
        // `~` and `~/x`: the `/` is the template's own.
        return Ok(Template::text(&home.display().to_string()).then(&t.strip_prefix(1)));
    }
    match written.starts_with('/') {
        true => Ok(t.clone()),
        false => Ok(base.clone().then(&Template::text("/")).then(t)),
    }
}
