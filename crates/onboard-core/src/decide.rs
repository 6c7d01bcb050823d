//! The processor's decision function: given a program, an account's state and one event, it
//! updates the state and says what to write (timers, cancels, messages, derived events,
//! traces). Pure and deterministic: the same inputs always give the same decisions, ids
//! included, which is what makes replay, dry runs and simulation possible.

use crate::event::{types, Event, EventType, NewEvent};
use crate::program::{
    Action, CompiledMessage, OverBudget, Program, Recipient, Reentry, Rule, SetTarget, TeamMember,
    Trigger,
};
use crate::state::{
    AccountState, AccountStatus, Alert, AlertStatus, Decisions, NewMessage, NewTimer, RuleRuns,
    TimerCancel, Trace, TraceOutcome, SIGN_IN_URL_PLACEHOLDER,
};
use crate::time::{Duration, Timestamp};
use sha2::{Digest, Sha256};

/// Settings the decisions depend on besides the program.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Base of every link sent, e.g. `https://onboard.example.com`.
    pub public_url: String,
    /// Active accounts per CSM (lower-case email), for assigning new accounts to the CSM
    /// with the least load. The engine keeps it current between decisions.
    pub csm_load: std::collections::BTreeMap<String, u64>,
}

impl Settings {
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.to_owned(),
            csm_load: Default::default(),
        }
    }
}

/// The `rule` of the traces that say why an Academy event changed nothing.
pub const ACADEMY_TRACE: &str = "academy";

/// A short deterministic id: `prefix_` and 24 hex digits of SHA-256 over the parts.
pub fn derived_id(prefix: &str, parts: &[&str]) -> String {
    format!("{prefix}_{}", digest(parts))
}

/// A deterministic id that sorts by time: `prefix_`, 12 hex digits of `at` (milliseconds since
/// the epoch) and 24 hex digits of SHA-256 over the parts. Rows keyed by such ids are written
/// next to those of the same moment: a batch's new keys fill the last pages of an index
/// instead of one page each at random places of it.
pub fn derived_id_at(prefix: &str, at: Timestamp, parts: &[&str]) -> String {
    format!("{prefix}_{:012x}{}", at.millis().max(0), digest(parts))
}

/// 24 hex digits of SHA-256 over the parts, each preceded by its length.
fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..12])
}

/// The key of an event the processor derives at `at`: [`derived_id_at`] with `evt`.
pub fn derived_event_key(at: Timestamp, parts: &[&str]) -> String {
    derived_id_at("evt", at, parts)
}

