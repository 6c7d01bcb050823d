//! Type checking of a parsed condition against a [`Schema`]: every field must be known,
//! every operator get operands it works on, strings compared with fields that have known
//! values must be among them, and the whole must be true or false. Strings in RFC 3339 form
//! compared with timestamps are turned into timestamps here, once.
//!
//! It reports every error it finds; after one, the part in error counts as [`Type::Any`] so
//! that one mistake does not cause a cascade of others.

use super::parser::{BinaryOp, Expr, ExprKind, Function};
use super::schema::{Schema, Type};
use super::suggest::{closest, either, list};
use super::value::{parse_time, Value};
use super::{text, ExprError, Span};

/// The errors of `expr`, which may be changed (string literals that are timestamps).
pub(crate) fn check(expr: &mut Expr, schema: &Schema, source: &str) -> Vec<ExprError> {
    let mut checker = Checker {
        schema,
        source,
        errors: Vec::new(),
    };
    let ty = checker.expr(expr);
    if !matches!(ty, Type::Bool | Type::Any) {
        let hint = checker.example(expr, &ty);
        checker.errors.push(expr.span.error(
            format!("condition must be true or false, found {}", ty.describe()),
            hint,
        ));
    }
    checker.errors
}

struct Checker<'a> {
    schema: &'a Schema,
    source: &'a str,
    errors: Vec<ExprError>,
}

/// Whether values of these types may be compared with `==`.
fn comparable(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Any, _) | (_, Type::Any) | (Type::Null, _) | (_, Type::Null) => true,
        (Type::List(x), Type::List(y)) => comparable(x, y),
        _ => a == b,
    }
}

fn orderable(t: &Type) -> bool {
    matches!(
        t,
        Type::Number | Type::String | Type::Timestamp | Type::Duration | Type::Any
    )
}

fn is_string_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Literal(Value::String(_)))
}

/// Whether the expression names something (a field or a call), so that a message about it
/// is best phrased with its text.
fn is_named(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Path(_) | ExprKind::Call { .. })
}

