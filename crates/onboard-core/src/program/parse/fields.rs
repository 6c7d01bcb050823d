//! Typed reading of fields out of a located TOML table, reporting each problem (unknown
//! field, missing field, wrong type, out-of-range number, malformed name) as a
//! [`Diagnostic`] at its place and carrying on, so one run finds every problem.
//! Nothing here knows which tables a program has: that is `sections`.

use super::tree::{Key, Loc, Node, Value};
use crate::program::Diagnostic;

/// A string value with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    pub value: String,
    pub loc: Loc,
}

/// Where diagnostics of one file go.
pub(crate) struct Cx<'a> {
    pub file: &'a str,
    pub out: &'a mut Vec<Diagnostic>,
}

impl Cx<'_> {
    /// Reports an error at `loc` with a hint saying how to fix it.
    pub fn error(&mut self, loc: Loc, message: impl Into<String>, hint: impl Into<String>) {
        self.out.push(Diagnostic {
            file: self.file.to_owned(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
            hint: Some(hint.into()),
        });
    }

    /// Reports a value of the wrong type.
    fn wrong_type(
        &mut self,
        table: &Table<'_>,
        key: &str,
        node: &Node,
        expected: &str,
        example: &str,
    ) {
        let mut hint = format!("write it as {example}");
        if matches!(node.value, Value::Datetime(_)) {
            hint.push_str(
                " (a bare date or time is read as a date-time; quote it to make it text)",
            );
        }
        self.error(
            node.loc,
            format!(
                "`{key}` in {} must be {expected}, not {}",
                table.what,
                node.value.kind()
            ),
            hint,
        );
    }

    /// Opens `node` as a table whose fields may only be `fields`; unknown ones are reported.
    pub fn table<'n>(&mut self, node: &'n Node, what: &str, fields: &[&str]) -> Option<Table<'n>> {
        let Value::Table(entries) = &node.value else {
            self.error(
                node.loc,
                format!("{what} must be a table, not {}", node.value.kind()),
                format!(
                    "write it as a table with the fields {}",
                    list(fields.iter().copied())
                ),
            );
            return None;
        };
        for (key, _) in entries {
            if !fields.contains(&key.name.as_str()) {
                let mut hint = match closest(&key.name, fields.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`? "),
                    None => String::new(),
                };
                hint.push_str(&format!(
                    "the fields of {what} are {}",
                    list(fields.iter().copied())
                ));
                self.error(
                    key.loc,
                    format!("unknown field `{}` in {what}", key.name),
                    hint,
                );
            }
        }
        Some(Table {
            loc: node.loc,
            what: what.to_owned(),
            entries,
        })
    }

    /// A required string; empty strings are refused.
    pub fn string(&mut self, table: &Table<'_>, key: &str) -> Option<Text> {
        if table.get(key).is_none() {
            self.missing(table, key, "\"…\"");
            return None;
        }
        self.optional_string(table, key)
    }

    /// An optional string; present but empty is refused (leave the field out instead).
    pub fn optional_string(&mut self, table: &Table<'_>, key: &str) -> Option<Text> {
        let node = table.get(key)?;
        match &node.value {
            Value::String(s) if s.trim().is_empty() => {
                self.error(
                    node.loc,
                    format!("`{key}` in {} must not be empty", table.what),
                    format!("give `{key}` a value, or leave the field out if it has none"),
                );
                None
            }
            Value::String(s) => Some(Text {
                value: s.clone(),
                loc: node.loc,
            }),
            _ => {
                self.wrong_type(table, key, node, "a string", &format!("`{key} = \"…\"`"));
                None
            }
        }
    }

    /// An optional free text (empty allowed), `""` when absent.
    pub fn text(&mut self, table: &Table<'_>, key: &str) -> String {
        match table.get(key) {
            None => String::new(),
            Some(Node {
                value: Value::String(s),
                ..
            }) => s.clone(),
            Some(node) => {
                self.wrong_type(table, key, node, "a string", &format!("`{key} = \"…\"`"));
                String::new()
            }
        }
    }

    /// A required name: lower-case letters, digits, `-` and `_`, starting with a letter.
    pub fn name(&mut self, table: &Table<'_>, key: &str) -> Option<Text> {
        let text = self.string(table, key)?;
        self.check_name(&text, key)
    }

    /// An optional reference to a name (checked for form; existence is checked later).
    pub fn optional_name(&mut self, table: &Table<'_>, key: &str) -> Option<Text> {
        let text = self.optional_string(table, key)?;
        self.check_name(&text, key)
    }

    /// Whether `text` is a well-formed name; reports it when not.
    pub fn check_name(&mut self, text: &Text, key: &str) -> Option<Text> {
        if is_name(&text.value) {
            Some(text.clone())
        } else {
            self.error(
                text.loc,
                format!("`{}` is not a valid {key}", text.value),
                "names use 1 to 64 lower-case letters, digits, `-` and `_`, starting with a letter, e.g. `end_user` or `welcome-email`",
            );
            None
        }
    }

    /// A boolean, `default` when absent.
    pub fn boolean(&mut self, table: &Table<'_>, key: &str, default: bool) -> bool {
        match table.get(key) {
            None => default,
            Some(Node {
                value: Value::Boolean(b),
                ..
            }) => *b,
            Some(node) => {
                self.wrong_type(
                    table,
                    key,
                    node,
                    "true or false",
                    &format!("`{key} = true`"),
                );
                default
            }
        }
    }

    /// An optional whole number of at least `min`.
    pub fn optional_count(&mut self, table: &Table<'_>, key: &str, min: u32) -> Option<u32> {
        let node = table.get(key)?;
        let Value::Integer(i) = node.value else {
            self.wrong_type(
                table,
                key,
                node,
                "a whole number",
                &format!("`{key} = {}`", min.max(7)),
            );
            return None;
        };
        match u32::try_from(i) {
            Ok(n) if n >= min => Some(n),
            _ => {
                self.error(
                    node.loc,
                    format!("`{key}` in {} is {i}, out of range", table.what),
                    format!("use a whole number from {min} to {}", u32::MAX),
                );
                None
            }
        }
    }

    /// A required whole number of at least `min`.
    pub fn count(&mut self, table: &Table<'_>, key: &str, min: u32) -> Option<u32> {
        if table.get(key).is_none() {
            self.missing(table, key, &min.max(7).to_string());
            return None;
        }
        self.optional_count(table, key, min)
    }

    /// A required finite number (integer or float) of at least 0.
    pub fn non_negative_number(&mut self, table: &Table<'_>, key: &str) -> Option<f64> {
        let Some(node) = table.get(key) else {
            self.missing(table, key, "5");
            return None;
        };
        let n = match node.value {
            Value::Integer(i) => i as f64,
            Value::Float(f) => f,
            _ => {
                self.wrong_type(
                    table,
                    key,
                    node,
                    "a number",
                    &format!("`{key} = 5` or `{key} = 0.5`"),
                );
                return None;
            }
        };
        if n.is_finite() && n >= 0.0 {
            Some(n)
        } else {
            self.error(
                node.loc,
                format!("`{key}` in {} must be 0 or more, not {n}", table.what),
                format!("give a finite number of at least 0, e.g. `{key} = 5`"),
            );
            None
        }
    }

    /// An optional array of strings, empty when absent.
    pub fn strings(&mut self, table: &Table<'_>, key: &str) -> Vec<Text> {
        let Some(node) = table.get(key) else {
            return Vec::new();
        };
        let Value::Array(items) = &node.value else {
            self.wrong_type(
                table,
                key,
                node,
                "an array of strings",
                &format!("`{key} = [\"a\", \"b\"]`"),
            );
            return Vec::new();
        };
        let mut texts = Vec::new();
        for item in items {
            match &item.value {
                Value::String(s) => texts.push(Text {
                    value: s.clone(),
                    loc: item.loc,
                }),
                _ => self.wrong_type(
                    table,
                    key,
                    item,
                    "an array of strings",
                    &format!("`{key} = [\"a\", \"b\"]`"),
                ),
            }
        }
        texts
    }

    /// An optional array of tables (`[[key]]`), empty when absent.
    pub fn tables<'n>(&mut self, table: &Table<'n>, key: &str) -> Vec<&'n Node> {
        let Some(node) = table.get(key) else {
            return Vec::new();
        };
        match &node.value {
            Value::Array(items) => items.iter().collect(),
            _ => {
                self.wrong_type(
                    table,
                    key,
                    node,
                    "an array of tables",
                    &format!("`[[{key}]]` sections"),
                );
                Vec::new()
            }
        }
    }

    fn missing(&mut self, table: &Table<'_>, key: &str, example: &str) {
        self.error(
            table.loc,
            format!("{} has no `{key}`", table.what),
            format!("add `{key} = {example}` to {}", table.what),
        );
    }
}

