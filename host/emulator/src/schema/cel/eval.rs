//! The evaluator: a tree walk over a parsed rule with CEL's semantics for the subset —
//! commutative, error-absorbing `&&`/`||`, heterogeneous numeric equality, checked integer
//! arithmetic, and the comprehension macros. Every node evaluated and every comprehension step
//! costs one unit of a fixed budget, so a rule over a large list ends in bounded time.
//!
//! Errors come in three kinds. [`EvalError::Runtime`] is an error the real server reports too
//! (`no such key: tenant`, `index out of bounds: 3`, `division by zero`, `integer overflow`).
//! [`EvalError::Unsupported`] means the evaluator cannot decide (a value or operation outside
//! the subset, or a type mismatch the real server's type checker would have caught when the
//! CRD was created): the rule is skipped, never failed. [`EvalError::Cost`] is the budget.

use std::cmp::Ordering;
use std::rc::Rc;

use super::parse::{BinOp, Expr, Literal, Macro};
use super::value::{Key, Map, Val};
use crate::schema::pattern::Regex;

/// Evaluation steps one rule may take (the real server's per-call limit is a cost estimate of
/// the same order: one million).
const MAX_STEPS: u64 = 1_000_000;

/// Why an evaluation did not produce a value.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    /// A CEL runtime error, reported as the real server reports it.
    Runtime(String),
    /// Outside the subset: the rule is skipped.
    Unsupported(String),
    /// The step budget ran out.
    Cost,
}

type Result<T> = std::result::Result<T, EvalError>;

fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(EvalError::Unsupported(what.into()))
}

fn runtime<T>(what: impl Into<String>) -> Result<T> {
    Err(EvalError::Runtime(what.into()))
}

/// Evaluates `expr` with `self` (and `oldSelf` for transition rules) bound.
///
/// # Errors
/// See [`EvalError`].
pub fn evaluate(expr: &Expr, this: Val, old: Option<Val>) -> Result<Val> {
    let mut vars = vec![("self".to_owned(), this)];
    if let Some(old) = old {
        vars.push(("oldSelf".to_owned(), old));
    }
    let mut ev = Evaluator { steps: 0, vars };
    ev.eval(expr)
}

struct Evaluator {
    steps: u64,
    vars: Vec<(String, Val)>,
}

fn literal(l: &Literal) -> Val {
    match l {
        Literal::Null => Val::Null,
        Literal::Bool(b) => Val::Bool(*b),
        Literal::Int(i) => Val::Int(*i),
        Literal::Uint(u) => Val::Uint(*u),
        Literal::Double(d) => Val::Double(*d),
        Literal::Str(s) => Val::Str(s.clone()),
    }
}

