//! The supervisor driven by a fake world: spawns succeed with made-up pids (or fail for commands
//! named `missing`), time moves only when a test says so.

mod alerts;
mod checks;
mod escapes;
mod order;
mod reload;

use super::*;
use crate::config::{Context, validate};
use crate::control::command::Command;
use crate::control::protocol::Response;
use crate::control::render;
use serde_json::json;
use std::time::Duration;

/// What the supervisor asked for, as the event loop would have carried it out, recorded.
#[derive(Default)]
struct Recorder {
    next_pid: i32,
    logs: Vec<String>,
    /// Answers as the protocol sends them.
    replies: Vec<(Requester, Response)>,
    signals: Vec<(i32, Signal, bool)>,
    reconfigured: usize,
    exited: bool,
    alerts: Vec<Transition>,
    /// What the clock says after a spawn, when a test makes spawns take time.
    spawn_clock: Option<Now>,
    /// Probes asked for, and called off.
    probes: Vec<(ProcId, u64, ProbeJob)>,
    cancelled: Vec<ProcId>,
}

impl Hands for Recorder {
    /// Spawns succeed with made-up pids, but for commands named `missing`.
    fn spawn(&mut self, _id: ProcId, plan: SpawnPlan) -> Result<Pid, String> {
        match plan.spec.cmd.program() {
            "missing" => Err("can't find command 'missing'".to_string()),
            _ => {
                self.next_pid += 1;
                Ok(Pid::from_raw(self.next_pid))
            }
        }
    }

    fn signal(&mut self, pid: Pid, signal: Signal, group: bool) {
        self.signals.push((pid.as_raw(), signal, group));
    }

    fn log(&mut self, _level: LogLevel, message: String) {
        self.logs.push(message);
    }

    fn reply(&mut self, to: Requester, reply: Reply) {
        self.replies.push((to, render::response(&reply)));
    }

    fn reconfigured(&mut self, _config: &Config) {
        self.reconfigured += 1;
    }

    fn exit(&mut self) {
        self.exited = true;
    }

    fn alert(&mut self, transition: Transition) {
        self.alerts.push(transition);
    }

    fn now(&mut self) -> Option<Now> {
        self.spawn_clock
    }

    fn probe(&mut self, id: ProcId, seq: u64, job: ProbeJob) {
        self.probes.push((id, seq, job));
    }

    fn cancel_probe(&mut self, id: ProcId) {
        self.cancelled.push(id);
    }
}

struct World {
    sup: Supervisor,
    now: Now,
    rec: Recorder,
}

impl std::ops::Deref for World {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.rec
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut Recorder {
        &mut self.rec
    }
}

const ME: Requester = Requester::Client(7);

fn parse(yaml: &str) -> Config {
    let ctx = Context::for_tests("/tmp");
    validate(yaml, "t.yaml", &ctx).unwrap_or_else(|e| panic!("{e}"))
}

fn world(yaml: &str) -> World {
    let config = parse(yaml);
    let now = Now { mono: Instant::now(), wall: SystemTime::now() };
    let mut w = World {
        sup: Supervisor::new(&config, 4242),
        now,
        rec: Recorder { next_pid: 100, ..Recorder::default() },
    };
    w.feed(Input::Boot);
    w
}

impl World {
    /// Through the supervisor's own interpreter of actions, as the event loop does.
    fn feed(&mut self, input: Input) {
        self.sup.run(input, self.now, &mut self.rec);
    }

    fn advance(&mut self, ms: u64) {
        let d = Duration::from_millis(ms);
        self.now = Now { mono: self.now.mono + d, wall: self.now.wall + d };
        self.feed(Input::Tick);
    }

    /// A command line from `ME`, as the event loop hands it over.
    fn ask(&mut self, line: &str) {
        self.ask_as(ME, line);
    }

    fn ask_as(&mut self, from: Requester, line: &str) {
        match crate::control::command::parse_line(line) {
            Ok(Some((_, Command::Order(order)))) => self.feed(Input::Order { from, order }),
            Ok(other) => panic!("not an order: {other:?}"),
            Err(why) => self.rec.replies.push((from, Response::error(why))),
        }
    }

    /// The only reply so far, taken.
    fn reply(&mut self) -> Response {
        assert_eq!(self.replies.len(), 1, "{:?}", self.replies);
        self.rec.replies.remove(0).1
    }

    fn state(&self, name: &str) -> &'static str {
        self.process(name).machine.state.name().as_str()
    }

    fn pid(&self, name: &str) -> i32 {
        self.process(name).machine.state.pid().expect("alive").as_raw()
    }

    fn process(&self, name: &str) -> &Process {
        self.sup.processes().find(|p| p.name == name).unwrap_or_else(|| panic!("no {name}"))
    }

    fn reap(&mut self, name: &str, exit: ExitKind) {
        let pid = Pid::from_raw(self.pid(name));
        self.feed(Input::Reaped { pid, exit });
    }

    fn logged(&self, text: &str) -> bool {
        self.logs.iter().any(|l| l.contains(text))
    }
}

