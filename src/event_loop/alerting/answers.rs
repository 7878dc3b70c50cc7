//! What alerts answer to commands (taskmaster(1), COMMANDS): `alerts` and `alerts test`, and
//! what becomes of a test whose requester went away.

use super::words::rfc3339;
use super::{Alerting, TestRun};
use crate::alerts::event::{Alert, Message};
use crate::config::alerts::Channel;
use crate::control::reply::{AlertsReport, ChannelReport, Reply};
use crate::logging::Logging;
use crate::supervisor::{Now, Requester};

impl Alerting {
    /// `alerts test`: a test alert through every channel, answered once each has ended; `Some`
    /// when it is answered at once.
    pub(in crate::event_loop) fn test(&mut self, to: Requester, now: Now, log: &Logging) -> Option<Reply> {
        let Some(spec) = &self.spec else {
            return Some(Reply::Refused(crate::control::render::NO_ALERTS.to_string()));
        };
        self.next_test += 1;
        let results = spec.channels().into_iter().map(|c| (c, None)).collect();
        self.tests.insert(self.next_test, TestRun { to, results });
        let alert = Alert {
            event: "test".to_string(),
            name: "taskmaster".to_string(),
            program: "taskmaster".to_string(),
            from: "RUNNING".to_string(),
            to: "RUNNING".to_string(),
            pid: Some(self.own_pid as i32),
            exitstatus: None,
            signal: None,
            retries: 0,
            time: rfc3339(now),
            host: self.host.clone(),
            reason: None,
            urgent: false,
            stdout_tail: Vec::new(),
            stderr_tail: Vec::new(),
        };
        self.enqueue(Message::One(alert), Some(self.next_test), log);
        None
    }

    /// The requester went away: its tests go on, unanswered.
    pub(in crate::event_loop) fn gone(&mut self, from: Requester) {
        let left: Vec<u64> = self.tests.iter().filter(|(_, run)| run.to == from).map(|(id, _)| *id).collect();
        for id in left {
            self.tests.remove(&id);
            self.queue.forget_test(id);
        }
    }

    /// Where a channel sends, without secrets: the webhook's URL without user, password and
    /// query, the command's program without its arguments (`alerts` is for readers too).
    pub(super) fn target(&self, channel: Channel) -> Option<String> {
        let spec = self.spec.as_ref()?;
        match channel {
            Channel::Email => spec.email.as_ref().map(|e| e.smtp.to_string()),
            Channel::Webhook => spec.webhook.as_ref().map(|w| w.shown()),
            Channel::Syslog => spec.syslog.as_ref().map(|s| s.address.to_string()),
            Channel::Command => spec.command.as_ref().map(|c| c.argv[0].clone()),
        }
    }

    /// `alerts`.
    pub(in crate::event_loop) fn report(&self) -> Reply {
        let Some(spec) = &self.spec else { return Reply::Alerts(None) };
        let channels = spec
            .channels()
            .into_iter()
            .map(|channel| {
                let counts = self.queue.counts.get(&channel).cloned().unwrap_or_default();
                let target = match channel {
                    Channel::Email => {
                        spec.email.as_ref().map(|e| format!("{} to {}", e.smtp, e.to.join(", ")))
                    }
                    Channel::Webhook => spec.webhook.as_ref().map(|w| w.shown()),
                    Channel::Syslog => {
                        spec.syslog.as_ref().map(|s| format!("{} ({})", s.address, s.facility))
                    }
                    // Its arguments may hold a secret: `alerts` is for readers too.
                    Channel::Command => spec.command.as_ref().map(|c| c.argv[0].clone()),
                };
                ChannelReport {
                    channel: channel.name(),
                    target: target.unwrap_or_default(),
                    sent: counts.sent,
                    failed: counts.failed,
                    last_failure: counts.last_failure,
                }
            })
            .collect();
        Reply::Alerts(Some(AlertsReport {
            channels,
            events: spec.events.iter().map(|k| k.name()).collect(),
            min_interval: spec.min_interval,
            waiting: self.throttle.waiting(),
            pending: self.queue.pending(),
        }))
    }
}
