//! Optional drafting of autopilot emails by a language model behind an OpenAI-compatible
//! Chat Completions endpoint (`POST {url}/chat/completions`, bearer key): the template's
//! subject and body and the recipient's name go in; a warmer, more personal rewrite comes
//! back as JSON `{"subject", "body"}`. The rewrite is used only when it passes the checks
//! of [`Drafter::draft`]; otherwise the template is sent, with the reason.
//!
//! The endpoint is an outbound target like the channels': the client refuses private,
//! loopback, link-local… addresses unless private targets are allowed ([`crate::channels::guard`]),
//! follows no redirects and reads no proxy from the environment. The key is never logged
//! nor shown.
//!
//! Not here: which messages are drafted and when (the engine's dispatcher), storing the text
//! (the store).

use crate::channels::guard;
use onboard_core::state::SIGN_IN_URL_PLACEHOLDER;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The rules whose emails may be drafted start with this.
pub const AUTOPILOT_RULE_PREFIX: &str = "autopilot/";

/// The longest draft taken, in characters (subject and body together).
const MAX_DRAFT_CHARS: usize = 10_000;
/// A draft may be at most this many times as long as its template.
const MAX_GROWTH: usize = 4;
/// The sampling temperature asked for: some warmth, little invention.
const TEMPERATURE: f64 = 0.4;

/// The autopilot's escalations to the team: their facts go to the CSM as written, never
/// reworded.
pub const ESCALATION_RULE: &str = "autopilot/escalate";

/// Whether a message of this rule is one of the autopilot's emails to customers, which may
/// be drafted.
pub fn is_autopilot(rule: &str) -> bool {
    rule.starts_with(AUTOPILOT_RULE_PREFIX) && rule != ESCALATION_RULE
}

/// Where and how to reach the model. Its `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// Base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:11434/v1`.
    pub url: String,
    /// The model asked, e.g. `llama3.1:8b`; also what a drafted message records.
    pub model: String,
    /// Bearer token, when the endpoint wants one.
    pub key: Option<String>,
    /// How long one draft may take, answer included; the template is sent after that.
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("key", &self.key.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An email's text as the template made it, and who it goes to.
#[derive(Debug, Clone, Copy)]
pub struct Template<'a> {
    pub subject: &'a str,
    pub body: &'a str,
    pub to_name: &'a str,
}

/// A rewrite that passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Draft {
    pub subject: String,
    pub body: String,
}

/// Why the template is sent instead of a draft, e.g. `timeout after 8s` or `endpoint
/// answered 500`. Never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Fallback(pub String);

/// The client of the drafting endpoint.
pub struct Drafter {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    model: String,
    key: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Drafter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drafter")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
    temperature: f64,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
}

const SYSTEM_PROMPT: &str = "You rewrite onboarding emails that a software company sends \
to its new customers. Make the email warmer and more personal for its recipient, in the \
same language, about as long as the original. Keep every fact, date, number and name. \
Keep every URL exactly as written, and keep every placeholder such as \
%ONBOARD_SIGN_IN_URL% exactly as written (it becomes the recipient's sign-in link). Add no URL, no \
promise and no new information. Answer with one JSON object and nothing else: \
{\"subject\": \"<one line>\", \"body\": \"<plain text>\"}.";

impl Drafter {
    /// The client: `{url}/chat/completions`, the settings' timeout, no redirects, no proxy
    /// from the environment, and the guarded resolver unless private targets are allowed
    /// (an IP literal that the guard refuses is refused here, at start).
    pub fn new(settings: &LlmSettings, allow_private_targets: bool) -> Result<Self, String> {
        let base = reqwest::Url::parse(settings.url.trim())
            .map_err(|e| format!("the LLM URL is not a URL ({e})"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err("the LLM URL must be an http:// or https:// URL".to_owned());
        }
        if !allow_private_targets {
            guard::check_url_host(&base).map_err(|r| format!("the LLM URL: {r}"))?;
        }
        let endpoint = reqwest::Url::parse(&format!(
            "{}/chat/completions",
            base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| format!("the LLM URL is not a URL ({e})"))?;
        if settings.model.trim().is_empty() {
            return Err("the LLM model is empty".to_owned());
        }
        if settings.timeout.is_zero() {
            return Err("the LLM timeout must be positive".to_owned());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Onboard/", env!("CARGO_PKG_VERSION")));
        if !allow_private_targets {
            builder = builder.dns_resolver(Arc::new(guard::GuardedResolver));
        }
        let http = builder
            .build()
            .map_err(|e| format!("the LLM's HTTP client cannot start: {e}"))?;
        Ok(Self {
            http,
            endpoint,
            model: settings.model.trim().to_owned(),
            key: settings
                .key
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
            timeout: settings.timeout,
        })
    }

    /// The model's name, as a drafted message records it.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Asks the model for a rewrite of `template`, within the timeout. The answer is used
    /// only when it is a JSON object with a non-empty one-line `subject` and a non-empty
    /// `body`, keeps every URL of the template and its placeholders (the sign-in link's
    /// `%ONBOARD_SIGN_IN_URL%`), adds no other
    /// URL, and is at most four times as long as the template and 10,000 characters.
    pub async fn draft(&self, template: &Template<'_>) -> Result<Draft, Fallback> {
        match tokio::time::timeout(self.timeout, self.ask(template)).await {
            Ok(answer) => check(template, &answer?),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> Fallback {
        Fallback(format!("timeout after {}", shown(self.timeout)))
    }

    /// The model's answer text.
    async fn ask(&self, template: &Template<'_>) -> Result<String, Fallback> {
        let user = prompt(template);
        let request = ChatRequest {
            model: &self.model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: SYSTEM_PROMPT,
                },
                ChatMessage {
                    role: "user",
                    content: &user,
                },
            ],
            temperature: TEMPERATURE,
        };
        let mut call = self.http.post(self.endpoint.clone()).json(&request);
        if let Some(key) = &self.key {
            call = call.bearer_auth(key);
        }
        let response = call.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            // The body is not quoted: an authentication error may echo part of the key.
            return Err(Fallback(match status.as_u16() {
                code @ (401 | 403) => {
                    format!("endpoint answered {code} (check the LLM key)")
                }
                code => format!("endpoint answered {code}"),
            }));
        }
        let answer: ChatResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Fallback(format!("not a chat completion: {e}")))?;
        answer
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| Fallback("the answer has no choices[0].message.content".to_owned()))
    }