/// CEL equality: structural, numbers compared by value across int/uint/double, values of
/// different types unequal.
pub fn equal(a: &Val, b: &Val) -> Result<bool> {
    Ok(match (a, b) {
        (Val::Opaque, _) | (_, Val::Opaque) => return unsupported("opaque value"),
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (
            Val::Int(_) | Val::Uint(_) | Val::Double(_),
            Val::Int(_) | Val::Uint(_) | Val::Double(_),
        ) => numeric_cmp(a, b) == Some(Ordering::Equal),
        (Val::List(x), Val::List(y)) => {
            if x.items.len() != y.items.len() {
                return Ok(false);
            }
            if x.unordered || y.unordered {
                for item in &x.items {
                    let mut found = false;
                    for other in &y.items {
                        if equal(item, other)? {
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Ok(false);
                    }
                }
                true
            } else {
                for (p, q) in x.items.iter().zip(&y.items) {
                    if !equal(p, q)? {
                        return Ok(false);
                    }
                }
                true
            }
        }
        (Val::Map(x), Val::Map(y)) => {
            if x.entries.len() != y.entries.len() {
                return Ok(false);
            }
            for (k, v) in &x.entries {
                match y.entries.get(k) {
                    Some(w) if equal(v, w)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        _ => false,
    })
}

/// Numeric order across int, uint and double; `None` for NaN or non-numbers.
fn numeric_cmp(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Uint(x), Val::Uint(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Uint(y)) => Some(if *x < 0 {
            Ordering::Less
        } else {
            (*x as u64).cmp(y)
        }),
        (Val::Uint(_), Val::Int(_)) => numeric_cmp(b, a).map(Ordering::reverse),
        (Val::Double(x), Val::Double(y)) => x.partial_cmp(y),
        (Val::Double(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Double(x), Val::Uint(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Int(_) | Val::Uint(_), Val::Double(_)) => numeric_cmp(b, a).map(Ordering::reverse),
        _ => None,
    }
}

fn is_number(v: &Val) -> bool {
    matches!(v, Val::Int(_) | Val::Uint(_) | Val::Double(_))
}

fn compare(op: BinOp, a: &Val, b: &Val) -> Result<bool> {
    let ord = match (a, b) {
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ if is_number(a) && is_number(b) => numeric_cmp(a, b),
        _ => return unsupported("comparison of these types"),
    };
    let Some(ord) = ord else {
        return Ok(false); // NaN
    };
    Ok(match op {
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        BinOp::Ge => ord != Ordering::Less,
        _ => return unsupported("not a comparison"),
    })
}

fn overflow<T>(v: Option<T>, what: &str) -> Result<T> {
    match v {
        Some(v) => Ok(v),
        None => runtime(what),
    }
}

fn arithmetic(op: BinOp, a: &Val, b: &Val) -> Result<Val> {
    const INT: &str = "integer overflow";
    const UINT: &str = "unsigned integer overflow";
    Ok(match (op, a, b) {
        (BinOp::Add, Val::Int(x), Val::Int(y)) => Val::Int(overflow(x.checked_add(*y), INT)?),
        (BinOp::Sub, Val::Int(x), Val::Int(y)) => Val::Int(overflow(x.checked_sub(*y), INT)?),
        (BinOp::Mul, Val::Int(x), Val::Int(y)) => Val::Int(overflow(x.checked_mul(*y), INT)?),
        (BinOp::Div | BinOp::Rem, Val::Int(_), Val::Int(0)) => {
            return runtime(if op == BinOp::Div {
                "division by zero"
            } else {
                "modulus by zero"
            });
        }
        (BinOp::Div, Val::Int(x), Val::Int(y)) => Val::Int(overflow(x.checked_div(*y), INT)?),
        (BinOp::Rem, Val::Int(x), Val::Int(y)) => Val::Int(overflow(x.checked_rem(*y), INT)?),
        (BinOp::Add, Val::Uint(x), Val::Uint(y)) => Val::Uint(overflow(x.checked_add(*y), UINT)?),
        (BinOp::Sub, Val::Uint(x), Val::Uint(y)) => Val::Uint(overflow(x.checked_sub(*y), UINT)?),
        (BinOp::Mul, Val::Uint(x), Val::Uint(y)) => Val::Uint(overflow(x.checked_mul(*y), UINT)?),
        (BinOp::Div | BinOp::Rem, Val::Uint(_), Val::Uint(0)) => {
            return runtime(if op == BinOp::Div {
                "division by zero"
            } else {
                "modulus by zero"
            });
        }
        (BinOp::Div, Val::Uint(x), Val::Uint(y)) => Val::Uint(x / y),
        (BinOp::Rem, Val::Uint(x), Val::Uint(y)) => Val::Uint(x % y),
        (BinOp::Add, Val::Double(x), Val::Double(y)) => Val::Double(x + y),
        (BinOp::Sub, Val::Double(x), Val::Double(y)) => Val::Double(x - y),
        (BinOp::Mul, Val::Double(x), Val::Double(y)) => Val::Double(x * y),
        (BinOp::Div, Val::Double(x), Val::Double(y)) => Val::Double(x / y),
        (BinOp::Add, Val::Str(x), Val::Str(y)) => Val::Str(format!("{x}{y}").into()),
        (BinOp::Add, Val::List(x), Val::List(y)) => {
            Val::list(x.items.iter().chain(&y.items).cloned().collect())
        }
        _ => return unsupported("arithmetic on these types"),
    })
}

fn string_arg(args: &[Val], i: usize) -> Result<&str> {
    match args.get(i) {
        Some(Val::Str(s)) => Ok(s),
        _ => unsupported("expected a string argument"),
    }
}

fn int_arg(args: &[Val], i: usize) -> Result<i64> {
    match args.get(i) {
        Some(Val::Int(n)) => Ok(*n),
        _ => unsupported("expected an int argument"),
    }
}

/// Go's `strings.SplitN` (the Kubernetes strings library's `split`).
fn split(s: &str, sep: &str, n: i64) -> Vec<Val> {
    if n == 0 {
        return Vec::new();
    }
    let parts: Vec<&str> = if sep.is_empty() {
        let chars: Vec<&str> = s
            .char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect();
        if n > 0 && chars.len() > n as usize {
            let head = n as usize - 1;
            let rest_at: usize = chars[..head].iter().map(|c| c.len()).sum();
            chars[..head]
                .iter()
                .copied()
                .chain([&s[rest_at..]])
                .collect()
        } else {
            chars
        }
    } else if n > 0 {
        s.splitn(n as usize, sep).collect()
    } else {
        s.split(sep).collect()
    };
    parts.into_iter().map(Val::str).collect()
}

/// Calls a function; `args` includes the receiver first for method calls.
fn call(func: &str, method: bool, args: &[Val]) -> Result<Val> {
    let arity = args.len();
    Ok(match (func, method, args.first()) {
        ("size", _, Some(Val::Str(s))) if arity == 1 => Val::Int(s.chars().count() as i64),
        ("size", _, Some(Val::List(l))) if arity == 1 => Val::Int(l.items.len() as i64),
        ("size", _, Some(Val::Map(m))) if arity == 1 => Val::Int(m.entries.len() as i64),
        ("contains", true, Some(Val::Str(s))) if arity == 2 => {
            Val::Bool(s.contains(string_arg(args, 1)?))
        }
        ("startsWith", true, Some(Val::Str(s))) if arity == 2 => {
            Val::Bool(s.starts_with(string_arg(args, 1)?))
        }
        ("endsWith", true, Some(Val::Str(s))) if arity == 2 => {
            Val::Bool(s.ends_with(string_arg(args, 1)?))
        }
        ("matches", _, Some(Val::Str(s))) if arity == 2 => {
            let Ok(re) = Regex::compile(string_arg(args, 1)?) else {
                return unsupported("regular expression outside the supported subset");
            };
            if re.too_costly(s) {
                return unsupported("regular expression match too costly");
            }
            Val::Bool(re.is_match(s))
        }
        ("lowerAscii", true, Some(Val::Str(s))) if arity == 1 => Val::str(&s.to_ascii_lowercase()),
        ("upperAscii", true, Some(Val::Str(s))) if arity == 1 => Val::str(&s.to_ascii_uppercase()),
        ("trim", true, Some(Val::Str(s))) if arity == 1 => Val::str(s.trim()),
        ("split", true, Some(Val::Str(s))) if arity == 2 || arity == 3 => {
            let n = if arity == 3 { int_arg(args, 2)? } else { -1 };
            Val::list(split(s, string_arg(args, 1)?, n))
        }
        ("replace", true, Some(Val::Str(s))) if arity == 3 || arity == 4 => {
            let (from, to) = (string_arg(args, 1)?, string_arg(args, 2)?);
            let n = if arity == 4 { int_arg(args, 3)? } else { -1 };
            if from.is_empty() {
                return unsupported("replace with an empty pattern");
            }
            if n < 0 {
                Val::str(&s.replace(from, to))
            } else {
                Val::str(&s.replacen(from, to, n as usize))
            }
        }
        ("join", true, Some(Val::List(l))) if arity == 1 || arity == 2 => {
            let sep = if arity == 2 { string_arg(args, 1)? } else { "" };
            let mut parts = Vec::with_capacity(l.items.len());
            for item in &l.items {
                match item {
                    Val::Str(s) => parts.push(s.to_string()),
                    _ => return unsupported("join of non-strings"),
                }
            }
            Val::str(&parts.join(sep))
        }
        ("dyn", false, Some(v)) if arity == 1 => v.clone(),
        ("int", false, Some(v)) if arity == 1 => match v {
            Val::Int(i) => Val::Int(*i),
            Val::Uint(u) => Val::Int(overflow(i64::try_from(*u).ok(), "integer overflow")?),
            Val::Double(d)
                if d.is_finite()
                    && *d > -9.223_372_036_854_776e18
                    && *d < 9.223_372_036_854_776e18 =>
            {
                Val::Int(d.trunc() as i64)
            }
            Val::Double(_) => return runtime("range error converting double to int"),
            Val::Str(s) => match s.parse::<i64>() {
                Ok(i) => Val::Int(i),
                Err(_) => return runtime("type conversion error from 'string' to 'int'"),
            },
            _ => return unsupported("int() of this type"),
        },
        ("uint", false, Some(v)) if arity == 1 => match v {
            Val::Uint(u) => Val::Uint(*u),
            Val::Int(i) => Val::Uint(overflow(
                u64::try_from(*i).ok(),
                "unsigned integer overflow",
            )?),
            Val::Str(s) => match s.parse::<u64>() {
                Ok(u) => Val::Uint(u),
                Err(_) => return runtime("type conversion error from 'string' to 'uint'"),
            },
            _ => return unsupported("uint() of this type"),
        },
        ("double", false, Some(v)) if arity == 1 => match v {
            Val::Double(d) => Val::Double(*d),
            Val::Int(i) => Val::Double(*i as f64),
            Val::Uint(u) => Val::Double(*u as f64),
            Val::Str(s) => match s.parse::<f64>() {
                Ok(d) => Val::Double(d),
                Err(_) => return runtime("type conversion error from 'string' to 'double'"),
            },
            _ => return unsupported("double() of this type"),
        },
        ("string", false, Some(v)) if arity == 1 => match v {
            Val::Str(s) => Val::Str(s.clone()),
            Val::Int(i) => Val::str(&i.to_string()),
            Val::Uint(u) => Val::str(&u.to_string()),
            Val::Bool(b) => Val::str(&b.to_string()),
            _ => return unsupported("string() of this type"),
        },
        ("bool", false, Some(v)) if arity == 1 => match v {
            Val::Bool(b) => Val::Bool(*b),
            Val::Str(s) => match &**s {
                "1" | "t" | "true" | "TRUE" | "True" => Val::Bool(true),
                "0" | "f" | "false" | "FALSE" | "False" => Val::Bool(false),
                _ => return runtime("type conversion error from 'string' to 'bool'"),
            },
            _ => return unsupported("bool() of this type"),
        },
        _ => return unsupported(format!("no overload of {func} for these arguments")),
    })
}

/// Whether a comprehension step's value is `true`, `false`, or not a bool.
fn truth(v: &Val) -> Result<bool> {
    match v {
        Val::Bool(b) => Ok(*b),
        _ => unsupported("a predicate that is not a bool"),
    }
}

impl Evaluator {
    fn step(&mut self) -> Result<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            Err(EvalError::Cost)
        } else {
            Ok(())
        }
    }

    fn eval(&mut self, e: &Expr) -> Result<Val> {
        self.step()?;
        match e {
            Expr::Lit(l) => Ok(literal(l)),
            Expr::Ident(name) => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => Ok(v.clone()),
                None => unsupported(format!("{name} is not bound")),
            },
            Expr::Select {
                operand,
                field,
                test,
            } => {
                let v = self.eval(operand)?;
                let Val::Map(m) = v else {
                    return unsupported("field selection on a non-object");
                };
                let found = m.entries.get(&Key::Str(field.as_str().into()));
                match (test, found) {
                    (true, found) => Ok(Val::Bool(found.is_some())),
                    (false, Some(v)) => Ok(v.clone()),
                    (false, None) => runtime(format!("no such key: {field}")),
                }
            }
            Expr::Index(operand, index) => {
                let v = self.eval(operand)?;
                let i = self.eval(index)?;
                match (&v, &i) {
                    (Val::List(l), Val::Int(_) | Val::Uint(_)) => {
                        let n = match i {
                            Val::Int(n) => usize::try_from(n).ok(),
                            Val::Uint(n) => usize::try_from(n).ok(),
                            _ => None,
                        };
                        match n.and_then(|n| l.items.get(n)) {
                            Some(item) => Ok(item.clone()),
                            None => runtime(format!("index out of bounds: {}", index_text(&i))),
                        }
                    }
                    (Val::Map(m), key) => {
                        let Some(k) = Key::of(key) else {
                            return unsupported("map index of this type");
                        };
                        match m.entries.get(&k) {
                            Some(v) => Ok(v.clone()),
                            None => runtime(format!("no such key: {}", k.text())),
                        }
                    }
                    _ => unsupported("index on this type"),
                }
            }
            Expr::Call { target, func, args } => {
                let mut values = Vec::with_capacity(args.len() + 1);
                if let Some(t) = target {
                    values.push(self.eval(t)?);
                }
                for a in args {
                    values.push(self.eval(a)?);
                }
                call(func, target.is_some(), &values)
            }
            Expr::Not(a) => match self.eval(a)? {
                Val::Bool(b) => Ok(Val::Bool(!b)),
                _ => unsupported("! of a non-bool"),
            },
            Expr::Neg(a) => match self.eval(a)? {
                Val::Int(i) => Ok(Val::Int(overflow(i.checked_neg(), "integer overflow")?)),
                Val::Double(d) => Ok(Val::Double(-d)),
                _ => unsupported("negation of this type"),
            },
            Expr::And(a, b) => self.logic(a, b, false),
            Expr::Or(a, b) => self.logic(a, b, true),
            Expr::Cond(c, then, otherwise) => match self.eval(c)? {
                Val::Bool(true) => self.eval(then),
                Val::Bool(false) => self.eval(otherwise),
                _ => unsupported("a condition that is not a bool"),
            },
            Expr::Binary(op, a, b) => {
                let x = self.eval(a)?;
                let y = self.eval(b)?;
                match op {
                    BinOp::Eq => Ok(Val::Bool(equal(&x, &y)?)),
                    BinOp::Ne => Ok(Val::Bool(!equal(&x, &y)?)),
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        Ok(Val::Bool(compare(*op, &x, &y)?))
                    }
                    BinOp::In => self.contains(&y, &x),
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                        arithmetic(*op, &x, &y)
                    }
                }
            }
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?);
                }
                Ok(Val::list(out))
            }
            Expr::Map(entries) => {
                let mut map = Map::default();
                for (k, v) in entries {
                    let key = self.eval(k)?;
                    let Some(key) = Key::of(&key) else {
                        return unsupported("map key of this type");
                    };
                    let value = self.eval(v)?;
                    if map.entries.insert(key, value).is_some() {
                        return unsupported("repeated map key");
                    }
                }
                Ok(Val::Map(Rc::new(map)))
            }
            Expr::Comprehension {
                kind,
                range,
                var,
                filter,
                body,
            } => {
                let range = self.eval(range)?;
                let items: Vec<Val> = match &range {
                    Val::List(l) => l.items.clone(),
                    Val::Map(m) => m.entries.keys().map(Key::to_val).collect(),
                    _ => return unsupported("comprehension over this type"),
                };
                self.comprehension(*kind, &items, var, filter.as_deref(), body)
            }
        }
    }

    fn contains(&mut self, container: &Val, item: &Val) -> Result<Val> {
        match container {
            Val::List(l) => {
                for other in &l.items {
                    self.step()?;
                    if equal(item, other)? {
                        return Ok(Val::Bool(true));
                    }
                }
                Ok(Val::Bool(false))
            }
            Val::Map(m) => match Key::of(item) {
                Some(k) => Ok(Val::Bool(m.entries.contains_key(&k))),
                None => unsupported("in: key of this type"),
            },
            _ => unsupported("in: not a list or map"),
        }
    }

    /// `a && b` (`or` false) or `a || b` (`or` true): the deciding value wins over an error on
    /// either side, as in CEL; otherwise the first error.
    fn logic(&mut self, a: &Expr, b: &Expr, or: bool) -> Result<Val> {
        let decides = |r: &Result<Val>| matches!(r, Ok(Val::Bool(v)) if *v == or);
        let left = self.eval(a);
        if decides(&left) || matches!(left, Err(EvalError::Cost)) {
            return left;
        }
        let right = self.eval(b);
        if decides(&right) || matches!(right, Err(EvalError::Cost)) {
            return right;
        }
        match (left, right) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(Val::Bool(_)), Ok(Val::Bool(_))) => Ok(Val::Bool(!or)),
            _ => unsupported("&& or || of a non-bool"),
        }
    }

    fn with_var<T>(&mut self, var: &str, value: Val, f: impl FnOnce(&mut Self) -> T) -> T {
        self.vars.push((var.to_owned(), value));
        let out = f(self);
        self.vars.pop();
        out
    }

    fn comprehension(
        &mut self,
        kind: Macro,
        items: &[Val],
        var: &str,
        filter: Option<&Expr>,
        body: &Expr,
    ) -> Result<Val> {
        match kind {
            Macro::All | Macro::Exists => {
                // all: stops at the first false; exists: at the first true. Errors are kept
                // and returned only if nothing decided the result.
                let decisive = kind == Macro::Exists;
                let mut error = None;
                for item in items {
                    self.step()?;
                    match self.with_var(var, item.clone(), |ev| ev.eval(body)) {
                        Ok(v) => {
                            if truth(&v)? == decisive {
                                return Ok(Val::Bool(decisive));
                            }
                        }
                        Err(EvalError::Cost) => return Err(EvalError::Cost),
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                }
                match error {
                    Some(e) => Err(e),
                    None => Ok(Val::Bool(!decisive)),
                }
            }
            Macro::ExistsOne => {
                let mut count = 0usize;
                for item in items {
                    self.step()?;
                    let v = self.with_var(var, item.clone(), |ev| ev.eval(body))?;
                    if truth(&v)? {
                        count += 1;
                    }
                }
                Ok(Val::Bool(count == 1))
            }
            Macro::Filter => {
                let mut out = Vec::new();
                for item in items {
                    self.step()?;
                    let v = self.with_var(var, item.clone(), |ev| ev.eval(body))?;
                    if truth(&v)? {
                        out.push(item.clone());
                    }
                }
                Ok(Val::list(out))
            }
            Macro::Map => {
                let mut out = Vec::new();
                for item in items {
                    self.step()?;
                    let keep = match filter {
                        Some(f) => truth(&self.with_var(var, item.clone(), |ev| ev.eval(f))?)?,
                        None => true,
                    };
                    if keep {
                        out.push(self.with_var(var, item.clone(), |ev| ev.eval(body))?);
                    }
                }
                Ok(Val::list(out))
            }
        }
    }
}

