//! The taskmaster section's `alerts` block and `syslog_address` (taskmaster(1), ALERTS). Every
//! address, URL and header is checked here, so that a mistake is an error with its line and
//! column at load, not a failed delivery in the middle of the night.

use super::super::alerts::*;
use super::super::node::Node;
use super::super::raw::{Read, read_bool, read_cmd, read_count, read_path, read_seconds, read_text};
use super::{Here, Validator};
use std::collections::BTreeMap;
use std::str::FromStr;

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

const ALERTS_KEYS: &[&str] =
    &["events", "tail_lines", "min_interval", "email", "webhook", "syslog", "command"];
const EMAIL_KEYS: &[&str] = &["to", "from", "smtp", "tls", "username", "password_file", "ca_file"];
const WEBHOOK_KEYS: &[&str] = &["url", "headers", "ca_file"];
const SYSLOG_KEYS: &[&str] = &["facility"];
const FRAMING_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "content-type"];

pub(crate) const DEFAULT_TAIL_LINES: u32 = 20;
const MAX_TAIL_LINES: u32 = 1000;
const DEFAULT_SMTP: &str = "localhost:25";
const DEFAULT_FACILITY: &str = "daemon";

fn read_events(node: &Node) -> Read<Vec<EventKind>> {
    let names: Vec<String> = match node {
        Node::Seq(items) => items.iter().map(|n| read_text(n, "an event name")).collect::<Read<_>>()?,
        Node::Str(one) => vec![one.clone()],
        other => return Err(format!("expected a list of event names, found {}", other.kind())),
    };
    let mut kinds = Vec::new();
    for name in &names {
        match EventKind::parse(name.trim()) {
            Some(kind) => kinds.push(kind),
            None => {
                let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                return Err(format!("unknown event `{name}` (events: {})", all.join(", ")));
            }
        }
    }
    Ok(EventKind::ALL.into_iter().filter(|k| kinds.contains(k)).collect())
}

fn read_address(node: &Node) -> Read<String> {
    let text = read_text(node, "an email address")?;
    lettre::Address::from_str(text.trim())
        .map(|a| a.to_string())
        .map_err(|e| format!("\"{text}\" is not an email address ({e})"))
}

fn read_addresses(node: &Node) -> Read<Vec<String>> {
    let list = match node {
        Node::Seq(items) if !items.is_empty() => items.iter().map(read_address).collect::<Read<Vec<_>>>()?,
        Node::Seq(_) => return Err("is empty: name at least one address".to_string()),
        other => vec![read_address(other)?],
    };
    Ok(list)
}

fn read_tls(node: &Node) -> Read<SmtpTls> {
    match node {
        Node::Str(s) if s == "none" => Ok(SmtpTls::None),
        Node::Str(s) if s == "starttls" => Ok(SmtpTls::Starttls),
        Node::Str(s) if s == "tls" => Ok(SmtpTls::Tls),
        Node::Bool(false) | Node::Null => Ok(SmtpTls::None),
        other => Err(format!("expected none, starttls or tls, found {}", other.kind())),
    }
}

fn read_url(node: &Node) -> Read<String> {
    let text = read_text(node, "an http:// or https:// URL")?;
    let uri = ureq::http::Uri::try_from(text.trim()).map_err(|e| format!("\"{text}\" is not a URL ({e})"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(text.trim().to_string()),
        _ => Err(format!("expected an http:// or https:// URL with a host, found \"{text}\"")),
    }
}

fn read_headers(node: &Node) -> Read<BTreeMap<String, String>> {
    let pairs = match node {
        Node::Map(pairs) => pairs,
        Node::Null => return Ok(BTreeMap::new()),
        other => return Err(format!("expected a mapping of Header-Name: value, found {}", other.kind())),
    };
    let mut headers = BTreeMap::new();
    for (name, value) in pairs {
        let value = match value {
            Node::Str(s) => s.clone(),
            Node::Int(i) => i.to_string(),
            other => return Err(format!("{name}: expected a text value, found {}", other.kind())),
        };
        ureq::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        // What frames the request is taskmaster's to say.
        if FRAMING_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("`{name}` is set by taskmaster itself"));
        }
        ureq::http::HeaderValue::from_str(&value)
            .map_err(|_| format!("{name}: the value has characters a header cannot carry"))?;
        if headers.insert(name.clone(), value).is_some() {
            return Err(format!("`{name}` is set twice"));
        }
    }
    Ok(headers)
}

