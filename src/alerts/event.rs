//! What an alert says (taskmaster(1), ALERTS): the event as JSON (the webhook's body, the
//! command's stdin), the email's subject and body, the syslog line. One place, so that every
//! channel tells the same facts.

use serde::{Deserialize, Serialize};

/// One event of one process, with the output it printed last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alert {
    /// `fatal`, `exited_unexpected`... or `test`.
    pub(crate) event: String,
    pub(crate) name: String,
    pub(crate) program: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) pid: Option<i32>,
    pub(crate) exitstatus: Option<i32>,
    pub(crate) signal: Option<String>,
    pub(crate) retries: u32,
    /// RFC 3339, UTC.
    pub(crate) time: String,
    pub(crate) host: String,
    /// Why a start failed (BACKOFF, FATAL, a spawn error), as `status` says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// A critical program's end: ahead of every other alert (not part of the JSON).
    #[serde(skip)]
    pub(crate) urgent: bool,
    pub(crate) stdout_tail: Vec<String>,
    pub(crate) stderr_tail: Vec<String>,
}

/// What one delivery carries: an event, or the events of one program merged into a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Message {
    One(Alert),
    Digest(Digest),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Digest {
    /// Always `digest`.
    pub(crate) event: String,
    pub(crate) program: String,
    pub(crate) host: String,
    pub(crate) events: Vec<Alert>,
    /// Events left out of a digest that grew too long.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Message {
    /// `fatal`, `digest`, `test`: for the log.
    pub(crate) fn event(&self) -> &str {
        match self {
            Message::One(a) => &a.event,
            Message::Digest(_) => "digest",
        }
    }

    /// The process (or program, for a digest) it is about: for the log.
    pub(crate) fn about(&self) -> &str {
        match self {
            Message::One(a) => &a.name,
            Message::Digest(d) => &d.program,
        }
    }

    pub(crate) fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// `[taskmaster] web:web_00 FATAL on HOST`.
    pub(crate) fn subject(&self) -> String {
        match self {
            Message::One(a) if a.event == "test" => format!("[taskmaster] test alert from {}", a.host),
            Message::One(a) => format!("[taskmaster] {} {} on {}", a.name, a.to, a.host),
            Message::Digest(d) => {
                let count = d.events.len() + d.omitted;
                format!("[taskmaster] {}: {count} events on {}", d.program, d.host)
            }
        }
    }

    /// The email's body: the facts, then the output, in plain text.
    pub(crate) fn body(&self) -> String {
        match self {
            Message::One(a) => body_of(a, true),
            Message::Digest(d) => {
                let count = d.events.len() + d.omitted;
                let mut text = format!("{count} events of program {} on {}:\n\n", d.program, d.host);
                for a in &d.events {
                    text.push_str(&format!("- {}: {}\n", a.event, summary(a)));
                }
                if d.omitted > 0 {
                    text.push_str(&format!("- ... and {} more, left out\n", d.omitted));
                }
                // The output of the last event: what the processes said most recently.
                if let Some(last) = d.events.last() {
                    text.push_str(&format!("\nThe last, in full:\n\n{}", body_of(last, false)));
                }
                text
            }
        }
    }

    /// The syslog message: one line, the event and its facts without the output.
    pub(crate) fn line(&self) -> String {
        match self {
            Message::One(a) => format!("{}: {}", a.event, summary(a)),
            Message::Digest(d) => {
                let count = d.events.len() + d.omitted;
                let last = d
                    .events
                    .last()
                    .map(|a| format!("; last: {}: {}", a.event, summary(a)))
                    .unwrap_or_default();
                format!("digest: {}: {count} events{last}", d.program)
            }
        }
    }
}

