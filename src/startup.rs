//! `taskmaster` from its command line to the running loop: parses the options, loads the
//! configuration (or checks it), sets up the terminal, the log, the socket and the loop, and maps
//! the outcome to the exit status (taskmaster(1), EXIT STATUS).

use crate::cli::{self, Options, Parsed};
use crate::config::LogLevel;
use crate::control::server::Server;
use crate::control::socket_file::Access;
use crate::event_loop::{Daemon, Setup};
use crate::logging::{Console, Logging, Queued};
use crate::shell::Typist;
use crate::shell::complete::target_names;
use crate::shell::editor::{Editor, Targets};
use crate::shell::lines::LineReader;
use crate::{Exit, VERSION, config, leftovers};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;

/// `taskmaster` with the arguments after its name.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let options = match cli::parse(args) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            println!("{}", cli::USAGE);
            return exit(Exit::Clean);
        }
        Ok(Parsed::Version) => {
            println!("taskmaster {VERSION}");
            return exit(Exit::Clean);
        }
        Ok(Parsed::Import { from, to }) => return exit(import(&from, to.as_deref())),
        Err(message) => {
            let usage: Vec<&str> = cli::USAGE.lines().take_while(|l| !l.is_empty()).collect();
            let usage = usage.join("\n");
            complain(&format!("taskmaster: {message}\n{usage}\n(`taskmaster --help` lists the options)"));
            return exit(Exit::Usage);
        }
    };
    let Some(path) = options.config.clone().or_else(config::find_default) else {
        complain(&format!("taskmaster: {}", config::no_default()));
        return exit(Exit::Usage);
    };
    let purpose = if options.check { config::Purpose::Check } else { config::Purpose::Run };
    let config = match config::load_for(&path, purpose) {
        Ok(config) => config,
        Err(e) => {
            complain(&e.to_string());
            return exit(Exit::Usage);
        }
    };
    if options.check {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let warnings = crate::preflight::warnings(&config, &text);
        for w in &warnings {
            complain(&crate::preflight::line(&path.display().to_string(), w));
        }
        let failed = options.strict && !warnings.is_empty();
        match warnings.len() {
            0 => {}
            1 => complain("1 warning"),
            n => complain(&format!("{n} warnings")),
        }
        // The file as understood, only when it passes: a failed check prints its problems alone.
        if failed {
            return exit(Exit::Usage);
        }
        print!("{}", config::render(&config));
        return exit(Exit::Clean);
    }
    match run(&options, &path, &config) {
        Ok(code) => exit(code),
        Err(message) => {
            complain(&format!("taskmaster: {message}"));
            exit(Exit::Fatal)
        }
    }
}

/// `--import`: the YAML on standard output or in `to`, what is not carried over on standard
/// error (taskmaster(1), SWITCHING FROM SUPERVISORD).
fn import(from: &Path, to: Option<&Path>) -> Exit {
    if let Some(to) = to
        && same_file(from, to)
    {
        complain(&format!("taskmaster: -o {} is the file imported: write the YAML elsewhere", to.display()));
        return Exit::Usage;
    }
    let (yaml, unmapped) = match crate::import::import(from) {
        Ok(imported) => imported,
        Err(why) => {
            complain(&format!("taskmaster: {why}"));
            return Exit::Usage;
        }
    };
    if !unmapped.is_empty() {
        complain(&format!("not carried over ({}; each is a comment in the output too):", unmapped.len()));
        for line in &unmapped {
            complain(&format!("  {line}"));
        }
    }
    match to {
        Some(path) => match std::fs::write(path, &yaml) {
            Ok(()) => {
                complain(&format!(
                    "wrote {}; check it with `taskmaster --check -c {}`",
                    path.display(),
                    path.display()
                ));
                Exit::Clean
            }
            Err(e) => {
                complain(&format!(
                    "taskmaster: cannot write {}: {}",
                    path.display(),
                    config::describe_io(&e)
                ));
                Exit::Fatal
            }
        },
        None => {
            print!("{yaml}");
            Exit::Clean
        }
    }
}

