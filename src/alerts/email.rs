//! An alert by email (taskmaster(1), ALERTS): the message built and sent by `lettre` (MIME,
//! SMTP, STARTTLS or TLS, AUTH PLAIN or LOGIN), in the delivery helper only.

use super::deliver::Failure;
use super::event::Message;
use crate::config::alerts::{EmailSpec, SmtpTls};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::time::Duration;

/// Sends `message` as `spec` says, within `limit` per network step.
pub(crate) fn send(spec: &EmailSpec, message: &Message, host: &str, limit: Duration) -> Result<(), Failure> {
    let from = spec.from.clone().unwrap_or_else(|| format!("taskmaster@{host}"));
    let mut mail = lettre::Message::builder()
        .from(from.parse().map_err(|e| format!("the sender {from}: {e}"))?)
        .subject(message.subject())
        .header(ContentType::TEXT_PLAIN);
    for to in &spec.to {
        mail = mail.to(to.parse().map_err(|e| format!("the address {to}: {e}"))?);
    }
    let mail = mail.body(message.body()).map_err(|e| format!("couldn't build the message: {e}"))?;
    let server = &spec.smtp.host;
    let parameters = || -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(server.clone());
        if let Some(path) = &spec.ca_file {
            let pem = super::deliver::read_small(path)?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build().map_err(|e| format!("TLS: {e}"))
    };
    let hello = ClientId::Domain(host.to_string());
    let wrapped = match spec.tls {
        SmtpTls::Tls => Some(parameters()?),
        SmtpTls::None | SmtpTls::Starttls => None,
    };
    let server = (spec.smtp.host.as_str(), spec.smtp.port);
    let failed = |e: lettre::transport::smtp::Error| Failure {
        why: match timed_out(&e) {
            true => format!("no answer within {:.1} s ({})", limit.as_secs_f64(), spec.smtp),
            false => format!("{e} ({})", spec.smtp),
        },
        // A 5xx: the server refused this message for good.
        for_good: e.is_permanent(),
    };
    // The transport's own steps (`SmtpTransport::send`), taken one by one so that the
    // connection's Nagle can be turned off (see `sys::nodelay`).
    let mut conn =
        SmtpConnection::connect(server, Some(limit), &hello, wrapped.as_ref(), None).map_err(failed)?;
    crate::sys::nodelay::on_every_socket();
    if spec.tls == SmtpTls::Starttls {
        conn.starttls(&parameters()?, &hello).map_err(failed)?;
    }
    if let (Some(user), Some(path)) = (&spec.username, &spec.password_file) {
        let bytes = super::deliver::read_small(path).map_err(|e| format!("the password file: {e}"))?;
        let password = String::from_utf8(bytes).map_err(|_| format!("{} is not text", path.display()))?;
        let password = password.trim_end_matches(['\n', '\r']).to_string();
        let credentials = Credentials::new(user.clone(), password);
        conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials).map_err(failed)?;
    }
    conn.send(mail.envelope(), &mail.formatted()).map_err(failed)?;
    let _ = conn.quit();
    Ok(())
}

/// A read or write that ran out of time (a socket timeout says EAGAIN).
fn timed_out(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock);
        }
        source = err.source();
    }
    false
}
