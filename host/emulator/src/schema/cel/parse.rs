//! Lexer and recursive-descent parser for the CEL subset: one pass over the text, one token of
//! look-ahead, nesting capped at [`MAX_DEPTH`], so any input is parsed (or refused) in linear
//! time without exhausting the stack.
//!
//! Whatever is outside the subset — bytes literals, optional syntax (`.?`), functions and
//! identifiers the evaluator does not know — is a parse error; the caller then skips the rule.

use std::rc::Rc;

/// Nesting cap while parsing (parentheses, calls, unary operators).
const MAX_DEPTH: usize = 64;
/// Depth cap of the finished tree (long `&&` chains nest too): the evaluator recurses over it.
const MAX_TREE_DEPTH: usize = 256;
/// Rules longer than this are refused (the real server caps a rule's cost, not its length; no
/// sensible rule is this long).
const MAX_LEN: usize = 16 * 1024;

/// Functions the evaluator implements, as receiver methods or global calls (with their arity
/// checked in `eval`). Anything else makes the rule unparsable, so it is skipped.
const FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "lowerAscii",
    "upperAscii",
    "trim",
    "split",
    "join",
    "replace",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "dyn",
];

/// A constant in the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Rc<str>),
}

/// Binary operators other than the short-circuiting `&&` and `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// The comprehension macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Macro {
    All,
    Exists,
    ExistsOne,
    Map,
    Filter,
}

/// The syntax tree of one rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Literal),
    Ident(String),
    /// `operand.field`; `has(operand.field)` when `test`.
    Select {
        operand: Box<Expr>,
        field: String,
        test: bool,
    },
    Index(Box<Expr>, Box<Expr>),
    /// `target.func(args)` or `func(args)`.
    Call {
        target: Option<Box<Expr>>,
        func: String,
        args: Vec<Expr>,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    /// `range.all(var, body)` and friends; `map(var, filter, body)` has a `filter`.
    Comprehension {
        kind: Macro,
        range: Box<Expr>,
        var: String,
        filter: Option<Box<Expr>>,
        body: Box<Expr>,
    },
}

impl Expr {
    /// The direct sub-expressions.
    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Lit(_) | Expr::Ident(_) => Vec::new(),
            Expr::Select { operand, .. } => vec![operand],
            Expr::Index(a, b) | Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
                vec![a, b]
            }
            Expr::Call { target, args, .. } => target.iter().map(|t| &**t).chain(args).collect(),
            Expr::Not(a) | Expr::Neg(a) => vec![a],
            Expr::Cond(a, b, c) => vec![a, b, c],
            Expr::List(items) => items.iter().collect(),
            Expr::Map(entries) => entries.iter().flat_map(|(k, v)| [k, v]).collect(),
            Expr::Comprehension {
                range,
                filter,
                body,
                ..
            } => [&**range]
                .into_iter()
                .chain(filter.as_deref())
                .chain([&**body])
                .collect(),
        }
    }

    /// The tree's depth, computed without recursion.
    fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1)];
        while let Some((e, d)) = stack.pop() {
            deepest = deepest.max(d);
            stack.extend(e.children().into_iter().map(|c| (c, d + 1)));
        }
        deepest
    }

    /// Whether the expression reads `oldSelf` (a transition rule).
    pub fn uses(&self, name: &str) -> bool {
        match self {
            Expr::Lit(_) => false,
            Expr::Ident(n) => n == name,
            Expr::Select { operand, .. } => operand.uses(name),
            Expr::Index(a, b) | Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
                a.uses(name) || b.uses(name)
            }
            Expr::Call { target, args, .. } => {
                target.as_ref().is_some_and(|t| t.uses(name)) || args.iter().any(|a| a.uses(name))
            }
            Expr::Not(a) | Expr::Neg(a) => a.uses(name),
            Expr::Cond(a, b, c) => a.uses(name) || b.uses(name) || c.uses(name),
            Expr::List(items) => items.iter().any(|i| i.uses(name)),
            Expr::Map(entries) => entries.iter().any(|(k, v)| k.uses(name) || v.uses(name)),
            Expr::Comprehension {
                range,
                filter,
                body,
                ..
            } => {
                range.uses(name) || filter.as_ref().is_some_and(|f| f.uses(name)) || body.uses(name)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Literal),
    Punct(&'static str),
}

const PUNCTS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "!", "-",
    "+", "*", "/", "%", "<", ">",
];

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let (lit, next) = lex_number(&chars, i)?;
            toks.push(Tok::Lit(lit));
            i = next;
            continue;
        }
        let raw = matches!(c, 'r' | 'R') && matches!(chars.get(i + 1), Some('\'' | '"'));
        if c == '\'' || c == '"' || raw {
            let start = if raw { i + 1 } else { i };
            let (s, next) = lex_string(&chars, start, raw)?;
            toks.push(Tok::Lit(Literal::Str(s.into())));
            i = next;
            continue;
        }
        if matches!(c, 'b' | 'B') && matches!(chars.get(i + 1), Some('\'' | '"')) {
            return Err("bytes literals are not supported".into());
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            toks.push(match word.as_str() {
                "true" => Tok::Lit(Literal::Bool(true)),
                "false" => Tok::Lit(Literal::Bool(false)),
                "null" => Tok::Lit(Literal::Null),
                "in" => Tok::Punct("in"),
                _ => Tok::Ident(word),
            });
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            Some(p) => {
                toks.push(Tok::Punct(p));
                i += p.len();
            }
            None => return Err(format!("unexpected character {c:?}")),
        }
    }
    Ok(toks)
}

