//! The commands of the shell, of `taskmasterctl` and of the socket: one static table drives
//! parsing, `help` and completion, so they cannot disagree. A line or a request is parsed here,
//! once, where it enters; past this point commands are values.

use crate::config::{nearest, parse_signal};
use nix::sys::signal::Signal;

/// What a command takes after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    None,
    /// Zero or more targets (`status`).
    AnyTargets,
    /// One or more targets.
    Targets,
    /// At most one target (`pid`).
    OptionalTarget,
    /// A signal, then one or more targets.
    SignalThenTargets,
    /// At most one command name (`help`).
    OptionalCommand,
    /// Optional flags (`reload --dry-run`).
    Flags(&'static [&'static str]),
    /// `[-f] [-n LINES] NAME [stdout|stderr]`.
    Tail,
    /// One process (`attach`).
    Process,
}

/// One row of the table.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub args: Args,
    pub usage: &'static str,
    pub help: &'static str,
    /// The command, from arguments already checked against `args`; the error says which
    /// argument is wrong.
    pub(crate) build: fn(&[String]) -> Result<Command, String>,
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "status",
        args: Args::AnyTargets,
        usage: "status [TARGET...]",
        help: "show the state of every process, or of the targets",
        build: |a| Ok(Command::Order(Order::Status(a.to_vec()))),
    },
    CommandSpec {
        name: "start",
        args: Args::Targets,
        usage: "start TARGET...",
        help: "start processes and wait until they are RUNNING (or fail)",
        build: |a| Ok(Command::Order(Order::Start(a.to_vec()))),
    },
    CommandSpec {
        name: "stop",
        args: Args::Targets,
        usage: "stop TARGET...",
        help: "stop processes (stop signal, then SIGKILL after stoptime) and wait until they are gone",
        build: |a| Ok(Command::Order(Order::Stop(a.to_vec()))),
    },
    CommandSpec {
        name: "restart",
        args: Args::Targets,
        usage: "restart TARGET...",
        help: "stop processes, then start them again",
        build: |a| Ok(Command::Order(Order::Restart(a.to_vec()))),
    },
    CommandSpec {
        name: "reload",
        args: Args::Flags(&["--dry-run"]),
        usage: "reload [--dry-run]",
        help: "re-read the configuration file and apply what changed (--dry-run: only show the plan)",
        build: |a| Ok(Command::Reload { dry_run: a.iter().any(|f| f == "--dry-run") }),
    },
    CommandSpec {
        name: "signal",
        args: Args::SignalThenTargets,
        usage: "signal SIGNAL TARGET...",
        help: "send a signal (HUP, USR1, 15, ...) to processes",
        build: build_signal,
    },
    CommandSpec {
        name: "pid",
        args: Args::OptionalTarget,
        usage: "pid [TARGET]",
        help: "print taskmaster's pid, or the pids of the target's processes",
        build: |a| Ok(Command::Order(Order::Pid(a.first().cloned()))),
    },
    CommandSpec {
        name: "tail",
        args: Args::Tail,
        usage: "tail [-f] [-n LINES] NAME [stdout|stderr]",
        help: "print the last lines a process wrote (10 of stdout unless told; kept in memory, see tail_bytes); \
               -f: go on printing what it writes until Ctrl-C",
        build: build_tail,
    },
    CommandSpec {
        name: "attach",
        args: Args::Process,
        usage: "attach NAME",
        help: "connect the terminal to a process: its recent output, then live; keys go to it if it has a \
               terminal (tty: true); the detach key (ctrl-] unless detach_key says) leaves it running",
        build: |a| Ok(Command::Attach { name: a[0].clone() }),
    },
    CommandSpec {
        name: "fg",
        args: Args::Process,
        usage: "fg NAME",
        help: "same as attach",
        build: |a| Ok(Command::Attach { name: a[0].clone() }),
    },
    CommandSpec {
        name: "reopen",
        args: Args::None,
        usage: "reopen",
        help: "close and open again the log file and every output file, as SIGUSR2 does (after logrotate moved them)",
        build: |_| Ok(Command::Reopen),
    },
    CommandSpec {
        name: "alerts",
        args: Args::Flags(&["test"]),
        usage: "alerts [test]",
        help: "list the alert channels and what they sent and failed (test: send a test alert through each)",
        build: |a| Ok(Command::Alerts { test: a.iter().any(|f| f == "test") }),
    },
    CommandSpec {
        name: "shutdown",
        args: Args::None,
        usage: "shutdown",
        help: "stop every process, then exit taskmaster",
        build: |_| Ok(Command::Order(Order::Shutdown)),
    },
    CommandSpec {
        name: "version",
        args: Args::None,
        usage: "version",
        help: "print taskmaster's version",
        build: |_| Ok(Command::Version),
    },
    CommandSpec {
        name: "help",
        args: Args::OptionalCommand,
        usage: "help [COMMAND]",
        help: "list the commands, or show how to use one",
        build: |a| Ok(Command::Help(a.first().cloned())),
    },
    CommandSpec {
        name: "quit",
        args: Args::None,
        usage: "quit",
        help: "leave the shell (in taskmaster's own shell: shut down)",
        build: |_| Ok(Command::Quit),
    },
    CommandSpec {
        name: "exit",
        args: Args::None,
        usage: "exit",
        help: "same as quit",
        build: |_| Ok(Command::Quit),
    },
];

