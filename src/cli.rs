//! The command line of `taskmaster` (taskmaster(1), OPTIONS). Hand-written: six options do not need
//! a parser crate, and the usage text doubles as `--help`.

use crate::config::LogLevel;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: taskmaster [-c FILE] [--no-shell] [--check [--strict]] [-q] [-l LEVEL] [-h] [-V]
       taskmaster --import SUPERVISORD.conf [-o OUT.yaml]

Runs the programs of FILE in the foreground, keeps them alive by their policy,
and gives you a control shell on the terminal (prompt `taskmaster> `).

options:
  -c, --config FILE    configuration file (default: ./taskmaster.yaml, then
                       /etc/taskmaster/taskmaster.yaml)
      --no-shell       no control shell; control through signals and the socket
      --check          validate FILE, print it normalised, and exit (0 valid, 2 not);
                       what cannot run on this machine is a warning
      --strict         a warning makes --check exit 2 too
      --import FILE    write supervisord's configuration FILE (and its [include]
                       files) as taskmaster's YAML, and exit; what has no
                       equivalent is listed on stderr and as comments
  -o, --output OUT     with --import: write to OUT instead of standard output
  -q, --quiet          do not print events on standard output
  -l, --loglevel LEVEL error, warn, info or debug (overrides `loglevel`)
  -h, --help           print this help and exit
  -V, --version        print the version and exit

See taskmaster(1) for the configuration, the commands and the signals.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    pub(crate) config: Option<PathBuf>,
    pub(crate) shell: bool,
    pub(crate) check: bool,
    /// `--strict`: with `--check`, warnings fail too.
    pub(crate) strict: bool,
    pub(crate) quiet: bool,
    pub(crate) loglevel: Option<LogLevel>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed {
    Run(Options),
    /// `--import FROM [-o TO]`.
    Import {
        from: PathBuf,
        to: Option<PathBuf>,
    },
    Help,
    Version,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut options =
        Options { config: None, shell: true, check: false, strict: false, quiet: false, loglevel: None };
    let (mut import, mut output) = (None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next().cloned()).ok_or(format!("{name} needs a value"))
        };
        match flag {
            "-c" | "--config" => options.config = Some(PathBuf::from(value(flag)?)),
            "--no-shell" => options.shell = false,
            "--check" => options.check = true,
            "--import" => import = Some(PathBuf::from(value(flag)?)),
            "-o" | "--output" => output = Some(PathBuf::from(value(flag)?)),
            "--strict" => options.strict = true,
            "-q" | "--quiet" => options.quiet = true,
            "-l" | "--loglevel" => {
                let level = value(flag)?;
                let parsed = LogLevel::parse(&level)
                    .ok_or(format!("unknown log level `{level}` (error, warn, info or debug)"))?;
                options.loglevel = Some(parsed);
            }
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            other if other.starts_with("-c") && other.len() > 2 => {
                options.config = Some(PathBuf::from(&other[2..]));
            }
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            other => return Err(format!("unexpected argument `{other}` (the file goes after -c)")),
        }
    }
    if options.strict && !options.check {
        return Err("--strict goes with --check".to_string());
    }
    match (import, output) {
        (Some(from), to) if options.config.is_none() && !options.check => Ok(Parsed::Import { from, to }),
        (Some(_), _) => Err("--import goes alone (with -o OUT)".to_string()),
        (None, Some(_)) => Err("-o goes with --import".to_string()),
        (None, None) => Ok(Parsed::Run(options)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_every_option() {
        let Ok(Parsed::Run(o)) = run(&["-c", "x.yaml", "--no-shell", "--check", "-q", "-l", "debug"]) else {
            panic!("not parsed")
        };
        assert_eq!(o.config, Some(PathBuf::from("x.yaml")));
        assert!(!o.shell && o.check && o.quiet);
        assert_eq!(o.loglevel, Some(LogLevel::Debug));
        assert_eq!(run(&["--config=y.yaml"]), run(&["-c", "y.yaml"]));
        assert_eq!(run(&["-cz.yaml"]), run(&["-c", "z.yaml"]));
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(run(&["-h"]), Ok(Parsed::Help));
        assert_eq!(run(&["--check", "-V"]), Ok(Parsed::Version));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(run(&["--bogus"]).unwrap_err().contains("--bogus"));
        assert!(run(&["-c"]).unwrap_err().contains("needs a value"));
        assert!(run(&["-l", "loud"]).unwrap_err().contains("loud"));
        assert!(run(&["--strict"]).unwrap_err().contains("--strict goes with --check"));
        assert!(matches!(run(&["--check", "--strict"]), Ok(Parsed::Run(o)) if o.strict));
    }
}