/// Applies one event to an account and evaluates the program's rules against it.
pub fn decide(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
) -> Decisions {
    let mut out = Decisions::default();
    let mut derived = apply::apply(program, settings, state, event);
    if event.kind.as_str() == types::MODULE_COMPLETED {
        match apply::complete_module(program, state, event) {
            Ok(completed) => derived.extend(completed),
            Err(reason) => out.traces.push(Trace {
                account: state.id.clone(),
                rule: ACADEMY_TRACE.to_owned(),
                event: event.key.clone(),
                at: event.at,
                outcome: TraceOutcome::Skipped,
                reason: format!("`{}` ignored: {reason}", event.kind),
            }),
        }
    }
    if event.kind.as_str() == types::ALERT_CLOSED {
        let id = event
            .data
            .get("alert")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if let Some(alert) = state.alerts.iter_mut().find(|a| a.id() == id) {
            alert.status = AlertStatus::Closed;
            alert.updated_at = event.at;
        }
    }
    if let Some(email) = person_named(state, event) {
        if let Some(person) = state.people.iter_mut().find(|p| p.email == email) {
            let last = person
                .seen
                .entry(event.kind.as_str().to_owned())
                .or_insert(event.at);
            if *last < event.at {
                *last = event.at;
            }
        }
    }
    nudges::on_event(state, event, &mut out);
    if state.status == AccountStatus::Active {
        out.events.extend(derived);
        projects::on_event(program, state, event, &mut out);
        usage::on_event(program, state, event, &mut out);
        goals::on_event(program, state, event, &mut out);
        if event.kind.as_str() != types::TIMER_FIRED {
            autopilot::on_event(program, settings, state, event, &mut out);
        }
    }

    if state.status != AccountStatus::Active {
        // Exit: a churned or paused account leaves every rule. Rules on the exit event itself
        // still run, for our side only: nothing goes to the customer. A churn ends every
        // pending timer; a pause keeps them, and one that comes due meanwhile is held until
        // the account resumes, so the onboarding goes on from where it stood.
        let exiting = matches!(
            event.kind.as_str(),
            types::ACCOUNT_CHURNED | types::ACCOUNT_PAUSED
        );
        if event.kind.as_str() == types::ACCOUNT_CHURNED {
            out.cancels.push(TimerCancel {
                account: state.id.clone(),
                rule: None,
            });
            state.close_all_windows();
            state.held_timers.clear();
            state.goals_check_at = None;
        }
        let held =
            state.status == AccountStatus::Paused && event.kind.as_str() == types::TIMER_FIRED;
        if held {
            state.held_timers.push(event.data.clone());
        }
        for rule in program.rules.iter().filter(|r| concerns(r, event)) {
            let on_exit =
                exiting && matches!(&rule.trigger, Trigger::On { event: on } if on == &event.kind);
            if on_exit {
                run_rule(
                    program,
                    settings,
                    state,
                    rule,
                    event,
                    Audience::TeamOnly,
                    &mut out,
                );
            } else if held {
                out.traces.push(trace(
                    state,
                    rule,
                    event,
                    TraceOutcome::Skipped,
                    "account is paused: the timer is held and fires when the account resumes"
                        .to_owned(),
                ));
            } else {
                out.traces.push(trace(
                    state,
                    rule,
                    event,
                    TraceOutcome::Skipped,
                    format!(
                        "account is {}: it has left every rule",
                        state.status.as_str()
                    ),
                ));
            }
        }
        return out;
    }

    if event.kind.as_str() == types::ACCOUNT_RESUMED {
        // The timers that came due during the pause fire now, in the order they came due.
        for data in std::mem::take(&mut state.held_timers) {
            let timer = data.get("timer").and_then(|v| v.as_str()).unwrap_or("");
            let Ok(kind) = EventType::parse(types::TIMER_FIRED) else {
                continue;
            };
            out.events.push(NewEvent {
                key: derived_event_key(event.at, &[&event.key, "resumed", timer]),
                kind,
                account: state.id.clone(),
                at: event.at,
                data,
            });
        }
    }

    if event.kind.as_str() == types::TIMER_FIRED {
        fire_timer(program, settings, state, event, &mut out);
        return out;
    }

    for rule in &program.rules {
        match &rule.trigger {
            Trigger::On { event: on } if on == &event.kind => {
                run_rule(
                    program,
                    settings,
                    state,
                    rule,
                    event,
                    Audience::Everyone,
                    &mut out,
                );
            }
            Trigger::After {
                delay,
                since,
                unless,
            } => {
                if unless.as_ref() == Some(&event.kind) {
                    // The account's timer of the rule, and the timer of the person the event
                    // names, if any (another person's window stays open); only windows that
                    // are open, so an event that closes none writes nothing.
                    let mut windows = vec![rule.name.clone()];
                    if let Some(email) = person_named(state, event) {
                        windows.push(person_timer_rule(&rule.name, &email));
                    }
                    windows.retain(|window| state.close_window(window));
                    if !windows.is_empty() {
                        for window in windows {
                            out.cancels.push(TimerCancel {
                                account: state.id.clone(),
                                rule: Some(window),
                            });
                        }
                        out.traces.push(trace(
                            state,
                            rule,
                            event,
                            TraceOutcome::Cancelled,
                            format!("`{}` happened: pending timers cancelled", event.kind),
                        ));
                    }
                }
                if since == &event.kind {
                    if let Some(reason) = reentry_refusal(rule, state, event) {
                        out.traces
                            .push(trace(state, rule, event, TraceOutcome::Skipped, reason));
                        continue;
                    }
                    let timer = timer_after(state, rule, event, *delay);
                    state.open_window(&timer.rule);
                    out.traces.push(trace(
                        state,
                        rule,
                        event,
                        TraceOutcome::Scheduled,
                        format!(
                            "timer {} due at {}{}",
                            timer.id,
                            timer.due_at,
                            unless
                                .as_ref()
                                .map(|u| format!(" unless `{u}` happens first"))
                                .unwrap_or_default()
                        ),
                    ));
                    out.timers.push(timer);
                }
            }
            Trigger::On { .. } => {}
        }
    }
    out
}

/// Whether a rule has anything to do with this event (for exit traces).
fn concerns(rule: &Rule, event: &Event) -> bool {
    match &rule.trigger {
        Trigger::On { event: on } => on == &event.kind,
        Trigger::After { since, unless, .. } => {
            since == &event.kind
                || unless.as_ref() == Some(&event.kind)
                || (event.kind.as_str() == types::TIMER_FIRED
                    && event
                        .data
                        .get("rule")
                        .and_then(|v| v.as_str())
                        .map(|r| r.split_once('#').map_or(r, |(name, _)| name))
                        == Some(&rule.name))
        }
    }
}