fn lex_number(chars: &[char], mut i: usize) -> Result<(Literal, usize), String> {
    let start = i;
    if chars[i] == '0' && matches!(chars.get(i + 1), Some('x' | 'X')) {
        i += 2;
        let digits_start = i;
        while i < chars.len() && chars[i].is_ascii_hexdigit() {
            i += 1;
        }
        let digits: String = chars[digits_start..i].iter().collect();
        if matches!(chars.get(i), Some('u' | 'U')) {
            let v = u64::from_str_radix(&digits, 16).map_err(|e| e.to_string())?;
            return Ok((Literal::Uint(v), i + 1));
        }
        let v = i64::from_str_radix(&digits, 16).map_err(|e| e.to_string())?;
        return Ok((Literal::Int(v), i));
    }
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    let mut double = false;
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        double = true;
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if chars.get(j).is_some_and(char::is_ascii_digit) {
            double = true;
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = chars[start..i].iter().collect();
    if double {
        let v: f64 = text
            .parse()
            .map_err(|e: std::num::ParseFloatError| e.to_string())?;
        return Ok((Literal::Double(v), i));
    }
    if matches!(chars.get(i), Some('u' | 'U')) {
        let v: u64 = text
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string())?;
        return Ok((Literal::Uint(v), i + 1));
    }
    let v: i64 = text
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    Ok((Literal::Int(v), i))
}

fn lex_string(chars: &[char], i: usize, raw: bool) -> Result<(String, usize), String> {
    let quote = chars[i];
    let triple = chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote);
    let mut j = if triple { i + 3 } else { i + 1 };
    let mut out = String::new();
    loop {
        let Some(&c) = chars.get(j) else {
            return Err("unterminated string".into());
        };
        if c == quote {
            if !triple {
                return Ok((out, j + 1));
            }
            if chars.get(j + 1) == Some(&quote) && chars.get(j + 2) == Some(&quote) {
                return Ok((out, j + 3));
            }
        }
        if !triple && (c == '\n' || c == '\r') {
            return Err("newline in string".into());
        }
        if c == '\\' && !raw {
            let (decoded, next) = escape(chars, j + 1)?;
            out.push(decoded);
            j = next;
            continue;
        }
        out.push(c);
        j += 1;
    }
}

