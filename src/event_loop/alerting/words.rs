//! The words of alerts in the loop: log lines, reasons made safe to log, the command's
//! environment, names and times.

use super::REASON_CHARS;
use crate::alerts::event::Message;
use crate::alerts::queue::{Delivery, DeliveryId};
use crate::config::alerts::{AlertsSpec, Channel};
use crate::supervisor::Now;

/// 10, 100, 1000...
pub(super) fn power_of_ten(mut n: u64) -> bool {
    if n < 10 {
        return false;
    }
    while n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// A name no process can have (program names have no `#`).
pub(super) fn output_name(id: DeliveryId) -> String {
    format!("#alert-{id}")
}

/// A channel's settings, to tell whether a reload changed it.
pub(super) fn channel_spec(spec: &Option<AlertsSpec>, channel: Channel) -> Option<String> {
    let spec = spec.as_ref()?;
    let text = match channel {
        Channel::Email => serde_json::to_string(spec.email.as_ref()?),
        Channel::Webhook => serde_json::to_string(spec.webhook.as_ref()?),
        Channel::Syslog => serde_json::to_string(spec.syslog.as_ref()?),
        Channel::Command => serde_json::to_string(spec.command.as_ref()?),
    };
    text.ok()
}

/// `2026-11-30T10:00:00.123Z`.
pub(super) fn rfc3339(now: Now) -> String {
    chrono::DateTime::<chrono::Utc>::from(now.wall).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `alert: couldn't deliver 'fatal' for web:web_00 by email: WHY`.
pub(super) fn failure_line(d: &Delivery, why: &str) -> String {
    format!(
        "alert: couldn't deliver '{}' for {} by {}: {why}",
        d.message.event(),
        d.message.about(),
        d.channel.name()
    )
}

/// A reason as the log shows it: what a server or a command said may hold control characters
/// (an escape sequence, a carriage return that would forge a line): they are escaped, and the
/// whole is cut at `REASON_CHARS`.
pub(super) fn cut(why: &str) -> String {
    let mut shown = String::new();
    for (i, c) in why.chars().enumerate() {
        if i == REASON_CHARS {
            shown.push_str("...");
            break;
        }
        match c.is_control() {
            true => shown.extend(c.escape_default()),
            false => shown.push(c),
        }
    }
    shown
}

/// What the `command` channel finds in its environment besides the event on its stdin.
pub(super) fn command_env(message: &Message, host: &str) -> Vec<(String, String)> {
    let mut env = vec![("TASKMASTER_EVENT".to_string(), message.event().to_string())];
    env.push(("TASKMASTER_HOST".to_string(), host.to_string()));
    match message {
        Message::One(a) => {
            env.push(("TASKMASTER_PROCESS_NAME".to_string(), a.name.clone()));
            env.push(("TASKMASTER_PROGRAM".to_string(), a.program.clone()));
            env.push(("TASKMASTER_FROM".to_string(), a.from.clone()));
            env.push(("TASKMASTER_TO".to_string(), a.to.clone()));
            env.push(("TASKMASTER_PID".to_string(), a.pid.map(|p| p.to_string()).unwrap_or_default()));
            let status = a.exitstatus.map(|s| s.to_string()).unwrap_or_default();
            env.push(("TASKMASTER_EXITSTATUS".to_string(), status));
            env.push(("TASKMASTER_SIGNAL".to_string(), a.signal.clone().unwrap_or_default()));
        }
        Message::Digest(d) => {
            env.push(("TASKMASTER_PROGRAM".to_string(), d.program.clone()));
            env.push(("TASKMASTER_COUNT".to_string(), (d.events.len() + d.omitted).to_string()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_aloud_at_each_power_of_ten_and_reasons_cannot_forge_lines() {
        let said: Vec<u64> = (0..=1000).filter(|n| power_of_ten(*n)).collect();
        assert_eq!(said, [10, 100, 1000]);
        assert_eq!(cut("554 \u{1b}[31mEVIL\rINFO forged\u{7}"), "554 \\u{1b}[31mEVIL\\rINFO forged\\u{7}");
        assert_eq!(cut(&"x".repeat(400)).len(), REASON_CHARS + 3);
    }
}
