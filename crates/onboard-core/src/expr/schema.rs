//! What conditions may read: the known fields with their [`Type`]s and, for some, their
//! known values (persona names, event types), and the dynamic prefixes under which any path
//! is accepted (`event.data`, `*.properties`, `account.fields`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The type of an expression or a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    Timestamp,
    Duration,
    List(Box<Type>),
    /// Dynamic data (`event.data.*`, properties): any value, checked when the condition
    /// runs.
    Any,
    /// The type of the literal `null`.
    Null,
}

impl Type {
    /// The type with an article, for messages: "a number", "a list of strings".
    pub(crate) fn describe(&self) -> String {
        match self {
            Type::Bool => "a true/false value".to_owned(),
            Type::Any => "a value of any type".to_owned(),
            Type::Null => "null".to_owned(),
            Type::List(_) => format!("a {self}"),
            other => format!("a {other}"),
        }
    }

    /// The plural, for lists: "numbers".
    pub(crate) fn plural(&self) -> String {
        match self {
            Type::Bool => "true/false values".to_owned(),
            Type::List(item) => format!("lists of {}", item.plural()),
            Type::Any | Type::Null => "values".to_owned(),
            other => format!("{other}s"),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("true/false value"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Timestamp => f.write_str("timestamp"),
            Type::Duration => f.write_str("duration"),
            Type::List(item) if matches!(**item, Type::Any | Type::Null) => f.write_str("list"),
            Type::List(item) => write!(f, "list of {}", item.plural()),
            Type::Any => f.write_str("any"),
            Type::Null => f.write_str("null"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    ty: Type,
    /// The values a string field may be compared with; empty when any value goes.
    values: BTreeSet<String>,
}

/// The fields a condition may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    fields: BTreeMap<String, Field>,
    dynamic: BTreeSet<String>,
}

impl Schema {
    /// A schema without fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fields every program has: the account, the person a rule is about, their
    /// project and goal, and the event at hand, with their custom properties and the
    /// event's data as dynamic prefixes. `account.status` and `goal.status` know their
    /// values; the caller adds persona names (`person.persona`) and event types
    /// (`event.type`) with [`Schema::with_values`].
    pub fn standard() -> Self {
        use Type::{Number, String, Timestamp};
        let fields = [
            ("account.id", String),
            ("account.name", String),
            ("account.domain", String),
            ("account.plan", String),
            ("account.seats", Number),
            ("account.csm", String),
            ("account.status", String),
            ("account.won_at", Timestamp),
            ("person.email", String),
            ("person.name", String),
            ("person.title", String),
            ("person.persona", String),
            ("person.enrolled_at", Timestamp),
            ("person.last_login_at", Timestamp),
            ("project.template", String),
            ("project.status", String),
            ("project.launched_at", Timestamp),
            ("project.progress", Number),
            ("goal.name", String),
            ("goal.status", String),
            ("goal.progress", Number),
            ("goal.deadline", Timestamp),
            ("event.type", String),
            ("event.at", Timestamp),
        ];
        let mut schema = Self::new();
        for (path, ty) in fields {
            schema = schema.with_field(path, ty);
        }
        schema
            .with_dynamic("account.properties")
            .with_dynamic("account.fields")
            .with_dynamic("person.properties")
            .with_dynamic("event.data")
            .with_values("account.status", ["active", "paused", "churned"])
            .with_values("goal.status", ["on_track", "at_risk", "achieved", "missed"])
    }

    /// Adds the field `path` (or changes its type, keeping its known values).
    pub fn with_field(mut self, path: &str, ty: Type) -> Self {
        self.fields
            .entry(path.to_owned())
            .and_modify(|f| f.ty = ty.clone())
            .or_insert(Field {
                ty,
                values: BTreeSet::new(),
            });
        self
    }

    /// Makes every path under `prefix` (and `prefix` itself) a field of type
    /// [`Type::Any`].
    pub fn with_dynamic(mut self, prefix: &str) -> Self {
        self.dynamic.insert(prefix.to_owned());
        self
    }

    /// Adds known values of the string field `path` (adding the field if needed): a string
    /// written in the condition and compared with the field (`==`, `!=`, `in`, `not in`)
    /// must then be one of them.
    pub fn with_values<I, S>(mut self, path: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let field = self.fields.entry(path.to_owned()).or_insert(Field {
            ty: Type::String,
            values: BTreeSet::new(),
        });
        field.values.extend(values.into_iter().map(Into::into));
        self
    }

    /// The type of `path`: its field's, [`Type::Any`] under a dynamic prefix, `None` when
    /// unknown.
    pub fn type_of(&self, path: &str) -> Option<Type> {
        if let Some(field) = self.fields.get(path) {
            return Some(field.ty.clone());
        }
        self.dynamic_prefix(path).map(|_| Type::Any)
    }

    /// The known values of `path`, when it has some.
    pub(crate) fn values_of(&self, path: &str) -> Option<&BTreeSet<String>> {
        self.fields
            .get(path)
            .map(|f| &f.values)
            .filter(|v| !v.is_empty())
    }

    /// The dynamic prefix `path` is under (or is).
    fn dynamic_prefix(&self, path: &str) -> Option<&str> {
        self.dynamic
            .iter()
            .find(|prefix| {
                path.strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
            .map(String::as_str)
    }

    /// The known fields' paths, then the dynamic prefixes.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> {
        self.fields
            .keys()
            .chain(self.dynamic.iter())
            .map(String::as_str)
    }

    /// The first segments of every path (`account`, `event` …).
    pub(crate) fn roots(&self) -> BTreeSet<&str> {
        self.paths()
            .map(|p| p.split('.').next().unwrap_or(p))
            .collect()
    }

    /// The known field that is a proper prefix of `path`, with its type (for
    /// `account.plan.name`).
    pub(crate) fn field_above(&self, path: &str) -> Option<(&str, &Type)> {
        self.fields
            .iter()
            .filter(|(field, _)| {
                path.strip_prefix(field.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
            })
            .map(|(field, f)| (field.as_str(), &f.ty))
            .next()
    }

    /// The paths under `group` (`account` gives `account.csm`, `account.domain` …).
    pub(crate) fn paths_under<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a str> {
        self.paths().filter(move |p| {
            p.strip_prefix(group)
                .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    /// Candidate corrections of an unknown `path`: the known fields, and the path with its
    /// first segments replaced by a dynamic prefix of as many segments
    /// (`event.dta.plan` → `event.data.plan`).
    pub(crate) fn candidates(&self, path: &str) -> Vec<String> {
        let segments: Vec<&str> = path.split('.').collect();
        let mut out: Vec<String> = self.paths().map(str::to_owned).collect();
        for prefix in &self.dynamic {
            let n = prefix.split('.').count();
            if segments.len() > n {
                out.push(format!("{prefix}.{}", segments[n..].join(".")));
            }
        }
        out
    }
}
