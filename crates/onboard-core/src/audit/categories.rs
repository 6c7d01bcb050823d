//! The categories of CSM work and how a note falls into one. Built in: the four manual traps
//! (password or permission resets, UI navigation questions, welcome emails and guides,
//! scheduling back-and-forth), strategic work, and `other`; a program's `[audit]` extends or
//! overrides them by key ([`Categories::for_program`]).
//!
//! A note falls into the first category, in list order, one of whose keywords it contains
//! (lower-cased, starting at a word boundary, so `sso` does not match "lessons" but
//! `reschedul` matches "rescheduling"); a note that contains none is `other`. All keywords
//! are matched in one pass (Aho-Corasick), whatever their number.

use crate::program::{AuditSettings, AutomationSource};
use aho_corasick::AhoCorasick;
use serde::Serialize;

/// The key of the category of notes no keyword matches.
pub const OTHER: &str = "other";

/// The share of a trap's time that its automation saves, when the category does not say.
pub const DEFAULT_AUTOMATION: f64 = 0.8;

/// What kind of work a category is, for the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    /// Repetitive work the program could do instead.
    Trap,
    /// Work a CSM should spend time on.
    Strategic,
    Other,
}

impl CategoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trap => "trap",
            Self::Strategic => "strategic",
            Self::Other => "other",
        }
    }
}

/// One category, with the built-in values merged with the program's.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub key: String,
    pub label: String,
    pub kind: CategoryKind,
    /// Lower-cased.
    pub keywords: Vec<String>,
    /// What in a program automates this trap (empty for other kinds).
    pub covered_by: Vec<AutomationSource>,
    /// The share of the time saved when covered (0 to 1).
    pub automation: f64,
}

/// The categories in priority order (`other` last) and the matcher of all their keywords.
#[derive(Debug, Clone)]
pub struct Categories {
    list: Vec<Category>,
    /// `None` only if the keywords could not be built into an automaton (beyond its size
    /// limits, far above any keyword list): then nothing matches.
    matcher: Option<AhoCorasick>,
    /// The category of each keyword pattern of `matcher`.
    pattern_category: Vec<usize>,
    other: usize,
}

impl Categories {
    /// The built-in categories alone.
    pub fn builtin() -> Self {
        Self::from_list(builtin())
    }

    /// The built-in categories with the program's `[audit]` applied: a category with a
    /// built-in key changes only what it gives (its keywords are added, unless
    /// `replace_keywords`); a new key comes after the built-in categories, before `other`.
    pub fn for_program(settings: &AuditSettings) -> Self {
        let mut list = builtin();
        for given in &settings.categories {
            let index = match list.iter().position(|c| c.key == given.key) {
                Some(index) => index,
                None => {
                    let before_other = list
                        .iter()
                        .position(|c| c.key == OTHER)
                        .unwrap_or(list.len());
                    list.insert(
                        before_other,
                        Category {
                            key: given.key.clone(),
                            label: given.key.clone(),
                            kind: CategoryKind::Other,
                            keywords: Vec::new(),
                            covered_by: Vec::new(),
                            automation: DEFAULT_AUTOMATION,
                        },
                    );
                    before_other
                }
            };
            let Some(category) = list.get_mut(index) else {
                continue;
            };
            if let Some(label) = &given.label {
                category.label.clone_from(label);
            }
            match (given.trap, given.strategic) {
                (Some(true), _) => category.kind = CategoryKind::Trap,
                (_, Some(true)) => category.kind = CategoryKind::Strategic,
                (Some(false), _) | (_, Some(false)) => category.kind = CategoryKind::Other,
                (None, None) => {}
            }
            if given.replace_keywords {
                category.keywords.clear();
            }
            for keyword in &given.keywords {
                if !category.keywords.contains(keyword) {
                    category.keywords.push(keyword.clone());
                }
            }
            if let Some(covered_by) = &given.covered_by {
                category.covered_by.clone_from(covered_by);
            }
            if let Some(automation) = given.automation {
                category.automation = automation;
            }
        }
        Self::from_list(list)
    }

    fn from_list(list: Vec<Category>) -> Self {
        let other = list
            .iter()
            .position(|c| c.key == OTHER)
            .unwrap_or(list.len().saturating_sub(1));
        let mut patterns = Vec::new();
        let mut pattern_category = Vec::new();
        for (index, category) in list.iter().enumerate() {
            if index == other {
                continue;
            }
            for keyword in &category.keywords {
                patterns.push(keyword.as_str());
                pattern_category.push(index);
            }
        }
        let matcher = AhoCorasick::new(&patterns).ok();
        Self {
            list,
            matcher,
            pattern_category,
            other,
        }
    }

    /// The categories, in priority order.
    pub fn list(&self) -> &[Category] {
        &self.list
    }