    fn transport(&self, error: reqwest::Error) -> Fallback {
        if let Some(refused) = guard::find_refusal(&error) {
            return Fallback(refused.to_string());
        }
        if error.is_timeout() {
            return self.timed_out();
        }
        let error = error.without_url();
        let mut message = format!("endpoint unreachable: {error}");
        let mut cause = std::error::Error::source(&error);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Fallback(message)
    }
}

/// The user message: the template and its recipient.
fn prompt(template: &Template<'_>) -> String {
    let name = if template.to_name.trim().is_empty() {
        "(unknown)"
    } else {
        template.to_name.trim()
    };
    format!(
        "Recipient's name: {name}\n\nSubject:\n{}\n\nBody:\n{}\n\nRewrite this email for {name}. \
         Keep every URL and every placeholder like {SIGN_IN_URL_PLACEHOLDER} exactly as written. Answer as JSON: \
         {{\"subject\": …, \"body\": …}}",
        template.subject, template.body
    )
}

/// A duration as a setting is written: `8s`, `300ms`.
pub fn shown(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// Judges the model's answer text against the template.
fn check(template: &Template<'_>, answer: &str) -> Result<Draft, Fallback> {
    let json = json_object(answer)
        .ok_or_else(|| Fallback("the answer is not a JSON object".to_owned()))?;
    let draft: Draft = serde_json::from_str(json)
        .map_err(|e| Fallback(format!("the answer is not {{\"subject\", \"body\"}}: {e}")))?;
    // Trimmed, and ending as the template's body does.
    let mut body = draft.body.trim().to_owned();
    if template.body.ends_with('\n') && !body.is_empty() {
        body.push('\n');
    }
    let draft = Draft {
        subject: draft.subject.trim().to_owned(),
        body,
    };
    if draft.subject.is_empty() || draft.body.is_empty() {
        return Err(Fallback("the answer's subject or body is empty".to_owned()));
    }
    if draft.subject.contains(['\r', '\n']) {
        return Err(Fallback("the answer's subject is not one line".to_owned()));
    }
    let length = draft.subject.chars().count() + draft.body.chars().count();
    let original = template.subject.chars().count() + template.body.chars().count();
    if length > MAX_DRAFT_CHARS || length > MAX_GROWTH * original.max(1) {
        return Err(Fallback(format!(
            "the answer is too long ({length} characters for a template of {original})"
        )));
    }
    let before = format!("{}\n{}", template.subject, template.body);
    let after = format!("{}\n{}", draft.subject, draft.body);
    for placeholder in placeholders(&before) {
        if !after.contains(placeholder) {
            return Err(Fallback(format!(
                "the answer drops the placeholder {placeholder}"
            )));
        }
    }
    let kept = urls(&before);
    let mut found = urls(&after);
    for url in &kept {
        if !found.contains(url) {
            return Err(Fallback(format!("the answer drops the URL {url}")));
        }
    }
    found.retain(|url| !kept.contains(url));
    if let Some(url) = found.first() {
        return Err(Fallback(format!("the answer adds the URL {url}")));
    }
    Ok(draft)
}

/// The engine's placeholders in a text (`%ONBOARD_SIGN_IN_URL%` and any other
/// `%ONBOARD_…%`), each once, in order.
fn placeholders(text: &str) -> Vec<&str> {
    let mut found: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("%ONBOARD_") {
        let tail = &rest[at..];
        let name = tail[1..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .map(|end| end + 1);
        match name {
            Some(end) if tail[end..].starts_with('%') => {
                let placeholder = &tail[..=end];
                if !found.contains(&placeholder) {
                    found.push(placeholder);
                }
                rest = &tail[end + 1..];
            }
            _ => rest = &tail[1..],
        }
    }
    found
}

/// The JSON object in an answer: the whole text, or what a code fence or some words
/// around it hold (from the first `{` to the last `}`).
fn json_object(answer: &str) -> Option<&str> {
    let start = answer.find('{')?;
    let end = answer.rfind('}')?;
    (start < end).then(|| &answer[start..=end])
}

/// The http(s) URLs in a text, each once, in order; trailing punctuation is not part of one.
fn urls(text: &str) -> Vec<&str> {
    let mut found: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(at) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}']);
        if url.len() > "https://".len() && !found.contains(&url) {
            found.push(url);
        }
        rest = &tail[end.max(1)..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: Template<'static> = Template {
        subject: "Your first module is waiting",
        body: "Hi Ada,\n\nSign in here: %ONBOARD_SIGN_IN_URL%\nThe guide: https://docs.pipeflow.example/start.\n",
        to_name: "Ada Admin",
    };

    fn answer(subject: &str, body: &str) -> String {
        serde_json::json!({ "subject": subject, "body": body }).to_string()
    }

    #[test]
    fn customer_reminders_are_drafted_and_escalations_to_the_team_are_not() {
        assert!(is_autopilot("autopilot/remind"));
        assert!(!is_autopilot("autopilot/escalate"));
        assert!(!is_autopilot("welcome"));
    }

    #[test]
    fn urls_are_found_without_trailing_punctuation() {
        assert_eq!(
            urls("See https://a.example/x. Or (http://b.example/y?z=1), https://a.example/x"),
            ["https://a.example/x", "http://b.example/y?z=1"]
        );
    }

    #[test]
    fn a_rewrite_that_keeps_the_link_and_the_urls_passes() {
        let body = "Hello Ada!\n\nWe're glad you're here. Sign in: %ONBOARD_SIGN_IN_URL%\nOur guide is at https://docs.pipeflow.example/start";
        let text = format!("```json\n{}\n```", answer("Ada, your first module", body));
        assert_eq!(
            check(&TEMPLATE, &text),
            Ok(Draft {
                subject: "Ada, your first module".to_owned(),
                body: format!("{body}\n")
            })
        );
    }

    #[test]
    fn a_rewrite_is_refused_with_its_reason() {
        let reason = |text: &str| {
            check(&TEMPLATE, text)
                .err()
                .map(|f| f.0)
                .unwrap_or_default()
        };
        assert!(reason("Sure! Here it is.").contains("not a JSON object"));
        assert!(reason(&answer("", "x")).contains("empty"));
        assert!(reason(&answer("Hi", "https://docs.pipeflow.example/start"))
            .contains("drops the placeholder %ONBOARD_SIGN_IN_URL%"));
        assert!(reason(&answer("Hi", "%ONBOARD_SIGN_IN_URL%"))
            .contains("drops the URL https://docs.pipeflow.example/start"));
        assert!(reason(&answer(
            "Hi",
            "%ONBOARD_SIGN_IN_URL% https://docs.pipeflow.example/start https://evil.example/"
        ))
        .contains("adds the URL https://evil.example/"));
        assert!(reason(&answer("Two\nlines", "x")).contains("one line"));
        let long = format!(
            "%ONBOARD_SIGN_IN_URL% https://docs.pipeflow.example/start {}",
            "very ".repeat(200)
        );
        assert!(reason(&answer("Hi", &long)).contains("too long"));
    }

    #[test]
    fn placeholders_are_found_by_their_form() {
        assert_eq!(
            placeholders("a %ONBOARD_SIGN_IN_URL% b 100% %ONBOARD_X% %ONBOARD_SIGN_IN_URL%"),
            ["%ONBOARD_SIGN_IN_URL%", "%ONBOARD_X%"]
        );
    }

    #[test]
    fn durations_are_shown_as_settings_are_written() {
        assert_eq!(shown(Duration::from_secs(8)), "8s");
        assert_eq!(shown(Duration::from_millis(300)), "300ms");
    }

    #[test]
    fn the_debug_form_hides_the_key() {
        let settings = LlmSettings {
            url: "https://llm.example/v1".to_owned(),
            model: "m".to_owned(),
            key: Some("sk-secret-key".to_owned()),
            timeout: Duration::from_secs(8),
        };
        assert!(!format!("{settings:?}").contains("sk-secret"));
    }

    #[test]
    fn a_private_address_is_refused_unless_allowed() {
        let settings = LlmSettings {
            url: "http://127.0.0.1:11434/v1".to_owned(),
            model: "llama3.1".to_owned(),
            key: None,
            timeout: Duration::from_secs(8),
        };
        let error = Drafter::new(&settings, false).err().unwrap_or_default();
        assert!(error.contains("loopback"), "{error}");
        let drafter = Drafter::new(&settings, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            drafter.endpoint.as_str(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
    }
}
