//! The `alerts` block of the taskmaster section (taskmaster(1), ALERTS), validated: which events
//! are sent, how they are merged, and the channels they go through. These types are also what
//! the delivery helper is handed (as JSON), so they serialize; `--check` prints them as read.

use super::spec::CommandLine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What happened to a process that an alert may be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// RUNNING → EXITED with an exit that was not expected.
    ExitedUnexpected,
    /// Gave up: FATAL.
    Fatal,
    /// A start failed and will be tried again: BACKOFF.
    Backoff,
    /// It could not be spawned at all.
    SpawnError,
    /// RUNNING again after one of the failures above.
    Recovered,
    /// RUNNING (not after a failure: then it is `recovered`).
    Started,
    /// STOPPED.
    Stopped,
    /// Its health check failed `retries` times in a row: it is restarted.
    Unhealthy,
}

impl EventKind {
    pub(crate) const ALL: [EventKind; 8] = [
        EventKind::ExitedUnexpected,
        EventKind::Fatal,
        EventKind::Backoff,
        EventKind::SpawnError,
        EventKind::Recovered,
        EventKind::Started,
        EventKind::Stopped,
        EventKind::Unhealthy,
    ];

    pub(crate) const DEFAULT: [EventKind; 4] =
        [EventKind::ExitedUnexpected, EventKind::Fatal, EventKind::Recovered, EventKind::Unhealthy];

    pub(crate) fn name(self) -> &'static str {
        match self {
            EventKind::ExitedUnexpected => "exited_unexpected",
            EventKind::Fatal => "fatal",
            EventKind::Backoff => "backoff",
            EventKind::SpawnError => "spawn_error",
            EventKind::Recovered => "recovered",
            EventKind::Started => "started",
            EventKind::Stopped => "stopped",
            EventKind::Unhealthy => "unhealthy",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == text)
    }

    /// A failure: what `recovered` is a recovery from.
    pub(crate) fn is_failure(self) -> bool {
        matches!(
            self,
            EventKind::ExitedUnexpected
                | EventKind::Fatal
                | EventKind::Backoff
                | EventKind::SpawnError
                | EventKind::Unhealthy
        )
    }
}

/// `alerts:` as validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlertsSpec {
    /// In the order of `EventKind::ALL`, each once.
    pub(crate) events: Vec<EventKind>,
    pub(crate) tail_lines: usize,
    /// Seconds: alerts of one program closer than this are merged into a digest.
    pub(crate) min_interval: f64,
    pub(crate) email: Option<EmailSpec>,
    pub(crate) webhook: Option<WebhookSpec>,
    pub(crate) syslog: Option<SyslogSpec>,
    pub(crate) command: Option<CommandSpec>,
}

/// The channels, in the order alerts go through them and `alerts` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Channel {
    Email,
    Webhook,
    Syslog,
    Command,
}

impl Channel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
            Channel::Syslog => "syslog",
            Channel::Command => "command",
        }
    }
}

impl AlertsSpec {
    /// The channels configured, in order.
    pub(crate) fn channels(&self) -> Vec<Channel> {
        let present = [
            (Channel::Email, self.email.is_some()),
            (Channel::Webhook, self.webhook.is_some()),
            (Channel::Syslog, self.syslog.is_some()),
            (Channel::Command, self.command.is_some()),
        ];
        present.into_iter().filter(|(_, on)| *on).map(|(c, _)| c).collect()
    }

    pub(crate) fn sends(&self, kind: EventKind) -> bool {
        self.events.contains(&kind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SmtpTls {
    /// Plain SMTP (a local relay).
    None,
    /// Plain, then upgraded with STARTTLS (refused if the server does not offer it).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EmailSpec {
    pub(crate) to: Vec<String>,
    /// `None`: taskmaster@HOSTNAME.
    pub(crate) from: Option<String>,
    pub(crate) smtp: HostPort,
    pub(crate) tls: SmtpTls,
    pub(crate) username: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
    /// A certificate (PEM) trusted besides the public authorities: a private CA, a self-signed
    /// server.
    pub(crate) ca_file: Option<PathBuf>,
}

/// `host:port`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HostPort {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl HostPort {
    /// `host:port`, `[v6]:port`, or a bare host with `default_port`.
    pub(crate) fn parse(text: &str, default_port: u16) -> Result<HostPort, String> {
        let text = text.trim();
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (host, after) = rest.split_once(']').ok_or("an unclosed `[`")?;
                (host, after.strip_prefix(':'))
            }
            None => match text.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (text, None),
            },
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("expected HOST:PORT, found \"{text}\""));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err(format!("the port must be a number from 1 to 65535, found \"{p}\"")),
            },
        };
        Ok(HostPort { host: host.to_string(), port })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WebhookSpec {
    pub(crate) url: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) ca_file: Option<PathBuf>,
}

