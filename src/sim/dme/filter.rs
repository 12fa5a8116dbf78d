//! The DME `query-target-filter` language: a recursive-descent parser and an evaluator.
//!
//! Grammar (whitespace between tokens is ignored):
//! ```text
//! expr    := compare | logic
//! compare := ("eq" | "ne" | "gt" | "lt" | "ge" | "le" | "wcard") "(" property "," value ")"
//! logic   := ("and" | "or") "(" expr ("," expr)* ")" | "not" "(" expr ")"
//! property:= class "." attribute
//! value   := '"' any character but '"' '"' | bare text up to "," or ")"
//! ```
//! Semantics chosen where public material is silent (INFER):
//! - A comparison on another class than the object's is false, so in a subtree query
//!   `eq(ethpmPhysIf.operSt,"down")` keeps only `ethpmPhysIf` objects (and `not(...)` of it keeps
//!   the others).
//! - A missing attribute compares as the empty string.
//! - `gt`/`lt`/`ge`/`le` compare numerically when both sides are numbers, else as strings (which
//!   orders `modTs` timestamps correctly).
//! - `wcard` is a "regex-ish" match: unanchored (a substring match) unless the pattern starts with
//!   `^` or ends with `$`; `*` and `.*` match any run of characters; every other character is
//!   literal.

use std::cmp::Ordering;
use std::fmt;

use super::attrs::Attrs;

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare {
        op: CompareOp,
        class: String,
        attribute: String,
        value: String,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Wcard,
}

/// Why a filter did not parse; the message names the position (in characters) and what was
/// expected, and becomes the text of the device's 400 error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    /// Parses a whole filter expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            position: 0,
        };
        let filter = parser.expr()?;
        parser.skip_spaces();
        if parser.position < parser.chars.len() {
            return Err(parser.error("unexpected text after the end of the expression"));
        }
        Ok(filter)
    }

    /// Evaluates the filter on an object of class `class`.
    pub fn matches(&self, class: &str, attrs: &Attrs) -> bool {
        match self {
            Filter::Compare {
                op,
                class: wanted,
                attribute,
                value,
            } => wanted == class && compare(*op, attrs.get(attribute).unwrap_or(""), value),
            Filter::And(terms) => terms.iter().all(|term| term.matches(class, attrs)),
            Filter::Or(terms) => terms.iter().any(|term| term.matches(class, attrs)),
            Filter::Not(term) => !term.matches(class, attrs),
        }
    }
}

fn compare(op: CompareOp, actual: &str, expected: &str) -> bool {
    match op {
        CompareOp::Eq => actual == expected,
        CompareOp::Ne => actual != expected,
        CompareOp::Gt => order(actual, expected) == Ordering::Greater,
        CompareOp::Lt => order(actual, expected) == Ordering::Less,
        CompareOp::Ge => order(actual, expected) != Ordering::Less,
        CompareOp::Le => order(actual, expected) != Ordering::Greater,
        CompareOp::Wcard => wildcard_match(actual, expected),
    }
}

fn order(actual: &str, expected: &str) -> Ordering {
    match (actual.parse::<f64>(), expected.parse::<f64>()) {
        (Ok(left), Ok(right)) => left.partial_cmp(&right).unwrap_or(Ordering::Equal),
        _ => actual.cmp(expected),
    }
}

/// The `wcard` match described in the module documentation.
pub fn wildcard_match(text: &str, pattern: &str) -> bool {
    let anchored_start = pattern.starts_with('^');
    let anchored_end = pattern.ends_with('$') && pattern.len() > usize::from(anchored_start);
    let core = &pattern[usize::from(anchored_start)..pattern.len() - usize::from(anchored_end)];
    let mut pieces: Vec<&str> = core
        .split(".*")
        .flat_map(|piece| piece.split('*'))
        .collect();
    if !anchored_start {
        pieces.insert(0, "");
    }
    if !anchored_end {
        pieces.push("");
    }
    glob_pieces(text, &pieces)
}

