//! A small regular-expression matcher for schema `pattern`s, so the emulator rejects the
//! values a real server rejects (Fleetward's CRDs constrain versions, names and digests with
//! patterns). The emulator has no regex dependency, and patterns in CRDs are short, so this
//! compiles the common RE2 subset to a Pike VM: linear in the input, no catastrophic
//! backtracking whatever the pattern.
//!
//! Supported: literals and escapes, `.`, classes (`[a-z0-9-]`, `[^...]`, `\d\w\s` and
//! negations), groups `(...)`/`(?:...)`, `|`, `* + ?` and `{n}`/`{n,}`/`{n,m}` (lazy forms
//! too), anchors `^ $ \A \z`. Like Go's `regexp.MatchString`, a pattern matches if it matches
//! any substring. Anything else (flags, backreferences, `\b`, Unicode classes) makes
//! [`Regex::compile`] fail, and the caller skips the check rather than guess.

/// Program size cap: nested counted repetitions can blow up; such patterns are skipped.
const MAX_PROGRAM: usize = 20_000;
/// Group nesting cap, so a hostile pattern cannot exhaust the stack.
const MAX_DEPTH: usize = 64;
/// Work cap (input length × program size) for one match; beyond it the check is skipped.
const MAX_WORK: usize = 20_000_000;

#[derive(Debug, Clone)]
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(super) struct Regex {
    program: Vec<Inst>,
}

impl Regex {
    /// Compiles `pattern`; `Err` names the unsupported or malformed construct.
    pub(super) fn compile(pattern: &str) -> Result<Regex, String> {
        let mut parser = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            depth: 0,
        };
        let node = parser.alternation()?;
        if parser.pos != parser.chars.len() {
            return Err(format!("unexpected ')' at {}", parser.pos));
        }
        let mut program = Vec::new();
        emit(&node, &mut program)?;
        program.push(Inst::Match);
        Ok(Regex { program })
    }

    /// Whether matching `text` would exceed the work cap (the caller then skips the check).
    pub(super) fn too_costly(&self, text: &str) -> bool {
        text.len().saturating_mul(self.program.len()) > MAX_WORK
    }

    /// Whether the pattern matches anywhere in `text`.
    pub(super) fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let n = self.program.len();
        let mut current: Vec<usize> = Vec::new();
        let mut next: Vec<usize> = Vec::new();
        let mut seen = vec![usize::MAX; n];
        for pos in 0..=chars.len() {
            // Unanchored search: a new thread starts at every position.
            self.add(&mut current, &mut seen, 0, pos, chars.len());
            let cur = chars.get(pos).copied();
            for &pc in &current {
                let advance = match &self.program[pc] {
                    Inst::Match => return true,
                    Inst::Char(c) => cur == Some(*c),
                    Inst::Any => cur.is_some_and(|c| c != '\n'),
                    Inst::Class(class) => cur.is_some_and(|c| class.matches(c)),
                    _ => false,
                };
                if advance {
                    self.add(&mut next, &mut seen, pc + 1, pos + 1, chars.len());
                }
            }
            std::mem::swap(&mut current, &mut next);
            next.clear();
        }
        false
    }

    /// Adds the thread at `pc` (following jumps and zero-width assertions) to `list`, the
    /// thread list for input position `pos`, at most once per position.
    fn add(&self, list: &mut Vec<usize>, seen: &mut [usize], pc: usize, pos: usize, len: usize) {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            if pc >= self.program.len() || seen[pc] == pos {
                continue;
            }
            seen[pc] = pos;
            match &self.program[pc] {
                Inst::Jmp(to) => stack.push(*to),
                Inst::Split(a, b) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Inst::Start => {
                    if pos == 0 {
                        stack.push(pc + 1);
                    }
                }
                Inst::End => {
                    if pos == len {
                        stack.push(pc + 1);
                    }
                }
                _ => list.push(pc),
            }
        }
    }
}