fn read_facility(node: &Node) -> Read<String> {
    let text = read_text(node, "a syslog facility like daemon or local0")?;
    match syslog::Facility::from_str(text.trim()) {
        Ok(_) => Ok(text.trim().to_string()),
        Err(()) => Err(format!(
            "unknown facility `{text}` (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0 to local7)"
        )),
    }
}

/// `syslog_address`: a UNIX socket path, or `udp://HOST:PORT` (also written `udp HOST:PORT`).
pub(super) fn read_syslog_address(node: &Node) -> Read<SyslogAddress> {
    let text = read_text(node, "a UNIX socket path or udp://HOST:PORT")?;
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("udp://").or_else(|| text.strip_prefix("udp ")) {
        return HostPort::parse(rest, 514).map(SyslogAddress::Udp);
    }
    match text.starts_with('/') {
        true => Ok(SyslogAddress::Unix(text.into())),
        false => Err(format!("expected an absolute UNIX socket path or udp://HOST:PORT, found \"{text}\"")),
    }
}

/// `null` (as `--check` prints an unset key) is none.
fn nullable<T>(node: &Node, read: impl FnOnce(&Node) -> Read<T>) -> Read<Option<T>> {
    match node {
        Node::Null => Ok(None),
        other => read(other).map(Some),
    }
}

