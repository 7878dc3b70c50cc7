//! Which moves are alert events (taskmaster(1), ALERTS), and what each one says.

use super::*;
use crate::config::alerts::EventKind::{self, *};

impl World {
    /// The alert events so far, taken: (kind, name, from, to).
    fn events(&mut self) -> Vec<(EventKind, String, &'static str, &'static str)> {
        std::mem::take(&mut self.rec.alerts)
            .into_iter()
            .map(|t| (t.kind, t.name, t.from.as_str(), t.to.as_str()))
            .collect()
    }
}

fn kinds(events: &[(EventKind, String, &str, &str)]) -> Vec<EventKind> {
    events.iter().map(|e| e.0).collect()
}

#[test]
fn a_crash_while_running_then_the_recovery() {
    let mut w = world("programs:\n  api: {cmd: api, starttime: 1}\n");
    w.advance(1000);
    assert_eq!(w.events(), [(Started, "api".to_string(), "STARTING", "RUNNING")]);
    let pid = w.pid("api");
    w.reap("api", KILLED);
    let t = w.rec.alerts[0].clone();
    assert_eq!((t.kind, t.from.as_str(), t.to.as_str()), (ExitedUnexpected, "RUNNING", "EXITED"));
    assert_eq!((t.pid, t.exit), (Some(Pid::from_raw(pid)), Some(KILLED)));
    assert!(t.wanted && !t.urgent);
    w.events();
    w.advance(1000);
    assert_eq!(kinds(&w.events()), [Recovered], "RUNNING again after a failure");
    w.ask("stop api");
    w.reap("api", TERMED);
    assert_eq!(kinds(&w.events()), [Stopped]);
    w.ask("start api");
    w.advance(1000);
    assert_eq!(kinds(&w.events()), [Started], "a plain start after a stop");
    w.ask("restart api");
    w.reap("api", TERMED);
    assert_eq!(w.events(), [(Stopped, "api".to_string(), "STOPPING", "STOPPED")], "a restart stops first");
    w.advance(1000);
    assert_eq!(kinds(&w.events()), [Started]);
}

#[test]
fn an_expected_exit_is_no_event() {
    let mut w = world("programs:\n  job: {cmd: job, starttime: 0, autorestart: never}\n");
    w.events();
    w.reap("job", ExitKind::Code(0));
    assert_eq!(w.state("job"), "EXITED");
    assert!(w.events().is_empty());
}

#[test]
fn spawn_errors_then_the_fatal_with_its_reason_and_retries() {
    let mut w = world("programs:\n  m: {cmd: missing, startretries: 2}\n");
    w.advance(1000);
    w.advance(2000);
    let all = std::mem::take(&mut w.rec.alerts);
    assert_eq!(all.iter().map(|t| t.kind).collect::<Vec<_>>(), [SpawnError, SpawnError, Fatal]);
    let fatal = &all[2];
    assert_eq!((fatal.from.as_str(), fatal.to.as_str()), ("STARTING", "FATAL"));
    assert_eq!(fatal.reason.as_deref(), Some("can't find command 'missing'"));
    assert_eq!(fatal.retries, 2);
}

#[test]
fn quick_deaths_are_backoffs_and_a_critical_fatal_is_urgent() {
    let mut w = world(
        "programs:\n  db: {cmd: db, starttime: 5, startretries: 1, critical: true}\n  web: {cmd: web, alerts: false, starttime: 0}\n",
    );
    let web = w.rec.alerts.iter().find(|t| t.name == "web").cloned().expect("web's start");
    assert!(!web.wanted, "its program's `alerts: false` travels with it");
    w.events();
    w.reap("db", ExitKind::Code(1));
    assert_eq!(kinds(&w.events()), [Backoff]);
    w.advance(1000);
    w.reap("db", ExitKind::Code(1));
    let fatal = w.rec.alerts.iter().find(|t| t.kind == Fatal).cloned().expect("fatal");
    assert!(fatal.urgent && fatal.exit == Some(ExitKind::Code(1)), "{fatal:?}");
}
