//! Tab completion, decided from the command table: command names first, then what the command
//! takes (targets, a signal, a command name, flags). Pure: the words and the names come in.

use crate::control::command::{self, Args, COMMANDS, SIGNAL_NAMES};

/// The words that can complete `word`, given the words typed before it and the target names
/// (`all`, programs, `prog:*`, processes).
pub(crate) fn candidates(before: &[&str], word: &str, targets: &[String]) -> Vec<String> {
    let pool: Vec<String> = match before.split_first() {
        None => COMMANDS.iter().map(|c| c.name.to_string()).collect(),
        Some((name, args)) => match command::find(name).map(|c| c.args) {
            Some(Args::Targets | Args::AnyTargets) => targets.to_vec(),
            Some(Args::OptionalTarget) if args.is_empty() => targets.to_vec(),
            Some(Args::SignalThenTargets) if args.is_empty() => {
                SIGNAL_NAMES.iter().map(|s| s.to_string()).collect()
            }
            Some(Args::SignalThenTargets) => targets.to_vec(),
            Some(Args::OptionalCommand) if args.is_empty() => {
                COMMANDS.iter().map(|c| c.name.to_string()).collect()
            }
            Some(Args::Flags(flags)) => flags.iter().map(|f| f.to_string()).collect(),
            // After `-n`, its number; then one process; then its stream.
            Some(Args::Tail) => match args.iter().filter(|a| !a.starts_with('-')).count() {
                _ if args.last() == Some(&"-n") => Vec::new(),
                0 => targets.iter().filter(|t| !t.contains('*') && *t != "all").cloned().collect(),
                1 if args.last().is_some_and(|a| !a.starts_with('-') && a.parse::<usize>().is_err()) => {
                    vec!["stdout".to_string(), "stderr".to_string()]
                }
                _ => Vec::new(),
            },
            Some(Args::Process) if args.is_empty() => {
                targets.iter().filter(|t| !t.contains('*') && *t != "all").cloned().collect()
            }
            Some(Args::None | Args::OptionalTarget | Args::OptionalCommand | Args::Process) | None => {
                Vec::new()
            }
        },
    };
    let upper = word.to_ascii_uppercase();
    let mut out: Vec<String> = pool
        .into_iter()
        .filter(|c| c.starts_with(word) || (SIGNAL_NAMES.contains(&c.as_str()) && c.starts_with(&upper)))
        .filter(|c| !before.iter().skip(1).any(|b| b == c))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every name a target can be, for these programs and their processes.
pub(crate) fn target_names<'a>(programs: impl Iterator<Item = (&'a str, Vec<String>)>) -> Vec<String> {
    let mut names = vec!["all".to_string()];
    for (program, processes) in programs {
        names.push(program.to_string());
        if processes.len() > 1 {
            names.push(format!("{program}:*"));
            names.extend(processes);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<String> {
        target_names(
            [("nginx", vec!["nginx".to_string()]), ("web", vec!["web:web_00".into(), "web:web_01".into()])]
                .into_iter(),
        )
    }

    #[test]
    fn the_first_word_completes_to_commands() {
        assert_eq!(candidates(&[], "st", &targets()), ["start", "status", "stop"]);
        assert_eq!(candidates(&[], "res", &targets()), ["restart"]);
        assert!(candidates(&[], "", &targets()).len() >= 10);
    }

    #[test]
    fn targets_complete_after_commands_that_take_them() {
        assert_eq!(candidates(&["stop"], "w", &targets()), ["web", "web:*", "web:web_00", "web:web_01"]);
        assert_eq!(candidates(&["start"], "web:web_0", &targets()), ["web:web_00", "web:web_01"]);
        assert_eq!(candidates(&["status"], "ng", &targets()), ["nginx"]);
        assert_eq!(candidates(&["restart"], "a", &targets()), ["all"]);
        assert_eq!(candidates(&["stop", "nginx"], "n", &targets()), Vec::<String>::new(), "not twice");
        assert_eq!(candidates(&["pid", "nginx"], "", &targets()), Vec::<String>::new());
        assert_eq!(candidates(&["shutdown"], "", &targets()), Vec::<String>::new());
    }

    #[test]
    fn signal_names_then_targets_after_signal() {
        assert_eq!(candidates(&["signal"], "US", &targets()), ["USR1", "USR2"]);
        assert_eq!(candidates(&["signal"], "hu", &targets()), ["HUP"]);
        assert_eq!(candidates(&["signal", "HUP"], "ng", &targets()), ["nginx"]);
    }

    #[test]
    fn help_completes_command_names() {
        assert_eq!(candidates(&["help"], "sh", &targets()), ["shutdown"]);
    }
}
