//! Commands from where they come in (a client's request, a line typed at the shell) to where
//! they are carried out: the supervisor's orders, a reload, and what the loop answers itself
//! (help, version, tail, alerts). Who may run what is decided here (taskmaster(1),
//! PRIVILEGES).

use super::{Daemon, LOGGED_REFUSALS};
use crate::config::LogLevel;
use crate::control::access;
use crate::control::command::{self, Command};
use crate::control::protocol::Request;
use crate::control::reply::{Denial, Reply, TailReply};
use crate::supervisor::{Hands, Input, Now, Requester};
use mio::Token;

/// The most of a process's output one `tail` answers with (the end of it): with its escapes in
/// JSON it stays well within what a client may be sent at once.
const TAIL_REPLY_BYTES: usize = 1024 * 1024;

impl Daemon {
    /// A request from a client: parsed here, once, and carried out if the client may
    /// (taskmaster(1), PRIVILEGES); what changes something is logged with who asked.
    pub(super) fn on_request(&mut self, token: Token, request: Request, now: Now) {
        let from = Requester::Client(token.0);
        let command = match command::parse(&request.command, &request.args) {
            Ok(command) => command,
            Err(why) => return self.io.reply(from, Reply::Refused(why)),
        };
        let peer = self.io.server.peer(token);
        let own = nix::unistd::geteuid().as_raw();
        let admin = peer.is_some_and(|p| access::is_admin(&self.io.daemon.admins, p, own));
        let who = peer.map_or_else(|| "an unknown client".to_string(), access::Peer::describe);
        let words = access::words(&request.command, &request.args);
        if access::needs_admin(&command) && !admin {
            // A few per connection: a client that keeps trying does not fill the disk.
            let refusals = self.io.server.refused(token);
            if access::changes(&command) && refusals <= LOGGED_REFUSALS {
                let more =
                    if refusals == LOGGED_REFUSALS { " (more on this connection go unlogged)" } else { "" };
                self.io.log.log(LogLevel::Warn, &format!("{words} by {who}: permission denied{more}"));
            }
            let names = access::refused_names(&command, &request.command);
            return self.io.reply(from, Reply::Denied(Denial { names, who }));
        }
        if access::changes(&command) {
            self.io.log.log(LogLevel::Info, &format!("{words} by {who}"));
        }
        self.command(from, command, now);
    }

    /// Carries out a command where it belongs: the supervisor's orders go to it, a reload reads
    /// the file first, the rest is answered here.
    pub(super) fn command(&mut self, from: Requester, command: Command, now: Now) {
        match command {
            Command::Order(order) => self.apply(Input::Order { from, order }, now),
            Command::Reload { dry_run } => self.reload(Some(from), dry_run, now),
            Command::Help(topic) => {
                let reply = command::help(topic.as_deref()).map_or_else(Reply::Refused, Reply::Help);
                self.io.reply(from, reply);
            }
            Command::Version => self.io.reply(from, Reply::Version),
            Command::Quit => {
                let why = "quit leaves a shell; to stop taskmaster, use shutdown";
                self.io.reply(from, Reply::Refused(why.to_string()));
            }
            Command::Alerts { test: false } => {
                let reply = self.io.alerting.report();
                self.io.reply(from, reply);
            }
            Command::Alerts { test: true } => {
                if let Some(reply) = self.io.alerting.test(from, now, &self.io.log) {
                    self.io.reply(from, reply);
                }
            }
            Command::Tail { name, stream, lines, follow: true } => self.follow(from, name, stream, lines),
            Command::Tail { name, stream, lines, follow: false } => {
                let reply = self.tail(name, stream, lines);
                self.io.reply(from, reply);
            }
            Command::Attach { name } => self.attach(from, name),
            Command::Reopen => {
                let problems = self.io.reopen_logs();
                self.io.reply(from, Reply::Reopened(problems));
            }
        }
    }

    /// The last lines of a process's output, from what capture keeps in memory.
    pub(super) fn tail(&self, name: String, stream: crate::tail::Stream, count: usize) -> Reply {
        let process = match self.process_named(&name, "tail") {
            Ok(process) => process,
            Err(why) => return Reply::Refused(why),
        };
        let lines = self.io.capture.tails.last_lines_within(&name, stream, count, TAIL_REPLY_BYTES);
        let (kept, terminal) = (process.spec.tail_bytes > 0, process.spec.tty);
        let merged = process.spec.stderr == Some(crate::config::Output::Stdout);
        Reply::Tail(TailReply { name, stream, lines, kept, terminal, merged })
    }

    /// The one process `name` names; the refusal says what it names instead.
    pub(super) fn process_named(
        &self,
        name: &str,
        verb: &str,
    ) -> Result<&crate::supervisor::Process, String> {
        if let Some(process) = self.sup.processes().find(|p| p.name == name) {
            return Ok(process);
        }
        // A program, `web:*` or `all`: each names processes, where one is wanted.
        let program = name.strip_suffix(":*").unwrap_or(name);
        let mut of_program: Vec<&str> = (self.sup.processes())
            .filter(|p| p.program == program || name == "all")
            .map(|p| p.name.as_str())
            .collect();
        of_program.sort();
        Err(match of_program.as_slice() {
            [] => format!("{name}: ERROR (no such process)"),
            names if names.len() > 12 => {
                format!("{name} names {} processes: {verb} one of them", names.len())
            }
            names => {
                format!("{name} names {} processes: {verb} one of them ({})", names.len(), names.join(", "))
            }
        })
    }
}