impl Validator<'_> {
    /// A mapping's entries, or a problem when it is not a mapping. Problems inside it are
    /// introduced by its path (`taskmaster: alerts: email: tls: ...`).
    fn block<'n>(&mut self, at: &Here, key: &str, node: &'n Node, known: &[&str]) -> Option<Entries<'n>> {
        match node {
            Node::Map(pairs) => {
                let inside = Here { section: format!("{}: {key}", at.section).into(), ..at.clone() };
                Some(self.entries(&inside, pairs, known))
            }
            other => {
                self.problem(
                    at,
                    Some(key),
                    format!("expected a mapping of settings, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// `alerts:`; `Some(None)` when absent or null.
    pub(super) fn alerts(&mut self, e: &Entries, address: SyslogAddress) -> Option<Option<AlertsSpec>> {
        let Some((at, node)) = e.get("alerts") else { return Some(None) };
        if matches!(node, Node::Null | Node::Bool(false)) {
            return Some(None);
        }
        let e = self.block(at, "alerts", node, ALERTS_KEYS)?;
        // Said with the other problems, not only once they are fixed.
        let given = |key: &str| e.get(key).is_some_and(|(_, n)| !matches!(n, Node::Null | Node::Bool(false)));
        if !["email", "webhook", "syslog", "command"].into_iter().any(given) {
            let msg = "has no channel: add email, webhook, syslog or command (or remove the block)";
            self.problem(at, Some("alerts"), msg.to_string());
        }
        let events = self.key(&e, "events", read_events, EventKind::DEFAULT.to_vec());
        let tail_lines = self.key(&e, "tail_lines", |n| read_count(n, 0, MAX_TAIL_LINES), DEFAULT_TAIL_LINES);
        let min_interval = self.key(&e, "min_interval", read_seconds, std::time::Duration::from_secs(60));
        let email = self.optional(&e, "email", |v, at, n| v.email(at, n));
        let webhook = self.optional(&e, "webhook", |v, at, n| v.webhook(at, n));
        let syslog = self.optional(&e, "syslog", |v, at, n| v.syslog(at, n, address.clone()));
        let command = self.key(
            &e,
            "command",
            |n| match n {
                Node::Null => Ok(None),
                other => read_cmd(other).map(|c| Some(c.into())),
            },
            None,
        );
        let spec = AlertsSpec {
            events: events?,
            tail_lines: tail_lines? as usize,
            min_interval: min_interval?.as_secs_f64(),
            email: email?,
            webhook: webhook?,
            syslog: syslog?,
            command: command?,
        };
        (!spec.channels().is_empty()).then_some(Some(spec))
    }

    /// A channel's block: absent, null or false is none.
    fn optional<T>(
        &mut self,
        e: &Entries,
        key: &str,
        read: impl FnOnce(&mut Self, &Here, &Node) -> Option<T>,
    ) -> Option<Option<T>> {
        match e.get(key) {
            None | Some((_, Node::Null | Node::Bool(false))) => Some(None),
            Some((at, node)) => read(self, &at.clone(), node).map(Some),
        }
    }

    fn email(&mut self, at: &Here, node: &Node) -> Option<EmailSpec> {
        let e = self.block(at, "email", node, EMAIL_KEYS)?;
        let to = match e.get("to") {
            Some(_) => self.key(&e, "to", read_addresses, Vec::new()),
            None => {
                self.problem(at, Some("email"), "has no `to`: name who receives the alerts".into());
                None
            }
        };
        let from = self.key(&e, "from", |n| nullable(n, read_address), None);
        let default_smtp = HostPort::parse(DEFAULT_SMTP, 25).ok()?;
        let smtp = self.key(
            &e,
            "smtp",
            |n| read_text(n, "HOST:PORT").and_then(|t| HostPort::parse(&t, 25)),
            default_smtp,
        );
        let tls = self.key(&e, "tls", read_tls, SmtpTls::None);
        let username = self.key(&e, "username", |n| nullable(n, |n| read_text(n, "a user name")), None);
        let file = self.file_reader();
        let password_file = self.key(&e, "password_file", &file, None);
        let ca_file = self.key(&e, "ca_file", &file, None);
        let spec = EmailSpec {
            to: to?,
            from: from?,
            smtp: smtp?,
            tls: tls?,
            username: username?,
            password_file: password_file?,
            ca_file: ca_file?,
        };
        if spec.username.is_some() != spec.password_file.is_some() {
            let msg = "`username` and `password_file` go together: name both, or neither";
            self.problem(at, Some("email"), msg.to_string());
            return None;
        }
        Some(spec)
    }

    /// Reads a path as every path of the file is read (relative to its folder, `~`).
    fn file_reader(&self) -> impl Fn(&Node) -> Read<Option<std::path::PathBuf>> + use<> {
        let (dir, home) = (self.ctx.config_dir.clone(), self.ctx.home.clone());
        move |n| nullable(n, |n| read_path(n, &dir, home.as_deref()))
    }

    fn webhook(&mut self, at: &Here, node: &Node) -> Option<WebhookSpec> {
        let e = match node {
            // `webhook: URL` alone.
            Node::Str(_) => {
                let url = read_url(node).map_err(|m| self.problem(at, Some("webhook"), m)).ok()?;
                return Some(WebhookSpec { url, headers: BTreeMap::new(), ca_file: None });
            }
            other => self.block(at, "webhook", other, WEBHOOK_KEYS)?,
        };
        let url = match e.get("url") {
            Some(_) => self.key(&e, "url", |n| read_url(n).map(Some), None),
            None => {
                self.problem(at, Some("webhook"), "has no `url`: name where to POST the alerts".into());
                None
            }
        };
        let headers = self.key(&e, "headers", read_headers, BTreeMap::new());
        let ca_file = self.key(&e, "ca_file", self.file_reader(), None);
        Some(WebhookSpec { url: url??, headers: headers?, ca_file: ca_file? })
    }

    fn syslog(&mut self, at: &Here, node: &Node, address: SyslogAddress) -> Option<SyslogSpec> {
        let facility = match node {
            Node::Bool(true) => DEFAULT_FACILITY.to_string(),
            Node::Map(_) => {
                let e = self.block(at, "syslog", node, SYSLOG_KEYS)?;
                self.key(&e, "facility", read_facility, DEFAULT_FACILITY.to_string())?
            }
            other => {
                let msg =
                    format!("expected true or a mapping like {{facility: daemon}}, found {}", other.kind());
                self.problem(at, Some("syslog"), msg);
                return None;
            }
        };
        Some(SyslogSpec { facility, address })
    }

    /// A program's `alerts`: whether its events are sent.
    pub(super) fn program_alerts(&mut self, e: &Entries) -> Option<bool> {
        self.key(e, "alerts", read_bool, true)
    }
}
