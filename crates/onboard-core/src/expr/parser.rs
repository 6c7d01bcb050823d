//! The parser: tokens to an expression tree, by recursive descent with one function per
//! precedence level (see the grammar in the module documentation). It stops at the first
//! syntax error, but an unknown function or a bad `matches` pattern is recorded and parsing
//! goes on, so that those come with the type errors of the rest.

use super::lexer::{keyword, Tok, Token};
use super::suggest::{closest, list};
use super::value::Value;
use super::{text, ExprError, Span, MAX_DEPTH};
use regex::Regex;

/// An expression with its place in the condition text.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Levels of expressions in this one (1 for a leaf); at most [`MAX_DEPTH`].
    pub height: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum ExprKind {
    Literal(Value),
    List(Vec<Expr>),
    Path(String),
    Not(Box<Expr>),
    Negate(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `subject matches "pattern"`; the regex is `None` only when the pattern was refused.
    Matches {
        subject: Box<Expr>,
        regex: Option<Regex>,
    },
    Call {
        function: Function,
        args: Vec<Expr>,
    },
    /// Stands for a part already reported (an unknown function), so checking can go on.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Contains,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Contains => "contains",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Len,
    DaysSince,
    HoursSince,
    Exists,
    Lower,
}

impl Function {
    pub(crate) const ALL: [Function; 5] = [
        Function::Len,
        Function::DaysSince,
        Function::HoursSince,
        Function::Exists,
        Function::Lower,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Function::Len => "len",
            Function::DaysSince => "days_since",
            Function::HoursSince => "hours_since",
            Function::Exists => "exists",
            Function::Lower => "lower",
        }
    }

    /// A call as an example, for hints.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Function::Len => "len(person.title) > 3",
            Function::DaysSince => "days_since(account.won_at) > 3",
            Function::HoursSince => "hours_since(person.last_login_at) > 72",
            Function::Exists => "exists(event.data.plan)",
            Function::Lower => "lower(person.title) contains \"vp\"",
        }
    }

    fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl Expr {
    fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Literal(_) | ExprKind::Path(_) | ExprKind::Invalid => Vec::new(),
            ExprKind::List(items) | ExprKind::Call { args: items, .. } => items.iter().collect(),
            ExprKind::Not(inner) | ExprKind::Negate(inner) => vec![inner],
            ExprKind::Matches { subject, .. } => vec![subject],
            ExprKind::Binary { left, right, .. } => vec![left, right],
        }
    }

    /// Appends the fields this expression reads that `out` does not hold yet.
    pub(crate) fn collect_paths(&self, out: &mut Vec<String>) {
        if let ExprKind::Path(path) = &self.kind {
            if !out.contains(path) {
                out.push(path.clone());
            }
        }
        for child in self.children() {
            child.collect_paths(out);
        }
    }
}

type Parsed = Result<Expr, ExprError>;

/// A comparison operator as parsed: `matches` takes a pattern, not an expression.
#[derive(Debug, Clone, Copy)]
enum Compare {
    Binary(BinaryOp),
    Matches,
}

