//! Slack incoming webhooks (REFERENCE §4): the message's body is Slack's JSON payload as is
//! (`{"text": …, "blocks": […]}`), POSTed with `Content-Type: application/json`. Slack
//! does not sign these requests: the URL is the credential, so it is never logged.
//!
//! Slack's answers: 200 `ok`; 400 (`invalid_payload`, `user_not_found`) and 403
//! (`action_prohibited`) are permanent; 404 (`channel_not_found`, `no_service`: the URL was
//! revoked) and 410 (`channel_is_archived`) are permanent and disable the endpoint; 429
//! waits `Retry-After`; 5xx (`rollup_error`, …) are retried with backoff.

use super::{send, DeliveryError, Reply};

/// POSTs a Slack payload to an incoming webhook.
pub async fn deliver(
    http: &reqwest::Client,
    url: reqwest::Url,
    body: &str,
) -> Result<(), DeliveryError> {
    let request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    judge(send(request, "Slack webhook").await?)
}

/// What Slack's answer means for the message.
fn judge(reply: Reply) -> Result<(), DeliveryError> {
    let status = reply.status;
    let said = if reply.text.is_empty() {
        String::new()
    } else {
        format!(" {}", reply.text)
    };
    match status.as_u16() {
        200..=299 => Ok(()),
        404 | 410 => Err(DeliveryError::disabling(format!(
            "Slack answered {}{said}: the webhook is revoked or its channel archived",
            status.as_u16()
        ))),
        429 => Err(DeliveryError::transient(
            format!("Slack answered 429 (rate limited){said}"),
            reply.retry_after,
        )),
        500..=599 => Err(DeliveryError::transient(
            format!("Slack answered {}{said}", status.as_u16()),
            reply.retry_after,
        )),
        300..=399 => Err(DeliveryError::permanent(format!(
            "Slack answered {} (a redirect, not followed): check the webhook URL",
            status.as_u16()
        ))),
        _ => Err(DeliveryError::permanent(format!(
            "Slack refused the message: {}{said}",
            status.as_u16()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use std::time::Duration;

    fn reply(status: u16, text: &str, retry_after: Option<u64>) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            retry_after: retry_after.map(Duration::from_secs),
            text: text.to_owned(),
        }
    }

    #[test]
    fn slacks_answers_are_judged_as_its_documentation_says() {
        assert_eq!(judge(reply(200, "ok", None)), Ok(()));
        for (status, body) in [
            (400, "invalid_payload"),
            (400, "user_not_found"),
            (403, "action_prohibited"),
        ] {
            let error = judge(reply(status, body, None)).expect_err("refused");
            assert!(error.permanent && !error.disable, "{status} {error:?}");
            assert!(error.message.contains(body), "{error:?}");
        }
        for (status, body) in [
            (404, "no_service"),
            (404, "channel_not_found"),
            (410, "channel_is_archived"),
        ] {
            let error = judge(reply(status, body, None)).expect_err("gone");
            assert!(error.permanent && error.disable, "{status} {error:?}");
            assert!(error.message.contains(body), "{error:?}");
        }
        let error = judge(reply(429, "rate_limited", Some(30))).expect_err("throttled");
        assert!(!error.permanent);
        assert_eq!(error.retry_after, Some(Duration::from_secs(30)));
        let error = judge(reply(500, "rollup_error", None)).expect_err("broken");
        assert!(!error.permanent && !error.disable);
        let error = judge(reply(302, "", None)).expect_err("moved");
        assert!(error.permanent);
    }
}
