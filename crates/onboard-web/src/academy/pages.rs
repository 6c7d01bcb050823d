//! The Academy's pages: minijinja templates (HTML auto-escaped by their `.html` names; the
//! only unescaped value is a module's body, already sanitised by [`super::markdown`]), one
//! layout with its stylesheet inline (no external assets, no JavaScript), and [`page`],
//! which renders one with the headers every Academy page carries.

use crate::error::{ApiError, ApiResult};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

/// The Academy's stylesheet, as a literal that other layouts (the Shared Space's) include
/// with `concat!`, so every page of the customer's portal looks the same.
macro_rules! academy_style {
    () => {
        r##":root { --ink: #1f2933; --muted: #52606d; --accent: #2458c6; --done: #1a7f4b; --line: #d9e2ec; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 1.0625rem; line-height: 1.6; color: var(--ink); background: #fff; }
.skip { position: absolute; left: -100rem; }
.skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .4rem .8rem; z-index: 1; }
.site { border-bottom: 1px solid var(--line); background: var(--soft); }
.site .inner, main { max-width: 46rem; margin: 0 auto; padding-left: 1rem; padding-right: 1rem; }
.site .inner { display: flex; flex-wrap: wrap; gap: .5rem 1rem; justify-content: space-between; align-items: center; padding-top: .6rem; padding-bottom: .6rem; }
.site .brand { font-weight: 700; color: var(--ink); text-decoration: none; }
.site form { margin: 0; }
main { padding-top: 1.5rem; padding-bottom: 4rem; }
h1 { font-size: 1.8rem; line-height: 1.25; margin: .4rem 0 1rem; }
h2 { font-size: 1.35rem; line-height: 1.3; margin: 2rem 0 .75rem; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); text-underline-offset: .15em; }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid #f0b429; outline-offset: 2px; }
button, .button { display: inline-block; font: inherit; font-weight: 600; padding: .6rem 1.3rem; border: 0; border-radius: .4rem; background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; }
button.quiet { font-weight: 400; background: transparent; color: var(--accent); border: 1px solid var(--accent); padding: .25rem .8rem; }
label { font-weight: 600; }
input[type=email], input.code { font: inherit; padding: .5rem; border: 1px solid #9aa5b1; border-radius: .3rem; width: 100%; max-width: 24rem; margin: .3rem 0 .8rem; display: block; }
.muted { color: var(--muted); }
.notice { padding: .7rem 1rem; border-radius: .5rem; background: #e3f9e5; border: 1px solid #a3d9a5; }
.error { padding: .7rem 1rem; border-radius: .5rem; background: #ffe3e3; border: 1px solid #e66a6a; }
.field-error { margin: .3rem 0 0; padding: .3rem .7rem; max-width: 24rem; }
input[aria-invalid=true] { border-color: #b42318; }
progress { width: 100%; height: 1rem; accent-color: var(--done); }
.modules { list-style: none; padding: 0; margin: .5rem 0; }
.modules li { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem .75rem; padding: .7rem .9rem; border: 1px solid var(--line); border-radius: .5rem; margin: .5rem 0; }
.modules li.next { border-color: var(--accent); box-shadow: 0 0 0 1px var(--accent); }
.modules .minutes { margin-left: auto; }
.status { font-size: .78rem; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; padding: .05rem .55rem; border-radius: 1rem; white-space: nowrap; }
.status.done { background: #e3f9e5; color: var(--done); }
.status.next { background: #e0e8f9; color: var(--accent); }
.status.todo, .status.optional { background: var(--soft); color: var(--muted); }
.content img { max-width: 100%; height: auto; }
.content pre { overflow-x: auto; background: var(--soft); padding: .75rem; border-radius: .4rem; }
.content table { border-collapse: collapse; display: block; overflow-x: auto; }
.content th, .content td { border: 1px solid var(--line); padding: .3rem .6rem; text-align: left; }
.finish { margin-top: 2.5rem; padding-top: 1rem; border-top: 1px solid var(--line); }
fieldset { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem 1rem; margin: 0 0 1rem; }
legend { font-weight: 700; padding: 0 .3rem; }
.option { display: flex; gap: .6rem; align-items: baseline; padding: .3rem 0; }
.option label { font-weight: 400; }
.option input { width: 1.1rem; height: 1.1rem; }
.pager { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 1rem; margin-top: 2rem; padding-top: 1rem; border-top: 1px solid var(--line); }
.pager a[rel=next] { margin-left: auto; }
@media (max-width: 32rem) { body { font-size: 1rem; } h1 { font-size: 1.45rem; } }
"##
    };
}
pub(crate) use academy_style;

const LAYOUT: &str = concat!(
    r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{% block title %}{% endblock %} · {{ program }} Academy</title>
<style>
"##,
    academy_style!(),
    r##"</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><div class="inner">
<a class="brand" href="/academy">{{ program }} Academy</a>
{% if signed_in %}<a href="/space">Your Shared Space</a>
<form method="post" action="/academy/sign-out"><input type="hidden" name="csrf" value="{{ session_csrf }}"><button class="quiet" type="submit">Sign out</button></form>{% endif %}
</div></header>
<main id="main">
{% block main %}{% endblock %}
</main>
</body>
</html>
"##
);

const SIGN_IN: &str = r#"{% extends "layout.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<h1>Sign in to the {{ program }} Academy</h1>
<p>Press the button to sign in. The link in your email works once.</p>
<form method="post" action="/academy/sign-in">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Continue to the Academy</button>
</form>
{% endblock %}
"#;

const REFUSED: &str = r#"{% extends "layout.html" %}
{% block title %}Link not valid{% endblock %}
{% block main %}
<h1>This sign-in link cannot be used</h1>
<p>It has expired, was already used, or was replaced by a newer link. Use the newest link
we emailed you, or have a new one sent to you:</p>
{% include "new_link_form.html" %}
{% endblock %}
"#;

const SIGNED_OUT: &str = r#"{% extends "layout.html" %}
{% block title %}Academy{% endblock %}
{% block main %}
<h1>The {{ program }} Academy</h1>
<p>Sign in with the personal link we emailed you. Lost it, or did it expire? Have a new
one sent to you:</p>
{% include "new_link_form.html" %}
{% endblock %}
"#;

/// The form that asks for a new sign-in link or a one-time code (the Shared Space's
/// signed-out page has it too); `email_error` is shown next to the field.
pub(crate) const NEW_LINK_FORM: &str = r#"<form method="post" action="/academy/sign-in/new" class="new-link">
<label for="email">Your work email</label>
{% if email_error %}<p class="error field-error" id="email-error" role="alert">{{ email_error }}</p>{% endif %}
<input id="email" name="email" type="email" required maxlength="254" autocomplete="email" value="{{ email }}"{% if email_error %} aria-invalid="true" aria-describedby="email-error"{% endif %}>
<button type="submit">Email me a sign-in link</button>
<button type="submit" class="quiet" formaction="/academy/sign-in/code">Email me a code instead</button>
</form>
<p class="muted">Got a code? <a href="/academy/sign-in/code">Type it in here</a>.</p>
"#;

const LINK_REQUESTED: &str = r#"{% extends "layout.html" %}
{% block title %}Check your email{% endblock %}
{% block main %}
<h1>Check your email</h1>
<p>If {{ email }} belongs to someone we are onboarding, a new sign-in link is on its way.
It works once, for {{ minutes }} minutes.</p>
{% endblock %}
"#;

const BAD_EMAIL: &str = r#"{% extends "layout.html" %}
{% block title %}Email address needed{% endblock %}
{% block main %}
<h1>Get a sign-in link or code</h1>
{% include "new_link_form.html" %}
{% endblock %}
"#;

const TOO_MANY: &str = r#"{% extends "layout.html" %}
{% block title %}Too many requests{% endblock %}
{% block main %}
<h1>Too many requests</h1>
<p class="error" role="alert">We have had as many requests for sign-in emails to this address,
or from your network, as we answer in a short while. Nothing was sent this time.</p>
<p>Try again <time datetime="{{ retry_at }}">{{ retry }}</time>. The newest link or code we
already sent you still works until it expires.</p>
{% endblock %}
"#;

const CODE: &str = r#"{% extends "layout.html" %}
{% block title %}Sign in with a code{% endblock %}
{% block main %}
<h1>Sign in with a code</h1>
{% if sent %}<p class="notice" role="status">If {{ email }} belongs to someone we are onboarding,
a sign-in code is on its way to it. It works once, for {{ minutes }} minutes.</p>{% endif %}
{% if error %}<p class="error page-error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/academy/sign-in/code/verify" class="enter-code">
{% if csrf %}<input type="hidden" name="csrf" value="{{ csrf }}">{% endif %}
<label for="code-email">Your work email</label>
{% if email_error %}<p class="error field-error" id="code-email-error" role="alert">{{ email_error }}</p>{% endif %}
<input id="code-email" name="email" type="email" required maxlength="254" autocomplete="email" value="{{ email }}"{% if email_error %} aria-invalid="true" aria-describedby="code-email-error"{% endif %}>
<label for="code">The 6-digit code from the email</label>
{% if code_error %}<p class="error field-error" id="code-error" role="alert">{{ code_error }}</p>{% endif %}
<input id="code" class="code" name="code" type="text" inputmode="numeric" required maxlength="12" autocomplete="one-time-code"{% if code_error %} aria-invalid="true" aria-describedby="code-error"{% endif %}>
<button type="submit">Sign in</button>
</form>
{% if email %}<form method="post" action="/academy/sign-in/code" class="resend">
<input type="hidden" name="email" value="{{ email }}">
<button type="submit" class="quiet">Email me a new code</button>
</form>{% else %}<p class="muted">No code yet? <a href="/academy">Have one sent to you</a>.</p>{% endif %}
{% endblock %}
"#;

const SIGN_OUT_EXPIRED: &str = r#"{% extends "layout.html" %}
{% block title %}Still signed in{% endblock %}
{% block main %}
<h1>You are still signed in</h1>
<p>That sign-out form has expired. Use the “Sign out” button at the top of this page.</p>
{% endblock %}
"#;

const STATUS_LABEL: &str = r#"{% if status == "done" %}Done{% elif status == "next" %}Next{% elif status == "optional" %}Optional{% else %}To do{% endif %}"#;

const HOME: &str = r#"{% extends "layout.html" %}
{% block title %}Your journey{% endblock %}
{% block main %}
<h1>Welcome, {{ person.name }}</h1>
<p class="muted">{{ account }}{% if persona %} · {{ persona|replace("_", " ") }}{% endif %}</p>
{% if journey %}
<section aria-labelledby="journey-title">
<h2 id="journey-title">{{ journey.title }}</h2>
{% if journey.complete %}<p class="notice journey-complete" role="status">You completed every core module of your journey. Well done! The library is there whenever you want to go further.</p>{% endif %}
<p id="progress-label" class="progress-label">{{ journey.n_done }} of {{ journey.n_core }} core modules done</p>
<progress aria-labelledby="progress-label" max="{{ journey.n_core }}" value="{{ journey.n_done }}">{{ journey.percent }}%</progress>
{% if journey.next %}<p><a class="button" href="/academy/modules/{{ journey.next.slug }}">{% if journey.n_done %}Continue{% else %}Start{% endif %}: {{ journey.next.title }}</a></p>{% endif %}
<h3 id="core-title">Core path</h3>
<ol class="modules core" aria-labelledby="core-title">
{% for module in journey.core %}<li class="{{ module.status }}" data-slug="{{ module.slug }}"><span class="status {{ module.status }}">{% with status = module.status %}{% include "status_label.html" %}{% endwith %}</span> <a href="/academy/modules/{{ module.slug }}">{{ module.title }}</a>{% if module.minutes %} <span class="minutes muted">{{ module.minutes }} min</span>{% endif %}</li>
{% endfor %}
</ol>
</section>
{% if journey.library %}
<section aria-labelledby="library-title">
<h2 id="library-title">Library <span class="muted">(optional)</span></h2>
<p class="muted">Extra modules for when you want to go further. They are optional and never count toward completing your journey.</p>
<ul class="modules library" aria-labelledby="library-title">
{% for module in journey.library %}<li class="{{ module.status }}" data-slug="{{ module.slug }}"><span class="status {{ module.status }}">{% with status = module.status %}{% include "status_label.html" %}{% endwith %}</span> <a href="/academy/modules/{{ module.slug }}">{{ module.title }}</a>{% if module.minutes %} <span class="minutes muted">{{ module.minutes }} min</span>{% endif %}</li>
{% endfor %}
</ul>
</section>
{% endif %}
{% else %}
<p>You are not enrolled in a journey yet.</p>
{% endif %}
{% endblock %}
"#;

const MODULE: &str = r#"{% extends "layout.html" %}
{% block title %}{{ module.title }}{% endblock %}
{% block main %}
<p><a href="/academy">← {{ journey.title }}</a></p>
<article aria-labelledby="module-title">
<p class="muted module-place">{% if module.optional %}Library · optional{% else %}Module {{ module.position }} of {{ journey.n_core }}{% endif %}{% if module.minutes %} · {{ module.minutes }} min{% endif %}</p>
<h1 id="module-title">{{ module.title }}</h1>
{% if module.done %}<p class="notice module-done" role="status">You completed this module.</p>{% endif %}
<div class="content">
{{ body|safe }}
</div>
</article>
<section class="finish" aria-labelledby="finish-title">
{% if module.done %}
<h2 id="finish-title">Done</h2>
<p>{% if next %}Up next: <a href="/academy/modules/{{ next.slug }}">{{ next.title }}</a>.{% else %}<a href="/academy">Back to your journey</a>.{% endif %}</p>
{% else %}
<h2 id="finish-title">{% if checkpoint %}Checkpoint{% else %}Finished reading?{% endif %}</h2>
<form method="post" action="/academy/modules/{{ module.slug }}/complete" class="complete">
<input type="hidden" name="csrf" value="{{ csrf }}">
{% if checkpoint %}
<fieldset{% if error %} aria-describedby="answer-error"{% endif %}>
<legend>{{ checkpoint.question }}</legend>
{% if error %}<p class="error" id="answer-error" role="alert">{{ error }}</p>{% endif %}
{% for option in checkpoint.options %}<div class="option"><input type="radio" id="answer-{{ loop.index }}" name="answer" value="{{ loop.index }}" required{% if chosen == loop.index %} checked{% endif %}><label for="answer-{{ loop.index }}">{{ option }}</label></div>
{% endfor %}
</fieldset>
<button type="submit">Check my answer</button>
{% else %}
<button type="submit">Mark as complete</button>
{% endif %}
</form>
{% endif %}
</section>
<nav class="pager" aria-label="Core path">
{% if previous %}<a rel="prev" href="/academy/modules/{{ previous.slug }}">← {{ previous.title }}</a>{% endif %}
{% if next %}<a rel="next" href="/academy/modules/{{ next.slug }}">{{ next.title }} →</a>{% endif %}
</nav>
{% endblock %}
"#;

const NOT_FOUND: &str = r#"{% extends "layout.html" %}
{% block title %}Not found{% endblock %}
{% block main %}
<h1>This module is not in your journey</h1>
<p>The link may be mistyped, or the module belongs to another journey.
<a href="/academy">See the modules of your journey</a>.</p>
{% endblock %}
"#;

const FORM_EXPIRED: &str = r#"{% extends "layout.html" %}
{% block title %}Please try again{% endblock %}
{% block main %}
<h1>This form has expired</h1>
<p>Nothing was saved. Open the module again and send the form from there:
{% if slug %}<a href="/academy/modules/{{ slug }}">back to the module</a>{% else %}<a href="/academy">back to your journey</a>{% endif %}.</p>
{% endblock %}
"#;

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        environment(&[
            ("layout.html", LAYOUT),
            ("sign_in.html", SIGN_IN),
            ("refused.html", REFUSED),
            ("signed_out.html", SIGNED_OUT),
            ("home.html", HOME),
            ("module.html", MODULE),
            ("not_found.html", NOT_FOUND),
            ("form_expired.html", FORM_EXPIRED),
            ("status_label.html", STATUS_LABEL),
            ("new_link_form.html", NEW_LINK_FORM),
            ("link_requested.html", LINK_REQUESTED),
            ("bad_email.html", BAD_EMAIL),
            ("too_many.html", TOO_MANY),
            ("code.html", CODE),
            ("sign_out_expired.html", SIGN_OUT_EXPIRED),
        ])
    })
}

/// A template environment of built-in pages (a page that does not compile is logged, and
/// rendering it answers 500).
pub(crate) fn environment(
    pages: &[(&'static str, &'static str)],
) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, source) in pages {
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(template = name, error = %error, "a built-in page does not compile");
        }
    }
    env
}