/// Matches `text` against literal `pieces` separated by "any run": the first piece is a prefix,
/// the last a suffix, the ones between appear in order (leftmost match is optimal for globs).
fn glob_pieces(text: &str, pieces: &[&str]) -> bool {
    let [first, middle @ .., last] = pieces else {
        return pieces.first().is_none_or(|only| *only == text);
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for piece in middle {
        match rest.find(piece) {
            Some(index) => rest = &rest[index + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

struct Parser {
    chars: Vec<char>,
    position: usize,
}

impl Parser {
    fn expr(&mut self) -> Result<Filter, FilterError> {
        self.skip_spaces();
        let start = self.position;
        let name = self.identifier();
        if name.is_empty() {
            return Err(
                self.error("expected an operator such as eq, ne, gt, lt, wcard, and, or, not")
            );
        }
        self.expect('(')?;
        let filter = match name.as_str() {
            "and" | "or" => {
                let mut terms = vec![self.expr()?];
                while self.accept(',') {
                    terms.push(self.expr()?);
                }
                if name == "and" {
                    Filter::And(terms)
                } else {
                    Filter::Or(terms)
                }
            }
            "not" => Filter::Not(Box::new(self.expr()?)),
            _ => self.comparison(&name, start)?,
        };
        self.expect(')')?;
        Ok(filter)
    }

    fn comparison(&mut self, name: &str, start: usize) -> Result<Filter, FilterError> {
        let op = match name {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "gt" => CompareOp::Gt,
            "lt" => CompareOp::Lt,
            "ge" => CompareOp::Ge,
            "le" => CompareOp::Le,
            "wcard" => CompareOp::Wcard,
            other => {
                return Err(FilterError {
                    position: start,
                    message: format!("unknown filter operator {other:?}"),
                });
            }
        };
        self.skip_spaces();
        let class = self.identifier();
        if class.is_empty() || !self.accept('.') {
            return Err(self.error("expected a property written class.attribute"));
        }
        let attribute = self.identifier();
        if attribute.is_empty() {
            return Err(self.error("expected an attribute name after the class"));
        }
        self.expect(',')?;
        let value = self.value()?;
        Ok(Filter::Compare {
            op,
            class,
            attribute,
            value,
        })
    }

    fn value(&mut self) -> Result<String, FilterError> {
        self.skip_spaces();
        if self.accept('"') {
            let start = self.position;
            while self.position < self.chars.len() && self.chars[self.position] != '"' {
                self.position += 1;
            }
            if self.position == self.chars.len() {
                return Err(FilterError {
                    position: start,
                    message: "unterminated quoted value".into(),
                });
            }
            let value = self.chars[start..self.position].iter().collect();
            self.position += 1;
            return Ok(value);
        }
        let start = self.position;
        while self.position < self.chars.len() && !matches!(self.chars[self.position], ',' | ')') {
            self.position += 1;
        }
        Ok(self.chars[start..self.position]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned())
    }

    fn identifier(&mut self) -> String {
        let start = self.position;
        while self.position < self.chars.len()
            && (self.chars[self.position].is_ascii_alphanumeric()
                || matches!(self.chars[self.position], '_' | '-'))
        {
            self.position += 1;
        }
        self.chars[start..self.position].iter().collect()
    }

    fn expect(&mut self, wanted: char) -> Result<(), FilterError> {
        if self.accept(wanted) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {wanted:?}")))
        }
    }

    fn accept(&mut self, wanted: char) -> bool {
        self.skip_spaces();
        let found = self.chars.get(self.position) == Some(&wanted);
        if found {
            self.position += 1;
        }
        found
    }

    fn skip_spaces(&mut self) {
        while self
            .chars
            .get(self.position)
            .is_some_and(|c| c.is_whitespace())
        {
            self.position += 1;
        }
    }

    fn error(&self, message: &str) -> FilterError {
        FilterError {
            position: self.position,
            message: message.to_owned(),
        }
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
