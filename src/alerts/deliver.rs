//! The delivery helper: `taskmaster --deliver`, a short-lived child of taskmaster that makes one
//! attempt to send one message through one channel and exits (taskmaster(1), ALERTS,
//! IMPLEMENTATION NOTES). It reads its job as JSON on stdin; it exits 0 when the message was
//! taken, else 1 with the reason on stdout. Blocking is allowed here: this process is nobody's
//! loop, and taskmaster kills it at its deadline.

use super::event::Message;
use crate::config::alerts::{EmailSpec, SyslogAddress, SyslogSpec, WebhookSpec};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

/// The flag that runs the helper instead of taskmaster.
pub(crate) const FLAG: &str = "--deliver";

/// How long the helper itself lets one attempt take: a little less than taskmaster's limit, so
/// that it can still say why.
const OWN_LIMIT: Duration = Duration::from_millis(9_500);

/// What one helper is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) channel: ChannelJob,
    pub(crate) message: Message,
    /// taskmaster's pid and host, for syslog's header and email's sender.
    pub(crate) pid: u32,
    pub(crate) host: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ChannelJob {
    Email(EmailSpec),
    Webhook(WebhookSpec),
    Syslog(SyslogSpec),
}

/// The helper's exit status when the server refused for good (an SMTP 5xx, an HTTP 4xx):
/// another attempt would get the same answer.
pub(crate) const REFUSED: u8 = 2;

/// Why an attempt failed, and whether another one may do better.
pub(crate) struct Failure {
    pub(crate) why: String,
    pub(crate) for_good: bool,
}

impl From<String> for Failure {
    fn from(why: String) -> Failure {
        Failure { why, for_good: false }
    }
}

/// `taskmaster --deliver`.
pub(crate) fn main() -> ExitCode {
    let mut input = String::new();
    let result = std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| Failure::from(format!("couldn't read the job: {e}")))
        .and_then(|_| serde_json::from_str::<Job>(&input).map_err(|e| format!("a malformed job: {e}").into()))
        .and_then(|job| run(&job));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{}", failure.why.replace('\n', " "));
            ExitCode::from(if failure.for_good { REFUSED } else { 1 })
        }
    }
}

fn run(job: &Job) -> Result<(), Failure> {
    match &job.channel {
        ChannelJob::Email(spec) => super::email::send(spec, &job.message, &job.host, OWN_LIMIT),
        ChannelJob::Webhook(spec) => webhook(spec, &job.message),
        ChannelJob::Syslog(spec) => syslog(spec, &job.message, job).map_err(Failure::from),
    }
}

/// POSTs the message as JSON; any answer but 2xx is a failure (4xx but 408 and 429 for good).
fn webhook(spec: &WebhookSpec, message: &Message) -> Result<(), Failure> {
    // A redirect is an answer other than 2xx: followed, a POST would become a GET elsewhere,
    // with the headers.
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(OWN_LIMIT))
        .http_status_as_error(true)
        .max_redirects(0);
    if let Some(path) = &spec.ca_file {
        let pem = read_small(path)?;
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!("no certificate in {}", path.display()).into());
        }
        let roots = ureq::tls::RootCerts::new_with_certs(&certs);
        config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
    }
    let agent: ureq::Agent = config.build().into();
    let mut request = agent
        .post(&spec.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", format!("taskmaster/{}", crate::VERSION));
    for (name, value) in &spec.headers {
        request = request.header(name, value);
    }
    let response = request.send(message.json()).map_err(|e| match e {
        ureq::Error::Timeout(_) => format!("no answer within {:.1} s", OWN_LIMIT.as_secs_f64()).into(),
        ureq::Error::StatusCode(code) => Failure {
            why: format!("the server answered HTTP {code}"),
            for_good: (400..500).contains(&code) && code != 408 && code != 429,
        },
        other => other.to_string().into(),
    })?;
    match response.status().as_u16() {
        200..=299 => Ok(()),
        code => Err(Failure {
            why: format!("the server answered HTTP {code} (redirects are not followed)"),
            for_good: false,
        }),
    }
}

/// The most of a password or certificate file read: a path that leads to /dev/zero must not
/// fill the helper's memory.
const SMALL_FILE: u64 = 64 * 1024;

/// A password or certificate file, refused past `SMALL_FILE`.
pub(crate) fn read_small(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("couldn't read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(SMALL_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("couldn't read {}: {e}", path.display()))?;
    match bytes.len() as u64 > SMALL_FILE {
        true => Err(format!("{} is larger than {} KiB", path.display(), SMALL_FILE / 1024)),
        false => Ok(bytes),
    }
}

/// One RFC 5424 message: errors at `err`, recoveries at `notice`.
fn syslog(spec: &SyslogSpec, message: &Message, job: &Job) -> Result<(), String> {
    use std::str::FromStr;
    let facility = syslog::Facility::from_str(&spec.facility)
        .map_err(|()| format!("unknown facility {}", spec.facility))?;
    let formatter = syslog::Formatter5424 {
        facility,
        hostname: Some(job.host.clone()),
        process: "taskmaster".to_string(),
        pid: job.pid,
    };
    let mut logger = match &spec.address {
        SyslogAddress::Unix(path) => syslog::unix_custom(formatter, path),
        SyslogAddress::Udp(to) => {
            use std::net::ToSocketAddrs;
            let server = (to.host.as_str(), to.port)
                .to_socket_addrs()
                .map_err(|e| format!("couldn't resolve {to}: {e}"))?
                .next()
                .ok_or_else(|| format!("{to} has no address"))?;
            let local = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
            syslog::udp(formatter, local, server)
        }
    }
    .map_err(|e| format!("couldn't reach syslog at {}: {e}", spec.address))?;
    let data = std::collections::BTreeMap::new();
    let line = (0u32, data, message.line());
    let sent = match message.event() {
        "recovered" | "started" | "stopped" => logger.notice(line),
        "test" => logger.info(line),
        "digest" => logger.warning(line),
        _ => logger.err(line),
    };
    sent.map_err(|e| format!("couldn't write to syslog at {}: {e}", spec.address))
}
