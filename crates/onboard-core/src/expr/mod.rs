//! The condition language of rules: the `when` of a `[[rules]]` entry, such as
//! `account.seats >= 10 and person.persona == "admin"`.
//!
//! A condition is parsed and type-checked once, against a [`Schema`] of known fields, by
//! [`Condition::parse`] (what `onboard check` reports from: every error carries a byte span
//! in the condition text and, where it can, a hint). It is then evaluated any number of
//! times by [`Condition::eval`] against an [`Env`] that gives field values. An evaluation
//! never fails and never panics: it answers true or false and records every field value it
//! read, so a trace can say "condition false with account.seats = 3".
//!
//! Pure: no I/O, no clock (the evaluation time is an argument), no randomness; regular
//! expressions are compiled once, at parse. Not here: where conditions sit in `program.toml`
//! and how their spans become file, line and column (the program parser), and how field
//! values are gathered from an account's state (the caller's [`Env`]).
//!
//! # The language
//!
//! A condition is one expression that is true or false.
//!
//! ## Values
//!
//! | written | type | notes |
//! | --- | --- | --- |
//! | `10`, `2.5` | number | no sign (write `-3` for minus three), no exponent |
//! | `"pro"` | string | double quotes; `\"` is a quote and `\\` a backslash; any other backslash stays as written, so patterns read naturally: `"\bvp\b"` |
//! | `true`, `false` | true/false | keywords are lower case |
//! | `null` | null | "no value": what a missing field reads as |
//! | `72h`, `30m`, `3d`, `1w`, `90s`, `1h30m` | duration | whole numbers, units `s`, `m`, `h`, `d`, `w`, no spaces |
//! | `["pro", "enterprise"]` | list | items of one type; a trailing comma is allowed |
//! | `account.won_at` | timestamp | only from fields; a string in RFC 3339 form (`"2026-01-31T09:00:00Z"`) or a date (`"2026-01-31"`, midnight UTC) compared with a timestamp is read as one, and checked at parse |
//!
//! ## Fields
//!
//! A field is a dotted path without spaces: `account.seats`, `person.persona`,
//! `event.data.plan.tier`. The [`Schema`] says which paths exist and their types;
//! [`Schema::standard`] has `account.{id, name, domain, plan, seats, csm, status, won_at}`,
//! `person.{email, name, title, persona, enrolled_at, last_login_at}`,
//! `project.{template, status, launched_at, progress}`, `goal.{name, status, progress,
//! deadline}`, `event.{type, at}`, and the dynamic prefixes `account.properties`,
//! `person.properties` and `event.data`, under which any path is accepted at any depth with
//! type *any* (checked when the condition runs). In dynamic data a segment that is a number
//! picks an item of a list, from 0: `event.data.items.0.sku`.
//!
//! ## Operators, from loosest to tightest
//!
//! | operators | meaning |
//! | --- | --- |
//! | `or` | either side is true |
//! | `and` | both sides are true |
//! | `not` | the negation |
//! | `==` `!=` `<` `<=` `>` `>=` `in` `not in` `contains` `matches` | comparisons; they do not chain (`1 < x < 3` is an error: write `1 < x and x < 3`) |
//! | `+` `-` | numbers; timestamp ± duration is a timestamp; timestamp − timestamp is a duration; duration ± duration is a duration |
//! | `*` `/` | numbers |
//! | `-` (prefix) | minus a number or a duration |
//! | `( … )` | grouping |
//!
//! - `==` and `!=` compare two values of the same type (numbers with numbers, and so on);
//!   anything may be compared with `null`.
//! - `<`, `<=`, `>`, `>=` order numbers, strings (by code point), timestamps and durations.
//! - `x in [a, b]` is `x == a or x == b`; `x not in [a, b]` is `not (x in [a, b])`.
//! - `list contains x` is `x in list`; `string contains "text"` looks for the text anywhere
//!   in the string, case-sensitively (write `lower(s) contains "vp"` to ignore case).
//! - `s matches "pattern"` searches the string for a regular expression (Rust `regex`
//!   syntax), ignoring case; anchor it with `^` and `$` to match the whole string. The
//!   pattern must be a string written in the condition.
//!
//! ## Functions
//!
//! | call | result |
//! | --- | --- |
//! | `len(x)` | number of characters of a string, items of a list, or keys of an object |
//! | `days_since(t)`, `hours_since(t)` | whole days (hours) from timestamp `t` to the evaluation time, rounded down; negative when `t` is later |
//! | `exists(field)` | whether the field has a value (is not `null`); the argument must be a field |
//! | `lower(s)` | the string in lower case |
//!
//! ## Grammar
//!
//! ```text
//! condition  = or
//! or         = and { "or" and }
//! and        = not { "and" not }
//! not        = "not" not | comparison
//! comparison = sum [ compare sum | "matches" string ]
//! compare    = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in" | "contains"
//! sum        = product { ( "+" | "-" ) product }
//! product    = unary { ( "*" | "/" ) unary }
//! unary      = "-" unary | primary
//! primary    = number | string | duration | "true" | "false" | "null"
//!            | list | call | path | "(" condition ")"
//! list       = "[" [ condition { "," condition } [ "," ] ] "]"
//! call       = function "(" [ condition { "," condition } ] ")"
//! function   = "len" | "days_since" | "hours_since" | "exists" | "lower"
//! path       = name { "." segment }                  (no spaces around the dots)
//! name       = ( letter | "_" ) { letter | digit | "_" }
//! segment    = ( letter | digit | "_" ) { letter | digit | "_" }
//! number     = digit { digit } [ "." digit { digit } ]
//! duration   = digit { digit } unit { digit { digit } unit }    unit = "s" | "m" | "h" | "d" | "w"
//! string     = '"' { character | '\"' | '\\' } '"'
//! ```
//!
//! Keywords (`and`, `or`, `not`, `in`, `contains`, `matches`, `true`, `false`, `null`) are
//! reserved as whole names but may be segments after a dot (`event.data.in`). Expressions
//! nest at most [`MAX_DEPTH`] levels.
//!
//! ## Types
//!
//! Checking gives every expression a [`Type`]; the whole condition must be true/false. A
//! field of type *any* (dynamic data) fits wherever a value is expected and is checked when
//! the condition runs.
//!
//! ## Missing values and bad data, at run time
//!
//! - Every field may be missing; a missing field reads as `null`. `==` and `!=` treat `null`
//!   as a value of its own (`account.plan == null` is true when the plan is missing, and so
//!   is `account.plan != "free"`); every other comparison with `null` is false
//!   (`account.seats > 10` is false without seats). Arithmetic and functions give `null` for
//!   `null` (except `exists`), and `null` counts as false where true or false is expected.
//! - Division by zero gives `null`, as does a number too large to represent.
//! - Data of the wrong type (in dynamic data, or from an [`Env`] that disagrees with the
//!   schema), such as `event.data.seats > 10` when seats is `"ten"`, is a *mismatch*: it is
//!   recorded in [`Evaluation::problems`] and makes the comparison neither true nor false.
//!   `and` and `or` still decide when their other side does (`false and …` is false,
//!   `true or …` is true, in either order); otherwise the mismatch reaches the top and the
//!   whole condition is false. So `not (event.data.seats > 10)` is false, not true, when
//!   seats is `"ten"`.
//! - A string in RFC 3339 form, or a date, is read as a timestamp where a timestamp is
//!   compared, combined with a duration or passed to `days_since`/`hours_since`.

