//! `[autopilot]`: the segments of accounts the engine runs alone and how it runs them, read
//! into a draft that keeps every reference's place, checked against the rest of the program
//! (messages, team roles, channels, the condition language), then assembled into
//! [`Autopilot`].

use super::fields::{closest, list, Cx, Text};
use super::tree::Node;
use crate::program::{Autopilot, AutopilotAction, AutopilotSegment, Signal};
use crate::time::Duration;
use std::collections::BTreeSet;

const AUTOPILOT: &[&str] = &[
    "segments",
    "cadence",
    "grace",
    "remind",
    "escalation",
    "escalate_to",
    "alert",
    "progress",
    "digest_every",
    "approve",
    "signals",
];
const SEGMENT: &[&str] = &["name", "when"];
const SIGNAL: &[&str] = &["name", "keywords", "replace_keywords"];

/// The reminders' waits when the program gives none: two days after the unlock, then three,
/// then five.
pub(crate) const DEFAULT_CADENCE: [Duration; 3] = [
    Duration(2 * 86_400_000),
    Duration(3 * 86_400_000),
    Duration(5 * 86_400_000),
];
const DEFAULT_GRACE: Duration = Duration(2 * 86_400_000);
const DURATION_HINT: &str =
    "write a number and a unit: s, m, h, d or w, e.g. \"2d\" or \"1d12h\"; it must be longer than zero";

/// `[autopilot]` as written.
#[derive(Debug)]
pub(crate) struct DraftAutopilot {
    pub loc: Text,
    pub segments: Vec<(Option<Text>, Option<Text>)>,
    pub cadence: Option<Vec<Duration>>,
    pub grace: Option<Duration>,
    pub remind: Option<Text>,
    pub escalation: Option<Text>,
    pub escalate_to: Option<Text>,
    pub alert: Option<Text>,
    pub progress: Option<Text>,
    pub digest_every: Option<(Text, Duration)>,
    pub approve: Vec<AutopilotAction>,
    pub signals: Vec<Signal>,
}

/// Reads the `[autopilot]` table.
pub(crate) fn read_autopilot(cx: &mut Cx<'_>, node: &Node) -> Option<DraftAutopilot> {
    let t = cx.table(node, "[autopilot]", AUTOPILOT)?;
    let mut segments = Vec::new();
    let mut seen = BTreeSet::new();
    for node in cx.tables(&t, "segments") {
        let Some(s) = cx.table(node, "[[autopilot.segments]]", SEGMENT) else {
            continue;
        };
        let name = cx.name(&s, "name");
        if let Some(name) = &name {
            if !seen.insert(name.value.clone()) {
                cx.error(
                    name.loc,
                    format!("the autopilot segment `{}` is given twice", name.value),
                    "give each [[autopilot.segments]] its own name",
                );
            }
        }
        let when = cx.string(&s, "when");
        segments.push((name, when));
    }
    if segments.is_empty() {
        cx.error(
            t.key_loc("segments"),
            "[autopilot] names no segment, so no account would run on autopilot",
            "add `[[autopilot.segments]]` with `name = \"self-serve\"` and `when = \"account.seats < 10\"`",
        );
    }
    let cadence = if t.get("cadence").is_some() {
        let texts = cx.strings(&t, "cadence");
        if texts.is_empty() {
            cx.error(
                t.key_loc("cadence"),
                "`cadence` is empty: autopilot would never remind anyone",
                "list the waits before each reminder, e.g. `cadence = [\"2d\", \"3d\", \"5d\"]`",
            );
        }
        let mut waits = Vec::new();
        for text in &texts {
            if let Some(wait) = duration(cx, text) {
                if waits.last().is_some_and(|last: &Duration| wait < *last) {
                    cx.error(
                        text.loc,
                        format!("`{}` is shorter than the wait before it", text.value),
                        "reminders escalate: each wait is at least as long as the one before, e.g. [\"2d\", \"3d\", \"5d\"]",
                    );
                }
                waits.push(wait);
            }
        }
        Some(waits)
    } else {
        None
    };
    let grace = cx
        .optional_string(&t, "grace")
        .and_then(|text| duration(cx, &text));
    let digest_every = cx
        .optional_string(&t, "digest_every")
        .and_then(|text| duration(cx, &text).map(|d| (text, d)));
    let mut approve = Vec::new();
    for text in cx.strings(&t, "approve") {
        match AutopilotAction::parse(&text.value) {
            Some(action) if !approve.contains(&action) => approve.push(action),
            Some(_) => {}
            None => cx.error(
                text.loc,
                format!("`{}` is not an autopilot action", text.value),
                "autopilot's actions are `remind` (emails about open tasks), `post` (progress in the Shared Space) and `escalate` (a team task, an alert and an email to the CSM)",
            ),
        }
    }
    let mut signals = Signal::built_in();
    for node in cx.tables(&t, "signals") {
        let Some(s) = cx.table(node, "[[autopilot.signals]]", SIGNAL) else {
            continue;
        };
        let Some(name) = cx.name(&s, "name") else {
            continue;
        };
        let mut keywords = Vec::new();
        for keyword in cx.strings(&s, "keywords") {
            let lower = keyword.value.trim().to_lowercase();
            if lower.is_empty() {
                cx.error(
                    keyword.loc,
                    "an empty keyword would match every comment",
                    "remove it, or write a word or phrase such comments contain",
                );
            } else {
                keywords.push(lower);
            }
        }
        if keywords.is_empty() {
            cx.error(
                s.key_loc("keywords"),
                format!("the signal `{}` has no keywords", name.value),
                "list words or phrases that such comments contain, matched at the start of a word: `keywords = [\"urgent\", \"asap\"]`",
            );
        }
        let replace = cx.boolean(&s, "replace_keywords", false);
        match signals.iter_mut().find(|x| x.name == name.value) {
            Some(existing) if replace => existing.keywords = keywords,
            Some(existing) => existing.keywords.extend(keywords),
            None => signals.push(Signal {
                name: name.value,
                keywords,
            }),
        }
    }
    Some(DraftAutopilot {
        loc: Text {
            value: String::new(),
            loc: node.loc,
        },
        segments,
        cadence,
        grace,
        remind: cx.string(&t, "remind"),
        escalation: cx.string(&t, "escalation"),
        escalate_to: cx.optional_name(&t, "escalate_to"),
        alert: cx.optional_name(&t, "alert"),
        progress: cx.optional_name(&t, "progress"),
        digest_every,
        approve,
        signals,
    })
}