    /// The number of the category of a note that is already lower-cased (see
    /// [`lower_into`]).
    pub fn classify_lowered(&self, note: &str) -> usize {
        let bytes = note.as_bytes();
        let mut best = self.other;
        let Some(matcher) = &self.matcher else {
            return best;
        };
        for found in matcher.find_overlapping_iter(note) {
            let start = found.start();
            let at_word_start = start == 0
                || bytes
                    .get(start - 1)
                    .is_some_and(|&b| !(b.is_ascii_alphanumeric() || b >= 0x80));
            if !at_word_start {
                continue;
            }
            if let Some(&category) = self.pattern_category.get(found.pattern().as_usize()) {
                if category < best {
                    best = category;
                    if best == 0 {
                        break;
                    }
                }
            }
        }
        best
    }

    /// The number of the category of any note.
    pub fn classify(&self, note: &str) -> usize {
        let mut lowered = String::new();
        lower_into(note, &mut lowered);
        self.classify_lowered(&lowered)
    }
}

/// Writes `text` lower-cased into `buffer` (cleared first), without allocating once the
/// buffer is large enough.
pub fn lower_into(text: &str, buffer: &mut String) {
    buffer.clear();
    if text.is_ascii() {
        buffer.push_str(text);
        buffer.make_ascii_lowercase();
    } else {
        buffer.extend(text.chars().flat_map(char::to_lowercase));
    }
}

fn category(
    key: &str,
    label: &str,
    kind: CategoryKind,
    keywords: &[&str],
    covered_by: Vec<AutomationSource>,
) -> Category {
    Category {
        key: key.to_owned(),
        label: label.to_owned(),
        kind,
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        covered_by,
        automation: DEFAULT_AUTOMATION,
    }
}

fn on(event: &str) -> AutomationSource {
    match crate::event::EventType::parse(event) {
        Ok(event) => AutomationSource::On(event),
        // The built-in event names are valid; this arm is never taken.
        Err(_) => AutomationSource::Journeys,
    }
}

/// The built-in categories, in priority order: a note about rescheduling the kickoff is
/// scheduling before it is strategic work.
fn builtin() -> Vec<Category> {
    use CategoryKind::{Other, Strategic, Trap};
    vec![
        category(
            "password_reset",
            "Password or permission resets",
            Trap,
            &[
                "password",
                "reset link",
                "locked out",
                "lockout",
                "can't log in",
                "cannot log in",
                "can't sign in",
                "cannot sign in",
                "unable to log in",
                "login issue",
                "login problem",
                "log-in issue",
                "sign-in link",
                "magic link",
                "2fa",
                "mfa",
                "two-factor",
                "permission",
                "access rights",
                "admin rights",
                "admin role",
                "role change",
                "grant access",
                "granted access",
                "revoke access",
                "unlock",
                "sso",
                "expired link",
            ],
            vec![on("academy.link_requested")],
        ),
        category(
            "ui_navigation",
            "UI navigation questions",
            Trap,
            &[
                "where is",
                "where do i",
                "where can i",
                "where to find",
                "asked where",
                "how do i",
                "how do we",
                "how to",
                "can't find",
                "cannot find",
                "couldn't find",
                "could not find",
                "navigate",
                "navigation",
                "which menu",
                "which tab",
                "the button",
                "walked through",
                "walkthrough",
                "walk-through",
                "screen share",
                "showed them how",
                "showed how",
                "ui question",
                "menu",
            ],
            vec![
                AutomationSource::Journeys,
                AutomationSource::Action("nudge".to_owned()),
            ],
        ),
        category(
            "welcome_guides",
            "Welcome emails and guides",
            Trap,
            &[
                "welcome",
                "getting started",
                "get started",
                "guide",
                "intro email",
                "introduction email",
                "onboarding email",
                "onboarding pack",
                "onboarding docs",
                "setup checklist",
                "set-up checklist",
                "resent the invite",
                "resend the invite",
                "resent invite",
                "sent the docs",
                "sent docs",
                "help article",
                "help center link",
                "training material",
                "first steps",
            ],
            vec![on("person.enrolled"), on("project.launched")],
        ),
        category(
            "scheduling",
            "Scheduling back-and-forth",
            Trap,
            &[
                "schedul",
                "reschedul",
                "calendar",
                "availability",
                "available times",
                "time slot",
                "timeslot",
                "find a time",
                "finding a time",
                "meeting time",
                "book a call",
                "booking",
                "move the call",
                "moved the call",
                "moved the meeting",
                "postpone",
                "calendly",
                "invite sent for",
                "time zone",
                "timezone",
            ],
            vec![AutomationSource::Kickoff],
        ),
        category(
            "strategic",
            "Strategic work",
            Strategic,
            &[
                "qbr",
                "business review",
                "roadmap",
                "expansion",
                "renewal",
                "upsell",
                "success plan",
                "goals",
                "objectives",
                "executive",
                "exec sponsor",
                "health check",
                "strategy",
                "strategic",
                "adoption plan",
                "roi",
                "value review",
                "workshop",
                "kpi",
                "forecast",
                "stakeholder map",
                "champion",
            ],
            Vec::new(),
        ),
        category(OTHER, "Other", Other, &[], Vec::new()),
    ]
}