/// `web:web_00 FATAL (from BACKOFF) at TIME: pid 1234, exit status 1, 3 retries: Exited too
/// quickly`.
fn summary(a: &Alert) -> String {
    if a.event == "test" {
        return format!("test alert from taskmaster on {} at {}", a.host, a.time);
    }
    let mut facts = Vec::new();
    if let Some(pid) = a.pid {
        facts.push(format!("pid {pid}"));
    }
    if let Some(code) = a.exitstatus {
        facts.push(format!("exit status {code}"));
    }
    if let Some(signal) = &a.signal {
        facts.push(format!("terminated by {signal}"));
    }
    match a.retries {
        0 => {}
        1 => facts.push("1 retry".to_string()),
        n => facts.push(format!("{n} retries")),
    }
    let facts = if facts.is_empty() { String::new() } else { format!(": {}", facts.join(", ")) };
    let reason = a.reason.as_ref().map(|r| format!("; {r}")).unwrap_or_default();
    format!("{} {} (from {}) at {}{facts}{reason}", a.name, a.to, a.from, a.time)
}

fn body_of(a: &Alert, heading: bool) -> String {
    let mut text = String::new();
    if heading {
        text.push_str(&format!("{}\n\nevent: {}\nhost: {}\n", summary(a), a.event, a.host));
    } else {
        text.push_str(&format!("{}\n", summary(a)));
    }
    if a.event == "test" {
        return text;
    }
    for (stream, lines) in [("stderr", &a.stderr_tail), ("stdout", &a.stdout_tail)] {
        match lines.is_empty() {
            true => text.push_str(&format!("\nnothing on {stream}\n")),
            false => {
                match lines.len() {
                    1 => text.push_str(&format!("\nlast line of {stream}:\n")),
                    n => text.push_str(&format!("\nlast {n} lines of {stream}:\n")),
                }
                for line in lines.iter() {
                    text.push_str(&format!("  {line}\n"));
                }
            }
        }
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn alert(name: &str, event: &str) -> Alert {
        Alert {
            event: event.to_string(),
            name: name.to_string(),
            program: name.split(':').next().unwrap_or(name).to_string(),
            from: "BACKOFF".into(),
            to: "FATAL".into(),
            pid: None,
            exitstatus: Some(1),
            signal: None,
            retries: 3,
            time: "2026-11-30T10:00:00Z".into(),
            host: "box".into(),
            reason: Some("Exited too quickly".into()),
            urgent: false,
            stdout_tail: vec![],
            stderr_tail: vec!["boom: no database".into()],
        }
    }

    #[test]
    fn the_json_has_the_documented_shape() {
        let json: serde_json::Value =
            serde_json::from_str(&Message::One(alert("web:web_00", "fatal")).json()).expect("JSON");
        for key in [
            "event",
            "name",
            "program",
            "from",
            "to",
            "pid",
            "exitstatus",
            "signal",
            "retries",
            "time",
            "host",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert_eq!(json["event"], "fatal");
        assert_eq!(json["program"], "web");
        assert_eq!(json["stderr_tail"][0], "boom: no database");
        assert!(json["pid"].is_null() && json["signal"].is_null());
    }

    #[test]
    fn subject_and_body_carry_the_facts_and_the_output() {
        let m = Message::One(alert("web:web_00", "fatal"));
        assert_eq!(m.subject(), "[taskmaster] web:web_00 FATAL on box");
        let body = m.body();
        assert!(body.contains("exit status 1") && body.contains("3 retries"), "{body}");
        assert!(body.contains("last line of stderr:\n  boom: no database"), "{body}");
        assert!(body.contains("nothing on stdout"), "{body}");
    }

    #[test]
    fn a_digest_counts_what_it_left_out() {
        let d = Message::Digest(Digest {
            event: "digest".into(),
            program: "web".into(),
            host: "box".into(),
            events: vec![alert("web:web_00", "fatal"), alert("web:web_01", "fatal")],
            omitted: 3,
        });
        assert_eq!(d.subject(), "[taskmaster] web: 5 events on box");
        let json: serde_json::Value = serde_json::from_str(&d.json()).expect("JSON");
        assert_eq!(json["event"], "digest");
        assert_eq!(json["events"].as_array().map(Vec::len), Some(2));
        assert!(d.body().contains("and 3 more"));
        assert!(d.line().starts_with("digest: web: 5 events; last: fatal: web:web_01 FATAL"), "{}", d.line());
    }
}
