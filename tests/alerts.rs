//! Alerts (taskmaster(1), ALERTS) against real servers started here: an SMTP server (aiosmtpd,
//! plain, STARTTLS and TLS, with AUTH), an HTTP server that records POST bodies, a syslog
//! socket, a command, a dead port and a tarpit.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const SERVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/alert_servers.py");

/// Debian's python, which has aiosmtpd (`make test-deps` installs python3-aiosmtpd).
fn python() -> &'static str {
    "/usr/bin/python3"
}

/// A test server, killed when the test ends.
struct Server {
    _child: Guarded,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &TempDir, name: &str, args: &[&str]) -> Server {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).expect("the server's folder");
        let mut command = Command::new(python());
        command.arg(SERVERS).args(args.iter().map(|a| a.replace("{DIR}", &folder.to_string_lossy())));
        let mut child = Guarded(
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python3 with aiosmtpd (make test-deps installs it)"),
        );
        let mut line = String::new();
        let out = child.stdout.take().expect("piped");
        BufReader::new(out).read_line(&mut line).expect("the server's first line");
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} did not start: {line:?} (is python3-aiosmtpd installed?)"));
        Server { _child: child, port, dir: folder }
    }

    fn smtp(dir: &TempDir, name: &str, extra: &[&str]) -> Server {
        let port = free_port().to_string();
        let args: Vec<&str> =
            ["smtp", port.as_str(), "{DIR}"].into_iter().chain(extra.iter().copied()).collect();
        Server::start(dir, name, &args)
    }

    fn http(dir: &TempDir, name: &str) -> Server {
        Server::start(dir, name, &["http", "{DIR}"])
    }

    /// What it received, in order, once there are at least `count`.
    fn received(&self, count: usize) -> Vec<String> {
        wait_until(&format!("{count} messages in {}", self.dir.display()), || {
            let got = self.messages();
            (got.len() >= count).then_some(got)
        })
    }

    fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("the server's folder")
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|e| e != "part"))
            .collect();
        names.sort();
        names.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
    }

    fn posts(&self, count: usize) -> Vec<Value> {
        self.received(count).iter().map(|m| serde_json::from_str(m).expect("a JSON record")).collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn hostname() -> String {
    nix::unistd::gethostname().expect("hostname").to_string_lossy().into_owned()
}

/// A self-signed certificate for 127.0.0.1: (certificate, key).
fn certificate(dir: &TempDir) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "2", "-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .output()
        .expect("openssl (make test-deps installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// A program that prints to both streams and fails at once, so that it ends FATAL.
const CRASHING: &str = "    cmd: \"sh -c 'echo ready to serve; echo cannot reach db at 10.0.0.7 >&2; echo giving up >&2; exit 3'\"\n    startretries: 0\n    starttime: 1\n";

fn threads(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_fatal_program_mails_its_stderr_and_the_listing_counts_it() {
    let dir = TempDir::new("amail");
    let smtp = Server::smtp(&dir, "smtp", &[]);
    let settings = format!(
        "  alerts:\n    email: {{to: [ops@example.com, dev@example.com], smtp: \"127.0.0.1:{}\"}}\n",
        smtp.port
    );
    let d = Daemon::start_with(&settings, &format!("  crash:\n{CRASHING}"), &["--no-shell"]);
    let mail = smtp.received(1).remove(0);
    let host = hostname();
    assert!(mail.contains(&format!("Subject: [taskmaster] crash FATAL on {host}")), "{mail}");
    assert!(mail.contains(&format!("MAIL FROM: taskmaster@{host}")), "{mail}");
    assert!(mail.contains("RCPT TO: ops@example.com,dev@example.com"), "{mail}");
    assert!(mail.contains("cannot reach db at 10.0.0.7") && mail.contains("giving up"), "{mail}");
    assert!(mail.contains("exit status 3"), "{mail}");
    d.wait_log("alert: sent 'fatal' for crash by email");
    let listing = stdout(&d.ctl(&["alerts"]));
    assert!(listing.contains(&format!("email    127.0.0.1:{} to ops@example.com", smtp.port)), "{listing}");
    assert!(listing.contains("sent 1, failed 0"), "{listing}");
    let json = d.call("alerts", &[]);
    assert_eq!(json["data"]["channels"][0]["sent"], 1, "{json}");
    assert_eq!(threads(d.pid()), 1, "deliveries add no thread");
}

#[test]
fn starttls_and_tls_with_a_password_deliver_and_a_wrong_password_is_an_error() {
    let dir = TempDir::new("atls");
    let (cert, key) = certificate(&dir);
    let (cert_s, key_s) = (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned());
    let starttls = Server::smtp(&dir, "starttls", &["starttls", &cert_s, &key_s, "auth", "alerts", "s3cret"]);
    let tls = Server::smtp(&dir, "tls", &["tls", &cert_s, &key_s]);
    dir.write("smtp.pass", "s3cret\n");
    let email = |port: u16, mode: &str, auth: &str| {
        format!(
            "  alerts:\n    email: {{to: [ops@example.com], smtp: \"127.0.0.1:{port}\", tls: {mode}, ca_file: cert.pem{auth}}}\n"
        )
    };
    let auth = ", username: alerts, password_file: smtp.pass";
    for (server, settings) in
        [(&starttls, email(starttls.port, "starttls", auth)), (&tls, email(tls.port, "tls", ""))]
    {
        let d = Daemon::start_with(&settings, "  idle:\n    cmd: sleep 1000\n", &["--no-shell"]);
        // The daemon's folder is not the one with the certificate: paths are made absolute.
        std::fs::copy(&cert, d.dir.join("cert.pem")).unwrap();
        std::fs::write(d.dir.join("smtp.pass"), "s3cret\n").unwrap();
        let out = d.ctl(&["alerts", "test"]);
        assert_eq!(stdout(&out).trim(), "email: delivered", "{}", stderr(&out));
        let mail = server.received(1).remove(0);
        assert!(mail.contains(&format!("Subject: [taskmaster] test alert from {}", hostname())), "{mail}");
        if settings.contains("username") {
            assert!(mail.contains("AUTH: True"), "{mail}");
        }
    }
    // A wrong password: the server says no, and the answer says why.
    let d = Daemon::start_with(
        &email(starttls.port, "starttls", auth),
        "  idle:\n    cmd: sleep 1000\n",
        &["--no-shell"],
    );
    std::fs::copy(&cert, d.dir.join("cert.pem")).unwrap();
    std::fs::write(d.dir.join("smtp.pass"), "wrong\n").unwrap();
    let out = d.ctl(&["alerts", "test"]);
    assert!(stdout(&out).starts_with("email: ERROR ("), "{}", stdout(&out));
    assert_eq!(out.status.code(), Some(1));
    d.wait_log("alert: couldn't deliver 'test' for taskmaster by email: ");
    // Without the certificate trusted, TLS is refused: never sent in clear instead.
    let d = Daemon::start_with(
        &format!(
            "  alerts:\n    email: {{to: [ops@example.com], smtp: \"127.0.0.1:{}\", tls: tls}}\n",
            tls.port
        ),
        "  idle:\n    cmd: sleep 1000\n",
        &["--no-shell"],
    );
    let out = stdout(&d.ctl(&["alerts", "test"]));
    assert!(out.starts_with("email: ERROR (") && out.to_lowercase().contains("certificate"), "{out}");
    assert_eq!(tls.messages().len(), 1, "nothing more arrived");
}

#[test]
fn the_webhook_gets_json_naming_the_transition_with_its_headers() {
    let dir = TempDir::new("ahook");
    let hook = Server::http(&dir, "hook");
    let settings = format!(
        "  alerts:\n    events: [exited_unexpected, recovered]\n    min_interval: 0\n    webhook: {{url: \"http://127.0.0.1:{}/alerts?token=x\", headers: {{Authorization: Bearer t0k3n}}}}\n",
        hook.port
    );
    let programs = "  flaky:\n    cmd: \"sh -c 'echo working; sleep 0.5; echo lost my mind >&2; exit 1'\"\n    starttime: 0.2\n  quiet:\n    cmd: \"sh -c 'sleep 0.5; exit 1'\"\n    starttime: 0.2\n    alerts: false\n";
    let d = Daemon::start_with(&settings, programs, &["--no-shell"]);
    let posts = hook.posts(2);
    let first = &posts[0];
    assert_eq!(first["path"], "/alerts?token=x");
    assert_eq!(first["headers"]["authorization"], "Bearer t0k3n");
    assert_eq!(first["headers"]["content-type"], "application/json");
    let event: Value = serde_json::from_str(first["body"].as_str().unwrap()).unwrap();
    assert_eq!(event["event"], "exited_unexpected", "{event}");
    assert_eq!((event["name"].as_str(), event["program"].as_str()), (Some("flaky"), Some("flaky")));
    assert_eq!((event["from"].as_str(), event["to"].as_str()), (Some("RUNNING"), Some("EXITED")));
    assert_eq!(event["exitstatus"], 1);
    assert!(event["pid"].as_i64().is_some() && event["signal"].is_null(), "{event}");
    assert_eq!(event["stderr_tail"], serde_json::json!(["lost my mind"]));
    assert_eq!(event["host"], hostname());
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
    let second: Value = serde_json::from_str(posts[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(second["event"], "recovered", "{second}");
    let bodies: Vec<String> = hook.messages();
    assert!(bodies.iter().all(|b| !b.contains("quiet")), "alerts: false sends nothing: {bodies:?}");
    drop(d);
}

#[test]
fn a_burst_becomes_one_digest_sent_at_shutdown_and_a_command_gets_the_event() {
    let dir = TempDir::new("adigest");
    let hook = Server::http(&dir, "hook");
    let settings = format!(
        "  alerts:\n    events: [fatal]\n    min_interval: 60\n    webhook: \"http://127.0.0.1:{}/\"\n    command: \"sh -c 'cat > $TASKMASTER_EVENT.json; env | grep ^TASKMASTER_ > $TASKMASTER_EVENT.env; seq 1 100000; seq 1 100000 >&2'\"\n",
        hook.port
    );
    let mut d =
        Daemon::start_with(&settings, &format!("  crash:\n    numprocs: 5\n{CRASHING}"), &["--no-shell"]);
    let first: Value = serde_json::from_str(hook.posts(1)[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(first["event"], "fatal");
    let listing = wait_until("four events waiting", || {
        let out = stdout(&d.ctl(&["alerts"]));
        out.contains("4 waiting for a digest").then_some(out)
    });
    assert!(listing.contains("events: fatal; digests after 60 s"), "{listing}");
    // The rest waits for the interval; a shutdown sends it at once.
    d.ctl(&["shutdown"]);
    assert_eq!(d.wait_exit(), Some(0));
    let posts = hook.posts(2);
    assert_eq!(posts.len(), 2, "one digest, not four messages");
    let digest: Value = serde_json::from_str(posts[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(digest["event"], "digest");
    assert_eq!(digest["program"], "crash");
    let events = digest["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["event"] == "fatal" && e["stderr_tail"][1] == "giving up"), "{digest}");
    // The command got the same: the event on stdin, its facts in the environment.
    let fatal: Value = serde_json::from_str(&d.dir.read("fatal.json")).unwrap();
    assert_eq!(fatal["to"], "FATAL");
    let env = d.dir.read("fatal.env");
    assert!(env.contains("TASKMASTER_EVENT=fatal") && env.contains("TASKMASTER_TO=FATAL"), "{env}");
    assert!(env.contains("TASKMASTER_EXITSTATUS=3"), "{env}");
    let env = d.dir.read("digest.env");
    assert!(env.contains("TASKMASTER_COUNT=4") && env.contains("TASKMASTER_PROGRAM=crash"), "{env}");
    // However much the command printed.
    assert!(d.log().contains("alert: sent 'digest' for crash by command"), "{}", d.log());
}

#[test]
fn a_failing_command_says_why_and_a_refusal_is_not_tried_again() {
    let dir = TempDir::new("arefuse");
    let hook = Server::start(&dir, "hook", &["http", "{DIR}", "status", "404"]);
    let settings = format!(
        "  alerts:\n    min_interval: 0\n    webhook: \"http://127.0.0.1:{}/gone\"\n    command: \"sh -c 'echo paging >&2; echo no route to the pager >&2; exit 3'\"\n",
        hook.port
    );
    let d = Daemon::start_with(&settings, &format!("  crash:\n{CRASHING}"), &["--no-shell"]);
    d.wait_log("alert: couldn't deliver 'fatal' for crash by webhook: the server answered HTTP 404");
    let log = d.log();
    assert!(!log.contains("by webhook failed (attempt"), "a 404 is not tried again: {log}");
    assert_eq!(std::fs::read_to_string(hook.dir.join("refused")).unwrap(), "x", "one POST");
    // The command is tried three times, and says why it failed: its exit and its last line.
    d.wait_log("alert: couldn't deliver 'fatal' for crash by command: exit status 3: no route to the pager");
    assert_eq!(d.count_log("by command failed (attempt"), 2, "{}", d.log());
    // A redirect is not followed: the POST would go elsewhere as a GET.
    let moved = Server::start(&dir, "moved", &["http", "{DIR}", "status", "302"]);
    let settings = format!("  alerts:\n    webhook: \"http://127.0.0.1:{}/\"\n", moved.port);
    let d = Daemon::start_with(&settings, "  idle:\n    cmd: sleep 1000\n", &["--no-shell"]);
    let out = stdout(&d.ctl(&["alerts", "test"]));
    assert!(out.starts_with("webhook: ERROR (") && out.contains("302"), "{out}");
}

#[test]
fn syslog_gets_one_rfc5424_line() {
    let dir = TempDir::new("asyslog");
    let socket = dir.join("log.sock");
    let listener = UnixDatagram::bind(&socket).unwrap();
    listener.set_read_timeout(Some(PATIENCE)).unwrap();
    let settings =
        format!("  syslog_address: {}\n  alerts:\n    syslog: {{facility: local3}}\n", socket.display());
    let _d = Daemon::start_with(&settings, &format!("  crash:\n{CRASHING}"), &["--no-shell"]);
    let mut buf = vec![0; 8192];
    let n = listener.recv(&mut buf).expect("a syslog message");
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    // local3 (19) * 8 + err (3) = 155; version 1; the host; taskmaster as the app.
    assert!(line.starts_with("<155>1 "), "{line}");
    assert!(line.contains(&format!(" {} taskmaster ", hostname())), "{line}");
    assert!(line.contains("crash FATAL") && line.contains("exit status 3"), "{line}");
    // Or over UDP.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(PATIENCE)).unwrap();
    let port = udp.local_addr().unwrap().port();
    let settings = format!("  syslog_address: udp://127.0.0.1:{port}\n  alerts:\n    syslog: true\n");
    let d = Daemon::start_with(&settings, "  idle:\n    cmd: sleep 1000\n", &["--no-shell"]);
    assert_eq!(stdout(&d.ctl(&["alerts", "test"])).trim(), "syslog: delivered");
    let n = udp.recv(&mut buf).expect("a syslog datagram");
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    // daemon (3) * 8 + info (6) = 30.
    assert!(line.starts_with("<30>1 ") && line.contains("test alert from taskmaster"), "{line}");
}

#[test]
fn pending_alerts_get_five_seconds_at_shutdown_then_are_given_up() {
    let dir = TempDir::new("adrain");
    let tarpit = Server::start(&dir, "tarpit", &["tarpit"]);
    let settings =
        format!("  alerts:\n    email: {{to: [ops@example.com], smtp: \"127.0.0.1:{}\"}}\n", tarpit.port);
    let mut d = Daemon::start_with(&settings, &format!("  crash:\n{CRASHING}"), &["--no-shell"]);
    d.wait_state("crash", "FATAL");
    let listing = wait_until("the alert under way", || {
        let out = stdout(&d.ctl(&["alerts"]));
        out.contains("1 being delivered").then_some(out)
    });
    assert!(listing.contains("sent 0, failed 0"), "{listing}");
    let helpers = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", d.pid())).unwrap();
    let helpers: Vec<i32> = helpers.split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(helpers.len(), 1, "the email's helper, hanging on the tarpit");
    let asked = std::time::Instant::now();
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    let took = asked.elapsed();
    assert!(took >= std::time::Duration::from_secs(4), "it waited for the alert: {took:?}");
    let log = d.log();
    assert!(
        log.contains("alert: couldn't deliver 'fatal' for crash by email: taskmaster shut down first"),
        "{log}"
    );
    wait_until("the helper gone", || (!alive(helpers[0])).then_some(()));
}

#[test]
fn dead_and_tarpitting_servers_fail_without_slowing_supervision() {
    let dir = TempDir::new("atarpit");
    let tarpit = Server::start(&dir, "tarpit", &["tarpit"]);
    let dead = free_port();
    let settings = format!(
        "  alerts:\n    events: [exited_unexpected]\n    min_interval: 0\n    email: {{to: [ops@example.com], smtp: \"127.0.0.1:{}\"}}\n    webhook: \"http://127.0.0.1:{dead}/\"\n",
        tarpit.port
    );
    let programs = "  worker:\n    cmd: sleep 1000\n    starttime: 0\n";
    let d = Daemon::start_with(&settings, programs, &["--no-shell"]);
    let mut pid = d.wait_state("worker", "RUNNING")["pid"].as_i64().unwrap() as i32;
    // Deaths while every delivery hangs on the tarpit: each is replaced, status answers.
    for _ in 0..3 {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        pid = d.wait_new_pid("worker", pid);
        assert_eq!(d.wait_state("worker", "RUNNING")["pid"], pid);
        assert_eq!(threads(d.pid()), 1);
    }
    // The dead port: three attempts, 1 s then 5 s apart, then a failure in the log.
    d.wait_log("alert: 'exited_unexpected' for worker by webhook failed (attempt 1 of 3)");
    d.wait_log("alert: couldn't deliver 'exited_unexpected' for worker by webhook: ");
    let listing = stdout(&d.ctl(&["alerts"]));
    assert!(listing.contains("being delivered"), "{listing}");
    // `alerts test` against the tarpit: one attempt, cut at its limit.
    let out = stdout(&d.ctl(&["alerts", "test"]));
    assert!(out.starts_with("email: ERROR (") && out.contains("webhook: ERROR ("), "{out}");
    assert!(d.status().len() == 1, "status still answers");
}

#[test]
fn a_critical_program_alerts_then_takes_everything_down_with_status_1() {
    let dir = TempDir::new("acrit");
    let hook = Server::http(&dir, "hook");
    let settings =
        format!("  alerts:\n    events: [stopped]\n    webhook: \"http://127.0.0.1:{}/\"\n", hook.port);
    let programs = format!(
        "  db:\n{CRASHING}    critical: true\n    autostart: false\n  web:\n    cmd: sleep 1000\n    starttime: 0\n    alerts: false\n"
    );
    let mut d = Daemon::start_with(&settings, &programs, &["--no-shell"]);
    d.wait_state("web", "RUNNING");
    d.ctl(&["start", "db"]);
    assert_eq!(d.wait_exit(), Some(1));
    let posts = hook.posts(1);
    let event: Value = serde_json::from_str(posts[0]["body"].as_str().unwrap()).unwrap();
    // Sent although `fatal` is not among the events, and before taskmaster exited.
    assert_eq!((event["event"].as_str(), event["name"].as_str()), (Some("fatal"), Some("db")));
    assert!(d.log().contains("critical program db entered FATAL: shutting down"));
}

#[test]
fn alerts_without_a_configuration_say_so_and_a_reload_turns_them_on() {
    let dir = TempDir::new("areload");
    let hook = Server::http(&dir, "hook");
    let d = Daemon::start("  idle:\n    cmd: sleep 1000\n");
    let out = d.ctl(&["alerts", "test"]);
    let said = stdout(&out) + &stderr(&out);
    assert!(said.starts_with("no alerts are configured"), "{said}");
    assert_eq!(out.status.code(), Some(1), "nothing was sent");
    assert!(stdout(&d.ctl(&["alerts"])).starts_with("no alerts are configured"));
    let with = Daemon::yaml(
        &format!("  alerts:\n    webhook: \"http://127.0.0.1:{}/\"\n", hook.port),
        "  idle:\n    cmd: sleep 1000\n",
    );
    std::fs::write(&d.config, with).unwrap();
    d.ctl(&["reload"]);
    assert_eq!(stdout(&d.ctl(&["alerts", "test"])).trim(), "webhook: delivered");
    let body: Value = serde_json::from_str(hook.posts(1)[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["event"], "test");
}