/// A fired timer: re-checks its rule against the state at firing time, then runs it.
fn fire_timer(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let rule_name = event
        .data
        .get("rule")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if rule_name == goals::TIMER_RULE {
        return goals::fire_timer(program, state, event, out);
    }
    if rule_name.starts_with(budget::TIMER_PREFIX) {
        return budget::fire_timer(program, settings, state, event, rule_name, out);
    }
    if rule_name.starts_with(projects::TIMER_PREFIX) {
        return projects::fire_timer(state, event, out);
    }
    if rule_name.starts_with(autopilot::TIMER_PREFIX) {
        return autopilot::fire_timer(program, settings, state, event, rule_name, out);
    }
    // A timer of one person's window: the person is in `data.email` (or, from an older
    // engine, in the rule as `<rule>#<email>`).
    let (rule_name, person) = match rule_name.split_once('#') {
        Some((name, email)) => (name, Some(email.to_owned())),
        None => (
            rule_name,
            event
                .data
                .get("email")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        ),
    };
    state.window_timer_fired(&match &person {
        Some(email) => person_timer_rule(rule_name, email),
        None => rule_name.to_owned(),
    });
    let Some(rule) = program.rule(rule_name) else {
        return;
    };
    let since_at = Timestamp(
        event
            .data
            .get("since_at")
            .and_then(|v| v.as_i64())
            .unwrap_or(i64::MIN),
    );
    if let Trigger::After {
        unless: Some(unless),
        ..
    } = &rule.trigger
    {
        let last = match &person {
            Some(email) => state
                .people
                .iter()
                .find(|p| &p.email == email)
                .and_then(|p| p.seen.get(unless.as_str()).copied()),
            None => state.seen.get(unless.as_str()).map(|s| s.last_at),
        };
        if let Some(last_at) = last {
            if last_at >= since_at {
                out.traces.push(trace(
                    state,
                    rule,
                    event,
                    TraceOutcome::Skipped,
                    format!(
                        "`{unless}` happened at {} (after the window opened at {since_at}): nothing to do",
                        last_at
                    ),
                ));
                return;
            }
        }
    }
    // A person's timer speaks of them: `to = "person"` and re-entry mean that person.
    let mut about = event.clone();
    if let (Some(email), Some(data)) = (&person, about.data.as_object_mut()) {
        data.insert("email".to_owned(), serde_json::Value::from(email.as_str()));
    }
    if run_rule(
        program,
        settings,
        state,
        rule,
        &about,
        Audience::Everyone,
        out,
    ) {
        rearm(state, rule, &about, out);
    }
}

/// After a timer rule ran, sets its next timer when re-entry lets it run again (`every`,
/// or `at_most` not yet reached): the absence window restarts at the firing.
fn rearm(state: &mut AccountState, rule: &Rule, event: &Event, out: &mut Decisions) {
    let Trigger::After { delay, .. } = &rule.trigger else {
        return;
    };
    let wait = match rule.reentry {
        Reentry::Once => return,
        Reentry::Every(gap) => (*delay).max(gap),
        Reentry::AtMost(n) => {
            if state.rule_runs.get(&rule.name).is_some_and(|r| r.n >= n) {
                return;
            }
            *delay
        }
    };
    let timer = timer_after(state, rule, event, wait);
    state.open_window(&timer.rule);
    out.traces.push(trace(
        state,
        rule,
        event,
        TraceOutcome::Scheduled,
        format!("runs again: timer {} due at {}", timer.id, timer.due_at),
    ));
    out.timers.push(timer);
}

/// A timer for `rule`, due `wait` after `event`, whose window opens at the event.
/// When the event names one of the account's people, the timer is that person's: its window
/// closes only when they do what `unless` waits for, and it speaks of them when it fires.
fn timer_after(state: &AccountState, rule: &Rule, event: &Event, wait: Duration) -> NewTimer {
    let name = match person_named(state, event) {
        Some(email) => person_timer_rule(&rule.name, &email),
        None => rule.name.clone(),
    };
    let due_at = event.at.plus(wait);
    NewTimer {
        id: derived_id_at("tmr", due_at, &[&state.id, &name, &event.key]),
        account: state.id.clone(),
        rule: name,
        due_at,
        since_at: event.at,
        program_version: state.program_version.clone(),
    }
}

/// The account's person an event is about (its `data.email`, lower case), if any.
fn person_named(state: &AccountState, event: &Event) -> Option<String> {
    event
        .data
        .get("email")
        .and_then(|v| v.as_str())
        .map(str::to_lowercase)
        .filter(|email| state.people.iter().any(|p| &p.email == email))
}

/// The `rule` of one person's timer of a rule: `<rule>#<email>` (rule names hold no `#`).
pub fn person_timer_rule(rule: &str, email: &str) -> String {
    format!("{rule}#{email}")
}

/// The key of the `timer.fired` event of the timer `timer` due at `due_at`:
/// `timer.fired:`, 12 hex digits of the due time, `:` and the timer's id. Timers fire in due
/// order, so their events' keys land next to each other in the log's key index.
pub fn timer_fired_key(timer: &str, due_at: Timestamp) -> String {
    format!("timer.fired:{:012x}:{timer}", due_at.millis().max(0))
}