/// A parsed command, sorted by who carries it out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// Carried out by the supervisor.
    Order(Order),
    /// The configuration file is read where files are read (the event loop), then applied.
    Reload {
        dry_run: bool,
    },
    /// Answered where the command was typed or received.
    Help(Option<String>),
    Version,
    /// Leaves a shell (taskmaster's own: shuts down).
    Quit,
    /// The last lines of a process's output, answered from what taskmaster keeps in memory;
    /// `follow`: then what it writes, as it comes.
    Tail {
        name: String,
        stream: crate::tail::Stream,
        lines: usize,
        follow: bool,
    },
    /// The user's terminal connected to a process (taskmaster(1), ATTACH).
    Attach {
        name: String,
    },
    /// Every log file closed and opened again (an outside rotation moved them).
    Reopen,
    /// The alert channels and their counts; `test`: a test alert through each (taskmaster(1),
    /// ALERTS).
    Alerts {
        test: bool,
    },
}

/// What the supervisor is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Order {
    Status(Vec<String>),
    Start(Vec<String>),
    Stop(Vec<String>),
    Restart(Vec<String>),
    Signal(Signal, Vec<String>),
    Pid(Option<String>),
    Shutdown,
}

pub(crate) fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The most arguments one command takes: enough to name every process one by one, few enough
/// that no single request can keep taskmaster busy for long.
const MAX_ARGS: usize = 4096;

/// Parses a command name and its arguments; the error says what is wrong and how to use it.
pub(crate) fn parse(name: &str, args: &[String]) -> Result<Command, String> {
    let spec = find(name).ok_or_else(|| unknown(name))?;
    if args.len() > MAX_ARGS {
        return Err(format!("{name}: too many arguments ({}; at most {MAX_ARGS})", args.len()));
    }
    let usage = || format!("usage: {}", spec.usage);
    match spec.args {
        Args::None if !args.is_empty() => return Err(format!("{name} takes no arguments; {}", usage())),
        Args::Targets if args.is_empty() => return Err(format!("{name} needs a target; {}", usage())),
        Args::OptionalTarget | Args::OptionalCommand if args.len() > 1 => {
            return Err(format!("{name} takes at most one argument; {}", usage()));
        }
        Args::SignalThenTargets if args.len() < 2 => {
            return Err(format!("{name} needs a signal and a target; {}", usage()));
        }
        Args::Flags(known) => {
            if let Some(bad) = args.iter().find(|a| !known.contains(&a.as_str())) {
                let what = if bad.starts_with('-') { "option" } else { "argument" };
                return Err(format!("{name}: unknown {what} `{bad}`; {}", usage()));
            }
        }
        Args::Tail if args.is_empty() => return Err(format!("{name} needs a process; {}", usage())),
        Args::Process if args.len() != 1 => {
            return Err(format!("{name} takes one process; {}", usage()));
        }
        Args::Process if args[0].starts_with('-') => {
            return Err(format!("{name}: unknown option `{}`; {}", args[0], usage()));
        }
        Args::None
        | Args::AnyTargets
        | Args::Targets
        | Args::OptionalTarget
        | Args::OptionalCommand
        | Args::SignalThenTargets
        | Args::Tail
        | Args::Process => {}
    }
    (spec.build)(args).map_err(|why| format!("{why}; {}", usage()))
}