fn index_text(i: &Val) -> String {
    match i {
        Val::Int(n) => n.to_string(),
        Val::Uint(n) => format!("{n}u"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::cel::parse::parse;
    use crate::schema::cel::value::from_json;
    use serde_json::{Value, json};

    fn run(rule: &str, this: Value) -> Result<Val> {
        run_old(rule, this, None)
    }

    fn run_old(rule: &str, this: Value, old: Option<Value>) -> Result<Val> {
        let e = parse(rule).unwrap_or_else(|err| panic!("{rule}: {err}"));
        evaluate(
            &e,
            from_json(&this, None, false),
            old.map(|o| from_json(&o, None, false)),
        )
    }

    fn yes(rule: &str, this: Value) -> bool {
        match run(rule, this) {
            Ok(Val::Bool(b)) => b,
            other => panic!("{rule}: {other:?}"),
        }
    }

    #[test]
    fn the_rules_of_deploy_crds() {
        let unique = "self.all(p, self.exists_one(q, q.name == p.name))";
        assert!(yes(unique, json!([{"name": "a"}, {"name": "b"}])));
        assert!(!yes(
            unique,
            json!([{"name": "a"}, {"name": "b"}, {"name": "a"}])
        ));
        assert!(yes(unique, json!([])));
        let one_of = "has(self.configMap) != has(self.file)";
        assert!(yes(one_of, json!({"file": "m.wasm"})));
        assert!(!yes(
            one_of,
            json!({"file": "m.wasm", "configMap": {"name": "x"}})
        ));
        assert!(!yes(one_of, json!({})));
        let version = "self.minVersion.split('.').size() >= 2";
        assert!(yes(version, json!({"minVersion": "1.30"})));
        assert!(!yes(version, json!({"minVersion": "130"})));
        assert_eq!(
            run(version, json!({})).err(),
            Some(EvalError::Runtime("no such key: minVersion".into()))
        );
        let immutable = "self.tenant == oldSelf.tenant";
        let check = |new: Value, old: Value| run_old(immutable, new, Some(old)).unwrap();
        assert!(matches!(
            check(json!({"tenant": "a"}), json!({"tenant": "a"})),
            Val::Bool(true)
        ));
        assert!(matches!(
            check(json!({"tenant": "b"}), json!({"tenant": "a"})),
            Val::Bool(false)
        ));
    }

    #[test]
    fn operators() {
        let t = json!({"n": 3, "s": "abc", "l": [1, 2, 3], "m": {"k": "v"}, "d": 1.5});
        for rule in [
            "self.n == 3 && self.n != 4 && self.n < 4 && self.n <= 3 && self.n > 2 && self.n >= 3",
            "self.n + 1 == 4 && self.n - 1 == 2 && self.n * 2 == 6 && self.n / 2 == 1 && self.n % 2 == 1",
            "-self.n == -3 && !(self.n == 4)",
            "self.s + 'd' == 'abcd' && self.s < 'abd' && 'b' in ['a', 'b']",
            "2 in self.l && !(5 in self.l) && 'k' in self.m && self.m['k'] == 'v' && self.l[0] == 1",
            "self.d > 1 && self.d < self.n && 1 == 1.0 && 2u == 2",
            "size(self.s) == 3 && self.l.size() == 3 && size(self.m) == 1",
            "self.s.startsWith('ab') && self.s.endsWith('bc') && self.s.contains('b')",
            "self.s.matches('^a.c$') && !self.s.matches('^x')",
            "'A-b'.lowerAscii() == 'a-b' && 'a'.upperAscii() == 'A' && ' x '.trim() == 'x'",
            "['a', 'b'].join('-') == 'a-b' && 'a.b.c'.split('.', 2) == ['a', 'b.c']",
            "'aXbX'.replace('X', '.') == 'a.b.' && int('42') == 42 && string(7) == '7'",
            "self.n > 2 ? true : false",
            "self.l.map(x, x * 2) == [2, 4, 6] && self.l.filter(x, x > 1) == [2, 3]",
            "self.l.map(x, x > 1, x * 10) == [20, 30]",
            "self.l.exists(x, x == 2) && !self.l.exists(x, x == 9) && self.l.all(x, x > 0)",
            "self.m.all(k, k == 'k') && {'a': 1}['a'] == 1 && [1, [2]] == [1, [2]]",
            "null == null && !(null == 0) && has(self.m.k) && !has(self.m.z)",
        ] {
            assert!(yes(rule, t.clone()), "{rule}");
        }
    }

    #[test]
    fn runtime_errors_are_reported_and_absorbed_like_cel() {
        let t = json!({"l": [1], "m": {}, "n": 0});
        let err = |rule: &str| match run(rule, t.clone()) {
            Err(EvalError::Runtime(m)) => m,
            other => panic!("{rule}: {other:?}"),
        };
        assert_eq!(err("self.l[3] == 1"), "index out of bounds: 3");
        assert_eq!(err("self.m.x == 1"), "no such key: x");
        assert_eq!(err("self.m['y'] == 1"), "no such key: y");
        assert_eq!(err("1 / self.n == 1"), "division by zero");
        assert_eq!(err("1 % self.n == 1"), "modulus by zero");
        assert_eq!(err("9223372036854775807 + 1 > 0"), "integer overflow");
        // false && error, error && false, true || error, error || true.
        assert!(!yes("false && self.m.x == 1", t.clone()));
        assert!(!yes("self.m.x == 1 && false", t.clone()));
        assert!(yes("self.m.x == 1 || true", t.clone()));
        assert!(yes("true || self.m.x == 1", t.clone()));
        // all() is decided by a false even after an error; exists() by a true.
        assert!(!yes("[0, 1].all(x, 1 / x == 1 && false)", t.clone()));
        assert!(yes("[0, 1].exists(x, 1 / x == 1)", t.clone()));
        assert_eq!(err("[0, 1].all(x, 1 / x == 1)"), "division by zero");
    }

    #[test]
    fn type_mismatches_are_unsupported_not_failures() {
        for rule in [
            "self.s > 1",
            "self.s + 1 == 2",
            "!self.s",
            "self.s.all(x, true)",
            "self.s.size() == self.n.x",
        ] {
            assert!(
                matches!(
                    run(rule, json!({"s": "a", "n": 1})),
                    Err(EvalError::Unsupported(_))
                ),
                "{rule}"
            );
        }
    }

    #[test]
    fn sets_compare_without_order() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "b": {"type": "array", "items": {"type": "string"}}}});
        let this = from_json(
            &json!({"a": ["x", "y"], "b": ["y", "x"]}),
            Some(&schema),
            false,
        );
        let e = parse("self.a == self.b && self.a == ['y', 'x']").unwrap();
        assert!(matches!(
            evaluate(&e, this.clone(), None),
            Ok(Val::Bool(true))
        ));
        let e = parse("self.b == ['x', 'y']").unwrap();
        assert!(matches!(evaluate(&e, this, None), Ok(Val::Bool(false))));
    }

    #[test]
    fn the_budget_bounds_quadratic_rules() {
        let big: Vec<Value> = (0..2_000)
            .map(|i| json!({"name": format!("p{i}")}))
            .collect();
        let rule = "self.all(p, self.exists_one(q, q.name == p.name))";
        assert_eq!(run(rule, Value::Array(big)).err(), Some(EvalError::Cost));
        let small: Vec<Value> = (0..50).map(|i| json!({"name": format!("p{i}")})).collect();
        assert!(yes(rule, Value::Array(small)));
    }

    #[test]
    fn split_is_go_strings_split() {
        let texts = |v: Vec<Val>| -> Vec<String> {
            v.iter()
                .map(|x| match x {
                    Val::Str(s) => s.to_string(),
                    _ => panic!(),
                })
                .collect()
        };
        assert_eq!(texts(split("1.30.0", ".", -1)), ["1", "30", "0"]);
        assert_eq!(texts(split("", ".", -1)), [""]);
        assert_eq!(texts(split("abc", "", -1)), ["a", "b", "c"]);
        assert_eq!(texts(split("abc", "", 2)), ["a", "bc"]);
        assert!(split("a.b", ".", 0).is_empty());
    }
}