/// The data of the `timer.fired` event of a timer: its id, its rule, the person it is about
/// (a person's timer, `<rule>#<email>`), when its window opened and its program version.
pub fn timer_fired_data(
    timer: &str,
    rule: &str,
    since_at: Timestamp,
    program_version: &str,
) -> serde_json::Value {
    match rule.split_once('#') {
        Some((name, email)) => serde_json::json!({
            "timer": timer,
            "rule": name,
            "email": email,
            "since_at": since_at.millis(),
            "program_version": program_version,
        }),
        None => serde_json::json!({
            "timer": timer,
            "rule": rule,
            "since_at": since_at.millis(),
            "program_version": program_version,
        }),
    }
}

/// Whom re-entry counts runs for: the person an event is about (it names one of the
/// account's people in `data.email`), else the project task it is about, else the account.
fn subject_key(rule: &Rule, state: &AccountState, event: &Event) -> String {
    let person = event
        .data
        .get("email")
        .and_then(|v| v.as_str())
        .map(str::to_lowercase)
        .filter(|email| state.people.iter().any(|p| &p.email == email));
    // Else the project task it is about (`data.project` and `data.task`).
    let task = || {
        let project = event.data.get("project")?.as_str()?;
        let task = event.data.get("task")?.as_str()?;
        Some(format!("{}/{project}/{task}", rule.name))
    };
    match person {
        Some(email) => format!("{}/{email}", rule.name),
        None => task().unwrap_or_else(|| rule.name.clone()),
    }
}

/// Why the re-entry policy refuses another run now, if it does.
fn reentry_refusal(rule: &Rule, state: &AccountState, event: &Event) -> Option<String> {
    let at = event.at;
    let runs = state.rule_runs.get(&subject_key(rule, state, event))?;
    match rule.reentry {
        Reentry::Once => Some(format!(
            "already ran at {} and runs once per account",
            runs.last_at
        )),
        Reentry::AtMost(n) if runs.n >= n => Some(format!(
            "already ran {} times (at most {n}), last at {}",
            runs.n, runs.last_at
        )),
        Reentry::Every(gap) if at.millis() - runs.last_at.millis() < gap.millis() => {
            Some(format!("ran at {}; runs at most every {gap}", runs.last_at))
        }
        _ => None,
    }
}

/// Who may be contacted by a rule's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Everyone,
    /// The account is leaving: only our own team hears about it.
    TeamOnly,
}

