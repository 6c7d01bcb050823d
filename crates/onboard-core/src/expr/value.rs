//! Run-time values of conditions and where they come from: [`Value`], the [`Env`] that
//! resolves a field path to one, and lookups into JSON for dynamic data.

use super::schema::Type;
use crate::time::{Duration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A value read from a field, written in a condition, or computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value: a missing field, `null`, or the result of dividing by zero.
    Null,
    Bool(bool),
    /// Always finite.
    Number(f64),
    String(String),
    Timestamp(Timestamp),
    /// May be negative (the difference of two timestamps).
    Duration(Duration),
    List(Vec<Value>),
    /// A JSON object from dynamic data.
    Object(BTreeMap<String, Value>),
}

/// Where a condition reads field values from.
pub trait Env {
    /// The value of the field at `path` (`account.seats`, `event.data.plan.tier`),
    /// [`Value::Null`] when it has none.
    fn value(&self, path: &str) -> Value;
}

/// Full paths to values. A path that is not a key is looked for inside the longest key
/// that is a prefix of it at a dot: with `event.data` holding an object, the map answers
/// `event.data.plan.tier` from inside it.
impl Env for BTreeMap<String, Value> {
    fn value(&self, path: &str) -> Value {
        if let Some(value) = self.get(path) {
            return value.clone();
        }
        let mut prefix = path;
        while let Some((head, _)) = prefix.rsplit_once('.') {
            if let Some(value) = self.get(head) {
                let rest = path.get(head.len() + 1..).unwrap_or("");
                return value.at(rest);
            }
            prefix = head;
        }
        Value::Null
    }
}

/// The value at the dotted `path` inside `json` (`plan.tier`, `items.0.sku`; the empty path
/// is `json` itself), [`Value::Null`] when there is none. Numeric segments index lists.
pub fn lookup_json(json: &serde_json::Value, path: &str) -> Value {
    lookup_json_value(json, path).map_or(Value::Null, Value::from)
}

/// The JSON value at a dotted `path` (object keys, array indexes) of `json`, itself for an
/// empty path; `None` when there is nothing there.
pub fn lookup_json_value<'a>(
    json: &'a serde_json::Value,
    path: &str,
) -> Option<&'a serde_json::Value> {
    let mut here = json;
    if !path.is_empty() {
        for segment in path.split('.') {
            here = match here {
                serde_json::Value::Object(map) => map.get(segment),
                serde_json::Value::Array(items) => {
                    segment.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                _ => None,
            }?;
        }
    }
    Some(here)
}

/// A time written as a string: RFC 3339 (`2026-01-31T09:00:00Z`, `…+02:00`) or a date
/// (`2026-01-31`, midnight UTC).
pub(crate) fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        return Some(t);
    }
    let is_date = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if is_date {
        Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z")).ok()
    } else {
        None
    }
}

impl Value {
    /// The value at the dotted `path` inside this one (see [`lookup_json`]).
    pub fn at(&self, path: &str) -> Value {
        let mut here = self;
        if !path.is_empty() {
            for segment in path.split('.') {
                let next = match here {
                    Value::Object(map) => map.get(segment),
                    Value::List(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                    _ => None,
                };
                match next {
                    Some(next) => here = next,
                    None => return Value::Null,
                }
            }
        }
        here.clone()
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value's kind with an article, for messages: "a number".
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a true/false value",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Timestamp(_) => "a timestamp",
            Value::Duration(_) => "a duration",
            Value::List(_) => "a list",
            Value::Object(_) => "an object",
        }
    }

    /// The type of a literal value.
    pub(crate) fn literal_type(&self) -> Type {
        match self {
            Value::Null => Type::Null,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::Timestamp(_) => Type::Timestamp,
            Value::Duration(_) => Type::Duration,
            Value::List(_) | Value::Object(_) => Type::Any,
        }
    }
}

impl From<&serde_json::Value> for Value {
    fn from(json: &serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n.as_f64().map_or(Value::Null, Value::Number),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::List(items.iter().map(Value::from).collect()),
            serde_json::Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Self {
        Value::from(&json)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    /// A non-finite number becomes [`Value::Null`].
    fn from(n: f64) -> Self {
        if n.is_finite() {
            Value::Number(n)
        } else {
            Value::Null
        }
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n as f64)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Number(f64::from(n))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Timestamp> for Value {
    fn from(t: Timestamp) -> Self {
        Value::Timestamp(t)
    }
}

impl From<Duration> for Value {
    fn from(d: Duration) -> Self {
        Value::Duration(d)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Value::List(items.into_iter().map(Into::into).collect())
    }
}

/// Largest integer an `f64` holds exactly (2^53).
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A whole number within the exact range, as an integer.
fn as_integer(n: f64) -> Option<i64> {
    (n.fract() == 0.0 && n.abs() <= EXACT_INTEGER).then_some(n as i64)
}

/// A duration as written in conditions, negative ones with a leading `-`.
pub(crate) struct DurationText(pub Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.millis();
        if millis < 0 {
            write!(f, "-{}", Duration(millis.saturating_neg()))
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A string in double quotes, escaped as conditions write them.
pub(crate) struct QuotedText<'a>(pub &'a str);

impl fmt::Display for QuotedText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// As conditions write values: `3`, `2.5`, `"admin"`, `true`, `null`, `72h`, `["a", "b"]`;
/// timestamps in RFC 3339 form, objects as `{"key": value}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => match as_integer(*n) {
                Some(i) => write!(f, "{i}"),
                None => write!(f, "{n}"),
            },
            Value::String(s) => write!(f, "{}", QuotedText(s)),
            Value::Timestamp(t) => write!(f, "{t}"),
            Value::Duration(d) => write!(f, "{}", DurationText(*d)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Object(map) => {
                f.write_str("{")?;
                for (i, (key, value)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {value}", QuotedText(key))?;
                }
                f.write_str("}")
            }
        }
    }
}

/// As plain JSON: numbers, strings, lists and objects as such; a timestamp as its RFC 3339
/// string and a duration as its short form (`"72h"`), so a trace reads naturally.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => match as_integer(*n) {
                Some(i) => serializer.serialize_i64(i),
                None => serializer.serialize_f64(*n),
            },
            Value::String(s) => serializer.serialize_str(s),
            Value::Timestamp(t) => serializer.serialize_str(&t.to_rfc3339()),
            Value::Duration(d) => serializer.collect_str(&DurationText(*d)),
            Value::List(items) => serializer.collect_seq(items),
            Value::Object(map) => serializer.collect_map(map),
        }
    }
}

/// From plain JSON, like `From<serde_json::Value>`: timestamps and durations serialised
/// as strings come back as strings (which comparisons with timestamps still read as
/// timestamps).
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(Value::from)
    }
}