/// A table being read, with the name it is reported under (e.g. `[[rules]]`).
pub(crate) struct Table<'n> {
    pub loc: Loc,
    pub what: String,
    entries: &'n [(Key, Node)],
}

impl<'n> Table<'n> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, node)| node)
    }

    /// The place of `key` itself (for problems with a field's presence), else the table's.
    pub fn key_loc(&self, key: &str) -> Loc {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map_or(self.loc, |(k, _)| k.loc)
    }
}

/// Whether `text` is a name: 1 to 64 lower-case ASCII letters, digits, `-` or `_`, starting
/// with a letter.
pub(crate) fn is_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Names as a readable list: `a`, `b` and `c`.
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| {
            let longest = word.chars().count().max(c.chars().count());
            d <= 1 || d * 3 <= longest
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each cost 1.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        if let Some(first) = row.first_mut() {
            *first = i;
        }
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_close_and_other_words_are_not() {
        assert_eq!(edit_distance("csm", "cms"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            closest("end-user", ["admin", "end_user", "executive"]),
            Some("end_user")
        );
        assert_eq!(closest("manager", ["admin", "end_user", "executive"]), None);
        assert_eq!(closest("", ["a"]), Some("a"));
    }

    #[test]
    fn names_are_lower_case_words() {
        assert!(is_name("end_user"));
        assert!(is_name("welcome-email2"));
        for bad in ["", "End", "2fa", "a b", "a.b", &"x".repeat(65)] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn lists_read_like_prose() {
        assert_eq!(list(["a"]), "`a`");
        assert_eq!(list(["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