/// Runs a rule's actions for an event, if re-entry allows.
fn run_rule(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    rule: &Rule,
    event: &Event,
    audience: Audience,
    out: &mut Decisions,
) -> bool {
    if let Some(condition) = &rule.when {
        let evaluation = condition.eval(&condition::RuleEnv::new(state, event), event.at);
        if !evaluation.result {
            out.traces.push(trace(
                state,
                rule,
                event,
                TraceOutcome::Skipped,
                format!("`when {condition}`: {evaluation}"),
            ));
            return false;
        }
    }
    if let Some(reason) = reentry_refusal(rule, state, event) {
        out.traces
            .push(trace(state, rule, event, TraceOutcome::Skipped, reason));
        return false;
    }
    // Effects are staged and kept only if every action succeeds: a rule runs whole or not.
    let mut done = Vec::new();
    let mut messages = Vec::new();
    let mut events = Vec::new();
    let mut project_actions = Vec::new();
    let mut timers = Vec::new();
    let mut contacts: Vec<(String, Timestamp)> = Vec::new();
    let mut alerts: Vec<(String, String, String)> = Vec::new();
    let mut made_nudges: Vec<nudges::NudgeRequest<'_>> = Vec::new();
    let mut nudge_emails: Vec<String> = Vec::new();
    let mut staged = changes::Staged::default();
    for (index, action) in rule.actions.iter().enumerate() {
        match action {
            // An account that leaves leaves every journey; fields are our side's and stay
            // writable.
            Action::Enrol { journey, .. } if audience == Audience::TeamOnly => {
                done.push(format!(
                    "enrol in `{journey}`: not enrolled, the account is {}",
                    state.status.as_str()
                ));
            }
            Action::Enrol { journey, to } => {
                let recipients = recipients(program, state, event, to);
                changes::Run {
                    state,
                    rule,
                    event,
                    index,
                    staged: &mut staged,
                    done: &mut done,
                    events: &mut events,
                }
                .enrol(journey, &recipients);
            }
            Action::Set { target, value, to } => {
                let recipients = match target {
                    SetTarget::AccountField(_) => Vec::new(),
                    SetTarget::PersonProperty(_) => recipients(
                        program,
                        state,
                        event,
                        to.as_ref().unwrap_or(&Recipient::Person),
                    ),
                };
                changes::Run {
                    state,
                    rule,
                    event,
                    index,
                    staged: &mut staged,
                    done: &mut done,
                    events: &mut events,
                }
                .set(target, value, &recipients);
            }
            Action::Send {
                message,
                to: Recipient::People { .. } | Recipient::Person | Recipient::Assignee,
            } if audience == Audience::TeamOnly => {
                done.push(format!(
                    "send `{message}`: not sent, the account is {}",
                    state.status.as_str()
                ));
            }
            Action::Send { message, to } => {
                let recipients = recipients(program, state, event, to);
                if recipients.is_empty() {
                    done.push(format!("send `{message}`: no recipient"));
                }
                // The contact budget counts messages to the account's people, not to the
                // team, and not those of urgent rules.
                let budget = program
                    .budget
                    .as_ref()
                    .filter(|_| !rule.urgent && !matches!(to, Recipient::Csm));
                for (name, email) in recipients {
                    if let Some(budget) = budget {
                        let slot = budget::slot_for(budget, state, &contacts, &email, event.at);
                        let cap = format!("{} per {}", budget.max, budget.per);
                        if slot > event.at {
                            match budget.over {
                                OverBudget::Drop => {
                                    done.push(format!("send `{message}` to {email}: dropped, the contact budget ({cap}) is used up"));
                                }
                                OverBudget::Defer => {
                                    timers.push(budget::deferral_timer(
                                        state, &rule.name, index, &email, event, slot,
                                    ));
                                    contacts.push((email.clone(), slot));
                                    done.push(format!("send `{message}` to {email}: held by the contact budget ({cap}), deferred to {slot}"));
                                }
                            }
                            continue;
                        }
                        contacts.push((email.clone(), event.at));
                    }
                    match email_message(
                        program, settings, state, event, rule, index, message, &name, &email,
                    ) {
                        Ok(sent) => {
                            messages.push(sent);
                            done.push(format!("send `{message}` to {email}"));
                        }
                        Err(error) => {
                            out.traces.push(trace(
                                state,
                                rule,
                                event,
                                TraceOutcome::Failed,
                                format!("message `{message}` could not be rendered for {email}: {error}; nothing was done"),
                            ));
                            return false;
                        }
                    }
                }
            }
            Action::Nudge { message, .. } if audience == Audience::TeamOnly => {
                done.push(format!(
                    "nudge `{message}`: not made, the account is {}",
                    state.status.as_str()
                ));
            }
            Action::Nudge {
                message,
                to,
                selector,
                style,
                expires,
                frequency,
            } => {
                let recipients = recipients(program, state, event, to);
                if recipients.is_empty() {
                    done.push(format!("nudge `{message}`: no recipient"));
                }
                let budget = program.budget.as_ref().filter(|_| !rule.urgent);
                for (name, email) in recipients {
                    let mut available_at = event.at;
                    if let Some(budget) = budget {
                        let slot = budget::slot_for(budget, state, &contacts, &email, event.at);
                        let cap = format!("{} per {}", budget.max, budget.per);
                        if slot > event.at {
                            if budget.over == OverBudget::Drop {
                                done.push(format!("nudge `{message}` for {email}: dropped, the contact budget ({cap}) is used up"));
                                continue;
                            }
                            done.push(format!("nudge `{message}` for {email}: held by the contact budget ({cap}) until {slot}"));
                            available_at = slot;
                        }
                        contacts.push((email.clone(), available_at));
                    }
                    match render(program, settings, state, event, message, &name, &email) {
                        Ok((title, text)) => {
                            made_nudges.push(nudges::NudgeRequest {
                                rule: &rule.name,
                                index,
                                message,
                                email: "",
                                title,
                                text,
                                selector: selector.as_deref(),
                                style: *style,
                                frequency: *frequency,
                                expires: *expires,
                                available_at,
                            });
                            nudge_emails.push(email.clone());
                            done.push(format!("nudge `{message}` for {email}"));
                        }
                        Err(error) => {
                            out.traces.push(trace(
                                state,
                                rule,
                                event,
                                TraceOutcome::Failed,
                                format!("nudge `{message}` could not be rendered for {email}: {error}; nothing was done"),
                            ));
                            return false;
                        }
                    }
                }
            }
            Action::Emit { event: kind } => {
                events.push(derived_event(state, rule, event, index, kind));
                done.push(format!("emit `{kind}`"));
            }
            Action::Launch { template, .. } if audience == Audience::TeamOnly => {
                done.push(format!(
                    "launch `{template}`: not launched, the account is {}",
                    state.status.as_str()
                ));
            }
            Action::Launch { template, draft } => {
                done.push(format!(
                    "launch `{template}`{}",
                    if *draft { " as a draft" } else { "" }
                ));
                project_actions.push((index, action));
            }
            Action::Task {
                title, assignee, ..
            } => {
                done.push(format!("team task `{title}` for {assignee}"));
                project_actions.push((index, action));
            }
            Action::Alert {
                channel,
                message,
                reason,
            } => {
                let reason = reason.as_deref().unwrap_or(message);
                let identity = format!("{}/{}/{reason}", state.id, rule.name);
                if state
                    .alerts
                    .iter()
                    .any(|a| a.identity == identity && a.status == AlertStatus::Open)
                {
                    done.push(format!(
                        "alert `{message}` to {channel}: already open, updated"
                    ));
                    alerts.push((identity, channel.clone(), reason.to_owned()));
                    continue;
                }
                match alert_message(
                    program, settings, state, event, rule, channel, message, &identity, reason,
                ) {
                    Ok(posted) => {
                        messages.push(posted);
                        alerts.push((identity, channel.clone(), reason.to_owned()));
                        done.push(format!("alert `{message}` to {channel}"));
                    }
                    Err(error) => {
                        out.traces.push(trace(
                            state,
                            rule,
                            event,
                            TraceOutcome::Failed,
                            format!("alert `{message}` to {channel} could not be made: {error}; nothing was done"),
                        ));
                        return false;
                    }
                }
            }
        }
    }
    let subject = subject_key(rule, state, event);
    let runs = state.rule_runs.entry(subject).or_insert(RuleRuns {
        n: 0,
        last_at: event.at,
    });
    runs.n += 1;
    runs.last_at = event.at;
    staged.apply(state, event);
    for (index, action) in project_actions {
        match action {
            Action::Launch { template, draft } => {
                let id = derived_id(
                    "prj",
                    &[&state.id, &event.key, &rule.name, &index.to_string()],
                );
                projects::launch(program, state, template, *draft, &id, event, out);
            }
            Action::Task {
                title,
                assignee,
                reason,
            } => {
                let reason = reason.as_deref().unwrap_or(title);
                let identity = format!("{}/{}/{reason}", state.id, rule.name);
                projects::open_team_task(
                    program, state, &identity, title, reason, assignee, &rule.name, event,
                );
            }
            _ => {}
        }
    }
    for (mut request, email) in made_nudges.into_iter().zip(&nudge_emails) {
        request.email = email;
        nudges::make(state, event, request, out);
    }
    out.messages.extend(messages);
    out.timers.extend(timers);
    for (identity, channel, reason) in alerts {
        match state.alerts.iter_mut().find(|a| a.identity == identity) {
            Some(open) => {
                open.count += 1;
                open.updated_at = event.at;
                open.status = AlertStatus::Open;
            }
            None => state.alerts.push(Alert {
                identity,
                rule: rule.name.clone(),
                channel,
                reason,
                status: AlertStatus::Open,
                opened_at: event.at,
                updated_at: event.at,
                count: 1,
                cause: event.key.clone(),
            }),
        }
    }
    if let Some(budget) = &program.budget {
        for (email, when) in contacts {
            budget::record(state, budget, &email, when, event.at);
        }
    }
    out.events.extend(events);
    out.traces.push(trace(
        state,
        rule,
        event,
        TraceOutcome::Fired,
        done.join("; "),
    ));
    true
}