impl WebhookSpec {
    /// The URL without what may be a secret (user info, query): for `alerts` and the log.
    pub(crate) fn shown(&self) -> String {
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        match url.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('/') {
                Some((authority, path)) => {
                    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                    format!("{scheme}://{host}/{path}")
                }
                None => format!("{scheme}://{}", rest.rsplit_once('@').map_or(rest, |(_, h)| h)),
            },
            None => url.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SyslogSpec {
    pub(crate) facility: String,
    /// The taskmaster section's `syslog_address`, copied here so the helper has it all.
    pub(crate) address: SyslogAddress,
}

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SyslogAddress {
    /// A UNIX socket (datagram, or stream when the daemon only listens that way).
    Unix(PathBuf),
    Udp(HostPort),
}

impl std::fmt::Display for SyslogAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            SyslogAddress::Unix(path) => write!(f, "{}", path.display()),
            SyslogAddress::Udp(to) => write!(f, "udp://{to}"),
        }
    }
}

pub(crate) const DEFAULT_SYSLOG_ADDRESS: &str = "/dev/log";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CommandSpec {
    pub(crate) text: String,
    pub(crate) argv: Vec<String>,
}

impl From<CommandLine> for CommandSpec {
    fn from(cmd: CommandLine) -> Self {
        CommandSpec { text: cmd.text, argv: cmd.argv }
    }
}

/// `alerts:` as `--check` prints it: the way it is written.
#[derive(Serialize)]
pub(crate) struct AlertsView {
    events: Vec<&'static str>,
    tail_lines: usize,
    min_interval: f64,
    email: Option<EmailView>,
    webhook: Option<WebhookView>,
    syslog: Option<BTreeMap<&'static str, String>>,
    command: Option<String>,
}

#[derive(Serialize)]
struct EmailView {
    to: Vec<String>,
    from: Option<String>,
    smtp: String,
    tls: SmtpTls,
    username: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

#[derive(Serialize)]
struct WebhookView {
    url: String,
    headers: BTreeMap<String, String>,
    ca_file: Option<PathBuf>,
}

impl From<&AlertsSpec> for AlertsView {
    fn from(a: &AlertsSpec) -> Self {
        AlertsView {
            events: a.events.iter().map(|k| k.name()).collect(),
            tail_lines: a.tail_lines,
            min_interval: a.min_interval,
            email: a.email.as_ref().map(|e| EmailView {
                to: e.to.clone(),
                from: e.from.clone(),
                smtp: e.smtp.to_string(),
                tls: e.tls,
                username: e.username.clone(),
                password_file: e.password_file.clone(),
                ca_file: e.ca_file.clone(),
            }),
            webhook: a.webhook.as_ref().map(|w| WebhookView {
                url: w.url.clone(),
                headers: w.headers.clone(),
                ca_file: w.ca_file.clone(),
            }),
            syslog: a.syslog.as_ref().map(|s| BTreeMap::from([("facility", s.facility.clone())])),
            command: a.command.as_ref().map(|c| c.text.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_read_and_refused_with_a_reason() {
        assert_eq!(
            HostPort::parse("localhost:1025", 25),
            Ok(HostPort { host: "localhost".into(), port: 1025 })
        );
        assert_eq!(HostPort::parse("mail.example.com", 25).map(|h| h.port), Ok(25));
        assert_eq!(HostPort::parse("[::1]:2525", 25).map(|h| h.to_string()), Ok("[::1]:2525".to_string()));
        assert!(HostPort::parse("host:0", 25).is_err());
        assert!(HostPort::parse("host:smtp", 25).unwrap_err().contains("\"smtp\""));
        assert!(HostPort::parse(":25", 25).is_err());
    }

    #[test]
    fn a_webhook_url_is_shown_without_its_secrets() {
        let hook = |url: &str| WebhookSpec { url: url.into(), headers: BTreeMap::new(), ca_file: None };
        assert_eq!(hook("https://u:pw@h.example/a/b?token=x").shown(), "https://h.example/a/b");
        assert_eq!(hook("http://127.0.0.1:9000").shown(), "http://127.0.0.1:9000");
    }
}
