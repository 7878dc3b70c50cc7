//! An alert by email (taskmaster(1), ALERTS): the message built and sent by `lettre` (MIME,
//! SMTP, STARTTLS or TLS, AUTH PLAIN or LOGIN), in the delivery helper only.

use super::event::Message;
use crate::config::alerts::{EmailSpec, SmtpTls};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls as Security, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{SmtpTransport, Transport};
use std::time::Duration;

/// Sends `message` as `spec` says, within `limit` per network step.
pub(crate) fn send(spec: &EmailSpec, message: &Message, host: &str, limit: Duration) -> Result<(), String> {
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
            let pem = std::fs::read(path).map_err(|e| format!("couldn't read {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build().map_err(|e| format!("TLS: {e}"))
    };
    let security = match spec.tls {
        SmtpTls::None => Security::None,
        SmtpTls::Starttls => Security::Required(parameters()?),
        SmtpTls::Tls => Security::Wrapper(parameters()?),
    };
    let mut transport = SmtpTransport::builder_dangerous(server.as_str())
        .port(spec.smtp.port)
        .tls(security)
        .hello_name(ClientId::Domain(host.to_string()))
        .timeout(Some(limit));
    if let (Some(user), Some(path)) = (&spec.username, &spec.password_file) {
        let password = std::fs::read_to_string(path)
            .map_err(|e| format!("couldn't read the password file {}: {e}", path.display()))?;
        let password = password.trim_end_matches(['\n', '\r']).to_string();
        transport = transport
            .credentials(Credentials::new(user.clone(), password))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    transport.build().send(&mail).map(|_| ()).map_err(|e| format!("{} ({})", e, spec.smtp))
}
