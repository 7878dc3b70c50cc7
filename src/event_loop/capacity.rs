//! How many processes taskmaster's open-file limit can hold (taskmaster(1), IMPLEMENTATION
//! NOTES): each running process keeps a pipe per stream (one terminal with `tty`) and its output
//! files stay open. Said at start and at every reload when the configuration needs more, so that
//! a user reads it once instead of a `too many open files` per spawn.

use super::{RESERVED_FDS, SPAWN_FDS};
use crate::config::{Config, Output};
use std::collections::HashSet;

/// Descriptors `config` needs with every process running: `baseline` open at start (the log,
/// the socket, the loop), the reserve, one spawn's peak, each process's pipes and each output
/// file once.
pub(crate) fn needed(config: &Config, baseline: usize) -> usize {
    let mut files = HashSet::new();
    let mut pipes = 0;
    for spec in config.programs.values() {
        let merged = spec.tty || spec.stderr == Some(Output::Stdout);
        pipes += spec.numprocs as usize * if merged { 1 } else { 2 };
        for [stdout, stderr] in spec.outputs() {
            for output in [stdout, stderr].into_iter().flatten() {
                if let Output::File(file) = output {
                    files.insert(file.path);
                }
            }
        }
    }
    baseline + RESERVED_FDS + SPAWN_FDS + pipes + files.len()
}

/// What to say when `config` needs more than `limit` descriptors; `None` when they fit.
pub(crate) fn shortfall(config: &Config, baseline: usize, limit: u64) -> Option<String> {
    let needed = needed(config, baseline);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if needed <= limit {
        return None;
    }
    let processes: usize = config.programs.values().map(|p| p.numprocs as usize).sum();
    // Each process beyond what fits takes two descriptors (or one): the average tells how many fit.
    let per_process = (needed - baseline - RESERVED_FDS - SPAWN_FDS).max(1) as f64 / processes.max(1) as f64;
    let room = limit.saturating_sub(needed - (per_process * processes as f64) as usize);
    let fit = ((room as f64 / per_process) as usize).min(processes);
    Some(format!(
        "open files: the {processes} processes of this configuration need about {needed} descriptors, \
         but taskmaster may open {limit}: about {fit} can run, and the last {} to start will fail to spawn \
         (too many open files); raise the hard limit (`ulimit -Hn`, systemd's LimitNOFILE=), or run \
         taskmaster as root, which raises it itself",
        processes - fit
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Context, validate};

    fn config(yaml: &str) -> Config {
        validate(yaml, "t.yaml", &Context::for_tests("/tmp")).expect("valid")
    }

    #[test]
    fn pipes_and_files_are_counted_once_each() {
        let c = config(
            "programs:\n  a: {cmd: a, numprocs: 10, stdout: /tmp/a.log}\n  \
             b: {cmd: b, numprocs: 5, stderr: stdout, stdout: /tmp/a.log}\n  c: {cmd: c, tty: true}\n",
        );
        assert_eq!(needed(&c, 10), 10 + RESERVED_FDS + SPAWN_FDS + 20 + 5 + 1 + 1);
    }

    #[test]
    fn a_shortfall_says_how_many_fit() {
        let c = config("programs:\n  w: {cmd: w, numprocs: 100}\n");
        assert_eq!(shortfall(&c, 10, 1024), None);
        let said = shortfall(&c, 10, 133).expect("short");
        assert!(
            said.contains("the 100 processes of this configuration need about 233 descriptors"),
            "{said}"
        );
        assert!(said.contains("taskmaster may open 133: about 50 can run, and the last 50"), "{said}");
    }
}