/// Both paths name one file (the same device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Sets up the terminal, the log, the socket and the loop, then supervises until shutdown.
fn run(options: &Options, path: &Path, config: &config::Config) -> Result<Exit, String> {
    crate::sys::limits::ensure_standard_fds();
    crate::sys::spawn::reserve_slots();
    // Before anything is spawned: no program may speak to systemd in taskmaster's name.
    let service = crate::sys::service::take();
    let wanted = crate::event_loop::capacity::needed(config, crate::sys::limits::open_files() + 8);
    let files = crate::sys::limits::raise_open_files(wanted as u64);
    let names = target_names(config.programs.iter().map(|(n, p)| (n.as_str(), p.process_names())));
    let targets = Arc::new(Mutex::new(names));
    let (typist, console) = typist(options, config, &targets);
    let level = options.loglevel.unwrap_or(config.daemon.loglevel);
    let mirror = (!options.quiet).then(|| console.clone());
    let logfile = config.daemon.logfile.as_deref();
    let rotation = (config.daemon.logfile_maxbytes, config.daemon.logfile_backups);
    let log = Logging::new((logfile, rotation), level, mirror, config.daemon.user.as_ref())?;
    let signals = crate::event_loop::watch_signals()?;
    if let Err(e) = crate::sys::reap::become_subreaper() {
        log.log(LogLevel::Warn, &format!("{e}: what programs leave running is not seen"));
    }
    let daemon = &config.daemon;
    let access = Access { mode: daemon.socket_mode, owner: daemon.socket_chown() };
    let server = Server::bind(&daemon.socket, access)?;
    // Bound before root is given up, so that a port below 1024 can be (taskmaster(1), METRICS).
    let metrics = match &daemon.metrics {
        Some(address) => crate::event_loop::Scrapes::bind(address)?,
        None => crate::event_loop::Scrapes::default(),
    };
    // Started once the socket is ours: a taskmaster refused for another's socket never says so.
    log.log(LogLevel::Info, &format!("taskmaster started with pid {}", std::process::id()));
    let open = crate::sys::limits::open_files();
    if let Some(short) = crate::event_loop::capacity::shortfall(config, open, files.current) {
        log.log(LogLevel::Warn, &short);
    }
    if let Some(address) = &daemon.metrics {
        log.log(LogLevel::Info, &format!("metrics: served on {}", address.text));
    }
    // The socket is ours, so no other taskmaster runs on it: what its groups file still lists
    // was left by one that was killed. That goes before anything starts.
    let groups_file = leftovers::path_for(server.path());
    for line in leftovers::clean_up(&groups_file)? {
        log.log(LogLevel::Warn, &line);
    }
    let (groups, problem) = leftovers::Groups::create(groups_file);
    if let Some(problem) = problem {
        log.log(
            LogLevel::Warn,
            &format!("{problem}; a taskmaster killed with SIGKILL could leave processes behind"),
        );
    }
    // Root is given up once the socket and the log are open (taskmaster(1), PRIVILEGES); the
    // log was opened as that user would, so that it can be reopened.
    if let Some(user) = &config.daemon.user {
        crate::sys::privileges::give_up_root(user)?;
        log.log(LogLevel::Info, &format!("running as user '{}' (uid {})", user.user, user.uid));
    }
    let setup = Setup {
        config_path: path.to_path_buf(),
        cli_level: options.loglevel,
        targets: Some(targets),
        files,
        groups,
        signals: Some(signals),
        service,
        metrics,
    };
    Daemon::new(config, log, console, server, typist, setup)?.run()
}

/// Who will type commands: nobody (`--no-shell`), a person with the line editor (a terminal),
/// or lines from a pipe; and the console that shows the log and the answers.
fn typist(options: &Options, config: &config::Config, targets: &Targets) -> (Typist, Arc<dyn Console>) {
    let note = match config.daemon.logfile {
        Some(_) => {
            "(some output was dropped while the terminal did not take it; the log file has every event)"
        }
        None => "(some output was dropped while the terminal did not take it)",
    };
    if !options.shell {
        return (Typist::Nobody, Queued::stdout(note));
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let history = config.daemon.history.clone();
    if terminal && let Ok(editor) = Editor::open("taskmaster", "taskmaster> ", history, targets.clone(), note)
    {
        let console = editor.console();
        return (Typist::Editor(editor), console);
    }
    let console = Queued::stdout(note);
    let prompt = terminal.then(|| console.clone());
    (Typist::Lines { reader: LineReader::new(), prompt }, console)
}

/// Prints an error on stderr; a closed terminal is no reason to panic on the way out.
fn complain(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
}

fn exit(code: Exit) -> ExitCode {
    ExitCode::from(code as u8)
}