/// The post of an alert to a channel: the message rendered for the CSM, as the channel's kind
/// expects it (Slack: `{"text"}`; a webhook: an `onboard.alert` JSON event).
#[allow(clippy::too_many_arguments)]
fn alert_message(
    program: &Program,
    settings: &Settings,
    state: &AccountState,
    event: &Event,
    rule: &Rule,
    channel: &str,
    message: &str,
    identity: &str,
    reason: &str,
) -> Result<NewMessage, String> {
    let kind = program
        .channels
        .iter()
        .find(|c| c.name == channel)
        .map(|c| c.kind.clone())
        .ok_or_else(|| format!("no channel named `{channel}`"))?;
    let (name, email) = csm(program, state)
        .map(|m| (m.name.clone(), m.email.clone()))
        .unwrap_or_else(|| (program.sender.name.clone(), program.sender.email.clone()));
    let (subject, text) = render(program, settings, state, event, message, &name, &email)?;
    let payload = if kind == "slack" {
        serde_json::json!({ "text": format!("*{subject}*\n{text}") })
    } else {
        serde_json::json!({
            "type": "onboard.alert",
            "timestamp": event.at.to_rfc3339(),
            "data": {
                "account": state.id,
                "account_name": state.name,
                "rule": rule.name,
                "reason": reason,
                "subject": subject,
                "text": text,
                "cause": event.key,
            },
        })
    };
    // One post per opening: while the alert is open, its rule's firings only update it.
    let id = derived_id("alr", &[identity, &event.key]);
    let (from_name, from_email) = sender(program, state);
    let domain = from_email.rsplit('@').next().unwrap_or("onboard");
    Ok(NewMessage {
        message_id: format!("<{id}@{domain}>"),
        id,
        account: state.id.clone(),
        channel: kind,
        to_email: channel.to_owned(),
        to_name: channel.to_owned(),
        from_email,
        from_name,
        subject,
        body: payload.to_string(),
        rule: rule.name.clone(),
        cause: event.key.clone(),
        sign_in_email: None,
        calendar: None,
    })
}

