//! The Shared Space's pages: minijinja templates (HTML auto-escaped by their `.html` names;
//! the only unescaped values are task descriptions, already sanitised by
//! `academy::markdown`), a layout with the Academy's stylesheet inline (no external assets,
//! no JavaScript), and [`page`], which renders one with the Academy's headers plus a
//! Content-Security-Policy that allows no script and no framing.

use crate::academy::pages::{academy_style, environment, render, NEW_LINK_FORM};
use crate::error::ApiResult;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::OnceLock;

const LAYOUT: &str = concat!(
    r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{% block title %}{% endblock %} · {% if account %}{{ account }} · {% endif %}Shared Space</title>
<style>
"##,
    academy_style!(),
    r##".project { margin-top: 2rem; }
.plan { list-style: none; padding: 0; margin: .5rem 0; }
.task { padding: .8rem 1rem; border: 1px solid var(--line); border-radius: .5rem; margin: .6rem 0; }
.task h3, .mine h3 { margin: 0 0 .3rem; }
.task.done h3 { color: var(--muted); }
.meta { display: flex; flex-wrap: wrap; gap: .2rem .8rem; margin: 0 0 .4rem; font-size: .95rem; color: var(--muted); }
.milestone { font-size: .78rem; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; color: #8d2b0b; }
.overdue { font-weight: 700; color: #b42318; }
.status.open, .status.waiting { background: #e0e8f9; color: var(--accent); }
.status.on_track { background: #e0e8f9; color: var(--accent); }
.status.at_risk, .status.missed { background: #ffe3e3; color: #b42318; }
.status.achieved { background: #e3f9e5; color: var(--done); }
.mine, .goals, .activity { list-style: none; padding: 0; }
.mine li, .goals li { padding: .6rem .9rem; border: 1px solid var(--line); border-radius: .5rem; margin: .5rem 0; }
.activity li { padding: .3rem 0; border-bottom: 1px solid var(--line); }
.comments { list-style: none; padding: 0; margin: .5rem 0; }
.comments li { padding: .4rem .7rem; background: var(--soft); border-radius: .4rem; margin: .3rem 0; }
.task form { margin: .5rem 0 0; }
.invite input { font: inherit; width: 100%; padding: .45rem; border: 1px solid #9aa5b1; border-radius: .3rem; display: block; margin: .3rem 0 .6rem; }
.invite input[aria-invalid=true] { border-color: #b42318; }
textarea { font: inherit; width: 100%; min-height: 4rem; padding: .5rem; border: 1px solid #9aa5b1; border-radius: .3rem; display: block; margin: .3rem 0 .5rem; }
textarea[aria-invalid=true] { border-color: #b42318; }
details summary { cursor: pointer; color: var(--accent); }
.kickoff fieldset { border: 1px solid var(--line); border-radius: .5rem; padding: .5rem 1rem; margin: .5rem 0; }
.kickoff .slot { display: block; padding: .2rem 0; }
.files { list-style: none; padding: 0; }
.files li { padding: .4rem 0; border-bottom: 1px solid var(--line); }
.upload input[type=file] { display: block; margin: .3rem 0 .6rem; }
.upload input[aria-invalid=true] { outline: 2px solid #b42318; }
</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><div class="inner">
<a class="brand" href="/space">{% if account %}{{ account }} · {% endif %}Shared Space</a>
{% if signed_in %}<a href="/academy">Your Academy</a>
<form method="post" action="/academy/sign-out"><input type="hidden" name="csrf" value="{{ session_csrf }}"><button class="quiet" type="submit">Sign out</button></form>{% endif %}
</div></header>
<main id="main">
{% block main %}{% endblock %}
</main>
</body>
</html>
"##
);

const SIGNED_OUT: &str = r#"{% extends "layout.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<h1>Your Shared Space</h1>
<p>Your onboarding plan, your tasks and your goals with {{ program }} are here, for the people
of your company only. To get in, open the personal sign-in link we emailed you and press the
button it shows: it signs you in to the {{ program }} Academy and to this Shared Space. Then
come back to this page.</p>
<p>Lost the link, or did it expire? Have a new one sent to you:</p>
{% include "new_link_form.html" %}
{% endblock %}
"#;

const NOT_FOUND: &str = r#"{% extends "layout.html" %}
{% block title %}Not found{% endblock %}
{% block main %}
<h1>This is not in your Shared Space</h1>
<p>The link may be mistyped, or it belongs to another company's plan.
<a href="/space">Back to your plan</a>.</p>
{% endblock %}
"#;

const SPACE: &str = r##"{% extends "layout.html" %}
{% block title %}Your plan{% endblock %}
{% block main %}
<h1>Welcome, {{ person.name }}</h1>
<p class="muted">{{ account }}{% if person.persona %} · {{ person.persona }}{% endif %} · as of <time datetime="{{ now.at }}">{{ now.words }}</time></p>
{% if notice %}<p class="notice" role="status">{{ notice }}</p>{% endif %}
{% if error %}<p class="error page-error" role="alert">{{ error }}</p>{% endif %}

<section aria-labelledby="mine-title">
<h2 id="mine-title">Your tasks</h2>
{% if mine %}
<ul class="mine">
{% for task in mine %}<li data-project="{{ task.project }}" data-task="{{ task.key }}">
<h3><a href="#{{ task.anchor }}">{{ task.title }}</a></h3>
<p class="meta"><span class="status {{ task.status }}">{{ task.status_words }}</span>{% if task.due %}<span>Due <time datetime="{{ task.due.at }}">{{ task.due.words }}</time></span>{% endif %}{% if task.overdue %}<span class="overdue">Overdue</span>{% endif %}<span>{{ task.project_title }}</span></p>
</li>
{% endfor %}
</ul>
{% else %}
<p class="muted">Nothing is waiting for you right now.</p>
{% endif %}
</section>

{% if kickoff %}
<section id="kickoff" class="kickoff" aria-labelledby="kickoff-title">
<h2 id="kickoff-title">{% if kickoff.booked %}Your kickoff call{% else %}Book your kickoff call{% endif %}</h2>
{% if kickoff.booked %}<p class="booked" data-start="{{ kickoff.booked.start.at }}">“{{ kickoff.title }}” with {{ kickoff.csm }} is booked for <time datetime="{{ kickoff.booked.start.at }}">{{ kickoff.booked.start.words }}</time> ({{ kickoff.booked.minutes }} minutes). The calendar invite is in your email.</p>
{% else %}<p>Pick a time for “{{ kickoff.title }}” with {{ kickoff.csm }}: you both get a calendar invite.</p>{% endif %}
{% if booking_error %}<p class="error" id="booking-error" role="alert">{{ booking_error }}</p>{% endif %}
{% if kickoff.slots %}
<form method="post" action="{{ kickoff.path }}" class="book">
<input type="hidden" name="csrf" value="{{ csrf }}">
<fieldset{% if booking_error %} aria-describedby="booking-error"{% endif %}>
<legend>{% if kickoff.booked %}Move it to another time{% else %}Times {{ kickoff.csm }} is free{% endif %}</legend>
{% for slot in kickoff.slots %}<label class="slot"><input type="radio" name="start" value="{{ slot.start }}" required> <time datetime="{{ slot.start }}">{{ slot.words }}</time></label>
{% endfor %}</fieldset>
<button type="submit">{% if kickoff.booked %}Move the call{% else %}Book this time{% endif %}</button>
</form>
{% else %}
<p class="muted">No times are free in the coming days; your Customer Success Manager will be in touch.</p>
{% endif %}
</section>
{% endif %}

<section aria-labelledby="usage-title" class="usage">
<h2 id="usage-title">Your team in the product</h2>
{% if usage.used %}
<p><strong>{{ usage.active }}</strong>{% if usage.seats %} of {{ usage.seats }} seats{% endif %} active in the last {{ usage.window_days }} days{% if usage.seats %} ({{ usage.seat_percent }}%){% endif %} · {{ usage.trend }}</p>
{% if usage.aha %}<p>First value moment: <strong>{{ usage.aha.event }}</strong>{% if usage.aha.who %} by {{ usage.aha.who }}{% endif %}, <time datetime="{{ usage.aha.when.at }}">{{ usage.aha.when.words }}</time></p>{% endif %}
{% if usage.features %}<ul class="features">{% for f in usage.features %}<li>{{ f.feature }}: {{ f.users }} {% if f.users == 1 %}person{% else %}people{% endif %} ({{ f.percent }}% of active)</li>{% endfor %}</ul>{% endif %}
{% else %}
<p class="muted">No one has used the product yet. Your first steps in the plan get you there.</p>
{% endif %}
</section>

<section aria-labelledby="goals-title">
<h2 id="goals-title">Goals</h2>
{% if goals %}
<ul class="goals">
{% for goal in goals %}<li data-goal="{{ goal.name }}">
<h3 id="goal-{{ loop.index }}">{{ goal.title }}</h3>
<p class="meta"><span class="status {{ goal.status }}">{{ goal.status_words }}</span><span class="goal-value">{{ goal.value }} of {{ goal.target }}</span><span>Deadline <time datetime="{{ goal.deadline.at }}">{{ goal.deadline.words }}</time></span></p>
<progress aria-labelledby="goal-{{ loop.index }}" max="100" value="{{ goal.percent }}">{{ goal.percent }}%</progress>
</li>
{% endfor %}
</ul>
{% else %}
<p class="muted">No goals are set yet.</p>
{% endif %}
</section>

{% for project in projects %}
<section class="project" aria-labelledby="project-{{ loop.index }}" data-project="{{ project.id }}">
<h2 id="project-{{ loop.index }}">{{ project.title }}</h2>
<p class="muted">{{ project.status_words }}{% if project.due %} · due <time datetime="{{ project.due.at }}">{{ project.due.words }}</time>{% endif %}</p>
{% if project.tasks %}
<ol class="plan">
{% for task in project.tasks %}<li class="task {{ task.status }}" id="{{ task.anchor }}" data-project="{{ project.id }}" data-task="{{ task.key }}" data-status="{{ task.status }}" data-owner="{{ task.owner }}">
<h3>{% if task.milestone %}<span class="milestone">Milestone</span> {% endif %}{{ task.title }}</h3>
<p class="meta"><span class="status {{ task.status }}">{{ task.status_words }}</span><span class="assignee">{{ task.owner_words }}: {{ task.assignee_words }}</span>{% if task.due %}<span>Due <time datetime="{{ task.due.at }}">{{ task.due.words }}</time></span>{% endif %}{% if task.overdue %}<span class="overdue">Overdue</span>{% endif %}{% if task.completed %}<span>Done <time datetime="{{ task.completed.at }}">{{ task.completed.words }}</time>{% if task.completed_by %} by {{ task.completed_by }}{% endif %}</span>{% endif %}</p>
{% if task.description %}<div class="content">{{ task.description|safe }}</div>{% endif %}
{% if task.can_complete %}<form method="post" action="{{ task.path }}/complete" class="complete">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Mark as done</button>
</form>{% endif %}
{% if task.comments %}<ul class="comments" aria-label="Comments on {{ task.title }}">
{% for comment in task.comments %}<li><strong>{{ comment.author }}</strong> <span class="muted"><time datetime="{{ comment.when.at }}">{{ comment.when.words }}</time></span><br>{{ comment.text }}</li>
{% endfor %}</ul>{% endif %}
<details{% if task.comment_error %} open{% endif %}>
<summary>Comment</summary>
<form method="post" action="{{ task.path }}/comments" class="comment">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="{{ task.anchor }}-text">Your comment</label>
{% if task.comment_error %}<p class="error" id="{{ task.anchor }}-error" role="alert">{{ task.comment_error }}</p>{% endif %}
<textarea id="{{ task.anchor }}-text" name="text" maxlength="2000"{% if task.comment_error %} aria-invalid="true" aria-describedby="{{ task.anchor }}-error"{% endif %}>{{ task.comment_text }}</textarea>
<button type="submit">Post comment</button>
</form>
</details>
</li>
{% endfor %}
</ol>
{% else %}
<p class="muted">Nothing to show yet: the first steps unlock soon.</p>
{% endif %}
</section>
{% else %}
<p>Your onboarding plan appears here as soon as it starts.</p>
{% endfor %}

<section id="files" aria-labelledby="files-title">
<h2 id="files-title">Files</h2>
{% if files %}
<ul class="files">
{% for file in files %}<li data-file="{{ file.id }}"><a href="{{ file.href }}" download>{{ file.name }}</a> <span class="muted">{{ file.size }} · {{ file.who }} · <time datetime="{{ file.when.at }}">{{ file.when.words }}</time></span></li>
{% endfor %}
</ul>
{% else %}
<p class="muted">No files yet.</p>
{% endif %}
<form method="post" action="/space/files" enctype="multipart/form-data" class="upload">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="upload-file">Share a file with your onboarding team</label>
<p class="muted" id="upload-hint">PDF, images (PNG, JPEG, GIF, WebP), Word, Excel, PowerPoint, CSV, text or Markdown; up to 10 MB.</p>
{% if upload_error %}<p class="error" id="upload-error" role="alert">{{ upload_error }}</p>{% endif %}
<input id="upload-file" name="file" type="file" accept=".pdf,.png,.jpg,.jpeg,.gif,.webp,.docx,.xlsx,.pptx,.csv,.txt,.md" aria-describedby="{% if upload_error %}upload-error {% endif %}upload-hint"{% if upload_error %} aria-invalid="true"{% endif %}>
<button type="submit">Upload</button>
</form>
</section>

<section aria-labelledby="activity-title">
<h2 id="activity-title">Recent activity</h2>
{% if activity %}
<ul class="activity">
{% for item in activity %}<li{% if item.post %} class="post"{% endif %}><time datetime="{{ item.when.at }}">{{ item.when.words }}</time> · <strong>{{ item.who }}</strong> {% if item.post %}posted <strong>{{ item.title }}</strong>: {{ item.text }}{% else %}{{ item.what }} “{{ item.task }}”{% if item.text %}: {{ item.text }}{% endif %}{% endif %}</li>
{% endfor %}
</ul>
{% else %}
<p class="muted">Nothing yet.</p>
{% endif %}
</section>

<section aria-labelledby="invite-title">
<h2 id="invite-title">Invite a colleague</h2>
<p class="muted">Someone with an email address at your company gets a sign-in link at once; anyone else once your Customer Success Manager has confirmed them.</p>
<form method="post" action="/space/invite" class="invite">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="invite-name">Name</label>
{% if invite and invite.name_error %}<p class="error" id="invite-name-error" role="alert">{{ invite.name_error }}</p>{% endif %}
<input id="invite-name" name="name" type="text" maxlength="200" autocomplete="off" value="{{ invite.name if invite else "" }}"{% if invite and invite.name_error %} aria-invalid="true" aria-describedby="invite-name-error"{% endif %}>
<label for="invite-email">Email</label>
{% if invite and invite.email_error %}<p class="error" id="invite-email-error" role="alert">{{ invite.email_error }}</p>{% endif %}
<input id="invite-email" name="email" type="email" maxlength="254" autocomplete="off" value="{{ invite.email if invite else "" }}"{% if invite and invite.email_error %} aria-invalid="true" aria-describedby="invite-email-error"{% endif %}>
<button type="submit">Send the invitation</button>
</form>
</section>
{% endblock %}
"##;

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        environment(&[
            ("layout.html", LAYOUT),
            ("signed_out.html", SIGNED_OUT),
            ("not_found.html", NOT_FOUND),
            ("space.html", SPACE),
            ("new_link_form.html", NEW_LINK_FORM),
        ])
    })
}

/// A page of the Shared Space, with the Academy's headers (never cached, no referrer, a
/// policy that runs no script and lets no other site frame it).
pub(super) fn page(
    status: StatusCode,
    name: &str,
    context: serde_json::Value,
) -> ApiResult<Response> {
    render(templates(), status, name, context)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_compiles() {
        let env = super::templates();
        for name in [
            "layout.html",
            "signed_out.html",
            "not_found.html",
            "space.html",
            "new_link_form.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