fn escape(chars: &[char], i: usize) -> Result<(char, usize), String> {
    let Some(&c) = chars.get(i) else {
        return Err("unterminated escape".into());
    };
    let simple = match c {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' | '\'' | '"' | '`' | '?' => Some(c),
        _ => None,
    };
    if let Some(s) = simple {
        return Ok((s, i + 1));
    }
    let (len, radix, start) = match c {
        'x' | 'X' => (2, 16, i + 1),
        'u' => (4, 16, i + 1),
        'U' => (8, 16, i + 1),
        '0'..='3' => (3, 8, i),
        _ => return Err(format!("invalid escape \\{c}")),
    };
    let digits: String = chars
        .get(start..start + len)
        .unwrap_or_default()
        .iter()
        .collect();
    if digits.chars().count() != len {
        return Err("short escape".into());
    }
    let code = u32::from_str_radix(&digits, radix).map_err(|e| e.to_string())?;
    let decoded = char::from_u32(code).ok_or_else(|| format!("invalid code point {code}"))?;
    Ok((decoded, start + len))
}

/// Parses one rule.
///
/// # Errors
/// A description of the first thing outside the subset (the rule is then skipped).
pub fn parse(src: &str) -> Result<Expr, String> {
    if src.len() > MAX_LEN {
        return Err("rule too long".into());
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        scope: vec!["self".into(), "oldSelf".into()],
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    if e.depth() > MAX_TREE_DEPTH {
        return Err("rule nested too deeply".into());
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    /// Identifiers in scope: `self`, `oldSelf` and comprehension variables.
    scope: Vec<String>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, punct: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(p)) if *p == punct) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), String> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(format!("expected {punct:?}, found {:?}", self.peek()))
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err("rule nested too deeply".into())
        } else {
            Ok(())
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let cond = self.or()?;
        let e = if self.eat("?") {
            let then = self.or()?;
            self.expect(":")?;
            let otherwise = self.expr()?;
            Expr::Cond(Box::new(cond), Box::new(then), Box::new(otherwise))
        } else {
            cond
        };
        self.depth -= 1;
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.relation()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.relation()?));
        }
        Ok(e)
    }

    fn relation(&mut self) -> Result<Expr, String> {
        let mut e = self.addition()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct("==")) => BinOp::Eq,
                Some(Tok::Punct("!=")) => BinOp::Ne,
                Some(Tok::Punct("<")) => BinOp::Lt,
                Some(Tok::Punct("<=")) => BinOp::Le,
                Some(Tok::Punct(">")) => BinOp::Gt,
                Some(Tok::Punct(">=")) => BinOp::Ge,
                Some(Tok::Punct("in")) => BinOp::In,
                _ => return Ok(e),
            };
            self.pos += 1;
            e = Expr::Binary(op, Box::new(e), Box::new(self.addition()?));
        }
    }

    fn addition(&mut self) -> Result<Expr, String> {
        let mut e = self.multiplication()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct("+")) => BinOp::Add,
                Some(Tok::Punct("-")) => BinOp::Sub,
                _ => return Ok(e),
            };
            self.pos += 1;
            e = Expr::Binary(op, Box::new(e), Box::new(self.multiplication()?));
        }
    }

    fn multiplication(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct("*")) => BinOp::Mul,
                Some(Tok::Punct("/")) => BinOp::Div,
                Some(Tok::Punct("%")) => BinOp::Rem,
                _ => return Ok(e),
            };
            self.pos += 1;
            e = Expr::Binary(op, Box::new(e), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let e = if self.eat("!") {
            Expr::Not(Box::new(self.unary()?))
        } else if self.eat("-") {
            match self.peek() {
                // `-9223372036854775808` is a valid literal although its magnitude is not.
                Some(Tok::Lit(Literal::Uint(_))) => return Err("negative uint".into()),
                _ => Expr::Neg(Box::new(self.unary()?)),
            }
        } else {
            self.member()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn member(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                let Some(Tok::Ident(name)) = self.peek().cloned() else {
                    return Err(format!("expected a field name, found {:?}", self.peek()));
                };
                self.pos += 1;
                if self.eat("(") {
                    e = self.method(e, name)?;
                } else {
                    e = Expr::Select {
                        operand: Box::new(e),
                        field: name,
                        test: false,
                    };
                }
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(index));
            } else {
                return Ok(e);
            }
        }
    }

    /// `target.name(` has been read.
    fn method(&mut self, target: Expr, name: String) -> Result<Expr, String> {
        let kind = match name.as_str() {
            "all" => Some(Macro::All),
            "exists" => Some(Macro::Exists),
            "exists_one" | "existsOne" => Some(Macro::ExistsOne),
            "map" => Some(Macro::Map),
            "filter" => Some(Macro::Filter),
            _ => None,
        };
        if let Some(kind) = kind {
            let Some(Tok::Ident(var)) = self.peek().cloned() else {
                return Err(format!("{name}: expected a variable name"));
            };
            self.pos += 1;
            self.expect(",")?;
            self.scope.push(var.clone());
            let first = self.expr()?;
            let (filter, body) = if kind == Macro::Map && self.eat(",") {
                (Some(Box::new(first)), self.expr()?)
            } else {
                (None, first)
            };
            self.scope.pop();
            self.expect(")")?;
            return Ok(Expr::Comprehension {
                kind,
                range: Box::new(target),
                var,
                filter,
                body: Box::new(body),
            });
        }
        if !FUNCTIONS.contains(&name.as_str()) {
            return Err(format!("function {name} is not supported"));
        }
        let args = self.args()?;
        Ok(Expr::Call {
            target: Some(Box::new(target)),
            func: name,
            args,
        })
    }

    /// Arguments after `(`, through `)`.
    fn args(&mut self) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(tok) = self.peek().cloned() else {
            return Err("unexpected end of rule".into());
        };
        self.pos += 1;
        match tok {
            Tok::Lit(l) => Ok(Expr::Lit(l)),
            Tok::Ident(name) if self.eat("(") => {
                if name == "has" {
                    let arg = self.expr()?;
                    self.expect(")")?;
                    return match arg {
                        Expr::Select { operand, field, .. } => Ok(Expr::Select {
                            operand,
                            field,
                            test: true,
                        }),
                        _ => Err("has() needs a field selection".into()),
                    };
                }
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(format!("function {name} is not supported"));
                }
                let args = self.args()?;
                Ok(Expr::Call {
                    target: None,
                    func: name,
                    args,
                })
            }
            Tok::Ident(name) => {
                if self.scope.contains(&name) {
                    Ok(Expr::Ident(name))
                } else {
                    Err(format!("undeclared reference to {name:?}"))
                }
            }
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct("[") => {
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.expr()?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("]") {
                            break;
                        }
                    }
                }
                Ok(Expr::List(items))
            }
            Tok::Punct("{") => {
                let mut entries = Vec::new();
                if !self.eat("}") {
                    loop {
                        let k = self.expr()?;
                        self.expect(":")?;
                        let v = self.expr()?;
                        entries.push((k, v));
                        if self.eat("}") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("}") {
                            break;
                        }
                    }
                }
                Ok(Expr::Map(entries))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(operand: Expr, field: &str) -> Expr {
        Expr::Select {
            operand: Box::new(operand),
            field: field.into(),
            test: false,
        }
    }

    fn id(n: &str) -> Expr {
        Expr::Ident(n.into())
    }

    #[test]
    fn precedence_and_associativity() {
        let e = parse("self.a || self.b && !self.c == 1 + 2 * 3").unwrap();
        let rhs = Expr::And(
            Box::new(sel(id("self"), "b")),
            Box::new(Expr::Binary(
                BinOp::Eq,
                Box::new(Expr::Not(Box::new(sel(id("self"), "c")))),
                Box::new(Expr::Binary(
                    BinOp::Add,
                    Box::new(Expr::Lit(Literal::Int(1))),
                    Box::new(Expr::Binary(
                        BinOp::Mul,
                        Box::new(Expr::Lit(Literal::Int(2))),
                        Box::new(Expr::Lit(Literal::Int(3))),
                    )),
                )),
            )),
        );
        assert_eq!(e, Expr::Or(Box::new(sel(id("self"), "a")), Box::new(rhs)));
        assert_eq!(
            parse("1 - 2 - 3").unwrap(),
            Expr::Binary(
                BinOp::Sub,
                Box::new(Expr::Binary(
                    BinOp::Sub,
                    Box::new(Expr::Lit(Literal::Int(1))),
                    Box::new(Expr::Lit(Literal::Int(2)))
                )),
                Box::new(Expr::Lit(Literal::Int(3)))
            )
        );
    }

    #[test]
    fn the_rules_of_deploy_crds_parse() {
        for rule in [
            "has(self.configMap) != has(self.file)",
            "self.minVersion.split('.').size() >= 2",
            "self.all(p, self.exists_one(q, q.name == p.name))",
            "self.tenant == oldSelf.tenant",
        ] {
            parse(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        }
        let e = parse("self.tenant == oldSelf.tenant").unwrap();
        assert!(e.uses("oldSelf"));
        assert!(!parse("self.a == 1").unwrap().uses("oldSelf"));
    }

    #[test]
    fn literals() {
        let lit = |s: &str| match parse(s).unwrap() {
            Expr::Lit(l) => l,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(lit("42"), Literal::Int(42));
        assert_eq!(lit("0x1F"), Literal::Int(31));
        assert_eq!(lit("7u"), Literal::Uint(7));
        assert_eq!(lit("1.5"), Literal::Double(1.5));
        assert_eq!(lit("2e3"), Literal::Double(2000.0));
        assert_eq!(lit("'a\\'b'"), Literal::Str("a'b".into()));
        assert_eq!(
            lit("\"tab\\tx\\x41\\u00e9\""),
            Literal::Str("tab\tx\u{41}é".into())
        );
        assert_eq!(lit("r'\\d+'"), Literal::Str("\\d+".into()));
        assert_eq!(lit("'''multi\nline'''"), Literal::Str("multi\nline".into()));
        assert_eq!(lit("null"), Literal::Null);
        assert_eq!(lit("true"), Literal::Bool(true));
    }

    #[test]
    fn macros_and_scopes() {
        let e = parse("self.map(x, x > 1, x * 2)").unwrap();
        assert!(matches!(
            e,
            Expr::Comprehension {
                kind: Macro::Map,
                filter: Some(_),
                ..
            }
        ));
        // A comprehension variable is in scope only inside its macro.
        assert!(parse("self.all(x, x > 0) && x > 0").is_err());
        assert!(parse("self.all(x, self.exists(y, x == y))").is_ok());
    }

    #[test]
    fn outside_the_subset_is_refused() {
        for rule in [
            "self.?name == 'x'",
            "b'abc' == self.x",
            "self.x.isSorted()",
            "type(self) == int",
            "request.user == 'x'",
            "has(self)",
            "self.a ==",
            "self.a == 'unterminated",
            "'\\q'",
            "self.a @ 1",
        ] {
            assert!(parse(rule).is_err(), "{rule} should be refused");
        }
    }

    #[test]
    fn hostile_nesting_is_refused_not_overflowed() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let nots = format!("{}true", "!".repeat(10_000));
        assert!(parse(&nots).is_err());
        let long = "self.a == 1 && ".repeat(2_000) + "true";
        assert!(parse(&long).is_err(), "longer than the length cap");
        let chain = "1 == 1 && ".repeat(1_000) + "true";
        assert!(parse(&chain).is_err(), "deeper than the tree cap");
    }
}