/// The email of `message` from a rule to one recipient, rendered, with its deterministic id
/// (from the event, rule, action and recipient) and its sender (the CSM, else the program's).
#[allow(clippy::too_many_arguments)]
fn email_message(
    program: &Program,
    settings: &Settings,
    state: &AccountState,
    event: &Event,
    rule: &Rule,
    index: usize,
    message: &str,
    name: &str,
    email: &str,
) -> Result<NewMessage, String> {
    let (subject, body) = render(program, settings, state, event, message, name, email)?;
    let sign_in_email = (subject.contains(SIGN_IN_URL_PLACEHOLDER)
        || body.contains(SIGN_IN_URL_PLACEHOLDER))
    .then(|| email.to_owned());
    let id = derived_id_at(
        "msg",
        event.at,
        &[&event.key, &rule.name, &index.to_string(), email],
    );
    let (from_name, from_email) = sender(program, state);
    let domain = from_email.rsplit('@').next().unwrap_or("onboard");
    Ok(NewMessage {
        message_id: format!("<{id}@{domain}>"),
        id,
        account: state.id.clone(),
        channel: "email".to_owned(),
        to_email: email.to_owned(),
        to_name: name.to_owned(),
        from_email,
        from_name,
        subject,
        body,
        rule: rule.name.clone(),
        cause: event.key.clone(),
        sign_in_email,
        calendar: None,
    })
}

fn derived_event(
    state: &AccountState,
    rule: &Rule,
    cause: &Event,
    index: usize,
    kind: &EventType,
) -> NewEvent {
    NewEvent {
        key: derived_event_key(cause.at, &[&cause.key, &rule.name, &index.to_string()]),
        kind: kind.clone(),
        account: state.id.clone(),
        at: cause.at,
        data: serde_json::json!({ "rule": rule.name, "cause": cause.key }),
    }
}

/// Who receives a message: (name, email) pairs, in a stable order.
fn recipients(
    program: &Program,
    state: &AccountState,
    event: &Event,
    to: &Recipient,
) -> Vec<(String, String)> {
    match to {
        Recipient::Csm => csm(program, state)
            .map(|m| vec![(m.name.clone(), m.email.clone())])
            .unwrap_or_default(),
        Recipient::People { persona } => state
            .people
            .iter()
            .filter(|p| persona.is_none() || p.persona.as_ref() == persona.as_ref())
            .map(|p| (p.name.clone(), p.email.clone()))
            .collect(),
        Recipient::Assignee => {
            let assignee = event
                .data
                .get("assignee")
                .and_then(|v| v.as_str())
                .map(str::to_lowercase)
                .unwrap_or_default();
            state
                .people
                .iter()
                .filter(|p| p.email == assignee || p.persona.as_deref() == Some(assignee.as_str()))
                .map(|p| (p.name.clone(), p.email.clone()))
                .collect()
        }
        Recipient::Person => {
            let email = event
                .data
                .get("email")
                .and_then(|v| v.as_str())
                .map(str::to_lowercase);
            state
                .people
                .iter()
                .filter(|p| Some(&p.email) == email.as_ref())
                .map(|p| (p.name.clone(), p.email.clone()))
                .collect()
        }
    }
}

fn csm<'p>(program: &'p Program, state: &AccountState) -> Option<&'p TeamMember> {
    let email = state.csm.as_deref()?;
    program.team.iter().find(|m| m.email == email)
}

/// Emails come from the account's CSM when it has one, else from the program's sender.
fn sender(program: &Program, state: &AccountState) -> (String, String) {
    match csm(program, state) {
        Some(m) => (m.name.clone(), m.email.clone()),
        None => (program.sender.name.clone(), program.sender.email.clone()),
    }
}

