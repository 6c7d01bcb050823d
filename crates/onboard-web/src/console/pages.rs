//! The console's pages: minijinja templates (HTML auto-escaped by their `.html` names; the
//! only unescaped values are the charts, drawn by [`super::charts`], which escapes every
//! label), one layout with its stylesheet inline, no JavaScript, served with the Academy's
//! headers (a Content-Security-Policy that allows no script, no framing).

use super::TeamSession;
use crate::academy::pages::{environment, render};
use crate::error::ApiResult;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::OnceLock;

const LAYOUT: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{% block title %}{% endblock %} · {{ program }} console</title>
<style>
:root { --ink: #1f2933; --muted: #52606d; --accent: #2458c6; --good: #1a7f4b; --warn: #8d5b00; --bad: #b42318; --line: #d9e2ec; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: .95rem; line-height: 1.5; color: var(--ink); background: #fff; }
.skip { position: absolute; left: -100rem; }
.skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .4rem .8rem; z-index: 1; }
header.site { border-bottom: 1px solid var(--line); background: var(--soft); }
header.site .inner, main { max-width: 80rem; margin: 0 auto; padding-left: 1rem; padding-right: 1rem; }
header.site .inner { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding-top: .5rem; padding-bottom: .5rem; }
header.site .brand { font-weight: 700; color: var(--ink); text-decoration: none; }
header.site nav ul { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; margin: 0; padding: 0; }
header.site nav a[aria-current=page] { font-weight: 700; text-decoration: none; color: var(--ink); }
header.site .me { margin-left: auto; display: flex; gap: .8rem; align-items: center; }
header.site form { margin: 0; }
main { padding-top: 1.2rem; padding-bottom: 4rem; }
h1 { font-size: 1.6rem; margin: .3rem 0 .8rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .6rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
a { color: var(--accent); text-underline-offset: .15em; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f0b429; outline-offset: 2px; }
button { font: inherit; font-weight: 600; padding: .45rem 1rem; border: 0; border-radius: .35rem; background: var(--accent); color: #fff; cursor: pointer; }
button.quiet { font-weight: 400; background: transparent; color: var(--accent); border: 1px solid var(--accent); padding: .2rem .7rem; }
label { font-weight: 600; display: block; }
input[type=email], input[type=password], input[type=search], select { font: inherit; padding: .4rem; border: 1px solid #9aa5b1; border-radius: .3rem; }
input[type=email], input[type=password], input[type=file] { width: 100%; max-width: 24rem; display: block; margin: .25rem 0 .8rem; }
.field-error { color: var(--bad); font-weight: 600; margin: -.4rem 0 .8rem; }
.muted { color: var(--muted); }
.notice { padding: .6rem .9rem; border-radius: .4rem; background: #e3f9e5; border: 1px solid #a3d9a5; }
.error { padding: .6rem .9rem; border-radius: .4rem; background: #ffe3e3; border: 1px solid #e66a6a; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
th a { color: inherit; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: .5rem 0 1rem; }
.filters form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: 0; }
.chips { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; margin: .4rem 0 1rem; }
.chips a { display: inline-block; padding: .15rem .7rem; border: 1px solid var(--line); border-radius: 1rem; text-decoration: none; }
.chips a[aria-current=true] { background: var(--accent); color: #fff; border-color: var(--accent); }
.flag, .status { display: inline-block; font-size: .72rem; font-weight: 700; text-transform: uppercase; letter-spacing: .03em; padding: .05rem .5rem; border-radius: 1rem; margin: 0 .2rem .2rem 0; white-space: nowrap; background: var(--soft); color: var(--muted); }
.flag.stalled, .flag.overdue, .flag.at_risk, .status.at_risk, .status.missed, .status.dead, .band.poor { background: #ffe3e3; color: var(--bad); }
.flag.power_user, .status.achieved, .status.done, .status.delivered, .band.good { background: #e3f9e5; color: var(--good); }
.flag.alerts, .band.fair { background: #fff3c4; color: var(--warn); }
.status.on_track, .status.open, .status.queued { background: #e0e8f9; color: var(--accent); }
.band { font-weight: 700; padding: .05rem .45rem; border-radius: .3rem; }
progress { width: 6rem; height: .7rem; accent-color: var(--good); }
.pager { display: flex; gap: 1rem; justify-content: space-between; margin-top: 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(24rem, 100%), 1fr)); gap: 1rem 2rem; }
.card { border: 1px solid var(--line); border-radius: .5rem; padding: .8rem 1rem; margin: .6rem 0; }
.timeline { list-style: none; padding: 0; }
.timeline > li { border-left: 3px solid var(--line); padding: .3rem .8rem; margin: 0 0 .4rem; }
.timeline > li.message { border-color: var(--accent); }
.timeline > li.decision { border-color: #a368fc; }
.timeline .when { font-size: .8rem; color: var(--muted); }
.trace { font-size: .85rem; background: var(--soft); border-radius: .3rem; padding: .3rem .6rem; margin: .3rem 0 0; }
.facts { display: flex; flex-wrap: wrap; gap: .3rem 1.5rem; list-style: none; padding: 0; }
svg.chart { width: 100%; max-width: 36rem; height: auto; display: block; }
svg.chart .bar { fill: #6b8fd6; }
svg.chart .axis { stroke: #9aa5b1; stroke-width: 1; }
svg.chart .reference, svg.chart .target { stroke: var(--good); stroke-width: 1.5; stroke-dasharray: 5 3; }
svg.chart .actual { stroke: var(--accent); stroke-width: 2.5; }
svg.chart .forecast { stroke: var(--accent); stroke-width: 2; stroke-dasharray: 4 4; }
svg.chart .now { fill: var(--accent); }
svg.chart .label { font-size: 10px; fill: var(--muted); }
.tasks { list-style: none; padding: 0; margin: .3rem 0; }
.tasks li { padding: .25rem 0; border-bottom: 1px solid var(--line); }
.scroll { overflow-x: auto; }
.scroll > table { min-width: 40rem; }
.timeline, .card, .facts, svg.chart + ul { overflow-wrap: anywhere; }
.nowrap, header.site button, header.site .me a { white-space: nowrap; }
.audit-table { display: block; overflow-x: auto; }
@media (max-width: 40rem) {
  header.site .me { margin-left: 0; }
  h1 { font-size: 1.35rem; }
}
{% block style %}{% endblock %}
</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><div class="inner">
<a class="brand" href="/console">{{ program }} console</a>
{% if me %}<nav aria-label="Console"><ul>
<li><a href="/console"{% if section == "portfolio" %} aria-current="page"{% endif %}>Portfolio</a></li>
<li><a href="/console/alerts"{% if section == "alerts" %} aria-current="page"{% endif %}>Alerts</a></li>
<li><a href="/console/autopilot"{% if section == "autopilot" %} aria-current="page"{% endif %}>Autopilot</a></li>
<li><a href="/console/outbox"{% if section == "outbox" %} aria-current="page"{% endif %}>Outbox</a></li>
<li><a href="/console/program"{% if section == "program" %} aria-current="page"{% endif %}>Program</a></li>
{% if me.may_act %}<li><a href="/console/audit"{% if section == "audit" %} aria-current="page"{% endif %}>Audit</a></li>{% endif %}
</ul></nav>
<div class="me"><span>{{ me.name }} <span class="muted">({{ me.role }})</span></span> <a href="/console/password">Password</a>
<form method="post" action="/console/sign-out"><input type="hidden" name="csrf" value="{{ me.csrf }}"><button class="quiet" type="submit">Sign out</button></form></div>{% endif %}
</div></header>
<main id="main">
{% block main %}{% endblock %}
</main>
</body>
</html>
"##;

const SIGN_IN: &str = r#"{% extends "layout.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<h1>Sign in to the console</h1>
<form method="post" action="/console/sign-in" novalidate>
<label for="email">Work email</label>
<input type="email" id="email" name="email" autocomplete="username" value="{{ email }}" required{% if field == "email" %} aria-invalid="true" aria-describedby="email-error"{% endif %}>
{% if field == "email" %}<p class="field-error" id="email-error" role="alert">{{ error }}</p>{% endif %}
<label for="password">Password <span class="muted">(leave empty to get a sign-in link by email)</span></label>
<input type="password" id="password" name="password" autocomplete="current-password"{% if field == "password" %} aria-invalid="true" aria-describedby="password-error"{% endif %}>
{% if field == "password" %}<p class="field-error" id="password-error" role="alert">{{ error }}</p>{% endif %}
<button type="submit">Sign in</button>
</form>
{% endblock %}
"#;

const SIGN_IN_LINK: &str = r#"{% extends "layout.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<h1>Sign in to the console</h1>
<form method="post" action="/console/sign-in/link">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Sign in</button>
</form>
{% endblock %}
"#;

const LINK_SENT: &str = r#"{% extends "layout.html" %}
{% block title %}Check your email{% endblock %}
{% block main %}
<h1>Check your email</h1>
<p class="notice" role="status">If {{ email }} belongs to the team, a sign-in link is on its way. It works once, for {{ minutes }} minutes.</p>
<p><a href="/console/sign-in">Back to sign-in</a></p>
{% endblock %}
"#;

const LINK_REFUSED: &str = r#"{% extends "layout.html" %}
{% block title %}Link not valid{% endblock %}
{% block main %}
<h1>This sign-in link does not work any more</h1>
<p>It was used already, it expired, or a newer one was sent. Ask for a new one:</p>
<p><a href="/console/sign-in">Sign in</a></p>
{% endblock %}
"#;

const PASSWORD: &str = r#"{% extends "layout.html" %}
{% block title %}Password{% endblock %}
{% block main %}
<h1>Your console password</h1>
{% if saved %}<p class="notice" role="status">Your password is set. Next time, sign in with it or with a link.</p>{% endif %}
<form method="post" action="/console/password" novalidate>
<input type="hidden" name="csrf" value="{{ me.csrf }}">
<label for="password">New password <span class="muted">(at least 12 characters)</span></label>
<input type="password" id="password" name="password" autocomplete="new-password"{% if field == "password" %} aria-invalid="true" aria-describedby="password-error"{% endif %}>
{% if field == "password" %}<p class="field-error" id="password-error" role="alert">{{ error }}</p>{% endif %}
<label for="confirm">The same again</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password"{% if field == "confirm" %} aria-invalid="true" aria-describedby="confirm-error"{% endif %}>
{% if field == "confirm" %}<p class="field-error" id="confirm-error" role="alert">{{ error }}</p>{% endif %}
<button type="submit">Save password</button>
</form>
{% endblock %}
"#;

const FORM_EXPIRED: &str = r#"{% extends "layout.html" %}
{% block title %}Please try again{% endblock %}
{% block main %}
<h1>Please try again</h1>
<p class="error" role="alert">That form was out of date. Go back, reload the page and send it again.</p>
{% endblock %}
"#;

const NOT_FOUND: &str = r#"{% extends "layout.html" %}
{% block title %}Not found{% endblock %}
{% block main %}
<h1>Not found</h1>
<p>There is nothing here. <a href="/console">Back to the portfolio</a>.</p>
{% endblock %}
"#;

const FORBIDDEN: &str = r#"{% extends "layout.html" %}
{% block title %}Not allowed{% endblock %}
{% block main %}
<h1>Not allowed</h1>
<p>Your role ({{ me.role }}) can look but not change this. Ask a CSM or an admin.</p>
{% endblock %}
"#;

const PORTFOLIO: &str = r#"{% extends "layout.html" %}
{% block title %}Portfolio{% endblock %}
{% block main %}
<h1>Portfolio</h1>
<div class="filters">
<p>{% if mine %}<strong>My accounts</strong> · <a href="{{ all_href }}">All accounts</a>{% else %}<a href="{{ mine_href }}">My accounts</a> · <strong>All accounts</strong>{% endif %}</p>
<form method="get" action="/console" role="search">
<input type="hidden" name="book" value="{% if mine %}mine{% else %}all{% endif %}">
{% if flag %}<input type="hidden" name="flag" value="{{ flag }}">{% endif %}
<input type="hidden" name="sort" value="{{ sort }}"><input type="hidden" name="dir" value="{{ dir }}">
<div><label for="q">Search</label><input type="search" id="q" name="q" value="{{ q or "" }}" placeholder="Account name or key"></div>
<div><label for="stage">Stage</label><select id="stage" name="stage"><option value="">Any</option>{% for s in stages %}<option value="{{ s }}"{% if s == stage %} selected{% endif %}>{{ s }}</option>{% endfor %}</select></div>
<div><label for="status">Status</label><select id="status" name="status"><option value="">Any</option>{% for s in ["active", "paused", "churned"] %}<option value="{{ s }}"{% if s == status %} selected{% endif %}>{{ s }}</option>{% endfor %}</select></div>
<button type="submit">Filter</button>
</form>
</div>
<ul class="chips" aria-label="Flags">{% for f in flags %}<li><a href="{{ f.href }}" data-flag="{{ f.key }}"{% if f.active %} aria-current="true"{% endif %}>{{ f.label }} <strong>{{ f.count }}</strong></a></li>{% endfor %}</ul>
<p class="muted" id="count">{{ total }} of {{ book }} account{% if book != 1 %}s{% endif %}{% if pages > 1 %} · page {{ page }} of {{ pages }}{% endif %}</p>
<div class="scroll"><table id="portfolio">
<thead><tr>{% for c in columns %}<th scope="col" aria-sort="{{ c.sort }}"><a href="{{ c.href }}">{{ c.label }}</a></th>{% endfor %}<th scope="col">Goals</th><th scope="col">Time to value</th><th scope="col">Flags</th><th scope="col">CSM</th></tr></thead>
<tbody>
{% for r in rows %}<tr data-account="{{ r.id }}">
<td><a href="/console/accounts/{{ r.id }}">{{ r.name }}</a>{% if r.status != "active" %} <span class="status">{{ r.status }}</span>{% endif %}</td>
<td>{{ r.stage }}<br><progress max="100" value="{{ r.progress }}" aria-label="{{ r.progress }}% of tasks done">{{ r.progress }}%</progress></td>
<td class="num">{% if r.days_since_deal is not none %}{{ r.days_since_deal }} d{% else %}–{% endif %}</td>
<td>{% if r.health %}<span class="band {{ r.health.band }}">{{ r.health.score }}</span>{% else %}<span class="muted">no usage</span>{% endif %}</td>
<td>{% if r.goal_status %}<span class="status {{ r.goal_status }}">{{ r.goal_label }}</span>{% else %}–{% endif %}</td>
<td>{{ r.ttv or "–" }}</td>
<td>{% for f in r.flags %}<span class="flag {{ f.key }}">{{ f.label }}</span>{% endfor %}</td>
<td>{{ r.csm or "–" }}</td>
</tr>{% else %}<tr><td colspan="8">No account matches.</td></tr>{% endfor %}
</tbody>
</table></div>
<nav class="pager" aria-label="Pages">{% if prev_href %}<a rel="prev" href="{{ prev_href }}">← Previous</a>{% else %}<span></span>{% endif %}{% if next_href %}<a rel="next" href="{{ next_href }}">Next →</a>{% endif %}</nav>
{% endblock %}
"#;

const ACCOUNT: &str = r#"{% extends "layout.html" %}
{% block title %}{{ account.name }}{% endblock %}
{% block main %}
<p><a href="/console">← Portfolio</a></p>
<h1>{{ account.name }} <span class="status">{{ account.status }}</span></h1>
<ul class="facts">
<li>Stage: <strong>{{ account.stage }}</strong> ({{ account.progress }}% of tasks)</li>
{% if account.days_since_deal is not none %}<li>Deal won {{ account.days_since_deal }} days ago</li>{% endif %}
{% if account.ttv %}<li>{{ account.ttv }}</li>{% endif %}
<li>CSM: {{ account.csm or "none" }}</li>
<li>Health: <span class="band {{ health.band }}">{{ health.score }} {{ health.band }}</span></li>
{% if account.stalled %}<li><span class="flag stalled">Stalled</span></li>{% endif %}
{% if account.power_user %}<li><span class="flag power_user">Power user</span></li>{% endif %}
{% if account.overdue_tasks %}<li><span class="flag overdue">{{ account.overdue_tasks }} overdue</span></li>{% endif %}
</ul>
{% if alerts or team_tasks %}<div class="grid">
{% if alerts %}<section><h2>Open alerts</h2>{% for a in alerts %}<div class="card"><strong>{{ a.reason }}</strong> <span class="muted">rule {{ a.rule }} · to {{ a.channel }} · ×{{ a.count }}</span>
{% if me.may_act %}<form method="post" action="/console/accounts/{{ account.id }}/alerts/{{ a.id }}/close"><input type="hidden" name="csrf" value="{{ me.csrf }}"><button class="quiet" type="submit">Close</button></form>{% endif %}</div>{% endfor %}</section>{% endif %}
{% if team_tasks %}<section><h2>Open team tasks</h2>{% for t in team_tasks %}<div class="card"><strong>{{ t.title }}</strong> <span class="muted">{{ t.assignee }} · {{ t.reason }}</span></div>{% endfor %}</section>{% endif %}
</div>{% endif %}
{% if autopilot %}<section id="autopilot"><h2>Autopilot</h2>
<p>{% if autopilot.active %}Run by autopilot (segment <strong>{{ autopilot.segment }}</strong>) since {{ autopilot.since[:16]|replace("T", " ") }}, watching {{ autopilot.watched }} task(s).{% else %}Was on autopilot (segment {{ autopilot.segment }}); run by people now.{% endif %}{% if autopilot.pending %} <a href="/console/autopilot?book=all">{{ autopilot.pending }} action(s) waiting for approval</a>.{% endif %}</p>
{% for e in autopilot.escalations %}<div class="card"><strong>Handed over: {{ e.reason }}</strong> <span class="muted">{{ e.at[:16]|replace("T", " ") }} · {{ e.subject }}</span><br>{{ e.evidence }}</div>{% endfor %}
{% for p in autopilot.posts %}<div class="card"><strong>{{ p.title }}</strong> <span class="muted">posted {{ p.at[:16]|replace("T", " ") }}</span><br>{{ p.text }}</div>{% endfor %}
</section>{% endif %}
<div class="grid">
<section id="plan"><h2>Plan</h2>
{% for p in projects %}<div class="card"><h3>{{ p.title }} <span class="status">{{ p.status }}</span></h3><p class="muted">{{ p.done }} of {{ p.total }} tasks done</p>
<ul class="tasks">{% for t in p.tasks %}<li><span class="status {{ t.status }}">{{ t.status }}</span> {{ t.title }} <span class="muted">· {{ t.owner }} ({{ t.assignee }}){% if t.due_at %} · due {{ t.due_at[:10] }}{% endif %}</span>{% if t.overdue %} <span class="flag overdue">overdue</span>{% endif %}{% if t.milestone %} <span class="flag">milestone</span>{% endif %}</li>{% endfor %}</ul></div>
{% else %}<p class="muted">No project yet.</p>{% endfor %}
</section>
<section id="goals"><h2>Goals</h2>
{% for g in goals %}<div class="card"><h3>{{ g.name }} <span class="status {{ g.status }}">{{ g.status_label }}</span></h3>
<p class="muted">{{ g.value }} of {{ g.target }}{% if g.forecast is not none %}, forecast {{ g.forecast }}{% endif %} by {{ g.deadline[:10] }}</p>
{{ g.chart|safe }}</div>
{% else %}<p class="muted">No goals.</p>{% endfor %}
</section>
</div>
<div class="grid">
<section id="people"><h2>People and the Academy</h2>
<div class="scroll"><table><thead><tr><th scope="col">Person</th><th scope="col">Journey</th><th scope="col">Signed in</th><th scope="col">Aha</th></tr></thead><tbody>
{% for p in people %}<tr><td>{{ p.name }}<br><span class="muted">{{ p.email }}{% if p.persona %} · {{ p.persona }}{% endif %}</span></td>
<td>{% if p.journey %}{{ p.journey }}<br><progress max="{{ p.total or 1 }}" value="{{ p.done }}" aria-label="{{ p.done }} of {{ p.total }} core modules">{{ p.done }}/{{ p.total }}</progress> {{ p.done }}/{{ p.total }}{% else %}–{% endif %}</td>
<td>{% if p.signed_in %}{{ p.signed_in[:16]|replace("T", " ") }}{% else %}<span class="flag stalled">never</span>{% endif %}</td>
<td>{% if p.aha_at %}{{ p.aha_at[:16]|replace("T", " ") }}{% else %}–{% endif %}</td></tr>{% endfor %}
</tbody></table></div>
</section>
<section id="usage"><h2>Usage</h2>
<p>{{ health.active_users }} active users of {{ health.seats }} seats over {{ window_days }} days.</p>
{{ health.chart|safe }}
<ul>{% for r in health.reasons %}<li>{{ r }}</li>{% endfor %}</ul>
{% if health.features %}<p>Key features: {% for f in health.features %}{{ f.feature }} {{ f.share }}%{% if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}
</section>
</div>
<section id="timeline"><h2>Timeline</h2>
<ol class="timeline">
{% for e in timeline %}<li class="{{ e.kind }}"><span class="when">{{ e.at[:16]|replace("T", " ") }} · {{ e.kind }}</span><br><strong>{{ e.title }}</strong>{% if e.detail %} <span class="muted">{{ e.detail }}</span>{% endif %}
{% for t in e.traces %}<p class="trace">Why: rule <strong>{{ t.rule }}</strong> {{ t.outcome }}: {{ t.reason }}</p>{% endfor %}</li>
{% else %}<li>Nothing yet.</li>{% endfor %}
</ol>
</section>
{% endblock %}
"#;

const ALERTS: &str = r#"{% extends "layout.html" %}
{% block title %}Alerts{% endblock %}
{% block main %}
<h1>Alerts</h1>
<p>{% if mine %}<strong>My accounts</strong> · <a href="/console/alerts?book=all">All accounts</a>{% else %}<a href="/console/alerts?book=mine">My accounts</a> · <strong>All accounts</strong>{% endif %}</p>
<div class="scroll"><table id="alerts"><thead><tr><th scope="col">Account</th><th scope="col">Alert</th><th scope="col">Rule</th><th scope="col">Raised</th><th scope="col"></th></tr></thead><tbody>
{% for a in alerts %}<tr><td><a href="/console/accounts/{{ a.account }}">{{ a.account_name }}</a></td><td>{{ a.reason }} <span class="muted">to {{ a.channel }}</span></td><td>{{ a.rule }}</td><td>{{ a.updated_at[:16]|replace("T", " ") }}{% if a.count > 1 %} (×{{ a.count }}){% endif %}</td>
<td>{% if me.may_act %}<form method="post" action="/console/accounts/{{ a.account }}/alerts/{{ a.id }}/close"><input type="hidden" name="csrf" value="{{ me.csrf }}"><button class="quiet" type="submit">Close</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="5">No open alerts.</td></tr>{% endfor %}
</tbody></table></div>
{% endblock %}
"#;

const OUTBOX: &str = r#"{% extends "layout.html" %}
{% block title %}Outbox{% endblock %}
{% block main %}
<h1>Outbox</h1>
<ul class="chips" aria-label="Status">
<li><a href="/console/outbox"{% if not status %} aria-current="true"{% endif %}>All</a></li>
<li><a href="/console/outbox?status=queued"{% if status == "queued" %} aria-current="true"{% endif %}>Queued <strong>{{ counts.queued }}</strong></a></li>
<li><a href="/console/outbox?status=delivered"{% if status == "delivered" %} aria-current="true"{% endif %}>Delivered</a></li>
<li><a href="/console/outbox?status=dead"{% if status == "dead" %} aria-current="true"{% endif %}>Dead letters <strong>{{ counts.dead }}</strong></a></li>
</ul>
<div class="scroll"><table id="outbox"><thead><tr><th scope="col">Created</th><th scope="col">To</th><th scope="col">Subject</th><th scope="col">Account</th><th scope="col">Rule</th><th scope="col">Status</th><th scope="col"></th></tr></thead><tbody>
{% for m in messages %}<tr data-message="{{ m.id }}"><td class="nowrap">{{ m.created_at[:16]|replace("T", " ") }}</td><td>{{ m.channel }}: {{ m.to }}</td><td>{{ m.subject }}</td>
<td>{% if m.account %}<a href="/console/accounts/{{ m.account }}">{{ m.account }}</a>{% else %}team{% endif %}</td><td>{{ m.rule }}{% if m.drafted_by %}<br><span class="muted">written by {{ m.drafted_by }}</span>{% endif %}</td>
<td><span class="status {{ m.status }}">{{ m.status }}</span> <span class="muted">{{ m.attempts }} attempt(s){% if m.last_error %} · {{ m.last_error }}{% endif %}</span></td>
<td>{% if m.status == "dead" and me.may_act %}<form method="post" action="/console/outbox/{{ m.id }}/retry"><input type="hidden" name="csrf" value="{{ me.csrf }}"><button class="quiet" type="submit">Retry</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="7">No messages.</td></tr>{% endfor %}
</tbody></table></div>
{% endblock %}
"#;

const PROGRAM: &str = r#"{% extends "layout.html" %}
{% block title %}Program{% endblock %}
{% block main %}
<h1>Program <span class="muted">version {{ version[:12] }}</span></h1>
<h2>Rules</h2>
<div class="scroll"><table id="rules"><thead><tr><th scope="col">Rule</th><th scope="col">Trigger</th><th scope="col">Actions</th><th scope="col" class="num">Today</th><th scope="col" class="num">7 days</th></tr></thead><tbody>
{% for r in rules %}<tr data-rule="{{ r.name }}"><td><strong>{{ r.name }}</strong><br><span class="muted">{{ r.description }}</span></td><td>{{ r.trigger }}</td><td>{{ r.actions|join(", ") }}</td><td class="num">{{ r.today }}</td><td class="num">{{ r.week }}</td></tr>{% endfor %}
</tbody></table></div>
<div class="grid">
<section><h2>Templates</h2><ul>{% for t in templates %}<li><strong>{{ t.title }}</strong> <span class="muted">({{ t.name }}, {{ t.tasks }} tasks{% if t.next %}, then {{ t.next }}{% endif %})</span></li>{% endfor %}</ul></section>
<section><h2>Journeys</h2><ul>{% for j in journeys %}<li><strong>{{ j.title }}</strong> <span class="muted">({{ j.name }}: {{ j.core }} core modules, {{ j.library }} in the library)</span></li>{% endfor %}</ul></section>
</div>
{% endblock %}
"#;

const AUDIT: &str = r#"{% extends "layout.html" %}
{% block title %}Audit{% endblock %}
{% block style %}{{ audit_style|safe }}{% endblock %}
{% block main %}
{% if report %}{{ report|safe }}
<h2>Audit another file</h2>
{% else %}<h1>Infrastructure audit</h1>
<p>Upload a CSV export of your CSMs' interactions (date, CSM, minutes, note) to see where their time goes, which manual traps eat it, and how much of it this program automates. The file is read, audited and forgotten: nothing is stored.</p>
{% endif %}
<form method="post" action="/console/audit" enctype="multipart/form-data" novalidate>
<input type="hidden" name="csrf" value="{{ me.csrf }}">
<label for="file">CSV file <span class="muted">(up to {{ max_mb }} MB)</span></label>
<input type="file" id="file" name="file" accept=".csv,text/csv"{% if error %} aria-invalid="true" aria-describedby="file-error"{% endif %}>
{% if error %}<p class="field-error" id="file-error" role="alert">{{ error }}</p>{% endif %}
<button type="submit">Run the audit</button>
</form>
{% endblock %}
"#;

const NAMES: [(&str, &str); 16] = [
    ("layout.html", LAYOUT),
    ("sign_in.html", SIGN_IN),
    ("sign_in_link.html", SIGN_IN_LINK),
    ("link_sent.html", LINK_SENT),
    ("link_refused.html", LINK_REFUSED),
    ("password.html", PASSWORD),
    ("form_expired.html", FORM_EXPIRED),
    ("not_found.html", NOT_FOUND),
    ("forbidden.html", FORBIDDEN),
    ("portfolio.html", PORTFOLIO),
    ("account.html", ACCOUNT),
    ("alerts.html", ALERTS),
    ("autopilot.html", super::autopilot::TEMPLATE),
    ("outbox.html", OUTBOX),
    ("program.html", PROGRAM),
    ("audit.html", AUDIT),
];

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| environment(&NAMES))
}

/// A page for someone not signed in.
pub(super) fn page(
    status: StatusCode,
    name: &str,
    context: serde_json::Value,
) -> ApiResult<Response> {
    render(templates(), status, name, context)
}

/// A page for a signed-in team member: `me` and `program` added to the context.
pub(super) fn console_page(
    status: StatusCode,
    name: &str,
    state: &AppState,
    session: &TeamSession,
    mut context: serde_json::Value,
) -> ApiResult<Response> {
    if let Some(object) = context.as_object_mut() {
        object.insert("me".to_owned(), session.context());
        object.insert(
            "program".to_owned(),
            serde_json::Value::String(state.engine.program().name.clone()),
        );
    }
    render(templates(), status, name, context)
}

pub(super) fn form_expired(session: &TeamSession) -> ApiResult<Response> {
    render(
        templates(),
        StatusCode::FORBIDDEN,
        "form_expired.html",
        serde_json::json!({ "me": session.context() }),
    )
}

pub(super) fn not_found(state: &AppState, session: &TeamSession) -> ApiResult<Response> {
    console_page(
        StatusCode::NOT_FOUND,
        "not_found.html",
        state,
        session,
        serde_json::json!({}),
    )
}

pub(super) fn forbidden(state: &AppState, session: &TeamSession) -> ApiResult<Response> {
    console_page(
        StatusCode::FORBIDDEN,
        "forbidden.html",
        state,
        session,
        serde_json::json!({}),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_compiles() {
        let env = super::templates();
        for (name, _) in super::NAMES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