const KILLED: ExitKind = ExitKind::killed_by(Signal::SIGKILL);
const TERMED: ExitKind = ExitKind::killed_by(Signal::SIGTERM);

const CONFIG: &str = "programs:
  web: {cmd: web, numprocs: 3, starttime: 1}
  api: {cmd: api, starttime: 1, autorestart: always}
  idle: {cmd: idle, autostart: false, starttime: 0}
";

#[test]
fn boot_starts_the_autostart_programs_only() {
    let mut w = world(CONFIG);
    assert_eq!(w.state("web:web_00"), "STARTING");
    assert_eq!(w.state("web:web_02"), "STARTING");
    assert_eq!(w.state("idle"), "STOPPED");
    assert!(w.logged("spawned: 'web:web_01' with pid"));
    w.advance(1000);
    assert_eq!(w.state("api"), "RUNNING");
    assert!(w.logged(
        "success: api entered RUNNING state, process has stayed up for > than 1 seconds (starttime)"
    ));
}

#[test]
fn start_answers_when_the_process_is_running() {
    let mut w = world("programs:\n  a: {cmd: a, autostart: false, starttime: 2}\n");
    w.ask("start a");
    assert!(w.replies.is_empty(), "no answer before RUNNING");
    w.advance(1999);
    assert!(w.replies.is_empty());
    w.advance(1);
    let r = w.reply();
    assert_eq!((r.ok, r.output.as_str()), (true, "a: started"));
    assert_eq!(r.data, json!([{"name": "a", "ok": true, "message": "started"}]));
}

#[test]
fn start_reports_already_started_and_unknown_targets() {
    let mut w = world(CONFIG);
    w.ask("start api nope");
    let r = w.reply();
    assert!(!r.ok);
    assert_eq!(r.output, "nope: ERROR (no such process)\napi: ERROR (already started)");
}

#[test]
fn start_all_acts_only_on_stopped_processes() {
    let mut w = world(CONFIG);
    w.advance(1000);
    w.ask("start all");
    assert_eq!(w.state("idle"), "RUNNING", "starttime 0 is RUNNING at once");
    let r = w.reply();
    assert_eq!((r.ok, r.output.as_str()), (true, "idle: started"));
}

#[test]
fn a_start_that_fails_says_spawn_error_and_retries_go_on() {
    let mut w = world("programs:\n  m: {cmd: missing, autostart: false}\n");
    w.ask("start m");
    let r = w.reply();
    assert_eq!((r.ok, r.output.as_str()), (false, "m: ERROR (spawn error)"));
    assert_eq!(w.state("m"), "BACKOFF");
    assert!(w.logged("spawnerr: can't find command 'missing'"));
    w.advance(1000);
    w.advance(2000);
    w.advance(3000);
    assert_eq!(w.state("m"), "FATAL");
    assert!(w.logged("gave up: m entered FATAL state, too many start retries too quickly"));
}

#[test]
fn stop_sends_the_stop_signal_and_answers_once_reaped() {
    let mut w = world("programs:\n  g: {cmd: g, stopsignal: USR1, stopasgroup: true}\n");
    let pid = w.pid("g");
    w.ask("stop g");
    assert_eq!(w.signals, vec![(pid, Signal::SIGUSR1, true)]);
    assert!(w.logged("waiting for g to stop"));
    assert!(w.replies.is_empty());
    w.reap("g", ExitKind::Code(0));
    let r = w.reply();
    assert_eq!(r.output, "g: stopped");
    assert_eq!(w.state("g"), "STOPPED");
    w.ask("stop g");
    assert_eq!(w.reply().output, "g: ERROR (not running)");
}

#[test]
fn stop_escalates_to_sigkill_of_the_group_after_stoptime() {
    let mut w = world("programs:\n  s: {cmd: s, stoptime: 3}\n");
    let pid = w.pid("s");
    w.ask("stop s");
    w.advance(2999);
    assert_eq!(w.signals.len(), 1);
    w.advance(1);
    assert_eq!(w.signals[1], (pid, Signal::SIGKILL, true));
    assert!(w.logged(&format!("killing 's' ({pid}) with SIGKILL")));
    w.reap("s", KILLED);
    assert_eq!(w.reply().output, "s: stopped");
    assert!(w.logged("stopped: s (terminated by SIGKILL)"));
}