fn render(
    program: &Program,
    settings: &Settings,
    state: &AccountState,
    event: &Event,
    message: &str,
    name: &str,
    email: &str,
) -> Result<(String, String), String> {
    let template = program
        .messages
        .get(message)
        .ok_or_else(|| format!("no message named `{message}`"))?;
    let csm = csm(program, state);
    let person = state.people.iter().find(|p| p.email == email);
    // The task a task event is about, for reminders.
    let task = event
        .data
        .get("project")
        .and_then(|v| v.as_str())
        .and_then(|id| state.project(id))
        .and_then(|project| {
            let key = event.data.get("task").and_then(|v| v.as_str())?;
            project
                .tasks
                .iter()
                .find(|t| t.key == key)
                .map(|t| (project, t))
        });
    // For a kickoff task: the brief as of the event, so the message is what was decided.
    let brief = task
        .filter(|(_, t)| t.kickoff.is_some())
        .and_then(|(project, t)| {
            crate::brief::kickoff_brief(program, state, &project.id, &t.key, event.at).ok()
        });
    let task = task.map(|(_, t)| {
        let due_at = t.due_at.map(Timestamp::to_rfc3339);
        TaskContext {
            key: &t.key,
            title: &t.title,
            description: &t.description,
            due_date: due_at.as_ref().map(|d| d.chars().take(10).collect()),
            due_at,
        }
    });
    let context = MessageContext {
        task,
        brief,
        account: AccountContext {
            id: &state.id,
            name: &state.name,
            domain: state.domain.as_deref(),
        },
        person: PersonContext {
            name,
            first_name: name.split_whitespace().next().unwrap_or(name),
            email,
            persona: person.and_then(|p| p.persona.as_deref()),
            title: person.and_then(|p| p.title.as_deref()),
            journey: person.and_then(|p| p.journey.as_deref()),
        },
        csm: csm.map(|m| CsmContext {
            name: &m.name,
            email: &m.email,
        }),
        event: EventContext {
            kind: event.kind.as_str(),
            data: &event.data,
        },
        program: ProgramContext {
            name: &program.name,
        },
        public_url: &settings.public_url,
        // A person's own sign-in link, made at delivery; others get the Academy's page.
        sign_in_url: match person {
            Some(_) => SIGN_IN_URL_PLACEHOLDER.to_owned(),
            None => format!("{}/academy", settings.public_url.trim_end_matches('/')),
        },
    };
    // Converted once for both templates.
    let context = minijinja::Value::from_serialize(&context);
    let compiled = &template.compiled;
    let subject = compiled
        .render(CompiledMessage::SUBJECT, &context)
        .map_err(|e| e.to_string())?;
    let body = compiled
        .render(CompiledMessage::BODY, &context)
        .map_err(|e| e.to_string())?;
    Ok((subject, body))
}

/// What a message's templates see (names as DESIGN.md gives them), borrowed from the state.
#[derive(serde::Serialize)]
struct MessageContext<'a> {
    task: Option<TaskContext<'a>>,
    brief: Option<crate::brief::KickoffBrief>,
    account: AccountContext<'a>,
    person: PersonContext<'a>,
    csm: Option<CsmContext<'a>>,
    event: EventContext<'a>,
    program: ProgramContext<'a>,
    public_url: &'a str,
    sign_in_url: String,
}

#[derive(serde::Serialize)]
struct TaskContext<'a> {
    key: &'a str,
    title: &'a str,
    description: &'a str,
    due_at: Option<String>,
    due_date: Option<String>,
}

#[derive(serde::Serialize)]
struct AccountContext<'a> {
    id: &'a str,
    name: &'a str,
    domain: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct PersonContext<'a> {
    name: &'a str,
    first_name: &'a str,
    email: &'a str,
    persona: Option<&'a str>,
    title: Option<&'a str>,
    journey: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct CsmContext<'a> {
    name: &'a str,
    email: &'a str,
}

#[derive(serde::Serialize)]
struct EventContext<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    data: &'a serde_json::Value,
}

#[derive(serde::Serialize)]
struct ProgramContext<'a> {
    name: &'a str,
}

fn trace(
    state: &AccountState,
    rule: &Rule,
    event: &Event,
    outcome: TraceOutcome,
    reason: String,
) -> Trace {
    Trace {
        account: state.id.clone(),
        rule: rule.name.clone(),
        event: event.key.clone(),
        at: event.at,
        outcome,
        reason,
    }
}

#[cfg(test)]
mod academy_tests;
#[cfg(test)]
mod actions_tests;
mod apply;
mod autopilot;
#[cfg(test)]
mod autopilot_tests;
mod booking;
#[cfg(test)]
mod booking_tests;
mod budget;
mod changes;
mod condition;
mod goals;
#[cfg(test)]
mod nudge_tests;
mod nudges;
#[cfg(test)]
mod people_tests;
#[cfg(test)]
mod project_tests;
mod projects;
#[cfg(test)]
mod tests;
mod usage;
#[cfg(test)]
mod usage_tests;

pub use apply::segment;
pub use autopilot::{TIMER_PREFIX as AUTOPILOT_TIMER_PREFIX, TRACE_RULE as AUTOPILOT_TRACE};
pub use goals::as_of as goals_as_of;
pub use projects::{requested_project_id, REVIEW_TITLE, TIMER_PREFIX};
