//! The `alerts` block and `syslog_address` (taskmaster(1), ALERTS): what is read, and every
//! mistake named with its line.

use super::*;
use crate::config::alerts::{EventKind, HostPort, SmtpTls, SyslogAddress};

fn load(daemon: &str) -> Result<Config, Vec<String>> {
    let text = format!("taskmaster:\n{daemon}programs:\n  web:\n    cmd: web\n");
    validate(&text, "t.yaml", &Context::for_tests("/etc/tm")).map_err(|e| e.lines())
}

fn error(daemon: &str) -> String {
    load(daemon).expect_err("an error").join("\n")
}

#[test]
fn the_block_is_read_with_its_defaults() {
    let config = load(
        "  alerts:\n    email: {to: ops@example.com, tls: starttls, username: a, password_file: pass, ca_file: ca.pem}\n    webhook: http://127.0.0.1:9000/a\n    syslog: true\n    command: notify --now\n",
    )
    .expect("present");
    let alerts = config.daemon.alerts.expect("present");
    assert_eq!(alerts.events, EventKind::DEFAULT.to_vec());
    assert_eq!((alerts.tail_lines, alerts.min_interval), (20, 60.0));
    let email = alerts.email.expect("present");
    assert_eq!(email.to, ["ops@example.com"]);
    assert_eq!(email.smtp, HostPort { host: "localhost".into(), port: 25 });
    assert_eq!(email.tls, SmtpTls::Starttls);
    assert_eq!(email.password_file, Some(PathBuf::from("/etc/tm/pass")), "relative to the file");
    assert_eq!(alerts.webhook.expect("present").url, "http://127.0.0.1:9000/a");
    let syslog = alerts.syslog.expect("present");
    assert_eq!(
        (syslog.facility.as_str(), syslog.address),
        ("daemon", SyslogAddress::Unix("/dev/log".into()))
    );
    assert_eq!(alerts.command.expect("present").argv, ["notify", "--now"]);
    assert!(config.programs["web"].alerts, "a program's alerts are on by default");
    let config = load("  syslog_address: udp://10.0.0.1\n  alerts: {syslog: {facility: local7}, events: [stopped, fatal]}\n").expect("present");
    let alerts = config.daemon.alerts.expect("present");
    assert_eq!(alerts.events, [EventKind::Fatal, EventKind::Stopped], "in their own order");
    let address = alerts.syslog.expect("present").address;
    assert_eq!(address, SyslogAddress::Udp(HostPort { host: "10.0.0.1".into(), port: 514 }));
    assert!(load("  alerts: null\n").expect("present").daemon.alerts.is_none());
}

#[test]
fn mistakes_are_named_where_they_are() {
    let cases = [
        ("  alerts: {events: [fatal]}\n", "t.yaml:2:3: taskmaster: alerts: has no channel"),
        ("  alerts:\n    email: {smtp: \"h:25\"}\n", "t.yaml:3:5: taskmaster: alerts: email: has no `to`"),
        (
            "  alerts:\n    email: {to: a@b.c, tls: ssl}\n",
            "t.yaml:3:24: taskmaster: alerts: email: tls: expected none",
        ),
        (
            "  alerts:\n    evnts: [fatal]\n    syslog: true\n",
            "taskmaster: alerts: unknown key `evnts` (did you mean `events`?)",
        ),
        ("  alerts:\n    syslog: yes\n", "expected true or a mapping like {facility: daemon}"),
        ("  alerts:\n    email: {to: not-an-address}\n", "\"not-an-address\" is not an email address"),
        (
            "  alerts:\n    email: {to: a@b.c, smtp: \"h:smtp\"}\n",
            "the port must be a number from 1 to 65535",
        ),
        ("  alerts:\n    email: {to: a@b.c, tls: ssl}\n", "expected none, starttls or tls"),
        ("  alerts:\n    email: {to: a@b.c, username: u}\n", "`username` and `password_file` go together"),
        ("  alerts:\n    webhook: ftp://x/y\n", "expected an http:// or https:// URL"),
        (
            "  alerts:\n    webhook: {url: \"http://h/\", headers: {\"Bad Name\": x}}\n",
            "`Bad Name` is not a valid header name",
        ),
        ("  alerts:\n    events: [fatal, crashed]\n    syslog: true\n", "unknown event `crashed`"),
        (
            "  alerts:\n    webhook: {url: \"http://h/\", headers: {Content-Length: 0}}\n",
            "`Content-Length` is set by taskmaster itself",
        ),
        ("  alerts:\n    syslog: {facility: local9}\n", "unknown facility `local9`"),
        ("  alerts:\n    email: {to: a@b.c, port: 25}\n", "unknown key `port`"),
        ("  syslog_address: log.sock\n", "expected an absolute UNIX socket path or udp://HOST:PORT"),
        ("  alerts:\n    command: \"notify 'x\"\n", "unterminated quote"),
    ];
    for (daemon, expected) in cases {
        let got = error(daemon);
        assert!(got.contains(expected), "{daemon:?}: expected {expected:?} in\n{got}");
    }
    // Every problem at once: the missing channel with the bad event.
    let got = error("  alerts:\n    events: [crashed]\n");
    assert!(got.contains("unknown event `crashed`") && got.contains("has no channel"), "{got}");
    let text = "taskmaster:\n  socket: s\nprograms:\n  web:\n    cmd: web\n    alerts: maybe\n";
    let got =
        validate(text, "t.yaml", &Context::for_tests("/etc/tm")).expect_err("an error").lines().join("\n");
    assert!(got.contains("t.yaml:6:") && got.contains("expected true or false"), "{got}");
}

#[test]
fn check_prints_what_it_read_and_that_reads_back_the_same() {
    let config = load(
        "  alerts:\n    email: {to: [ops@example.com], smtp: \"[::1]:2525\"}\n    webhook: {url: \"https://h/x\", headers: {X-Token: abc}}\n    syslog: {facility: local0}\n",
    )
    .expect("present");
    let text = crate::config::render(&config);
    let again = validate(&text, "t.yaml", &Context::for_tests("/etc/tm")).expect("the output is valid");
    assert_eq!(again.daemon.alerts, config.daemon.alerts);
}