/// Renders a page of `env` into an HTML answer (see [`html_response`]).
pub(crate) fn render(
    env: &minijinja::Environment<'static>,
    status: StatusCode,
    name: &str,
    context: serde_json::Value,
) -> ApiResult<Response> {
    let html = env
        .get_template(name)
        .and_then(|t| t.render(context))
        .map_err(ApiError::internal)?;
    Ok(html_response(status, html))
}

/// An HTML page: never cached, never sending a referrer (the URL may hold a token).
pub(super) fn page(
    status: StatusCode,
    name: &str,
    context: serde_json::Value,
) -> ApiResult<Response> {
    render(templates(), status, name, context)
}

/// Rendered HTML with the headers every page of the Academy and the Shared Space carries.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (REFERRER_POLICY, "no-referrer"),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_FRAME_OPTIONS, "DENY"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

/// The pages' content policy: no script at all, styles inline, images from here or https
/// (a module's Markdown may show some), forms to this site only, in no other site's frame.
pub(crate) const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_compiles() {
        let env = super::templates();
        for name in [
            "layout.html",
            "sign_in.html",
            "refused.html",
            "signed_out.html",
            "home.html",
            "module.html",
            "not_found.html",
            "form_expired.html",
            "status_label.html",
            "new_link_form.html",
            "link_requested.html",
            "bad_email.html",
            "too_many.html",
            "code.html",
            "sign_out_expired.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
