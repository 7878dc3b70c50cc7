//! `taskmasterctl` from its command line: one command to a running taskmaster over its socket,
//! or a shell of them, and the exit status (taskmaster(1), EXIT STATUS).

use super::{self as client, Connection, CtlExit, USAGE, print_line};
use crate::control::command::{self, Command, Order};
use crate::logging::Console;
use crate::shell::editor::Typed;
use crate::shell::lines::LINE_LIMIT;
use crate::shell::session::{Next, Session};
use std::io::{BufRead, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

struct Options {
    socket: Option<PathBuf>,
    config: Option<PathBuf>,
    json: bool,
    words: Vec<String>,
}

/// What the command line asks for besides talking to taskmaster.
enum Parsed {
    Run(Options),
    Help,
    Version,
}

/// `taskmasterctl` with the arguments after its name.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let options = match parse_args(args) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            print_line(&format!("{USAGE}\n{}", command::help(None).unwrap_or_default()));
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            print_line(&format!("taskmasterctl {}", crate::VERSION));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            let usage = USAGE.lines().next().unwrap_or_default();
            return fail(
                CtlExit::Usage,
                &format!("{message}\n{usage}\n(`taskmasterctl --help` lists the options and commands)"),
            );
        }
    };
    let path = match client::socket_path(options.socket.as_deref(), options.config.as_deref()) {
        Ok((path, warning)) => {
            // A reload's answer lists the file's errors itself.
            let reload = options.words.first().is_some_and(|w| w == "reload");
            if let Some(warning) = warning.filter(|_| !reload) {
                eprintln!("taskmasterctl: {warning}");
            }
            path
        }
        Err(message) => return fail(CtlExit::Usage, &message),
    };
    match options.words.is_empty() {
        true => shell(&path),
        false => one_shot(&path, &options),
    }
}

fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut options = Options { socket: None, config: None, json: false, words: Vec::new() };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().cloned().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "-s" | "--socket" => options.socket = Some(PathBuf::from(value(arg)?)),
            "-c" | "--config" => options.config = Some(PathBuf::from(value(arg)?)),
            "--json" => options.json = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            flag if flag.starts_with('-') && options.words.is_empty() => {
                return Err(format!("unknown option `{flag}`"));
            }
            word => {
                options.words.push(word.to_string());
                options.words.extend(args.by_ref().cloned());
            }
        }
    }
    Ok(Parsed::Run(options))
}

fn one_shot(path: &std::path::Path, options: &Options) -> ExitCode {
    let (name, args) = options.words.split_first().expect("one_shot runs with words");
    let command = match command::parse(name, args) {
        Ok(command) => command,
        Err(message) => return fail(CtlExit::Usage, &message),
    };
    if let Command::Help(topic) = &command {
        return match command::help(topic.as_deref()) {
            Ok(text) => {
                print_line(&text);
                ExitCode::SUCCESS
            }
            Err(message) => fail(CtlExit::Usage, &message),
        };
    }
    if let Some(attach) = streams(&command) {
        return match client::attach::run(path, &options.words, attach, options.json) {
            Ok(ended) => ExitCode::from(ended.exit() as u8),
            Err(message) => fail(CtlExit::Usage, &message),
        };
    }
    let response = match Connection::open(path).and_then(|mut c| c.call(&client::request(&options.words))) {
        Ok(response) => response,
        Err(e) => return fail(CtlExit::Usage, &e.to_string()),
    };
    match options.json {
        true => print_line(&serde_json::to_string(&response).unwrap_or_default()),
        false if !response.output.is_empty() => print_line(&response.output),
        false => {}
    }
    ExitCode::from(client::exit_status(&command, &response) as u8)
}

/// Whether the command turns its connection into a stream: `Some(true)` for `attach`,
/// `Some(false)` for `tail -f`.
pub(crate) fn streams(command: &Command) -> Option<bool> {
    match command {
        Command::Attach { .. } => Some(true),
        Command::Tail { follow: true, .. } => Some(false),
        _ => None,
    }
}

/// Without a command: the interactive shell on a terminal, else commands one per line from
/// stdin until `quit`, `exit`, `shutdown` or the end of input.
fn shell(path: &std::path::Path) -> ExitCode {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".taskmasterctl_history"));
        return match client::shell::run(path, history) {
            Ok(code) => ExitCode::from(code as u8),
            Err(message) => fail(CtlExit::Usage, &message),
        };
    }
    let mut connection = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => return fail(CtlExit::Usage, &e.to_string()),
    };
    // The same session as at a terminal, typed by stdin: one command after another, each once
    // the one before has its answer; a line that is not a command is answered with why.
    let mut session = Session::new(Arc::new(Printed));
    session.take(vec![Typed::Line("status".to_string())]);
    let mut stdin = std::io::stdin().lock();
    // A line that is not UTF-8 is read as well as it can be (and answered as an unknown
    // command), never taken for the end of the input; one longer than any command is skipped,
    // never kept whole.
    let mut read = || {
        let mut line = Vec::new();
        match (&mut stdin).take(LINE_LIMIT as u64 + 1).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => vec![Typed::Eof],
            Ok(n) if n > LINE_LIMIT && !line.ends_with(b"\n") => {
                skip_line(&mut stdin);
                vec![Typed::TooLong { limit: LINE_LIMIT }]
            }
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                vec![Typed::Line(text.trim_end_matches(['\n', '\r']).to_string())]
            }
        }
    };
    loop {
        match session.next(&mut read) {
            Some(Next::Run(words, Command::Order(Order::Shutdown))) => {
                // taskmaster is gone after its answer: nothing after it can be carried out.
                return match connection.call(&client::request(&words)) {
                    Ok(response) => {
                        session.answer(&response.output);
                        ExitCode::from(client::exit_status(&Command::Order(Order::Shutdown), &response) as u8)
                    }
                    Err(e) => fail(CtlExit::Usage, &e.to_string()),
                };
            }
            Some(Next::Run(_, command)) if streams(&command).is_some() => {
                session.answer("attach and tail -f run alone, on a terminal: `taskmasterctl attach NAME`, `taskmasterctl tail -f NAME`");
            }
            Some(Next::Run(words, command)) if command != Command::Quit => {
                match connection.call(&client::request(&words)) {
                    Ok(response) => session.answer(&response.output),
                    // Refused before it was sent: the connection is as good as before.
                    Err(e @ client::ClientError::TooLong { .. }) => session.answer(&e.to_string()),
                    Err(e) => return fail(CtlExit::Usage, &e.to_string()),
                }
            }
            _ => return ExitCode::SUCCESS,
        }
    }
}

/// Answers printed on standard output, as a filter does (see `print_line`).
struct Printed;

impl Console for Printed {
    fn line(&self, text: &str) {
        print_line(text);
    }
}

fn fail(code: CtlExit, message: &str) -> ExitCode {
    eprintln!("taskmasterctl: {message}");
    ExitCode::from(code as u8)
}

/// Reads past the end of the line under way (or to the end of the input).
fn skip_line(input: &mut impl BufRead) {
    loop {
        let (used, done) = match input.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(buf) => match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            },
        };
        input.consume(used);
        if done {
            return;
        }
    }
}
