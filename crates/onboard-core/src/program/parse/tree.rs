//! A TOML document as a tree whose every value and key knows where it was written (1-based
//! line and column), so that the readers in `parse` can report every problem at its place
//! instead of stopping at the first one, as a `#[derive(Deserialize)]` struct would.
//!
//! Spans come from the `toml` crate through the same serde protocol that [`toml::Spanned`]
//! uses (discovered at run time from `Spanned` itself, not copied). Values that the TOML
//! parser gives no span (the implicit tables of dotted keys) inherit their key's place.
//! Also here: splitting a Markdown file into its `+++` TOML front matter and its body.
//! Nothing here knows what a program means.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

/// A place in a file: 1-based line and column (the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Loc {
    pub line: u32,
    pub column: u32,
}

impl Loc {
    /// The start of a file.
    pub const START: Loc = Loc { line: 1, column: 1 };
}

/// One file's text with an index of its line starts, to turn byte offsets into [`Loc`]s.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, line_starts }
    }

    /// The place of a byte offset; offsets past the end or inside a character are clamped.
    pub fn loc(&self, offset: usize) -> Loc {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self
            .line_starts
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count());
        Loc {
            line: u32::try_from(line.max(1)).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }
}

/// A TOML value with its place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub loc: Loc,
    pub value: Value,
}

/// A TOML key with its place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub name: String,
    pub loc: Loc,
}

/// The TOML value kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    /// Entries in document order.
    Table(Vec<(Key, Node)>),
}

impl Value {
    /// What kind of value this is, for error messages ("a string", "a table").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// A TOML syntax error, at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub loc: Loc,
    pub message: String,
}

/// Parses `text`, a TOML document that starts at byte `base` of the file indexed by `lines`
/// (non-zero for front matter), into a located tree whose root is a table.
pub(crate) fn parse(text: &str, base: usize, lines: &LineIndex<'_>) -> Result<Node, SyntaxError> {
    match toml::from_str::<Bare>(text) {
        Ok(Bare(raw)) => Ok(raw.locate(base, lines, lines.loc(base))),
        Err(error) => Err(SyntaxError {
            loc: lines.loc(base.saturating_add(error.span().map_or(0, |span| span.start))),
            message: error.message().trim().to_owned(),
        }),
    }
}

/// A value as deserialized, before its byte span becomes a [`Loc`].
#[derive(Debug)]
struct RawNode {
    span: Option<Range<usize>>,
    value: RawValue,
}

#[derive(Debug)]
struct RawKey {
    name: String,
    span: Option<Range<usize>>,
}

#[derive(Debug)]
enum RawValue {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<RawNode>),
    Table(Vec<(RawKey, RawNode)>),
}

impl RawNode {
    fn unspanned(value: RawValue) -> Self {
        Self { span: None, value }
    }

    fn locate(self, base: usize, lines: &LineIndex<'_>, inherited: Loc) -> Node {
        let loc = self
            .span
            .map_or(inherited, |span| lines.loc(base.saturating_add(span.start)));
        let value = match self.value {
            RawValue::String(s) => Value::String(s),
            RawValue::Integer(i) => Value::Integer(i),
            RawValue::Float(f) => Value::Float(f),
            RawValue::Boolean(b) => Value::Boolean(b),
            RawValue::Datetime(d) => Value::Datetime(d),
            RawValue::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| item.locate(base, lines, loc))
                    .collect(),
            ),
            RawValue::Table(entries) => Value::Table(
                entries
                    .into_iter()
                    .map(|(key, node)| {
                        let key_loc = key
                            .span
                            .map_or(loc, |span| lines.loc(base.saturating_add(span.start)));
                        let node = node.locate(base, lines, key_loc);
                        (
                            Key {
                                name: key.name,
                                loc: key_loc,
                            },
                            node,
                        )
                    })
                    .collect(),
            ),
        };
        Node { loc, value }
    }
}

/// The serde struct name and field names through which the TOML deserializer hands out
/// spans (`toml::Spanned`'s protocol) and date-times (`toml::value::Datetime`'s).
type Protocol = Option<(&'static str, &'static [&'static str])>;

fn spanned_protocol() -> Protocol {
    static PROTOCOL: OnceLock<Protocol> = OnceLock::new();
    *PROTOCOL.get_or_init(|| match toml::Spanned::<String>::deserialize(Probe) {
        Err(Probed(Some((name, fields)))) if fields.len() == 3 => Some((name, fields)),
        _ => None,
    })
}

fn datetime_protocol() -> Protocol {
    static PROTOCOL: OnceLock<Protocol> = OnceLock::new();
    *PROTOCOL.get_or_init(|| match toml::value::Datetime::deserialize(Probe) {
        Err(Probed(Some((name, fields)))) if fields.len() == 1 => Some((name, fields)),
        _ => None,
    })
}

fn is_spanned_start(key: &str) -> bool {
    spanned_protocol().is_some_and(|(_, fields)| fields.first() == Some(&key))
}

fn is_datetime_field(key: &str) -> bool {
    datetime_protocol().is_some_and(|(_, fields)| fields.first() == Some(&key))
}

/// A deserializer that only records which struct it was asked for.
struct Probe;

#[derive(Debug)]
struct Probed(Protocol);

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Probed(None)
    }
}

