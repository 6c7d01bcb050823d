//! In-app nudges: made by a rule's `nudge` action for each recipient, one open per person,
//! rule and message (another firing refreshes it), and changed by what the product reports
//! (`nudge.shown`, `nudge.clicked`, `nudge.dismissed`). Each change is also handed to the
//! store (`Decisions::nudges`), whose table the product polls.

use super::derived_id;
use crate::event::{types, Event};
use crate::program::{NudgeFrequency, NudgeStyle};
use crate::state::{AccountState, Decisions, Nudge, NudgeStatus};
use crate::time::{Duration, Timestamp};

/// How long an ended or expired nudge stays in the account's state.
const KEEP_ENDED: Duration = Duration(30 * 24 * 3_600_000);

/// What a `nudge` action asks for one recipient, its text already rendered.
pub(super) struct NudgeRequest<'a> {
    pub rule: &'a str,
    pub index: usize,
    pub message: &'a str,
    pub email: &'a str,
    pub title: String,
    pub text: String,
    pub selector: Option<&'a str>,
    pub style: NudgeStyle,
    pub frequency: NudgeFrequency,
    pub expires: Duration,
    /// Not shown before then (the contact budget's next slot, or the event's time).
    pub available_at: Timestamp,
}

/// Makes the nudge, or refreshes the pending one with the same person, rule and message.
/// Returns whether it was new.
pub(super) fn make(
    state: &mut AccountState,
    event: &Event,
    request: NudgeRequest<'_>,
    out: &mut Decisions,
) -> bool {
    let expires_at = Timestamp(event.at.millis() + request.expires.millis());
    if let Some(open) = state.nudges.iter_mut().find(|n| {
        n.status == NudgeStatus::Pending
            && n.expires_at > event.at
            && n.email == request.email
            && n.rule == request.rule
            && n.message == request.message
    }) {
        open.title = request.title;
        open.text = request.text;
        open.selector = request.selector.map(str::to_owned);
        open.style = request.style;
        open.frequency = request.frequency;
        open.expires_at = open.expires_at.max(expires_at);
        out.nudges.push(open.clone());
        return false;
    }
    let nudge = Nudge {
        id: derived_id(
            "ndg",
            &[
                &state.id,
                &event.key,
                request.rule,
                &request.index.to_string(),
                request.email,
            ],
        ),
        account: state.id.clone(),
        email: request.email.to_owned(),
        rule: request.rule.to_owned(),
        message: request.message.to_owned(),
        title: request.title,
        text: request.text,
        selector: request.selector.map(str::to_owned),
        style: request.style,
        frequency: request.frequency,
        created_at: event.at,
        available_at: request.available_at,
        expires_at,
        status: NudgeStatus::Pending,
        shown: Vec::new(),
        shown_count: 0,
        ended_at: None,
        cause: event.key.clone(),
    };
    out.nudges.push(nudge.clone());
    state.nudges.push(nudge);
    true
}

/// Applies what the product reported about a nudge (`data.nudge`: its id), and forgets
/// nudges that ended long ago. A report about an unknown nudge, or about one that already
/// ended, changes nothing.
pub(super) fn on_event(state: &mut AccountState, event: &Event, out: &mut Decisions) {
    let kind = event.kind.as_str();
    let reported = matches!(
        kind,
        types::NUDGE_SHOWN | types::NUDGE_CLICKED | types::NUDGE_DISMISSED
    );
    if reported {
        let id = event.data.get("nudge").and_then(|v| v.as_str());
        if let Some(nudge) = state
            .nudges
            .iter_mut()
            .find(|n| Some(n.id.as_str()) == id && n.status == NudgeStatus::Pending)
        {
            match kind {
                types::NUDGE_SHOWN => {
                    nudge.shown_count += 1;
                    nudge.shown.push(event.at);
                    nudge.shown.sort_unstable();
                    let keep = match nudge.frequency {
                        NudgeFrequency::Once => 1,
                        NudgeFrequency::AtMost { n, .. } => n as usize,
                    };
                    let excess = nudge.shown.len().saturating_sub(keep);
                    nudge.shown.drain(..excess);
                }
                types::NUDGE_CLICKED => {
                    nudge.status = NudgeStatus::Clicked;
                    nudge.ended_at = Some(event.at);
                }
                _ => {
                    nudge.status = NudgeStatus::Dismissed;
                    nudge.ended_at = Some(event.at);
                }
            }
            out.nudges.push(nudge.clone());
        }
    }
    let horizon = event.at.millis() - KEEP_ENDED.millis();
    let kept = |n: &Nudge| {
        let ended = match n.status {
            NudgeStatus::Pending => n.expires_at,
            _ => n.ended_at.unwrap_or(n.expires_at),
        };
        ended.millis() > horizon
    };
    // Written (so copied, while the store holds them) only when one goes.
    if !state.nudges.iter().all(kept) {
        state.nudges.retain(kept);
    }
}
