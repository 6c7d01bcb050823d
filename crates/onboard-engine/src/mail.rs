//! Email delivery: SMTP through lettre, or the development mailbox that keeps each email as
//! an `.eml` file in the data directory when no SMTP server is configured.

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use onboard_store::ClaimedMessage;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a delivery failed: `permanent` failures are not retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
    fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }
}

/// Something that delivers emails.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, message: &ClaimedMessage) -> Result<(), SendError>;
}

/// Builds the RFC 5322 email of an outbox message, with its stable Message-ID.
pub fn build_email(message: &ClaimedMessage) -> Result<Message, SendError> {
    let from = mailbox(&message.from_name, &message.from_email)?;
    let to = mailbox(&message.to_name, &message.to_email)?;
    let builder = Message::builder()
        .message_id(Some(message.message_id.clone()))
        .from(from)
        .to(to)
        .subject(message.subject.clone());
    let built = match &message.calendar {
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone()),
        Some(calendar) => builder.multipart(with_invite(&message.body, calendar)?),
    };
    built.map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))
}

/// The text and a calendar invite, as RFC 6047 has mail clients show it with their
/// accept and decline buttons: `multipart/mixed` holding a `multipart/alternative` of the
/// text and the `text/calendar; method=REQUEST` part, then the same object as an
/// `invite.ics` attachment for clients that only import files. The calendar parts are
/// base64, which keeps the object's CRLF line endings byte for byte.
fn with_invite(body: &str, calendar: &str) -> Result<MultiPart, SendError> {
    let method = calendar
        .lines()
        .find_map(|line| line.strip_prefix("METHOD:"))
        .unwrap_or("REQUEST")
        .trim();
    let inline = ContentType::parse(&format!("text/calendar; method={method}; charset=UTF-8"))
        .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))?;
    let file = ContentType::parse("application/ics")
        .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))?;
    Ok(MultiPart::mixed()
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(body.to_owned()))
                .singlepart(
                    SinglePart::builder()
                        .header(inline)
                        .header(ContentTransferEncoding::Base64)
                        .body(calendar.to_owned()),
                ),
        )
        .singlepart(
            Attachment::new("invite.ics".to_owned()).body(
                Body::new_with_encoding(calendar.to_owned(), ContentTransferEncoding::Base64)
                    .map_err(|_| SendError::permanent("cannot encode the invite"))?,
                file,
            ),
        ))
}

fn mailbox(name: &str, email: &str) -> Result<Mailbox, SendError> {
    let address = email
        .parse()
        .map_err(|e| SendError::permanent(format!("bad address `{email}`: {e}")))?;
    Ok(Mailbox::new(Some(name.to_owned()), address))
}

/// SMTP delivery (plain, no TLS: `smtp://host:port`, e.g. a local relay). Each email goes
/// over its own connection with `TCP_NODELAY`: lettre writes the body and the closing `.`
/// separately, and with Nagle's algorithm the second write waits for the server's delayed
/// ACK (40 ms on Linux), so this path opens the socket itself.
pub struct SmtpMailer {
    host: String,
    port: u16,
    hello: ClientId,
    timeout: std::time::Duration,
}

impl SmtpMailer {
    /// From a URL `smtp://host[:port]` (port 25 when absent).
    pub fn from_url(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| format!("`{url}` is not an smtp:// URL"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("`{port}` is not a port number in `{url}`"))?,
            ),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(format!("`{url}` names no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            hello: ClientId::default(),
            timeout: std::time::Duration::from_secs(30),
        })
    }

    async fn deliver(&self, email: &Message) -> Result<(), SendError> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                SendError::transient(format!(
                    "cannot connect to the SMTP server {}:{}: {e}",
                    self.host, self.port
                ))
            })?;
        stream
            .set_nodelay(true)
            .map_err(|e| SendError::transient(format!("cannot set TCP_NODELAY: {e}")))?;
        let smtp = |e: lettre::transport::smtp::Error| {
            if e.is_permanent() {
                SendError::permanent(e.to_string())
            } else {
                SendError::transient(e.to_string())
            }
        };
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                .await
                .map_err(smtp)?;
        let sent = connection
            .send(email.envelope(), &email.formatted())
            .await
            .map_err(smtp);
        // The email is accepted once the server said so; a failed QUIT changes nothing.
        let _ = connection.quit().await;
        sent.map(|_| ())
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &ClaimedMessage) -> Result<(), SendError> {
        let email = build_email(message)?;
        match tokio::time::timeout(self.timeout, self.deliver(&email)).await {
            Err(_) => Err(SendError::transient(
                "the SMTP server did not answer in time",
            )),
            Ok(result) => result,
        }
    }
}