fn emit(node: &Node, out: &mut Vec<Inst>) -> Result<(), String> {
    if out.len() > MAX_PROGRAM {
        return Err("pattern too large".to_owned());
    }
    match node {
        Node::Empty => {}
        Node::Char(c) => out.push(Inst::Char(*c)),
        Node::Any => out.push(Inst::Any),
        Node::Class(c) => out.push(Inst::Class(c.clone())),
        Node::Start => out.push(Inst::Start),
        Node::End => out.push(Inst::End),
        Node::Concat(nodes) => {
            for n in nodes {
                emit(n, out)?;
            }
        }
        Node::Alt(branches) => {
            // split L1, next; L1: a; jmp end; next: split L2, ...
            let mut jumps = Vec::new();
            for (i, branch) in branches.iter().enumerate() {
                if i + 1 < branches.len() {
                    let split = out.len();
                    out.push(Inst::Split(split + 1, 0));
                    emit(branch, out)?;
                    jumps.push(out.len());
                    out.push(Inst::Jmp(0));
                    let after = out.len();
                    out[split] = Inst::Split(split + 1, after);
                } else {
                    emit(branch, out)?;
                }
            }
            let end = out.len();
            for j in jumps {
                out[j] = Inst::Jmp(end);
            }
        }
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                emit(node, out)?;
            }
            match max {
                None => {
                    let split = out.len();
                    out.push(Inst::Split(split + 1, 0));
                    emit(node, out)?;
                    out.push(Inst::Jmp(split));
                    let after = out.len();
                    out[split] = Inst::Split(split + 1, after);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(out.len());
                        out.push(Inst::Split(out.len() + 1, 0));
                        emit(node, out)?;
                    }
                    let end = out.len();
                    for s in splits {
                        out[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    Ok(())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alternation(&mut self) -> Result<Node, String> {
        let mut branches = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Node::Alt(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.remove(0),
            _ => Node::Concat(items),
        })
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => match self.counted()? {
                Some(bounds) => bounds,
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        self.pos += 1; // the operator, or the closing brace of a counted repetition
        if self.peek() == Some('?') {
            self.pos += 1; // lazy: same set of matches
        }
        if matches!(self.peek(), Some('*' | '+' | '?' | '{')) && self.counted_ahead() {
            return Err("nested repetition operator".to_owned());
        }
        if matches!(atom, Node::Start | Node::End) {
            return Err("repetition of an anchor".to_owned());
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
        })
    }

    fn counted_ahead(&self) -> bool {
        match self.peek() {
            Some('{') => {
                let mut p = Parser {
                    chars: self.chars.clone(),
                    pos: self.pos,
                    depth: self.depth,
                };
                matches!(p.counted(), Ok(Some(_)))
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Parses `{n}`, `{n,}`, `{n,m}` leaving `pos` on the closing brace. `None` (and `pos`
    /// unchanged) when the brace is not a repetition (RE2 then treats it as a literal).
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let start = self.pos;
        let rest: String = self.chars[start..].iter().collect();
        let Some(close) = rest.find('}') else {
            return Ok(None);
        };
        let inner = &rest[1..close];
        let parse = |s: &str| -> Option<u32> {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        let bounds = match inner.split_once(',') {
            None => parse(inner).map(|n| (n, Some(n))),
            Some((lo, "")) => parse(lo).map(|n| (n, None)),
            Some((lo, hi)) => parse(lo).zip(parse(hi)).map(|(a, b)| (a, Some(b))),
        };
        let Some((min, max)) = bounds else {
            return Ok(None);
        };
        if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
            return Err(format!("invalid repeat count {{{inner}}}"));
        }
        self.pos = start + inner.chars().count() + 1; // on the '}'
        Ok(Some((min, max)))
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("unexpected end".to_owned());
        };
        self.pos += 1;
        match c {
            '.' => Ok(Node::Any),
            '^' => Ok(Node::Start),
            '$' => Ok(Node::End),
            '(' => {
                if self.peek() == Some('?') {
                    if self.chars.get(self.pos + 1) == Some(&':') {
                        self.pos += 2;
                    } else {
                        return Err("group flags are not supported".to_owned());
                    }
                }
                if self.depth >= MAX_DEPTH {
                    return Err("groups nested too deeply".to_owned());
                }
                self.depth += 1;
                let inner = self.alternation()?;
                self.depth -= 1;
                if self.peek() != Some(')') {
                    return Err("missing ')'".to_owned());
                }
                self.pos += 1;
                Ok(inner)
            }
            '[' => self.class().map(Node::Class),
            '\\' => self.escape(false),
            '*' | '+' | '?' => Err(format!("missing argument to repetition operator {c}")),
            other => Ok(Node::Char(other)),
        }
    }

    /// After a backslash. In a class, assertions are not allowed.
    fn escape(&mut self, in_class: bool) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("trailing backslash".to_owned());
        };
        self.pos += 1;
        let class = |ranges: &[(char, char)], negated: bool| {
            Ok(Node::Class(Class {
                ranges: ranges.to_vec(),
                negated,
            }))
        };
        const DIGIT: &[(char, char)] = &[('0', '9')];
        const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
        const SPACE: &[(char, char)] = &[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];
        match c {
            'd' => class(DIGIT, false),
            'D' => class(DIGIT, true),
            'w' => class(WORD, false),
            'W' => class(WORD, true),
            's' => class(SPACE, false),
            'S' => class(SPACE, true),
            'A' if !in_class => Ok(Node::Start),
            'z' if !in_class => Ok(Node::End),
            'n' => Ok(Node::Char('\n')),
            't' => Ok(Node::Char('\t')),
            'r' => Ok(Node::Char('\r')),
            'f' => Ok(Node::Char('\x0c')),
            'v' => Ok(Node::Char('\x0b')),
            c if c.is_ascii_punctuation() => Ok(Node::Char(c)),
            other => Err(format!("unsupported escape \\{other}")),
        }
    }

    fn class(&mut self) -> Result<Class, String> {
        let mut negated = false;
        if self.peek() == Some('^') {
            negated = true;
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("missing ']'".to_owned());
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == '[' && self.chars.get(self.pos + 1) == Some(&':') {
                return Err("POSIX classes are not supported".to_owned());
            }
            let lo = self.class_char()?;
            let lo = match lo {
                Node::Char(ch) => ch,
                Node::Class(inner) if !inner.negated => {
                    ranges.extend(inner.ranges);
                    continue;
                }
                _ => return Err("negated escape inside a class is not supported".to_owned()),
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let Node::Char(hi) = self.class_char()? else {
                    return Err("bad class range".to_owned());
                };
                if hi < lo {
                    return Err(format!("invalid class range {lo}-{hi}"));
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Class { ranges, negated })
    }

    fn class_char(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("missing ']'".to_owned());
        };
        self.pos += 1;
        if c == '\\' {
            self.escape(true)
        } else {
            Ok(Node::Char(c))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Regex::compile(pattern).unwrap().is_match(text)
    }

    #[test]
    fn fleetward_crd_patterns() {
        let version = r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$";
        for ok in ["1.30", "v1.30", "1.30.2", "v10.0.11"] {
            assert!(m(version, ok), "{ok}");
        }
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(
            Regex::compile(&deep).unwrap_err(),
            "groups nested too deeply"
        );
        let big = Regex::compile("^[a-z]{1000}$").unwrap();
        assert!(big.too_costly(&"a".repeat(100_000)));
        assert!(!big.too_costly("short"));
        for bad in ["", "1", "1.30.", "v1.30.2.1", "x1.30", "1.30-rc", "1..3"] {
            assert!(!m(version, bad), "{bad}");
        }
        let dns = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
        for ok in ["a", "pool-1", "a1b2"] {
            assert!(m(dns, ok), "{ok}");
        }
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(
            Regex::compile(&deep).unwrap_err(),
            "groups nested too deeply"
        );
        let big = Regex::compile("^[a-z]{1000}$").unwrap();
        assert!(big.too_costly(&"a".repeat(100_000)));
        assert!(!big.too_costly("short"));
        for bad in ["-a", "a-", "A", "a_b", ""] {
            assert!(!m(dns, bad), "{bad}");
        }
        let digest = r"^(sha256:)?[0-9a-f]{64}$";
        let hex = "0123456789abcdef".repeat(4);
        assert!(m(digest, &hex));
        assert!(m(digest, &format!("sha256:{hex}")));
        assert!(!m(digest, &hex[1..]));
        assert!(!m(digest, &format!("{hex}0")));
        assert!(!m(digest, &format!("md5:{hex}")));
    }

    #[test]
    fn unanchored_search_and_operators() {
        assert!(m("b+", "abbc"));
        assert!(!m("^b", "abc"));
        assert!(m("a|b|c", "zzc"));
        assert!(m(r"^\d{2,3}$", "123"));
        assert!(!m(r"^\d{2,3}$", "1234"));
        assert!(m(r"^\d{2,}$", "12345"));
        assert!(m(r"^\w+@\w+\.com$", "me@host.com"));
        assert!(m(r"^[^\s]+$", "no-space"));
        assert!(!m(r"^[^\s]+$", "a space"));
        assert!(m(r"^(?:ab)*?c$", "ababc"));
        assert!(m(r"^a.c$", "abc"));
        assert!(!m(r"^a.c$", "a\nc"));
        assert!(m(r"^[a\-z]+$", "a-z"));
        assert!(m(r"^[-a]+$", "-a-"));
        assert!(m(r"^x{1$", "x{1"), "an unfinished brace is a literal");
        assert!(m(r"\Aab\z", "ab"));
        assert!(m("", "anything"));
        assert!(m("^$", ""));
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let evil = Regex::compile("^(a*)*$").unwrap();
        let text = format!("{}b", "a".repeat(5000));
        assert!(!evil.is_match(&text));
        assert!(
            Regex::compile("^(a|aa)+$")
                .unwrap()
                .is_match(&"a".repeat(5000))
        );
    }

    #[test]
    fn unsupported_or_bad_patterns_fail_to_compile() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(
            Regex::compile(&deep).unwrap_err(),
            "groups nested too deeply"
        );
        let big = Regex::compile("^[a-z]{1000}$").unwrap();
        assert!(big.too_costly(&"a".repeat(100_000)));
        assert!(!big.too_costly("short"));
        for bad in [
            "(?i)abc",
            r"\bword",
            r"(a",
            "a)",
            "*a",
            "[z-a]",
            "[abc",
            r"\p{L}",
            "a**",
            "x{2,1}",
            "((a{100}){100}){100}",
        ] {
            assert!(Regex::compile(bad).is_err(), "{bad}");
        }
    }
}