impl<'de> Deserializer<'de> for Probe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Probed> {
        Err(Probed(Some((name, fields))))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A value deserialized without asking for its span (the inside of a spanned value).
struct Bare(RawNode);

impl<'de> Deserialize<'de> for Bare {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor).map(Bare)
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match spanned_protocol() {
            Some((name, fields)) => deserializer.deserialize_struct(name, fields, NodeVisitor),
            None => deserializer.deserialize_any(NodeVisitor),
        }
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match spanned_protocol() {
            Some((name, fields)) => deserializer.deserialize_struct(name, fields, KeyVisitor),
            None => deserializer.deserialize_any(KeyVisitor),
        }
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = RawKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKey, E> {
        Ok(RawKey {
            name: v.to_owned(),
            span: None,
        })
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawKey, E> {
        Ok(RawKey {
            name: v,
            span: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKey, A::Error> {
        let (start, end) = read_span(&mut map)?;
        let name: Option<String> = map.next_key()?;
        if name.is_none() {
            return Err(de::Error::custom("a spanned key without its name"));
        }
        let name: String = map.next_value()?;
        Ok(RawKey {
            name,
            span: Some(start..end.max(start)),
        })
    }
}

/// Reads the start and end entries of a spanned value.
fn read_span<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(usize, usize), A::Error> {
    let mut bounds = [0usize; 2];
    for bound in &mut bounds {
        let key: Option<String> = map.next_key()?;
        if key.is_none() {
            return Err(de::Error::custom("a spanned value without its span"));
        }
        *bound = map.next_value()?;
    }
    Ok((bounds[0], bounds[1]))
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::unspanned(RawValue::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::unspanned(RawValue::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => self.visit_f64(v as f64),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::unspanned(RawValue::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::unspanned(RawValue::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::unspanned(RawValue::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<RawNode>()? {
            items.push(item);
        }
        Ok(RawNode::unspanned(RawValue::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let Some(first) = map.next_key::<RawKey>()? else {
            return Ok(RawNode::unspanned(RawValue::Table(Vec::new())));
        };
        if first.span.is_none() && is_spanned_start(&first.name) {
            let start: usize = map.next_value()?;
            let end_key: Option<String> = map.next_key()?;
            if end_key.is_none() {
                return Err(de::Error::custom("a spanned value without its end"));
            }
            let _end: usize = map.next_value()?;
            let value_key: Option<String> = map.next_key()?;
            if value_key.is_none() {
                return Err(de::Error::custom("a spanned value without its value"));
            }
            let Bare(mut node) = map.next_value()?;
            node.span = Some(start..start);
            return Ok(node);
        }
        if first.span.is_none() && is_datetime_field(&first.name) {
            let text: String = map.next_value()?;
            return Ok(RawNode::unspanned(RawValue::Datetime(text)));
        }
        let mut entries = vec![(first, map.next_value::<RawNode>()?)];
        while let Some(key) = map.next_key::<RawKey>()? {
            let value = map.next_value::<RawNode>()?;
            entries.push((key, value));
        }
        Ok(RawNode::unspanned(RawValue::Table(entries)))
    }
}

/// A Markdown file split into its TOML front matter and its body, with their byte offsets in
/// the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrontMatter<'a> {
    pub toml: &'a str,
    pub toml_offset: usize,
    pub body: &'a str,
    pub body_offset: usize,
}

/// Why a file has no usable front matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrontMatterError {
    /// The file does not start with a `+++` line.
    Missing,
    /// The file starts with `---` (YAML style), which this format does not use.
    Yaml,
    /// The opening `+++` has no closing `+++` line.
    Unclosed,
}

/// The delimiter line of front matter.
pub(crate) const FRONT_MATTER_FENCE: &str = "+++";

/// Splits `text` into TOML front matter between two `+++` lines at the very start of the
/// file, and the body after it (leading blank lines removed). A byte order mark is skipped.
pub(crate) fn split_front_matter(text: &str) -> Result<FrontMatter<'_>, FrontMatterError> {
    let start = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let mut lines = Lines { text, at: start };
    let Some((first, _)) = lines.next() else {
        return Err(FrontMatterError::Missing);
    };
    if first.trim_end() != FRONT_MATTER_FENCE {
        return Err(if first.trim_end() == "---" {
            FrontMatterError::Yaml
        } else {
            FrontMatterError::Missing
        });
    }
    let toml_offset = lines.at;
    while let Some((line, line_start)) = lines.next() {
        if line.trim_end() == FRONT_MATTER_FENCE {
            let toml = text.get(toml_offset..line_start).unwrap_or("");
            let mut body_offset = lines.at;
            loop {
                let rest = text.get(body_offset..).unwrap_or("");
                let blank = rest.find('\n').filter(|&i| rest[..i].trim().is_empty());
                match blank {
                    Some(i) => body_offset += i + 1,
                    None => break,
                }
            }
            return Ok(FrontMatter {
                toml,
                toml_offset,
                body: text.get(body_offset..).unwrap_or(""),
                body_offset,
            });
        }
    }
    Err(FrontMatterError::Unclosed)
}

/// Lines of a text with their start offsets (without the `\n`).
struct Lines<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (&'a str, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.text.get(self.at..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.at;
        match rest.find('\n') {
            Some(i) => {
                self.at += i + 1;
                Some((&rest[..i], start))
            }
            None => {
                self.at = self.text.len();
                Some((rest, start))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Node {
        parse(text, 0, &LineIndex::new(text)).expect("valid TOML")
    }

    fn entry<'n>(node: &'n Node, key: &str) -> &'n (Key, Node) {
        match &node.value {
            Value::Table(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .expect("key present"),
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn values_and_keys_know_their_line_and_column() {
        let node = parse_str("[program]\nname = \"x\"\n\n[[rules]]\n  on = 'deal.won'\n");
        let (key, program) = entry(&node, "program");
        assert_eq!(key.loc, Loc { line: 1, column: 2 });
        let (key, name) = entry(program, "name");
        assert_eq!(key.loc, Loc { line: 2, column: 1 });
        assert_eq!(name.loc, Loc { line: 2, column: 8 });
        let (_, rules) = entry(&node, "rules");
        let Value::Array(rules) = &rules.value else {
            panic!("rules is an array")
        };
        let (key, on) = entry(&rules[0], "on");
        assert_eq!(key.loc, Loc { line: 5, column: 3 });
        assert_eq!(on.loc, Loc { line: 5, column: 8 });
    }

    #[test]
    fn dotted_keys_and_date_times_are_read_with_a_place() {
        let node = parse_str("[program]\nsender.name = 'x'\nwhen = 1979-05-27\n");
        let (_, program) = entry(&node, "program");
        let (_, sender) = entry(program, "sender");
        let (_, name) = entry(sender, "name");
        assert_eq!(name.value, Value::String("x".to_owned()));
        assert_eq!(name.loc.line, 2);
        let (_, when) = entry(program, "when");
        assert!(matches!(when.value, Value::Datetime(_)));
        assert_eq!(when.loc, Loc { line: 3, column: 8 });
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "a = \"é\"\nb = 1\n";
        let lines = LineIndex::new(text);
        assert_eq!(
            lines.loc(text.find('b').expect("b")),
            Loc { line: 2, column: 1 }
        );
        assert_eq!(lines.loc(text.len() + 10), Loc { line: 3, column: 1 });
        // Inside the two bytes of `é`: clamped to the character start.
        assert_eq!(lines.loc(6), Loc { line: 1, column: 6 });
    }

    #[test]
    fn syntax_errors_carry_their_place() {
        let text = "[program]\nname = \n";
        let error = parse(text, 0, &LineIndex::new(text)).expect_err("invalid");
        assert_eq!(error.loc.line, 2);
        assert!(!error.message.is_empty());
    }

    #[test]
    fn front_matter_is_toml_between_plus_lines() {
        let text = "+++\ntitle = \"Hi\"\n+++\n\n# Body\n";
        let fm = split_front_matter(text).expect("front matter");
        assert_eq!(fm.toml, "title = \"Hi\"\n");
        assert_eq!(fm.toml_offset, 4);
        assert_eq!(fm.body, "# Body\n");
        assert_eq!(&text[fm.body_offset..], "# Body\n");
        assert_eq!(
            split_front_matter("---\ntitle: x\n---\n"),
            Err(FrontMatterError::Yaml)
        );
        assert_eq!(split_front_matter("# Body"), Err(FrontMatterError::Missing));
        assert_eq!(
            split_front_matter("+++\ntitle = 'x'\n"),
            Err(FrontMatterError::Unclosed)
        );
        let crlf = split_front_matter("+++\r\nsubject = 'x'\r\n+++\r\n\r\nHello").expect("crlf");
        assert_eq!(crlf.body, "Hello");
    }
}