fn duration(cx: &mut Cx<'_>, text: &Text) -> Option<Duration> {
    match Duration::parse(&text.value) {
        Ok(d) if d.0 > 0 => Some(d),
        _ => {
            cx.error(
                text.loc,
                format!("`{}` is not a duration longer than zero", text.value),
                DURATION_HINT,
            );
            None
        }
    }
}

/// What the checks need from the rest of the program.
pub(crate) struct Known<'a> {
    pub messages: &'a [&'a str],
    pub roles: &'a [&'a str],
    pub channels: &'a [&'a str],
    pub schema: &'a crate::expr::Schema,
}

/// Checks the references and conditions of `[autopilot]`.
pub(crate) fn check(cx: &mut Cx<'_>, draft: &DraftAutopilot, known: &Known<'_>) {
    for (_, when) in &draft.segments {
        if let Some(when) = when {
            super::check::check_condition(cx, when, known.schema);
        }
    }
    for message in [&draft.remind, &draft.escalation, &draft.progress]
        .into_iter()
        .flatten()
    {
        reference(
            cx,
            message,
            "message",
            known.messages,
            "add it as messages/<name>.md",
        );
    }
    match &draft.escalate_to {
        Some(role) => reference(cx, role, "team role", known.roles, "give a [[team]] member that role"),
        None if !known.roles.contains(&"csm") => cx.error(
            draft.loc.loc,
            "autopilot escalates to the team role `csm`, which no [[team]] member has",
            "add a [[team]] member with `role = \"csm\"`, or say who takes escalations with `escalate_to = \"<role>\"`",
        ),
        None => {}
    }
    if let Some(alert) = &draft.alert {
        reference(
            cx,
            alert,
            "channel",
            known.channels,
            "declare it with [[channels]] (`name`, `kind = \"slack\"` or `\"webhook\"`)",
        );
    }
    if let (Some((text, _)), None) = (&draft.digest_every, &draft.progress) {
        cx.error(
            text.loc,
            "`digest_every` without `progress`: there is no message to post",
            "name the progress post's message with `progress = \"<message>\"`, or remove `digest_every`",
        );
    }
}

fn reference(cx: &mut Cx<'_>, text: &Text, kind: &str, known: &[&str], declare: &str) {
    if known.contains(&text.value.as_str()) {
        return;
    }
    let mut hint = match closest(&text.value, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`? "),
        None => String::new(),
    };
    if known.is_empty() {
        hint.push_str(&format!("no {kind}s are declared; {declare}"));
    } else {
        hint.push_str(&format!(
            "known {kind}s: {}; or {declare}",
            list(known.iter().copied())
        ));
    }
    cx.error(text.loc, format!("unknown {kind} `{}`", text.value), hint);
}

/// The checked draft as the program's [`Autopilot`]; `None` if something is missing (which
/// the reading or the checks reported).
pub(crate) fn assemble(draft: DraftAutopilot, schema: &crate::expr::Schema) -> Option<Autopilot> {
    let segments = draft
        .segments
        .into_iter()
        .map(|(name, when)| {
            Some(AutopilotSegment {
                name: name?.value,
                when: crate::expr::Condition::parse(&when?.value, schema).ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Autopilot {
        segments,
        cadence: draft.cadence.unwrap_or_else(|| DEFAULT_CADENCE.to_vec()),
        grace: draft.grace.unwrap_or(DEFAULT_GRACE),
        remind: draft.remind?.value,
        escalation: draft.escalation?.value,
        escalate_to: draft
            .escalate_to
            .map_or_else(|| "csm".to_owned(), |r| r.value),
        alert: draft.alert.map(|a| a.value),
        progress: draft.progress.map(|p| p.value),
        digest_every: draft.digest_every.map(|(_, d)| d),
        approve: draft.approve,
        signals: draft.signals,
    })
}
