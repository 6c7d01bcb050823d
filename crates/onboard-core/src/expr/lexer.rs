//! The lexer: a condition's text as tokens, each with its byte span. It reports every bad
//! character, unterminated string and malformed number or duration it meets, not only the
//! first, and names the usual slips from other languages (`&&`, `=`, single quotes).

use super::{ExprError, Span};
use crate::time::Duration;

/// One token of a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Number(f64),
    Str(String),
    Duration(Duration),
    /// A field path or a function name: `account.seats`, `len`.
    Path(String),
    True,
    False,
    Null,
    And,
    Or,
    Not,
    In,
    Contains,
    Matches,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// The tokens of `source`, or every lexical problem in it.
pub(crate) fn lex(source: &str) -> Result<Vec<Token>, Vec<ExprError>> {
    let mut lexer = Lexer {
        source,
        chars: source.char_indices().collect(),
        i: 0,
        tokens: Vec::new(),
        errors: Vec::new(),
    };
    lexer.run();
    if lexer.errors.is_empty() {
        Ok(lexer.tokens)
    } else {
        Err(lexer.errors)
    }
}

/// The keyword a whole name stands for, if it is one.
pub(crate) fn keyword(name: &str) -> Option<Tok> {
    Some(match name {
        "true" => Tok::True,
        "false" => Tok::False,
        "null" => Tok::Null,
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "in" => Tok::In,
        "contains" => Tok::Contains,
        "matches" => Tok::Matches,
        _ => return None,
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Lexer<'a> {
    source: &'a str,
    /// The characters with their byte offsets; `i` indexes this.
    chars: Vec<(usize, char)>,
    i: usize,
    tokens: Vec<Token>,
    errors: Vec<ExprError>,
}

impl Lexer<'_> {
    /// The character `ahead` places after the current one.
    fn at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).map(|&(_, c)| c)
    }

    /// The byte offset of character number `i` (the text's length past the end).
    fn offset(&self, i: usize) -> usize {
        self.chars.get(i).map_or(self.source.len(), |&(o, _)| o)
    }

    /// The span from character `start` to the current one.
    fn span_from(&self, start: usize) -> Span {
        Span::new(self.offset(start), self.offset(self.i))
    }

    fn eat_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.at(0).is_some_and(&keep) {
            self.i += 1;
        }
    }

    fn push(&mut self, tok: Tok, start: usize) {
        let span = self.span_from(start);
        self.tokens.push(Token { tok, span });
    }

    /// Consumes `n` characters as one token.
    fn symbol(&mut self, tok: Tok, n: usize) {
        let start = self.i;
        self.i += n;
        self.push(tok, start);
    }

    /// Consumes `n` characters and reports them.
    fn refuse(&mut self, n: usize, message: impl Into<String>, hint: &str) {
        let start = self.i;
        self.i += n;
        let span = self.span_from(start);
        self.errors.push(span.error(message, Some(hint.to_owned())));
    }

    fn run(&mut self) {
        while let Some(c) = self.at(0) {
            let next = self.at(1);
            match c {
                c if c.is_whitespace() => self.i += 1,
                '0'..='9' => self.number(),
                '"' => self.string(),
                c if c.is_ascii_alphabetic() || c == '_' => self.path(),
                '(' => self.symbol(Tok::LParen, 1),
                ')' => self.symbol(Tok::RParen, 1),
                '[' => self.symbol(Tok::LBracket, 1),
                ']' => self.symbol(Tok::RBracket, 1),
                ',' => self.symbol(Tok::Comma, 1),
                '+' => self.symbol(Tok::Plus, 1),
                '-' => self.symbol(Tok::Minus, 1),
                '*' => self.symbol(Tok::Star, 1),
                '/' => self.symbol(Tok::Slash, 1),
                '=' if next == Some('=') => self.symbol(Tok::Eq, 2),
                '=' => self.refuse(
                    1,
                    "`=` alone does not compare",
                    "write `==` to compare two values",
                ),
                '!' if next == Some('=') => self.symbol(Tok::Ne, 2),
                '!' => self.refuse(
                    1,
                    "`!` is not an operator",
                    "write `not` before a condition to negate it, or `!=` for \"not equal\"",
                ),
                '<' if next == Some('=') => self.symbol(Tok::Le, 2),
                '<' if next == Some('>') => self.refuse(
                    2,
                    "`<>` is not an operator",
                    "write `!=` for \"not equal\"",
                ),
                '<' => self.symbol(Tok::Lt, 1),
                '>' if next == Some('=') => self.symbol(Tok::Ge, 2),
                '>' => self.symbol(Tok::Gt, 1),
                '&' => {
                    let n = if next == Some('&') { 2 } else { 1 };
                    let op = if n == 2 { "&&" } else { "&" };
                    self.refuse(n, format!("`{op}` is not an operator"), "write `and`");
                }
                '|' => {
                    let n = if next == Some('|') { 2 } else { 1 };
                    let op = if n == 2 { "||" } else { "|" };
                    self.refuse(n, format!("`{op}` is not an operator"), "write `or`");
                }
                '\'' | '\u{2018}' | '\u{2019}' | '\u{201C}' | '\u{201D}' => self.wrong_quote(c),
                '.' if next.is_some_and(|c| c.is_ascii_digit()) => self.refuse(
                    1,
                    "a number starts with a digit",
                    "write a 0 before the point, e.g. `0.5`",
                ),
                other => self.refuse(1, format!("unexpected character `{other}`"), if other == '.' {
                    "a `.` only goes between the parts of a field, e.g. `account.plan`, or in a number, e.g. `2.5`"
                } else {
                    "a condition is made of fields (`account.plan`), values (`10`, `\"pro\"`, `3d`), operators (`==`, `and`, `+` …) and parentheses"
                }),
            }
        }
    }

    /// A number (`10`, `2.5`) or a duration (`72h`, `1h30m`).
    fn number(&mut self) {
        let start = self.i;
        self.eat_while(|c| c.is_ascii_digit());
        let mut decimal = false;
        if self.at(0) == Some('.') && self.at(1).is_some_and(|c| c.is_ascii_digit()) {
            decimal = true;
            self.i += 1;
            self.eat_while(|c| c.is_ascii_digit());
        }
        if self.at(0).is_some_and(is_name_char) {
            self.eat_while(is_name_char);
            let span = self.span_from(start);
            let text = super::text(self.source, span);
            let parsed = if decimal {
                None
            } else {
                Duration::parse(text).ok()
            };
            match parsed {
                Some(duration) => self.push(Tok::Duration(duration), start),
                None => {
                    let hint = if decimal {
                        "durations are whole numbers of units: write e.g. `90m` rather than `1.5h`"
                    } else {
                        "write a whole number and a unit (s, m, h, d or w), more than zero and less than 100 years, e.g. `72h`, `30m`, `3d` or `1h30m`"
                    };
                    let message = format!("`{text}` is not a duration");
                    self.errors.push(span.error(message, Some(hint.to_owned())));
                }
            }
            return;
        }
        let span = self.span_from(start);
        let text = super::text(self.source, span);
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => self.push(Tok::Number(n), start),
            _ => {
                let message = format!("`{text}` is too large a number");
                self.errors.push(span.error(message, None));
            }
        }
    }

    /// A string in double quotes.
    fn string(&mut self) {
        let start = self.i;
        self.i += 1;
        let mut value = String::new();
        loop {
            match self.at(0) {
                None => {
                    let span = self.span_from(start);
                    self.errors.push(span.error(
                        "unterminated string",
                        Some("close the string with a double quote `\"`".to_owned()),
                    ));
                    return;
                }
                Some('"') => {
                    self.i += 1;
                    self.push(Tok::Str(value), start);
                    return;
                }
                Some('\\') => match self.at(1) {
                    Some(c @ ('"' | '\\')) => {
                        value.push(c);
                        self.i += 2;
                    }
                    // Kept as written, so that regular expressions read naturally: "\bvp\b".
                    _ => {
                        value.push('\\');
                        self.i += 1;
                    }
                },
                Some(c) => {
                    value.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// A string in single or curly quotes: refused, with the straight-quoted form as hint.
    fn wrong_quote(&mut self, open: char) {
        let close = match open {
            '\u{2018}' => '\u{2019}',
            '\u{201C}' => '\u{201D}',
            other => other,
        };
        let start = self.i;
        let end = (start + 1..self.chars.len())
            .find(|&j| self.chars.get(j).map(|&(_, c)| c) == Some(close));
        let hint = match end {
            Some(end) => {
                let inner: String = self.chars[start + 1..end].iter().map(|&(_, c)| c).collect();
                self.i = end + 1;
                format!("write `\"{inner}\"`")
            }
            None => {
                self.i += 1;
                "write strings between straight double quotes, e.g. `\"pro\"`".to_owned()
            }
        };
        let span = self.span_from(start);
        self.errors.push(span.error(
            "strings are written between straight double quotes",
            Some(hint),
        ));
    }

    /// A field path (`event.data.plan`), a function name or a keyword.
    fn path(&mut self) {
        let start = self.i;
        self.eat_while(is_name_char);
        while self.at(0) == Some('.') {
            if self.at(1).is_some_and(is_name_char) {
                self.i += 1;
                self.eat_while(is_name_char);
            } else {
                let dot = self.i;
                self.i += 1;
                let span = self.span_from(dot);
                self.errors.push(span.error(
                    "expected a field name after `.`",
                    Some("write a whole path such as `account.plan`, without spaces around the dots".to_owned()),
                ));
                break;
            }
        }
        let span = self.span_from(start);
        let text = super::text(self.source, span);
        let tok = keyword(text).unwrap_or_else(|| Tok::Path(text.to_owned()));
        self.tokens.push(Token { tok, span });
    }
}
