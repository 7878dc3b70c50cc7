//! `taskmaster`: parses the command line, loads the configuration and runs the daemon; maps the
//! outcome to the exit status.

use std::process::ExitCode;
use std::sync::Arc;
use taskmaster::cli::{self, Options, Parsed};
use taskmaster::control::server::Server;
use taskmaster::event_loop::{Daemon, StdinMode};
use taskmaster::logging::{Console, Logging, Stdout};
use taskmaster::{Exit, VERSION, config};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match cli::parse(&args) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            println!("{}", cli::USAGE);
            return exit(Exit::Clean);
        }
        Ok(Parsed::Version) => {
            println!("taskmaster {VERSION}");
            return exit(Exit::Clean);
        }
        Err(message) => {
            eprintln!("taskmaster: {message}\n\n{}", cli::USAGE);
            return exit(Exit::Usage);
        }
    };
    let path = options.config.clone().unwrap_or_else(config::default_path);
    let config = match config::load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return exit(Exit::Usage);
        }
    };
    if options.check {
        print!("{}", config::render(&config));
        return exit(Exit::Clean);
    }
    match run(&options, &config) {
        Ok(()) => exit(Exit::Clean),
        Err(message) => {
            eprintln!("taskmaster: {message}");
            exit(Exit::Fatal)
        }
    }
}

/// Sets up the log, the socket and the loop, then supervises until shutdown.
fn run(options: &Options, config: &config::Config) -> Result<(), String> {
    let console: Arc<dyn Console> = Arc::new(Stdout);
    let level = options.loglevel.unwrap_or(config.daemon.loglevel);
    let mirror = (!options.quiet).then(|| console.clone());
    let log = Logging::new(config.daemon.logfile.as_deref(), level, mirror)?;
    let server = Server::bind(&config.daemon.socket, config.daemon.socket_mode)?;
    let stdin = match options.shell {
        true => StdinMode::Lines,
        false => StdinMode::Ignored,
    };
    Daemon::new(config, log, console, server, stdin)?.run()
}

fn exit(code: Exit) -> ExitCode {
    ExitCode::from(code as u8)
}
