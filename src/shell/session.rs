//! A session at a shell, the same for taskmaster's own and for taskmasterctl's: what was typed and
//! waits its turn, whether a command waits for its answer, and the printing of answers. Lines run
//! one after another, each once the one before it has its answer, as a person at a shell waits
//! and as a script of commands expects; what is typed meanwhile is kept, never lost.

use super::editor::Typed;
use crate::control::command::{self, Command};
use crate::logging::Console;
use std::collections::VecDeque;
use std::sync::Arc;

/// What the session asks its shell to do next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// Carry out this command (its words as typed, for a client to send); its answer goes to
    /// `answer`.
    Run(Vec<String>, Command),
    /// The end of input (Ctrl-D on an empty line); its answer goes to `answer` like a command's.
    Leave,
    /// The terminal went away.
    HangUp,
}

pub(crate) struct Session {
    pending: VecDeque<Typed>,
    /// A command runs and its answer has not come.
    busy: bool,
    console: Arc<dyn Console>,
}

impl Session {
    pub(crate) fn new(console: Arc<dyn Console>) -> Session {
        Session { pending: VecDeque::new(), busy: false, console }
    }

    /// What was typed, queued behind what waits.
    pub(crate) fn take(&mut self, typed: Vec<Typed>) {
        self.pending.extend(typed);
    }

    /// The next thing to do, unless a command waits for its answer. A line that is not a command
    /// is answered with why, here. When nothing is pending, `prompt` shows the prompt and gives
    /// what was typed meanwhile.
    pub(crate) fn next(&mut self, mut prompt: impl FnMut() -> Vec<Typed>) -> Option<Next> {
        while !self.busy {
            let Some(typed) = self.pending.pop_front() else {
                let more = prompt();
                if more.is_empty() {
                    return None;
                }
                self.pending.extend(more);
                continue;
            };
            match typed {
                Typed::Line(line) => match command::parse_line(&line) {
                    Ok(None) => {}
                    Ok(Some((words, command))) => {
                        self.busy = true;
                        return Some(Next::Run(words, command));
                    }
                    Err(why) => self.console.line(&why),
                },
                Typed::Interrupt => {}
                Typed::TooLong { limit } => {
                    self.console.line(&format!("(a line longer than {limit} bytes: dropped up to its end)"));
                }
                // Leaving is answered too (taskmaster's own shell shuts down first).
                Typed::Eof => {
                    self.busy = true;
                    return Some(Next::Leave);
                }
                Typed::HangUp => return Some(Next::HangUp),
            }
        }
        None
    }

    /// The answer to the command that ran: printed, and the next one may run.
    pub(crate) fn answer(&mut self, text: &str) {
        if !text.is_empty() {
            self.console.line(text);
        }
        self.busy = false;
    }

    /// Ctrl-C: a command that waits is no longer waited for (it goes on), and what was typed
    /// ahead is dropped. Returns whether a command was waiting.
    pub(crate) fn interrupt(&mut self) -> bool {
        let was = self.busy;
        if was {
            self.busy = false;
            self.pending.clear();
            self.console.line("(no longer waiting; the command goes on: see `status`)");
        }
        was
    }

    pub(crate) fn is_busy(&self) -> bool {
        self.busy
    }

    /// Lines typed ahead wait to run.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::command::Order;
    use crate::logging::Lines;

    fn line(text: &str) -> Typed {
        Typed::Line(text.to_string())
    }

    #[test]
    fn typed_lines_run_one_at_a_time_in_order() {
        let printed = Arc::new(Lines::default());
        let mut s = Session::new(printed.clone());
        s.take(vec![line("stop a"), line(""), line("frobnicate"), line("status"), Typed::Eof]);
        let none = Vec::new;
        let Some(Next::Run(words, _)) = s.next(none) else { panic!("a command") };
        assert_eq!(words, ["stop", "a"]);
        assert_eq!(s.next(none), None, "the stop waits for its answer");
        s.answer("a: stopped");
        // The blank line is skipped and the unknown command answered on the way.
        assert_eq!(
            s.next(none),
            Some(Next::Run(vec!["status".into()], Command::Order(Order::Status(vec![]))))
        );
        s.answer("");
        assert_eq!(s.next(none), Some(Next::Leave));
        let printed = printed.0.lock().unwrap().clone();
        assert_eq!(printed.len(), 2);
        assert_eq!(printed[0], "a: stopped");
        assert!(printed[1].starts_with("unknown command `frobnicate`"));
    }

    #[test]
    fn the_prompt_is_asked_only_when_nothing_is_pending() {
        let mut s = Session::new(Arc::new(Lines::default()));
        let mut asked = 0;
        assert_eq!(
            s.next(|| {
                asked += 1;
                match asked {
                    1 => vec![line("pid")],
                    _ => vec![],
                }
            }),
            Some(Next::Run(vec!["pid".into()], Command::Order(Order::Pid(None))))
        );
        assert_eq!(asked, 1);
        assert!(s.is_busy());
    }

    #[test]
    fn ctrl_c_stops_waiting_and_drops_the_type_ahead() {
        let printed = Arc::new(Lines::default());
        let mut s = Session::new(printed.clone());
        assert!(!s.interrupt(), "nothing waits");
        s.take(vec![line("start a"), line("stop b")]);
        assert!(s.next(Vec::new).is_some());
        assert!(s.interrupt());
        assert_eq!(s.next(Vec::new), None);
        assert!(printed.0.lock().unwrap()[0].starts_with("(no longer waiting"));
    }
}