/// `signal SIGNAL TARGET...`, its count of arguments checked.
fn build_signal(args: &[String]) -> Result<Command, String> {
    let signal =
        parse_signal(&args[0]).ok_or_else(|| format!("`{}` is not a signal name or number", args[0]))?;
    Ok(Command::Order(Order::Signal(signal, args[1..].to_vec())))
}

/// The most lines `tail` prints: more than any tail_bytes holds of real lines.
const MAX_TAIL_LINES: usize = 100_000;

/// `tail [-f] [-n LINES] NAME [stdout|stderr]`, the options in any order (`-fn5` too).
fn build_tail(args: &[String]) -> Result<Command, String> {
    let mut lines = 10;
    let mut follow = false;
    let mut rest = args;
    while let Some(flag) = rest.first().filter(|a| a.starts_with('-')) {
        rest = &rest[1..];
        for (i, letter) in flag[1..].char_indices() {
            match letter {
                'f' => follow = true,
                'n' => {
                    let count = match &flag[i + 2..] {
                        "" => {
                            let count = rest.first().ok_or("-n needs a number of lines")?;
                            rest = &rest[1..];
                            count.as_str()
                        }
                        attached => attached,
                    };
                    lines = count.parse().map_err(|_| format!("`{count}` is not a number of lines"))?;
                    break;
                }
                _ => return Err(format!("unknown option `{flag}`")),
            }
        }
        if flag == "-" {
            return Err("unknown option `-`".to_string());
        }
    }
    let stream = match rest.get(1).map(String::as_str) {
        None | Some("stdout") => crate::tail::Stream::Stdout,
        Some("stderr") => crate::tail::Stream::Stderr,
        Some(other) => return Err(format!("`{other}` is not stdout or stderr")),
    };
    match rest {
        [name] | [name, _] if !name.starts_with('-') => {
            Ok(Command::Tail { name: name.clone(), stream, lines: lines.min(MAX_TAIL_LINES), follow })
        }
        [] => Err("tail needs a process".to_string()),
        _ => Err("tail takes one process, and stdout or stderr".to_string()),
    }
}

/// Splits a typed line into words as a shell does (quotes, backslashes) and parses them: the one
/// way a line becomes a command, in both shells and in taskmasterctl. `None` for a blank line.
pub(crate) fn parse_line(line: &str) -> Result<Option<(Vec<String>, Command)>, String> {
    let words = shell_words::split(line).map_err(|_| format!("unterminated quote in: {line}"))?;
    let Some((name, args)) = words.split_first() else { return Ok(None) };
    let command = parse(name, args)?;
    Ok(Some((words, command)))
}

/// supervisorctl's commands that taskmaster does under another name, or not at all.
const SUPERVISORCTL: &[(&str, &str)] = &[
    ("update", "`reload` applies the file's changes, as supervisorctl's `update` does"),
    ("reread", "`reload --dry-run` shows what a reload would change"),
    ("add", "`reload` starts the programs added to the file"),
    ("remove", "`reload` stops the programs removed from the file"),
    ("avail", "`status` lists every process of the configuration"),
    ("maintail", "there is no `maintail`: the log goes to the `logfile` of the taskmaster section"),
];