/// The development mailbox: each email becomes `<dir>/<message id>.eml`, written to a
/// temporary name and renamed, so a reader never sees half an email. One email is written
/// at a time: concurrent creates and renames in one directory contend for its lock, which
/// the kernel spins on (a quarter of a busy engine's CPU when the dispatcher sent a round's
/// emails at once).
pub struct DevMailbox {
    dir: PathBuf,
    writing: Arc<std::sync::Mutex<()>>,
}

impl DevMailbox {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            writing: Arc::new(std::sync::Mutex::new(())),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for DevMailbox {
    async fn send(&self, message: &ClaimedMessage) -> Result<(), SendError> {
        let email = build_email(message)?.formatted();
        let dir = self.dir.clone();
        let path = self.dir.join(format!("{}.eml", message.id));
        let temp = self.dir.join(format!(".{}.eml.tmp", message.id));
        let writing = self.writing.clone();
        let written = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = writing.lock().unwrap_or_else(|e| e.into_inner());
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create the mailbox: {e}"))?;
            std::fs::write(&temp, email)
                .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
            std::fs::rename(&temp, &path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(SendError::transient(message)),
            Err(e) => Err(SendError::transient(format!(
                "the mailbox writer stopped: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(calendar: Option<&str>) -> ClaimedMessage {
        ClaimedMessage {
            id: "m1".to_owned(),
            account: "acme".to_owned(),
            channel: "email".to_owned(),
            to_email: "ada@acme.example".to_owned(),
            to_name: "Ada Admin".to_owned(),
            from_email: "dana@pipeflow.example".to_owned(),
            from_name: "Dana Whitfield".to_owned(),
            subject: "Booked: your kickoff call".to_owned(),
            body: "Hi Ada,\n\nYour kickoff call is booked.\n".to_owned(),
            message_id: "<m1@pipeflow.example>".to_owned(),
            rule: "kickoff-booked".to_owned(),
            sign_in_email: None,
            calendar: calendar.map(str::to_owned),
            drafted_by: None,
            holder: "node".to_owned(),
            attempts: 1,
        }
    }

    fn formatted(message: &ClaimedMessage) -> String {
        match build_email(message) {
            Ok(email) => String::from_utf8_lossy(&email.formatted()).into_owned(),
            Err(e) => panic!("the email builds: {e}"),
        }
    }

    #[test]
    fn an_email_without_an_invite_is_plain_text() {
        let email = formatted(&claimed(None));
        assert!(email.contains("Content-Type: text/plain"), "{email}");
        assert!(!email.contains("multipart"), "{email}");
    }

    #[test]
    fn an_invite_travels_as_an_inline_calendar_part_and_an_ics_attachment() {
        let calendar = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n";
        let email = formatted(&claimed(Some(calendar)));
        assert!(email.contains("Content-Type: multipart/mixed"), "{email}");
        assert!(
            email.contains("Content-Type: multipart/alternative"),
            "{email}"
        );
        // Charset names are case-insensitive; lettre writes them in lower case.
        assert!(
            email
                .to_ascii_lowercase()
                .contains("content-type: text/calendar; method=request; charset=utf-8"),
            "{email}"
        );
        assert!(email.contains("method=REQUEST"), "{email}");
        assert!(email.contains("filename=\"invite.ics\""), "{email}");
        // Base64 keeps the object's CRLF line endings byte for byte.
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(calendar);
        assert!(email.contains(&encoded), "{email}");
        assert!(
            email.contains("Message-ID: <m1@pipeflow.example>"),
            "{email}"
        );
    }
}