/// The expression of a whole condition and the non-fatal errors met on the way, or the
/// first syntax error (with those met before it).
pub(crate) fn parse(
    source: &str,
    tokens: Vec<Token>,
) -> Result<(Expr, Vec<ExprError>), Vec<ExprError>> {
    let mut parser = Parser {
        source,
        tokens,
        pos: 0,
        nesting: 0,
        errors: Vec::new(),
    };
    match parser.condition() {
        Ok(expr) => Ok((expr, parser.errors)),
        Err(error) => {
            parser.errors.push(error);
            Err(parser.errors)
        }
    }
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// How many nested levels the descent is in, to refuse input that would overflow it.
    nesting: usize,
    errors: Vec<ExprError>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_tok(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|t| &t.tok)
    }

    /// Consumes the next token if it is `tok`, giving its span.
    fn eat(&mut self, tok: &Tok) -> Option<Span> {
        let token = self.tokens.get(self.pos).filter(|t| &t.tok == tok)?;
        let span = token.span;
        self.pos += 1;
        Some(span)
    }

    fn text(&self, span: Span) -> &str {
        text(self.source, span)
    }

    /// The empty span at the end of the text.
    fn end(&self) -> Span {
        Span::new(self.source.len(), self.source.len())
    }

    fn too_deep(span: Span) -> ExprError {
        span.error(
            format!("the condition is nested too deeply (more than {MAX_DEPTH} levels)"),
            Some("split it, or use `in [ … ]` instead of a long chain of `or`".to_owned()),
        )
    }

    fn enter(&mut self, span: Span) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(Self::too_deep(span));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    /// A node, refused when it would make the tree deeper than [`MAX_DEPTH`].
    fn node(&self, kind: ExprKind, span: Span) -> Parsed {
        let mut expr = Expr {
            kind,
            span,
            height: 1,
        };
        expr.height = 1 + expr.children().iter().map(|c| c.height).max().unwrap_or(0);
        if expr.height > MAX_DEPTH {
            return Err(Self::too_deep(span));
        }
        Ok(expr)
    }

    fn binary(&self, op: BinaryOp, left: Expr, right: Expr) -> Parsed {
        let span = left.span.to(right.span);
        self.node(
            ExprKind::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            },
            span,
        )
    }

    fn condition(&mut self) -> Parsed {
        if self.tokens.is_empty() {
            return Err(Span::new(0, self.source.len()).error(
                "the condition is empty",
                Some(
                    "write a condition such as `account.plan == \"pro\"`, or leave `when` out"
                        .to_owned(),
                ),
            ));
        }
        let expr = self.or()?;
        match self.peek() {
            None => Ok(expr),
            Some(token) => Err(self.trailing(token)),
        }
    }

    /// A token after a complete condition.
    fn trailing(&self, token: &Token) -> ExprError {
        let found = self.text(token.span);
        match &token.tok {
            Tok::RParen => token.span.error(
                "`)` has no matching `(`",
                Some("remove it, or add the `(` it closes".to_owned()),
            ),
            Tok::RBracket => token.span.error(
                "`]` has no matching `[`",
                Some("remove it, or add the `[` it closes".to_owned()),
            ),
            _ => {
                let lower = found.to_lowercase();
                let hint = if keyword(&lower).is_some() {
                    format!("keywords are written in lower case: `{lower}`")
                } else {
                    "join two conditions with `and` or `or`".to_owned()
                };
                token.span.error(
                    format!("expected `and`, `or` or the end of the condition, found `{found}`"),
                    Some(hint),
                )
            }
        }
    }

    fn or(&mut self) -> Parsed {
        let mut left = self.and()?;
        while self.eat(&Tok::Or).is_some() {
            let right = self.and()?;
            left = self.binary(BinaryOp::Or, left, right)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Parsed {
        let mut left = self.not()?;
        while self.eat(&Tok::And).is_some() {
            let right = self.not()?;
            left = self.binary(BinaryOp::And, left, right)?;
        }
        Ok(left)
    }

    fn not(&mut self) -> Parsed {
        let Some(start) = self.eat(&Tok::Not) else {
            return self.comparison();
        };
        self.enter(start)?;
        let operand = self.not()?;
        self.leave();
        let span = start.to(operand.span);
        self.node(ExprKind::Not(Box::new(operand)), span)
    }

    /// The comparison operator at the current token, if any, with its span and width in
    /// tokens (`not in` is two). `not` before another comparison is refused.
    fn comparison_op(&self) -> Result<Option<(Compare, Span, usize)>, ExprError> {
        let Some(token) = self.peek() else {
            return Ok(None);
        };
        let op = match token.tok {
            Tok::Eq => BinaryOp::Eq,
            Tok::Ne => BinaryOp::Ne,
            Tok::Lt => BinaryOp::Lt,
            Tok::Le => BinaryOp::Le,
            Tok::Gt => BinaryOp::Gt,
            Tok::Ge => BinaryOp::Ge,
            Tok::In => BinaryOp::In,
            Tok::Contains => BinaryOp::Contains,
            Tok::Matches => return Ok(Some((Compare::Matches, token.span, 1))),
            Tok::Not => {
                let Some(next) = self.tokens.get(self.pos + 1) else {
                    return Ok(None);
                };
                return match next.tok {
                    Tok::In => Ok(Some((
                        Compare::Binary(BinaryOp::NotIn),
                        token.span.to(next.span),
                        2,
                    ))),
                    Tok::Contains
                    | Tok::Matches
                    | Tok::Eq
                    | Tok::Ne
                    | Tok::Lt
                    | Tok::Le
                    | Tok::Gt
                    | Tok::Ge => {
                        let op = self.text(next.span);
                        Err(token.span.to(next.span).error(
                            format!("`not` cannot go before `{op}`"),
                            Some(format!(
                                "put `not` before the whole comparison: `not (a {op} b)`"
                            )),
                        ))
                    }
                    _ => Ok(None),
                };
            }
            _ => return Ok(None),
        };
        Ok(Some((Compare::Binary(op), token.span, 1)))
    }

    fn comparison(&mut self) -> Parsed {
        let left = self.sum()?;
        let Some((op, _, width)) = self.comparison_op()? else {
            return Ok(left);
        };
        self.pos += width;
        let expr = match op {
            Compare::Matches => self.matches(left)?,
            Compare::Binary(op) => {
                let right = self.sum()?;
                self.binary(op, left, right)?
            }
        };
        if let Some((_, span, _)) = self.comparison_op()? {
            return Err(span.error(
                "comparisons cannot be chained",
                Some("join them with `and`, e.g. `1 < x and x < 10`".to_owned()),
            ));
        }
        Ok(expr)
    }

    /// The pattern after `matches`, compiled now (case-insensitive).
    fn matches(&mut self, subject: Expr) -> Parsed {
        let pattern = match self.peek() {
            Some(Token {
                tok: Tok::Str(pattern),
                span,
            }) => (pattern.clone(), *span),
            other => {
                let (span, found) = match other {
                    Some(token) => (token.span, format!(", found `{}`", self.text(token.span))),
                    None => (self.end(), String::new()),
                };
                return Err(span.error(
                    format!("`matches` takes a pattern in double quotes{found}"),
                    Some("write e.g. `person.title matches \"vp|director\"`".to_owned()),
                ));
            }
        };
        self.pos += 1;
        let (pattern, pattern_span) = pattern;
        let regex = match regex::RegexBuilder::new(&pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
        {
            Ok(regex) => Some(regex),
            Err(error) => {
                let detail = error.to_string();
                let last = detail.lines().last().unwrap_or("").trim().to_owned();
                let last = last.strip_prefix("error: ").unwrap_or(&last).to_owned();
                self.errors.push(pattern_span.error(
                    format!(
                        "{} is not a regular expression: {last}",
                        self.text(pattern_span)
                    ),
                    Some("write a pattern such as `\"vp|director\"` (case is ignored; `|` separates alternatives, `\\b` marks a word boundary, `^` and `$` the start and end)".to_owned()),
                ));
                None
            }
        };
        let span = subject.span.to(pattern_span);
        self.node(
            ExprKind::Matches {
                subject: Box::new(subject),
                regex,
            },
            span,
        )
    }

    fn sum(&mut self) -> Parsed {
        let mut left = self.product()?;
        loop {
            let op = match self.peek_tok(0) {
                Some(Tok::Plus) => BinaryOp::Add,
                Some(Tok::Minus) => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.product()?;
            left = self.binary(op, left, right)?;
        }
    }

    fn product(&mut self) -> Parsed {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek_tok(0) {
                Some(Tok::Star) => BinaryOp::Mul,
                Some(Tok::Slash) => BinaryOp::Div,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.unary()?;
            left = self.binary(op, left, right)?;
        }
    }

    fn unary(&mut self) -> Parsed {
        let Some(start) = self.eat(&Tok::Minus) else {
            return self.primary();
        };
        self.enter(start)?;
        let operand = self.unary()?;
        self.leave();
        let span = start.to(operand.span);
        self.node(ExprKind::Negate(Box::new(operand)), span)
    }

    /// What is missing where an expression should start.
    fn expected_expression(&self) -> ExprError {
        let after = self
            .pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map(|t| self.text(t.span));
        let hint = Some(
            "an expression is a value (`10`, `\"pro\"`, `3d`, `[\"a\", \"b\"]`), a field (`account.plan`), a function call (`len(person.title)`) or a condition in parentheses"
                .to_owned(),
        );
        match (self.peek(), after) {
            (Some(token), Some(after)) => token.span.error(
                format!(
                    "expected an expression after `{after}`, found `{}`",
                    self.text(token.span)
                ),
                hint,
            ),
            (Some(token), None) => token.span.error(
                format!("expected an expression, found `{}`", self.text(token.span)),
                hint,
            ),
            (None, Some(after)) => self
                .end()
                .error(format!("expected an expression after `{after}`"), hint),
            (None, None) => self.end().error("expected an expression", hint),
        }
    }

    /// The error for a `(` or `[` opened at `open` that the current token does not close.
    fn unclosed(&self, open: Span, close: &str, expected: &str) -> ExprError {
        let opener = self.text(open);
        match self.peek() {
            None => open.error(
                format!("`{opener}` is never closed"),
                Some(format!("add `{close}` where it should end")),
            ),
            Some(token) => token.span.error(
                format!("expected {expected}, found `{}`", self.text(token.span)),
                Some(format!("add `{close}` to close the `{opener}`")),
            ),
        }
    }

    fn primary(&mut self) -> Parsed {
        let Some(token) = self.peek().cloned() else {
            return Err(self.expected_expression());
        };
        let literal = match token.tok {
            Tok::Number(n) => Value::Number(n),
            Tok::Str(s) => Value::String(s),
            Tok::Duration(d) => Value::Duration(d),
            Tok::True => Value::Bool(true),
            Tok::False => Value::Bool(false),
            Tok::Null => Value::Null,
            Tok::LParen => return self.group(token.span),
            Tok::LBracket => return self.list(token.span),
            Tok::Path(path) => {
                self.pos += 1;
                if self.peek_tok(0) == Some(&Tok::LParen) {
                    return self.call(&path, token.span);
                }
                return self.node(ExprKind::Path(path), token.span);
            }
            _ => return Err(self.expected_expression()),
        };
        self.pos += 1;
        self.node(ExprKind::Literal(literal), token.span)
    }

    /// `( condition )`; the span includes the parentheses.
    fn group(&mut self, open: Span) -> Parsed {
        self.pos += 1;
        self.enter(open)?;
        let mut inner = self.or()?;
        self.leave();
        let Some(close) = self.eat(&Tok::RParen) else {
            return Err(self.unclosed(open, ")", "`)`"));
        };
        inner.span = open.to(close);
        Ok(inner)
    }

    fn list(&mut self, open: Span) -> Parsed {
        self.pos += 1;
        self.enter(open)?;
        let mut items = Vec::new();
        let close = loop {
            if let Some(close) = self.eat(&Tok::RBracket) {
                break close;
            }
            items.push(self.or()?);
            if let Some(close) = self.eat(&Tok::RBracket) {
                break close;
            }
            if self.eat(&Tok::Comma).is_none() {
                return Err(self.unclosed(open, "]", "`,` or `]`"));
            }
        };
        self.leave();
        self.node(ExprKind::List(items), open.to(close))
    }

    /// `name( args )`, the name already consumed.
    fn call(&mut self, name: &str, name_span: Span) -> Parsed {
        let open = self.eat(&Tok::LParen).unwrap_or(name_span);
        self.enter(open)?;
        let mut args = Vec::new();
        let close = match self.eat(&Tok::RParen) {
            Some(close) => close,
            None => loop {
                args.push(self.or()?);
                if let Some(close) = self.eat(&Tok::RParen) {
                    break close;
                }
                if self.eat(&Tok::Comma).is_none() {
                    return Err(self.unclosed(open, ")", "`,` or `)`"));
                }
            },
        };
        self.leave();
        let span = name_span.to(close);
        match Function::from_name(name) {
            Some(function) => self.node(ExprKind::Call { function, args }, span),
            None => {
                self.errors.push(unknown_function(name, name_span));
                self.node(ExprKind::Invalid, span)
            }
        }
    }
}

fn unknown_function(name: &str, span: Span) -> ExprError {
    let names = list(Function::ALL.iter().map(|f| f.name()));
    if name.contains('.') {
        return span.error(
            format!("`{name}` is a field, not a function"),
            Some(format!("the functions are {names}")),
        );
    }
    let hint = match closest(name, Function::ALL.iter().map(|f| f.name())) {
        Some(near) => format!("did you mean `{near}`? the functions are {names}"),
        None => format!("the functions are {names}"),
    };
    span.error(format!("unknown function `{name}`"), Some(hint))
}
