//! `taskmaster`: parses the command line, loads the configuration and runs the daemon; maps the
//! outcome to the exit status.

use std::process::ExitCode;
use taskmaster::cli::{self, Parsed};
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
    eprintln!("taskmaster: configuration loaded; supervision is not built yet");
    exit(Exit::Fatal)
}

fn exit(code: Exit) -> ExitCode {
    ExitCode::from(code as u8)
}
