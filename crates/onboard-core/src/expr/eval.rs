//! Evaluation of a checked condition against an [`Env`], at a given time. Never fails and
//! never panics: missing values read as null, and data of the wrong type is a mismatch,
//! recorded and counted as neither true nor false (see the module documentation).

use super::parser::{BinaryOp, Expr, ExprKind, Function};
use super::value::{parse_time, Env, Value};
use super::{text, Span};
use crate::time::{Duration, Timestamp};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// The outcome of evaluating a condition, with what it read: the stuff of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub result: bool,
    /// Every field read, once, in the order first read, with its value ([`Value::Null`]
    /// when missing). Parts skipped because the result was already known (`false and …`)
    /// read nothing.
    pub seen: Vec<(String, Value)>,
    /// Data of the wrong type met on the way, e.g. "`event.data.seats` is a string,
    /// compared with a number".
    pub problems: Vec<String>,
}

/// "condition false with account.seats = 3, person.persona = \"admin\"", then any problems.
impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "condition {}", self.result)?;
        for (i, (path, value)) in self.seen.iter().enumerate() {
            let lead = if i == 0 { " with " } else { ", " };
            write!(f, "{lead}{path} = {value}")?;
        }
        for problem in &self.problems {
            write!(f, "; {problem}")?;
        }
        Ok(())
    }
}

pub(crate) fn evaluate(expr: &Expr, source: &str, env: &dyn Env, now: Timestamp) -> Evaluation {
    let mut evaluator = Evaluator {
        source,
        env,
        now,
        seen: Vec::new(),
        problems: Vec::new(),
    };
    let result = evaluator.condition(expr).unwrap_or(false);
    Evaluation {
        result,
        seen: evaluator.seen,
        problems: evaluator.problems,
    }
}

/// A part of the condition that met data of the wrong type (already recorded).
struct Mismatch;

type Out = Result<Value, Mismatch>;

struct Evaluator<'a> {
    source: &'a str,
    env: &'a dyn Env,
    now: Timestamp,
    seen: Vec<(String, Value)>,
    problems: Vec<String>,
}

/// Whether two values are equal; `None` when they cannot be compared (different types).
fn equal(a: &Value, b: &Value) -> Option<bool> {
    Some(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::Timestamp(t), Value::String(s)) | (Value::String(s), Value::Timestamp(t)) => {
            *t == parse_time(s)?
        }
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            for (p, q) in x.iter().zip(y) {
                if !equal(p, q)? {
                    return Some(false);
                }
            }
            true
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            for (key, p) in x {
                match y.get(key) {
                    Some(q) if equal(p, q)? => {}
                    _ => return Some(false),
                }
            }
            true
        }
        _ => return None,
    })
}