#[test]
fn starttime_counts_from_the_spawn_not_from_the_start_of_a_long_turn() {
    let mut w = world("programs:\n  late: {cmd: late, starttime: 1, autostart: false}\n");
    // The spawn comes 500 ms into the turn (hundreds spawned before it).
    let later = Duration::from_millis(500);
    w.rec.spawn_clock = Some(Now { mono: w.now.mono + later, wall: w.now.wall + later });
    w.ask("start late");
    w.advance(1000);
    assert_eq!(w.state("late"), "STARTING", "up for 500 ms only");
    w.advance(500);
    assert_eq!(w.state("late"), "RUNNING");
}

#[test]
fn a_killed_running_process_is_respawned_in_the_same_turn() {
    let mut w = world(CONFIG);
    w.advance(1000);
    let old = w.pid("api");
    w.reap("api", KILLED);
    assert!(w.logged("exited: api (terminated by SIGKILL; not expected)"));
    assert_eq!(w.state("api"), "STARTING");
    assert_ne!(w.pid("api"), old);
}

#[test]
fn stopping_a_process_waiting_to_restart_cancels_the_restart() {
    let mut w = world("programs:\n  q: {cmd: q, starttime: 0, autorestart: always}\n");
    w.reap("q", ExitKind::Code(0));
    assert_eq!(w.state("q"), "EXITED", "a quick run waits before restarting");
    w.ask("stop q");
    assert_eq!(w.reply().output, "q: stopped");
    w.advance(10_000);
    assert_eq!(w.state("q"), "STOPPED");
}

#[test]
fn a_start_still_waiting_when_stopped_is_an_abnormal_termination() {
    let mut w = world("programs:\n  a: {cmd: a, autostart: false, starttime: 5}\n");
    w.ask("start a");
    w.ask_as(Requester::Client(8), "stop a");
    w.reap("a", TERMED);
    let mut outputs: Vec<_> = w.rec.replies.drain(..).map(|(to, r)| (to, r.output)).collect();
    outputs.sort();
    assert_eq!(
        outputs,
        vec![
            (Requester::Client(7), "a: ERROR (abnormal termination)".to_string()),
            (Requester::Client(8), "a: stopped".to_string())
        ]
    );
}

#[test]
fn restart_stops_then_starts_and_answers_once() {
    let mut w = world(CONFIG);
    w.advance(1000);
    let old = w.pid("api");
    w.ask("restart api idle");
    assert_eq!(w.state("api"), "STOPPING");
    w.reap("api", TERMED);
    assert_eq!(w.state("api"), "STARTING");
    assert_ne!(w.pid("api"), old);
    assert!(w.replies.is_empty());
    w.advance(1000);
    let r = w.reply();
    assert_eq!(r.output, "api: started\nidle: started");
}

#[test]
fn signal_reaches_live_processes_only() {
    let mut w = world(CONFIG);
    w.ask("signal HUP web idle");
    let r = w.reply();
    assert_eq!(
        r.output,
        "web:web_00: signalled\nweb:web_01: signalled\nweb:web_02: signalled\nidle: ERROR (not running)"
    );
    assert_eq!(w.signals.len(), 3);
    assert!(w.signals.iter().all(|(_, s, group)| *s == Signal::SIGHUP && !group));
}

#[test]
fn status_lists_every_process_sorted_with_its_state() {
    let mut w = world(CONFIG);
    w.advance(1000);
    w.ask("status");
    let r = w.reply();
    let lines: Vec<&str> = r.output.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("api                              RUNNING   pid "), "{}", lines[0]);
    assert!(lines[0].ends_with(", uptime 0:00:01"), "{}", lines[0]);
    assert_eq!(lines[1], "idle                             STOPPED   Not started");
    assert!(lines[2].starts_with("web:web_00"));
    let first = &r.data[0];
    assert_eq!(
        (first["name"].as_str(), first["program"].as_str(), first["state"].as_str()),
        (Some("api"), Some("api"), Some("RUNNING"))
    );
    assert_eq!(first["uptime"].as_f64(), Some(1.0));
    assert!(first["pid"].is_i64() && first["exitstatus"].is_null() && first["signal"].is_null());
    w.ask("status web:web_01 nope");
    let r = w.reply();
    assert!(!r.ok);
    assert_eq!(r.output.lines().count(), 2);
    assert!(r.output.ends_with("nope: ERROR (no such process)"));
}

#[test]
fn status_of_an_exited_process_shows_how_it_ended() {
    let mut w = world("programs:\n  e: {cmd: e, starttime: 0, autorestart: never}\n");
    w.reap("e", ExitKind::Code(3));
    w.ask("status e");
    let r = w.reply();
    assert!(r.output.contains("EXITED    exit status 3, "), "{}", r.output);
    assert_eq!(r.data[0]["exitstatus"], json!(3));
}