/// `unknown command `stat` (did you mean `status`?)`: the commands it begins, else the nearest.
fn unknown(name: &str) -> String {
    if let Some((_, hint)) = SUPERVISORCTL.iter().find(|(n, _)| *n == name) {
        return format!("unknown command `{name}` ({hint})");
    }
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let begun: Vec<String> =
        names.iter().filter(|n| name.len() >= 2 && n.starts_with(name)).map(|n| format!("`{n}`")).collect();
    let guess = match begun.as_slice() {
        [] => nearest(name, &names).map(|n| format!("`{n}`")),
        [one] => Some(one.clone()),
        [first @ .., last] => Some(format!("{} or {last}", first.join(", "))),
    };
    match guess {
        Some(guess) => format!("unknown command `{name}` (did you mean {guess}?)"),
        None => format!("unknown command `{name}` (type `help` for the list)"),
    }
}

/// `help` and `help COMMAND`.
pub(crate) fn help(topic: Option<&str>) -> Result<String, String> {
    match topic {
        None => {
            let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
            let lines: Vec<String> =
                COMMANDS.iter().map(|c| format!("{:width$}  {}", c.usage, c.help)).collect();
            Ok(format!(
                "{}\nA TARGET is `all`, a program (`web`), `web:*`, or one process (`web:web_01`).",
                lines.join("\n")
            ))
        }
        Some(name) => match find(name) {
            Some(c) => Ok(format!("usage: {}\n{}", c.usage, c.help)),
            None => Err(unknown(name)),
        },
    }
}

