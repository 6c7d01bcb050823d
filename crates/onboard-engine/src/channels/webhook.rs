//! Signed outbound webhooks, Standard Webhooks 1.0.0 (REFERENCE §5): the body is the
//! message's JSON, sent byte for byte as stored, with
//!
//! - `webhook-id`: the outbox message's id, the same on every retry (the receiver's
//!   idempotency key);
//! - `webhook-timestamp`: this attempt's time in unix seconds, from the engine's clock;
//! - `webhook-signature`: `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//!   keyed with the base64-decoded bytes of the endpoint's `whsec_` secret.
//!
//! Answers: 2xx delivered; 410 Gone disables the endpoint; 408, 429 and 5xx (and timeouts,
//! resets) are retried, no sooner than `Retry-After`; redirects are not followed and, like
//! every other 4xx, are permanent.

use super::{send, DeliveryError, Outgoing, Reply};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use onboard_core::Timestamp;
use sha2::Sha256;

const SECRET_PREFIX: &str = "whsec_";

/// The HMAC key of a `whsec_` secret: the base64-decoded bytes after the prefix, 24 to 64
/// of them.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
        return Err("a webhook secret starts with `whsec_`".to_owned());
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| "the webhook secret after `whsec_` is not base64".to_owned())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "the webhook secret holds {} bytes; Standard Webhooks secrets hold 24 to 64",
            key.len()
        ));
    }
    Ok(key)
}

/// The `webhook-signature` header's value: `v1,` + base64(HMAC-SHA256(key,
/// `{id}.{timestamp}.{body}`)).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{signature}")
}

/// POSTs a signed message; `now` is the attempt's time on the engine's clock.
pub async fn deliver(
    http: &reqwest::Client,
    url: reqwest::Url,
    key: &[u8],
    message: Outgoing<'_>,
    now: Timestamp,
) -> Result<(), DeliveryError> {
    let timestamp = now.millis().div_euclid(1_000);
    let request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", message.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            sign(key, message.id, timestamp, message.body),
        )
        .body(message.body.to_owned());
    judge(send(request, "webhook").await?)
}

/// What the receiver's answer means for the message.
fn judge(reply: Reply) -> Result<(), DeliveryError> {
    let status = reply.status.as_u16();
    let said = if reply.text.is_empty() {
        String::new()
    } else {
        format!(": {}", reply.text)
    };
    match status {
        200..=299 => Ok(()),
        410 => Err(DeliveryError::disabling(format!(
            "the webhook endpoint answered 410 Gone{said}"
        ))),
        // 408 is the receiver's own timeout: as retryable as ours.
        408 | 429 | 500..=599 => Err(DeliveryError::transient(
            format!("the webhook endpoint answered {status}{said}"),
            reply.retry_after,
        )),
        300..=399 => Err(DeliveryError::permanent(format!(
            "the webhook endpoint answered {status} (a redirect, not followed): point the endpoint at the final URL"
        ))),
        _ => Err(DeliveryError::permanent(format!(
            "the webhook endpoint refused the message: {status}{said}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use std::time::Duration;

    /// The published test vector: standard-webhooks/standard-webhooks,
    /// `libraries/rust/src/lib.rs`, `test_sign`.
    #[test]
    fn the_signature_matches_the_published_standard_webhooks_test_vector() {
        let key = decode_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key.len(), 24);
        assert_eq!(
            sign(
                &key,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                r#"{"email":"test@example.com","username":"test_user"}"#,
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_to_64_bytes() {
        assert!(decode_secret("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret("whsec_c2hvcnQ=").is_err(), "5 bytes");
        assert!(
            decode_secret(&format!("whsec_{}", "A".repeat(88))).is_err(),
            "66 bytes"
        );
    }

    fn reply(status: u16, retry_after: Option<u64>) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            retry_after: retry_after.map(Duration::from_secs),
            text: String::new(),
        }
    }

    #[test]
    fn answers_are_judged_as_standard_webhooks_says() {
        assert_eq!(judge(reply(200, None)), Ok(()));
        assert_eq!(judge(reply(204, None)), Ok(()));
        let gone = judge(reply(410, None)).expect_err("gone");
        assert!(gone.permanent && gone.disable);
        for status in [408, 429, 500, 502, 503, 504] {
            let error = judge(reply(status, Some(120))).expect_err("retried");
            assert!(!error.permanent, "{status}");
            assert_eq!(
                error.retry_after,
                Some(Duration::from_secs(120)),
                "{status}"
            );
        }
        for status in [301, 302, 307, 400, 401, 403, 404, 422] {
            let error = judge(reply(status, None)).expect_err("refused");
            assert!(error.permanent && !error.disable, "{status}");
        }
    }
}