#[test]
fn pid_answers_for_taskmaster_and_for_processes() {
    let mut w = world(CONFIG);
    w.ask("pid");
    assert_eq!(w.reply().output, "4242");
    // Never 0 for one that does not run (`kill -9 0` is the caller's own process group).
    w.ask("pid idle");
    let idle = w.reply();
    assert_eq!(
        (idle.ok, idle.output.as_str(), idle.data.clone()),
        (false, "idle: ERROR (not running)", json!(null))
    );
    w.ask("pid web");
    let web = w.reply();
    assert_eq!(web.output.lines().count(), 3);
    assert!(web.output.lines().all(|l| l.parse::<i32>().is_ok_and(|p| p > 0)), "{}", web.output);
}

#[test]
fn shutdown_stops_everything_then_exits() {
    let mut w = world(CONFIG);
    w.ask("shutdown");
    assert_eq!(w.signals.len(), 4, "web x3 and api");
    assert!(!w.exited);
    for name in ["web:web_00", "web:web_01", "web:web_02"] {
        w.reap(name, TERMED);
    }
    assert!(!w.exited);
    w.reap("api", TERMED);
    assert!(w.exited);
    assert_eq!(w.state("api"), "STOPPED", "nothing restarts during a shutdown");
    assert_eq!(w.reply().output, "Shut down");
    assert!(w.logged("shutdown complete"));
}

#[test]
fn a_critical_program_that_gives_up_takes_everything_down() {
    let mut w = world(
        "programs:\n  db: {cmd: missing, critical: true, startretries: 0}\n  web: {cmd: web, starttime: 0}\n",
    );
    assert_eq!(w.state("db"), "FATAL");
    assert!(w.logged("critical program db entered FATAL: shutting down"));
    assert_eq!(w.sup.critical_failure(), Some("db"));
    assert_eq!(w.state("web"), "STOPPING", "everything else is stopped");
    w.reap("web", TERMED);
    assert!(w.exited);
}

#[test]
fn a_program_that_is_not_critical_gives_up_alone() {
    let w = world("programs:\n  db: {cmd: missing, startretries: 0}\n  web: {cmd: web, starttime: 0}\n");
    assert_eq!(w.state("db"), "FATAL");
    assert_eq!(w.state("web"), "RUNNING");
    assert_eq!(w.sup.critical_failure(), None);
}

#[test]
fn a_second_terminate_kills_every_group() {
    let mut w = world(CONFIG);
    w.feed(Input::Terminate(Signal::SIGTERM));
    assert!(w.logged("received SIGTERM, shutting down"));
    w.feed(Input::Terminate(Signal::SIGINT));
    let kills = w.signals.iter().filter(|(_, s, g)| *s == Signal::SIGKILL && *g).count();
    assert_eq!(kills, 4);
    w.ask("start idle");
    assert!(w.reply().output.contains("shutting down"));
}

#[test]
fn a_requester_that_goes_away_is_not_answered() {
    let mut w = world("programs:\n  a: {cmd: a, autostart: false}\n");
    w.ask("start a");
    w.feed(Input::Gone { from: ME });
    w.advance(1000);
    assert!(w.replies.is_empty());
    assert_eq!(w.state("a"), "RUNNING", "the operation goes on");
}

#[test]
fn a_requester_of_the_shutdown_that_goes_away_is_not_answered() {
    let mut w = world("programs:\n  a: {cmd: a}\n");
    w.ask_as(Requester::Client(8), "shutdown");
    w.ask("shutdown");
    w.feed(Input::Gone { from: Requester::Client(8) });
    w.reap("a", TERMED);
    assert!(w.exited);
    assert_eq!(w.replies.len(), 1, "{:?}", w.replies);
    assert_eq!(w.replies[0].0, ME, "only the one still there");
}

#[test]
fn unknown_pids_and_bad_commands_disturb_nothing() {
    let mut w = world(CONFIG);
    w.feed(Input::Reaped { pid: Pid::from_raw(99_999), exit: ExitKind::Code(0) });
    assert!(w.logged("reaped unknown pid 99999"));
    w.ask("frobnicate");
    let r = w.reply();
    assert!(!r.ok && r.output.contains("unknown command"));
    assert_eq!(w.state("api"), "STARTING");
}

#[test]
fn a_target_named_many_times_is_answered_once() {
    let mut w = world(CONFIG);
    w.advance(1000);
    let many = ["web:web_01", "web", "web:*", "all", "web:web_01", "web:web_1", "web:web_+1", "web:"];
    w.ask(&format!("status {}", many.join(" ")));
    let r = w.reply();
    let names: Vec<&str> = r.data.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "idle", "web:web_00", "web:web_01", "web:web_02"]);
    assert!(r.output.ends_with(
        "web:web_1: ERROR (no such process)\nweb:web_+1: ERROR (no such process)\nweb:: ERROR (no such process)"
    ));
}