/// Signal names offered by completion and accepted by `signal`.
pub(crate) const SIGNAL_NAMES: &[&str] =
    &["HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "TSTP", "WINCH", "ALRM"];

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Command, String> {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&words[0], &words[1..])
    }

    #[test]
    fn tail_takes_a_count_a_process_and_a_stream() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let tail =
            |name: &str, stream, lines| Command::Tail { name: name.into(), stream, lines, follow: false };
        let follow =
            |name: &str, stream, lines| Command::Tail { name: name.into(), stream, lines, follow: true };
        use crate::tail::Stream::{Stderr, Stdout};
        assert_eq!(parse("tail", &words(&["web"])), Ok(tail("web", Stdout, 10)));
        assert_eq!(
            parse("tail", &words(&["-n", "3", "web:web_01", "stderr"])),
            Ok(tail("web:web_01", Stderr, 3))
        );
        assert_eq!(parse("tail", &words(&["-n5", "web"])), Ok(tail("web", Stdout, 5)));
        assert_eq!(parse("tail", &words(&["-f", "web"])), Ok(follow("web", Stdout, 10)));
        assert_eq!(parse("tail", &words(&["-fn", "2", "web", "stderr"])), Ok(follow("web", Stderr, 2)));
        assert_eq!(parse("tail", &words(&["-n", "2", "-f", "web"])), Ok(follow("web", Stdout, 2)));
        for bad in [
            &["-x", "web"][..],
            &["-", "web"],
            &["web", "stdin"],
            &["-n", "x", "web"],
            &["-n", "3"],
            &["a", "b", "c"],
            &["-f"],
        ] {
            assert!(parse("tail", &words(bad)).is_err(), "{bad:?}");
        }
        assert!(parse("tail", &[]).unwrap_err().contains("needs a process"));
    }

    #[test]
    fn attach_and_fg_take_one_process() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse("attach", &words(&["web"])), Ok(Command::Attach { name: "web".into() }));
        assert_eq!(parse("fg", &words(&["web:web_01"])), Ok(Command::Attach { name: "web:web_01".into() }));
        assert!(parse("attach", &[]).unwrap_err().contains("takes one process"));
        assert!(parse("fg", &words(&["a", "b"])).unwrap_err().contains("takes one process"));
        assert!(parse("attach", &words(&["-x"])).unwrap_err().contains("unknown option"));
    }

    #[test]
    fn parses_every_command() {
        let o = |order| Ok(Command::Order(order));
        assert_eq!(p("status"), o(Order::Status(vec![])));
        assert_eq!(p("status web:*"), o(Order::Status(vec!["web:*".into()])));
        assert_eq!(p("start a b"), o(Order::Start(vec!["a".into(), "b".into()])));
        assert_eq!(p("stop all"), o(Order::Stop(vec!["all".into()])));
        assert_eq!(p("restart x"), o(Order::Restart(vec!["x".into()])));
        assert_eq!(p("signal usr1 x"), o(Order::Signal(Signal::SIGUSR1, vec!["x".into()])));
        assert_eq!(p("signal 9 x"), o(Order::Signal(Signal::SIGKILL, vec!["x".into()])));
        assert_eq!(p("pid"), o(Order::Pid(None)));
        assert_eq!(p("pid web"), o(Order::Pid(Some("web".into()))));
        assert_eq!(p("shutdown"), o(Order::Shutdown));
        assert_eq!(p("reload"), Ok(Command::Reload { dry_run: false }));
        assert_eq!(p("reload --dry-run"), Ok(Command::Reload { dry_run: true }));
        assert_eq!(p("version"), Ok(Command::Version));
        assert_eq!(p("help stop"), Ok(Command::Help(Some("stop".into()))));
        assert_eq!(p("quit"), Ok(Command::Quit));
        assert_eq!(p("exit"), Ok(Command::Quit));
        assert_eq!(p("alerts"), Ok(Command::Alerts { test: false }));
        assert_eq!(p("alerts test"), Ok(Command::Alerts { test: true }));
        assert_eq!(
            p("alerts send"),
            Err("alerts: unknown argument `send`; usage: alerts [test]".to_string())
        );
    }

    #[test]
    fn mistakes_say_how_to_use_the_command() {
        assert!(
            p("frobnicate").unwrap_err().contains("unknown command `frobnicate` (type `help` for the list)")
        );
        assert_eq!(p("stat"), Err("unknown command `stat` (did you mean `status`?)".to_string()));
        assert_eq!(
            p("update").unwrap_err(),
            "unknown command `update` (`reload` applies the file's changes, as supervisorctl's `update` does)"
        );
        assert_eq!(p("restrat").unwrap_err(), "unknown command `restrat` (did you mean `restart`?)");
        assert_eq!(p("st").unwrap_err(), "unknown command `st` (did you mean `status`, `start` or `stop`?)");
        assert!(p("start").unwrap_err().contains("usage: start TARGET..."));
        assert!(p("signal TERM").unwrap_err().contains("needs a signal and a target"));
        assert!(p("signal BOGUS x").unwrap_err().contains("`BOGUS` is not a signal"));
        assert!(p("shutdown now").unwrap_err().contains("takes no arguments"));
        assert!(p("pid a b").unwrap_err().contains("at most one"));
        assert!(p("reload --now").unwrap_err().contains("unknown option `--now`"));
        let many = vec!["all".to_string(); MAX_ARGS + 1];
        assert_eq!(
            parse("status", &many),
            Err(format!("status: too many arguments (4097; at most {MAX_ARGS})"))
        );
        assert!(parse("status", &many[1..]).is_ok());
    }

    #[test]
    fn lines_split_like_a_shell() {
        assert_eq!(parse_line("  "), Ok(None));
        let (words, command) = parse_line("start web 'a b'").unwrap().unwrap();
        assert_eq!(words, ["start", "web", "a b"]);
        assert_eq!(command, Command::Order(Order::Start(vec!["web".into(), "a b".into()])));
        assert_eq!(parse_line("stop 'x"), Err("unterminated quote in: stop 'x".to_string()));
    }

    #[test]
    fn help_lists_every_command_once() {
        let text = help(None).unwrap();
        for c in COMMANDS {
            assert_eq!(
                text.matches(&format!("\n{} ", c.usage)).count() + usize::from(text.starts_with(c.usage)),
                1,
                "{}",
                c.name
            );
        }
        assert!(help(Some("stop")).unwrap().starts_with("usage: stop TARGET..."));
        assert!(help(Some("nope")).is_err());
    }
}