mod check;
mod eval;
mod lexer;
mod parser;
mod schema;
mod suggest;
mod value;

#[cfg(test)]
mod tests;

pub use eval::Evaluation;
pub use schema::{Schema, Type};
pub use value::{lookup_json, lookup_json_value, Env, Value};

use crate::time::Timestamp;
use std::fmt;

/// How deeply expressions may nest (parentheses, operators, lists and calls together).
pub const MAX_DEPTH: usize = 100;

/// A problem in a condition, located by byte offset and length in its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Byte offset in the condition text where the problem starts.
    pub offset: usize,
    /// Length in bytes of the text concerned (0 at the end of the text).
    pub len: usize,
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// A byte range `start..end` in the condition text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The range from the start of `self` to the end of `other`.
    pub(crate) fn to(self, other: Span) -> Span {
        Span::new(self.start, other.end.max(self.start))
    }

    pub(crate) fn error(self, message: impl Into<String>, hint: Option<String>) -> ExprError {
        ExprError {
            offset: self.start,
            len: self.end.saturating_sub(self.start),
            message: message.into(),
            hint,
        }
    }
}

/// The text of `span` in `source` (empty if the span does not fit, which would be a bug).
pub(crate) fn text(source: &str, span: Span) -> &str {
    source.get(span.start..span.end).unwrap_or("")
}

/// A parsed and type-checked condition, ready to evaluate.
///
/// Two conditions are equal when their texts are: the text, checked against the same
/// schema, decides everything else.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    expr: parser::Expr,
    paths: Vec<String>,
}

impl Condition {
    /// Parses and type-checks `source` against `schema`. On failure, returns the problems
    /// found in order of position: every lexical problem, else the first syntax error with
    /// any earlier-found unknown function or bad pattern, else every type error.
    pub fn parse(source: &str, schema: &Schema) -> Result<Condition, Vec<ExprError>> {
        let tokens = lexer::lex(source)?;
        let (mut expr, mut errors) = parser::parse(source, tokens)?;
        errors.extend(check::check(&mut expr, schema, source));
        if !errors.is_empty() {
            errors.sort_by_key(|e| (e.offset, e.len));
            errors.dedup();
            return Err(errors);
        }
        let mut paths = Vec::new();
        expr.collect_paths(&mut paths);
        Ok(Condition {
            source: source.to_owned(),
            expr,
            paths,
        })
    }

    /// The condition as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fields the condition may read, each once, in order of appearance.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Evaluates the condition with field values from `env`, at time `now` (for
    /// `days_since` and `hours_since`). Never fails: see the module documentation for what
    /// missing values and data of the wrong type do.
    pub fn eval(&self, env: &dyn Env, now: Timestamp) -> Evaluation {
        eval::evaluate(&self.expr, &self.source, env, now)
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Condition {}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
