//! `[audit]`: the categories of CSM work that `onboard audit` sorts interactions into, read
//! into [`AuditSettings`] with every problem reported at its place. Whether a key extends a
//! built-in category or adds one is decided by `crate::audit`, not here.

use super::fields::{Cx, Table};
use super::tree::{Node, Value};
use crate::program::{AuditCategory, AuditSettings, AutomationSource};
use std::collections::BTreeSet;

const AUDIT: &[&str] = &["categories"];
const CATEGORY: &[&str] = &[
    "key",
    "label",
    "trap",
    "strategic",
    "keywords",
    "replace_keywords",
    "covered_by",
    "automation",
];

const COVERED_BY_HINT: &str = "write `on:<event>` (rules on that event that write to the customer, e.g. `on:academy.link_requested`), `action:<kind>` (rules with a `nudge`, `send`, `enrol`… action), `journeys` or `kickoff` (templates with a kickoff task)";

/// Reads the `[audit]` table.
pub(crate) fn read_audit(cx: &mut Cx<'_>, node: &Node) -> AuditSettings {
    let mut settings = AuditSettings::default();
    let Some(t) = cx.table(node, "[audit]", AUDIT) else {
        return settings;
    };
    let mut keys = BTreeSet::new();
    for node in cx.tables(&t, "categories") {
        let Some(c) = cx.table(node, "[[audit.categories]]", CATEGORY) else {
            continue;
        };
        if let Some(category) = read_category(cx, &c) {
            if keys.insert(category.key.clone()) {
                settings.categories.push(category);
            } else {
                cx.error(
                    c.key_loc("key"),
                    format!("the audit category `{}` is given twice", category.key),
                    "give each [[audit.categories]] its own key; one table per key says everything about it",
                );
            }
        }
    }
    settings
}

fn read_category(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<AuditCategory> {
    let key = cx.name(t, "key");
    let label = cx.optional_string(t, "label").map(|l| l.value);
    let trap = optional_boolean(cx, t, "trap");
    let strategic = optional_boolean(cx, t, "strategic");
    if trap == Some(true) && strategic == Some(true) {
        cx.error(
            t.key_loc("strategic"),
            "an audit category cannot be both a trap and strategic work",
            "a trap is repetitive work to automate (`trap = true`); strategic work is what a CSM should spend time on (`strategic = true`): keep one",
        );
    }
    let mut keywords = Vec::new();
    for keyword in cx.strings(t, "keywords") {
        let lower = keyword.value.trim().to_lowercase();
        if lower.is_empty() {
            cx.error(
                keyword.loc,
                "an empty keyword would match every note",
                "remove it, or write a word or phrase that notes of this category contain",
            );
        } else {
            keywords.push(lower);
        }
    }
    let replace_keywords = cx.boolean(t, "replace_keywords", false);
    if replace_keywords && keywords.is_empty() {
        cx.error(
            t.key_loc("replace_keywords"),
            "`replace_keywords = true` with no keywords: no note would ever fall in this category",
            "list the keywords that replace the built-in ones, e.g. `keywords = [\"password\", \"locked out\"]`",
        );
    }
    let covered_by = if t.get("covered_by").is_some() {
        let mut sources = Vec::new();
        for text in cx.strings(t, "covered_by") {
            match AutomationSource::parse(&text.value) {
                Ok(source) => sources.push(source),
                Err(message) => cx.error(text.loc, message, COVERED_BY_HINT),
            }
        }
        Some(sources)
    } else {
        None
    };
    let automation = match t.get("automation") {
        None => None,
        Some(node) => {
            let share = match node.value {
                Value::Integer(i) => Some(i as f64),
                Value::Float(f) => Some(f),
                _ => None,
            };
            match share {
                Some(share) if (0.0..=1.0).contains(&share) => Some(share),
                _ => {
                    cx.error(
                        node.loc,
                        "`automation` in [[audit.categories]] must be a number from 0 to 1",
                        "write the share of this trap's time the automation saves, e.g. `automation = 0.8`",
                    );
                    None
                }
            }
        }
    };
    Some(AuditCategory {
        key: key?.value,
        label,
        trap,
        strategic,
        keywords,
        replace_keywords,
        covered_by,
        automation,
    })
}

/// A boolean that may be left out (`None`), unlike [`Cx::boolean`]'s default.
fn optional_boolean(cx: &mut Cx<'_>, t: &Table<'_>, key: &str) -> Option<bool> {
    t.get(key)?;
    Some(cx.boolean(t, key, false))
}