impl Checker<'_> {
    fn text(&self, span: Span) -> &str {
        text(self.source, span)
    }

    fn error(&mut self, span: Span, message: String, hint: Option<String>) {
        self.errors.push(span.error(message, hint));
    }

    /// A comparison that would make `e` (of type `ty`) true or false, for hints.
    fn example(&self, e: &Expr, ty: &Type) -> Option<String> {
        let s = self.text(e.span);
        let example = match ty {
            Type::Number => format!("{s} > 0"),
            Type::String => format!("{s} == \"…\""),
            Type::Timestamp => format!("days_since({s}) > 3"),
            Type::Duration => format!("{s} > 1d"),
            Type::List(_) => format!("len({s}) > 0"),
            Type::Bool | Type::Any | Type::Null => return None,
        };
        Some(format!("compare it with something, e.g. `{example}`"))
    }

    fn expr(&mut self, e: &mut Expr) -> Type {
        let span = e.span;
        match &mut e.kind {
            ExprKind::Literal(value) => value.literal_type(),
            ExprKind::List(items) => self.list(items),
            ExprKind::Path(path) => self.path(path, span),
            ExprKind::Not(operand) => {
                let ty = self.expr(operand);
                self.logic_operand("not", operand, &ty);
                Type::Bool
            }
            ExprKind::Negate(operand) => {
                let ty = self.expr(operand);
                match ty {
                    Type::Number | Type::Duration | Type::Any | Type::Null => ty,
                    other => {
                        let message = format!(
                            "`-` needs a number or a duration, found {}",
                            other.describe()
                        );
                        self.error(span, message, None);
                        Type::Any
                    }
                }
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, span),
            ExprKind::Matches { subject, .. } => {
                let ty = self.expr(subject);
                if !matches!(ty, Type::String | Type::Any | Type::Null) {
                    let message = format!(
                        "`matches` needs a string on its left; `{}` is {}",
                        self.text(subject.span),
                        ty.describe()
                    );
                    self.error(span, message, None);
                }
                Type::Bool
            }
            ExprKind::Call { function, args } => self.call(*function, args, span),
            ExprKind::Invalid => Type::Any,
        }
    }

    fn path(&mut self, path: &str, span: Span) -> Type {
        if let Some(ty) = self.schema.type_of(path) {
            return ty;
        }
        let (message, hint) = self.unknown_path(path);
        self.error(span, message, Some(hint));
        Type::Any
    }

    fn unknown_path(&self, path: &str) -> (String, String) {
        let under: Vec<&str> = self.schema.paths_under(path).collect();
        if !under.is_empty() {
            let more = if under.len() > 4 { " …" } else { "" };
            let examples = either(under.iter().copied().take(4));
            return (
                format!("`{path}` is a group of fields, not a value"),
                format!("write one of its fields, e.g. {examples}{more}"),
            );
        }
        if let Some((field, ty)) = self.schema.field_above(path) {
            return (
                format!("`{field}` is {} and has no fields", ty.describe()),
                format!("write `{field}`"),
            );
        }
        let message = format!("unknown field `{path}`");
        let candidates = self.schema.candidates(path);
        if let Some(near) = closest(path, candidates.iter().map(String::as_str)) {
            return (message, format!("did you mean `{near}`?"));
        }
        // A field's last part alone: `seats` for `account.seats`.
        let lower = path.to_lowercase();
        let endings: Vec<&str> = self
            .schema
            .paths()
            .filter(|p| p.rsplit('.').next() == Some(lower.as_str()))
            .collect();
        if !path.contains('.') && !endings.is_empty() {
            return (message, format!("did you mean {}?", either(endings)));
        }
        let roots: Vec<String> = self
            .schema
            .roots()
            .into_iter()
            .map(|r| format!("{r}."))
            .collect();
        let roots = list(roots.iter().map(String::as_str));
        let hint = if matches!(lower.as_str(), "true" | "false" | "null") {
            format!("write `{lower}` in lower case")
        } else if path.contains('.') {
            format!("fields start with {roots}")
        } else {
            format!("fields start with {roots}; if you meant a string, write `\"{path}\"`")
        };
        (message, hint)
    }

    fn list(&mut self, items: &mut [Expr]) -> Type {
        let mut item_type: Option<Type> = None;
        for item in items.iter_mut() {
            let ty = self.expr(item);
            match &item_type {
                _ if ty == Type::Null => {}
                None => item_type = Some(ty),
                Some(Type::Any) => {}
                Some(_) if ty == Type::Any => item_type = Some(Type::Any),
                Some(first) if comparable(first, &ty) => {}
                Some(first) => {
                    let message = format!(
                        "a list holds values of one type: this is {}, the first item is {}",
                        ty.describe(),
                        first.describe()
                    );
                    self.error(item.span, message, None);
                }
            }
        }
        Type::List(Box::new(item_type.unwrap_or(Type::Any)))
    }

    /// Checks an operand of `and`, `or` or `not`.
    fn logic_operand(&mut self, op: &str, operand: &Expr, ty: &Type) {
        if matches!(ty, Type::Bool | Type::Any) {
            return;
        }
        let message = format!(
            "`{}` is {}, but `{op}` needs true or false",
            self.text(operand.span),
            ty.describe()
        );
        let hint = self.example(operand, ty);
        self.error(operand.span, message, hint);
    }

    /// A string literal where a timestamp is expected, turned into one (reporting it when
    /// it is not a time). Lists of string literals are turned item by item.
    fn timestamp_literal(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Literal(Value::String(s)) => match parse_time(s) {
                Some(t) => e.kind = ExprKind::Literal(Value::Timestamp(t)),
                None => {
                    let message = format!("{} is not a timestamp", self.text(e.span));
                    self.error(
                        e.span,
                        message,
                        Some("write a date, e.g. \"2026-01-31\", or a time in RFC 3339 form, e.g. \"2026-01-31T09:00:00Z\"; or compare an age with `days_since(…) > 3`".to_owned()),
                    );
                    e.kind = ExprKind::Invalid;
                }
            },
            ExprKind::List(items) => {
                for item in items {
                    if is_string_literal(item) {
                        self.timestamp_literal(item);
                    }
                }
            }
            _ => {}
        }
    }

    fn binary(&mut self, op: BinaryOp, left: &mut Expr, right: &mut Expr, span: Span) -> Type {
        let mut lt = self.expr(left);
        if lt == Type::Timestamp
            && matches!(op, BinaryOp::In | BinaryOp::NotIn)
            && matches!(right.kind, ExprKind::List(_))
        {
            self.timestamp_literal(right);
        }
        let mut rt = self.expr(right);
        // A string written where a timestamp is compared, or combined with a timestamp or a
        // duration, is a timestamp.
        let wants_time = |other: &Type| match op {
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => *other == Type::Timestamp,
            BinaryOp::Add | BinaryOp::Sub => matches!(other, Type::Timestamp | Type::Duration),
            _ => false,
        };
        if wants_time(&lt) && rt == Type::String && is_string_literal(right) {
            self.timestamp_literal(right);
            rt = Type::Timestamp;
        } else if wants_time(&rt) && lt == Type::String && is_string_literal(left) {
            self.timestamp_literal(left);
            lt = Type::Timestamp;
        }
        match op {
            BinaryOp::And | BinaryOp::Or => {
                self.logic_operand(op.symbol(), left, &lt);
                self.logic_operand(op.symbol(), right, &rt);
                Type::Bool
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                if comparable(&lt, &rt) {
                    self.known_values(left, right);
                    self.known_values(right, left);
                } else {
                    self.mismatch(left, &lt, right, &rt, span);
                }
                Type::Bool
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                self.ordering(op, left, &lt, right, &rt, span);
                Type::Bool
            }
            BinaryOp::In | BinaryOp::NotIn => {
                self.membership(op, left, &lt, right, &rt, span);
                Type::Bool
            }
            BinaryOp::Contains => {
                self.contains(left, &lt, &rt, span);
                Type::Bool
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                self.arithmetic(op, &lt, &rt, span)
            }
        }
    }

    /// "`account.seats` is a number, compared with a string", naming the side that is a
    /// field (or the left one).
    fn mismatch(&mut self, left: &Expr, lt: &Type, right: &Expr, rt: &Type, span: Span) {
        let (named, nt, other, ot) = if !is_named(left) && is_named(right) {
            (right, rt, left, lt)
        } else {
            (left, lt, right, rt)
        };
        let name = self.text(named.span).to_owned();
        let message = format!(
            "`{name}` is {}, compared with {}",
            nt.describe(),
            ot.describe()
        );
        let other_text = self.text(other.span);
        let hint = match (nt, ot) {
            (Type::Number, Type::String) => match &other.kind {
                ExprKind::Literal(Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
                    Some(format!("write numbers without quotes: `{}`", s.trim()))
                }
                _ => None,
            },
            (Type::String, Type::Number) if matches!(other.kind, ExprKind::Literal(_)) => {
                Some(format!("write strings in double quotes: `\"{other_text}\"`"))
            }
            (Type::Bool, Type::String) => match &other.kind {
                ExprKind::Literal(Value::String(s)) if s == "true" || s == "false" => {
                    Some(format!("write `{s}` without quotes"))
                }
                _ => None,
            },
            (Type::Timestamp, Type::Number | Type::Duration) => Some(format!(
                "to compare an age, write e.g. `days_since({name}) > 3` or `hours_since({name}) > 72`"
            )),
            (Type::Duration, Type::Number) => Some(
                "write a duration with its unit, e.g. `3d`, `72h` or `30m`".to_owned(),
            ),
            (Type::Number, Type::Duration) => Some(
                "a number has no unit: compare it with a number, e.g. `3`; durations come from literals such as `3d` and from subtracting timestamps, e.g. `event.at - account.won_at`".to_owned(),
            ),
            _ => None,
        };
        self.error(span, message, hint);
    }

    /// A string literal compared with a field that has known values must be one of them.
    fn known_values(&mut self, field: &Expr, value: &Expr) {
        let ExprKind::Path(path) = &field.kind else {
            return;
        };
        let Some(values) = self.schema.values_of(path) else {
            return;
        };
        let literals: Vec<&Expr> = match &value.kind {
            ExprKind::Literal(Value::String(_)) => vec![value],
            ExprKind::List(items) => items.iter().filter(|i| is_string_literal(i)).collect(),
            _ => return,
        };
        for literal in literals {
            let ExprKind::Literal(Value::String(s)) = &literal.kind else {
                continue;
            };
            if values.contains(s) {
                continue;
            }
            let hint = match closest(s, values.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None if values.len() <= 12 => format!(
                    "the known values are {}",
                    list(values.iter().map(String::as_str))
                ),
                None => format!(
                    "`{path}` has {} known values; check the spelling",
                    values.len()
                ),
            };
            let message = format!(
                "{} is not a known value of `{path}`",
                self.text(literal.span)
            );
            self.error(literal.span, message, Some(hint));
        }
    }

    fn ordering(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        lt: &Type,
        right: &Expr,
        rt: &Type,
        span: Span,
    ) {
        let symbol = op.symbol();
        if *lt == Type::Null || *rt == Type::Null {
            let example = if *lt == Type::Null { right } else { left };
            let message = format!("`{symbol}` cannot compare with `null`");
            let hint = format!(
                "only `==` and `!=` compare with `null`, e.g. `{} == null`; a missing value makes `{symbol}` false anyway",
                self.text(example.span)
            );
            self.error(span, message, Some(hint));
            return;
        }
        if !comparable(lt, rt) {
            self.mismatch(left, lt, right, rt, span);
            return;
        }
        for (side, ty) in [(left, lt), (right, rt)] {
            if !orderable(ty) {
                let message = format!(
                    "`{symbol}` orders numbers, strings, timestamps and durations; `{}` is {}",
                    self.text(side.span),
                    ty.describe()
                );
                self.error(span, message, None);
                return;
            }
        }
    }

    fn membership(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        lt: &Type,
        right: &Expr,
        rt: &Type,
        span: Span,
    ) {
        let symbol = op.symbol();
        match rt {
            Type::Any => {}
            Type::List(item) => {
                if comparable(lt, item) {
                    self.known_values(left, right);
                } else {
                    let message = format!(
                        "`{}` is {}, but the list holds {}",
                        self.text(left.span),
                        lt.describe(),
                        item.plural()
                    );
                    self.error(span, message, None);
                }
            }
            other => {
                let hint = if *other == Type::String {
                    format!(
                        "to look for text inside a string, write `{} contains {}`",
                        self.text(right.span),
                        self.text(left.span)
                    )
                } else {
                    "write a list such as `[\"pro\", \"enterprise\"]`".to_owned()
                };
                let message = format!(
                    "`{symbol}` needs a list on its right, found {}",
                    other.describe()
                );
                self.error(right.span, message, Some(hint));
            }
        }
    }

    fn contains(&mut self, left: &Expr, lt: &Type, rt: &Type, span: Span) {
        let name = self.text(left.span).to_owned();
        let wanted = match lt {
            Type::Any | Type::Null => return,
            Type::String => Type::String,
            Type::List(item) => (**item).clone(),
            other => {
                let message = format!(
                    "`contains` looks inside a string or a list; `{name}` is {}",
                    other.describe()
                );
                self.error(span, message, None);
                return;
            }
        };
        if !comparable(&wanted, rt) {
            let message = format!(
                "`{name}` is {}, so `contains` needs {} after it, found {}",
                lt.describe(),
                wanted.describe(),
                rt.describe()
            );
            self.error(span, message, None);
        }
    }

    fn arithmetic(&mut self, op: BinaryOp, lt: &Type, rt: &Type, span: Span) -> Type {
        use BinaryOp::{Add, Sub};
        use Type::{Any, Duration, Null, Number, Timestamp};
        match (op, lt, rt) {
            (_, Null, _) | (_, _, Null) => {
                let message = format!("`{}` cannot be used with `null`", op.symbol());
                self.error(
                    span,
                    message,
                    Some(
                        "a missing value already makes the result null; test for it with `== null`"
                            .to_owned(),
                    ),
                );
                Any
            }
            (_, Number, Number) => Number,
            (_, Any, Any | Number) | (_, Number, Any) => Any,
            (Add | Sub, Timestamp, Duration) | (Add, Duration, Timestamp) => Timestamp,
            (Add | Sub, Duration, Duration) | (Sub, Timestamp, Timestamp) => Duration,
            (Add | Sub, Any, Timestamp | Duration) | (Add | Sub, Timestamp | Duration, Any) => Any,
            _ => {
                let message = format!(
                    "`{}` cannot combine {} and {}",
                    op.symbol(),
                    lt.describe(),
                    rt.describe()
                );
                self.error(
                    span,
                    message,
                    Some("`+` and `-` work on numbers, add or subtract a duration to or from a timestamp, and give the duration between two timestamps; `*` and `/` work on numbers".to_owned()),
                );
                Any
            }
        }
    }

    fn call(&mut self, function: Function, args: &mut [Expr], span: Span) -> Type {
        let name = function.name();
        let result = match function {
            Function::Len | Function::DaysSince | Function::HoursSince => Type::Number,
            Function::Exists => Type::Bool,
            Function::Lower => Type::String,
        };
        let [arg] = args else {
            let message = format!("`{name}` takes one argument, found {}", args.len());
            self.error(
                span,
                message,
                Some(format!("write e.g. `{}`", function.example())),
            );
            return result;
        };
        if function == Function::Exists {
            match &arg.kind {
                ExprKind::Path(path) => {
                    let path = path.clone();
                    self.path(&path, arg.span);
                }
                _ => self.error(
                    arg.span,
                    "`exists` takes a field".to_owned(),
                    Some(format!("write e.g. `{}`", function.example())),
                ),
            }
            return result;
        }
        if matches!(function, Function::DaysSince | Function::HoursSince) && is_string_literal(arg)
        {
            self.timestamp_literal(arg);
        }
        let ty = self.expr(arg);
        let (fits, wanted) = match function {
            Function::Len => (
                matches!(ty, Type::String | Type::List(_) | Type::Any | Type::Null),
                "a string or a list",
            ),
            Function::Lower => (
                matches!(ty, Type::String | Type::Any | Type::Null),
                "a string",
            ),
            _ => (
                matches!(ty, Type::Timestamp | Type::Any | Type::Null),
                "a timestamp",
            ),
        };
        if !fits {
            let message = format!("`{name}` takes {wanted}, found {}", ty.describe());
            self.error(
                arg.span,
                message,
                Some(format!("write e.g. `{}`", function.example())),
            );
        }
        result
    }
}