/// The order of two non-null values; `None` when they cannot be ordered.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        (Value::Timestamp(t), Value::String(s)) => Some(t.cmp(&parse_time(s)?)),
        (Value::String(s), Value::Timestamp(t)) => Some(parse_time(s)?.cmp(t)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// A number result, or null when it is not finite.
fn number(n: f64) -> Value {
    Value::from(n)
}

/// A string in RFC 3339 form next to a timestamp or a duration, read as a timestamp.
fn time_operands(l: Value, r: Value) -> (Value, Value) {
    let as_time = |v: Value| match v {
        Value::String(s) => match parse_time(&s) {
            Some(t) => Value::Timestamp(t),
            None => Value::String(s),
        },
        other => other,
    };
    let time_like = |v: &Value| matches!(v, Value::Timestamp(_) | Value::Duration(_));
    if time_like(&r) {
        (as_time(l), r)
    } else if time_like(&l) {
        (l, as_time(r))
    } else {
        (l, r)
    }
}

impl Evaluator<'_> {
    fn text(&self, span: Span) -> &str {
        text(self.source, span)
    }

    fn problem(&mut self, message: String) -> Mismatch {
        if !self.problems.contains(&message) {
            self.problems.push(message);
        }
        Mismatch
    }

    /// "`event.data.seats` is a string, compared with a number", naming the side that is a
    /// field (or the left one).
    fn compared(&mut self, left: &Expr, l: &Value, right: &Expr, r: &Value) -> Mismatch {
        let right_named = matches!(right.kind, ExprKind::Path(_) | ExprKind::Call { .. });
        let left_named = matches!(left.kind, ExprKind::Path(_) | ExprKind::Call { .. });
        let (named, nv, ov) = if right_named && !left_named {
            (right, r, l)
        } else {
            (left, l, r)
        };
        let message = format!(
            "`{}` is {}, compared with {}",
            self.text(named.span),
            nv.describe(),
            ov.describe()
        );
        self.problem(message)
    }

    fn read(&mut self, path: &str) -> Value {
        if let Some((_, value)) = self.seen.iter().find(|(p, _)| p == path) {
            return value.clone();
        }
        let value = self.env.value(path);
        self.seen.push((path.to_owned(), value.clone()));
        value
    }

    /// The value of `e` as true or false; null counts as false.
    fn condition(&mut self, e: &Expr) -> Result<bool, Mismatch> {
        match self.eval(e)? {
            Value::Bool(b) => Ok(b),
            Value::Null => Ok(false),
            other => {
                let message = format!(
                    "`{}` is {}, not true or false",
                    self.text(e.span),
                    other.describe()
                );
                Err(self.problem(message))
            }
        }
    }

    fn eval(&mut self, e: &Expr) -> Out {
        match &e.kind {
            ExprKind::Literal(value) => Ok(value.clone()),
            ExprKind::List(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.eval(item)?);
                }
                Ok(Value::List(values))
            }
            ExprKind::Path(path) => Ok(self.read(path)),
            ExprKind::Not(operand) => Ok(Value::Bool(!self.condition(operand)?)),
            ExprKind::Negate(operand) => match self.eval(operand)? {
                Value::Number(n) => Ok(number(-n)),
                Value::Duration(d) => Ok(Value::Duration(Duration(d.millis().saturating_neg()))),
                Value::Null => Ok(Value::Null),
                other => {
                    let message = format!(
                        "`{}` is {}, which has no minus",
                        self.text(operand.span),
                        other.describe()
                    );
                    Err(self.problem(message))
                }
            },
            ExprKind::Binary {
                op: BinaryOp::And,
                left,
                right,
            } => self.and(left, right).map(Value::Bool),
            ExprKind::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } => self.or(left, right).map(Value::Bool),
            ExprKind::Binary { op, left, right } => {
                let l = self.eval(left)?;
                let r = self.eval(right)?;
                self.binary(*op, left, l, right, r)
            }
            ExprKind::Matches { subject, regex } => self.matches(subject, regex.as_ref()),
            ExprKind::Call { function, args } => self.call(*function, args),
            ExprKind::Invalid => Err(self.problem(format!(
                "`{}` was refused when the condition was checked",
                self.text(e.span)
            ))),
        }
    }

    /// `false and …` is false whatever `…` is, even a mismatch, in either order.
    fn and(&mut self, left: &Expr, right: &Expr) -> Result<bool, Mismatch> {
        match self.condition(left) {
            Ok(false) => Ok(false),
            Ok(true) => self.condition(right),
            Err(mismatch) => match self.condition(right) {
                Ok(false) => Ok(false),
                _ => Err(mismatch),
            },
        }
    }

    /// `true or …` is true whatever `…` is, even a mismatch, in either order.
    fn or(&mut self, left: &Expr, right: &Expr) -> Result<bool, Mismatch> {
        match self.condition(left) {
            Ok(true) => Ok(true),
            Ok(false) => self.condition(right),
            Err(mismatch) => match self.condition(right) {
                Ok(true) => Ok(true),
                _ => Err(mismatch),
            },
        }
    }

    fn binary(&mut self, op: BinaryOp, left: &Expr, l: Value, right: &Expr, r: Value) -> Out {
        let result = match op {
            BinaryOp::Eq | BinaryOp::Ne => match equal(&l, &r) {
                Some(same) => same == (op == BinaryOp::Eq),
                None => return Err(self.compared(left, &l, right, &r)),
            },
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if l.is_null() || r.is_null() {
                    return Ok(Value::Bool(false));
                }
                let Some(ordering) = order(&l, &r) else {
                    return Err(self.compared(left, &l, right, &r));
                };
                match op {
                    BinaryOp::Lt => ordering.is_lt(),
                    BinaryOp::Le => ordering.is_le(),
                    BinaryOp::Gt => ordering.is_gt(),
                    _ => ordering.is_ge(),
                }
            }
            BinaryOp::In | BinaryOp::NotIn => match &r {
                Value::List(items) => {
                    let found = self.member(left, &l, right, items)?;
                    found == (op == BinaryOp::In)
                }
                Value::Null => false,
                other => {
                    let message = format!(
                        "`{}` is {}, not a list",
                        self.text(right.span),
                        other.describe()
                    );
                    return Err(self.problem(message));
                }
            },
            BinaryOp::Contains => match (&l, &r) {
                (Value::Null, _) | (Value::String(_), Value::Null) => false,
                (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
                (Value::List(items), _) => self.member(right, &r, left, items)?,
                _ => return Err(self.compared(left, &l, right, &r)),
            },
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                return self.arithmetic(op, left, l, right, r)
            }
            // Handled before, to decide without evaluating both sides.
            BinaryOp::And | BinaryOp::Or => return Err(Mismatch),
        };
        Ok(Value::Bool(result))
    }

    /// Whether `x` (the value of `x_expr`) equals an item of the list `items` (the value of
    /// `list_expr`); a mismatch only when no item is equal and some could not be compared.
    fn member(
        &mut self,
        x_expr: &Expr,
        x: &Value,
        list_expr: &Expr,
        items: &[Value],
    ) -> Result<bool, Mismatch> {
        let mut incomparable: Option<&Value> = None;
        for item in items {
            match equal(x, item) {
                Some(true) => return Ok(true),
                Some(false) => {}
                None => incomparable = incomparable.or(Some(item)),
            }
        }
        match incomparable {
            None => Ok(false),
            Some(item) => {
                let message = format!(
                    "`{}` is {}, but `{}` holds {}",
                    self.text(x_expr.span),
                    x.describe(),
                    self.text(list_expr.span),
                    item.describe()
                );
                Err(self.problem(message))
            }
        }
    }

    fn arithmetic(&mut self, op: BinaryOp, left: &Expr, l: Value, right: &Expr, r: Value) -> Out {
        use Value::{Duration as D, Null, Number as N, Timestamp as T};
        let (l, r) = time_operands(l, r);
        Ok(match (op, &l, &r) {
            (_, Null, _) | (_, _, Null) => Null,
            (BinaryOp::Add, N(x), N(y)) => number(x + y),
            (BinaryOp::Sub, N(x), N(y)) => number(x - y),
            (BinaryOp::Mul, N(x), N(y)) => number(x * y),
            (BinaryOp::Div, N(_), N(y)) if *y == 0.0 => Null,
            (BinaryOp::Div, N(x), N(y)) => number(x / y),
            (BinaryOp::Add, T(t), D(d)) | (BinaryOp::Add, D(d), T(t)) => T(t.plus(*d)),
            (BinaryOp::Sub, T(t), D(d)) => T(Timestamp(t.millis().saturating_sub(d.millis()))),
            (BinaryOp::Sub, T(a), T(b)) => D(Duration(a.millis().saturating_sub(b.millis()))),
            (BinaryOp::Add, D(a), D(b)) => D(Duration(a.millis().saturating_add(b.millis()))),
            (BinaryOp::Sub, D(a), D(b)) => D(Duration(a.millis().saturating_sub(b.millis()))),
            _ => {
                let message = format!(
                    "`{}` cannot combine {} (`{}`) and {} (`{}`)",
                    op.symbol(),
                    l.describe(),
                    self.text(left.span),
                    r.describe(),
                    self.text(right.span)
                );
                return Err(self.problem(message));
            }
        })
    }

    fn matches(&mut self, subject: &Expr, regex: Option<&Regex>) -> Out {
        let value = self.eval(subject)?;
        match (&value, regex) {
            (Value::Null, _) => Ok(Value::Bool(false)),
            (Value::String(s), Some(regex)) => Ok(Value::Bool(regex.is_match(s))),
            (Value::String(_), None) => Err(self.problem(
                "the pattern after `matches` was refused when the condition was checked".to_owned(),
            )),
            (other, _) => {
                let message = format!(
                    "`{}` is {}, and `matches` needs a string",
                    self.text(subject.span),
                    other.describe()
                );
                Err(self.problem(message))
            }
        }
    }

    fn call(&mut self, function: Function, args: &[Expr]) -> Out {
        let [arg] = args else {
            return Err(self.problem(format!(
                "`{}` takes one argument, found {}",
                function.name(),
                args.len()
            )));
        };
        if function == Function::Exists {
            return match &arg.kind {
                ExprKind::Path(path) => Ok(Value::Bool(!self.read(path).is_null())),
                _ => Err(self.problem("`exists` takes a field".to_owned())),
            };
        }
        let value = self.eval(arg)?;
        let result = match (function, value) {
            (_, Value::Null) => Some(Value::Null),
            (Function::Len, Value::String(s)) => Some(number(s.chars().count() as f64)),
            (Function::Len, Value::List(items)) => Some(number(items.len() as f64)),
            (Function::Len, Value::Object(map)) => Some(number(map.len() as f64)),
            (Function::Lower, Value::String(s)) => Some(Value::String(s.to_lowercase())),
            (Function::DaysSince | Function::HoursSince, value) => {
                let at = match value {
                    Value::Timestamp(t) => Some(t),
                    Value::String(s) => parse_time(&s),
                    _ => None,
                };
                at.map(|at| {
                    let unit = if function == Function::DaysSince {
                        Duration::DAY
                    } else {
                        Duration::HOUR
                    };
                    let elapsed = self.now.millis().saturating_sub(at.millis());
                    number(elapsed.div_euclid(unit.millis()) as f64)
                })
            }
            _ => None,
        };
        match result {
            Some(value) => Ok(value),
            None => {
                let wanted = match function {
                    Function::Len => "a string or a list",
                    Function::Lower => "a string",
                    _ => "a timestamp",
                };
                let message = format!(
                    "`{}` is not {wanted}, as `{}` needs",
                    self.text(arg.span),
                    function.name()
                );
                Err(self.problem(message))
            }
        }
    }
}
