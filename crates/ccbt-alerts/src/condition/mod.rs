//! Conditions: `value < 10 KiB and not (value == 0)`, parsed into a small tree and matched against
//! numbers. Never evaluated as code: the only thing a condition can do is compare `value`.
//! The grammar is in the crate docs.

mod lexer;
mod parser;

use std::fmt;

/// The longest condition accepted, in bytes. Keeps hostile input cheap; real conditions are short.
pub const MAX_LEN: usize = 512;
/// The deepest nesting of parentheses and `not` accepted (the parser recurses on those only).
pub const MAX_DEPTH: usize = 16;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// The parsed form of a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `value OP number` (the number with its unit applied).
    Cmp(CmpOp, f64),
    /// Every term holds.
    And(Vec<Expr>),
    /// At least one term holds.
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    /// Whether the expression holds for `value`. A NaN matches nothing but `!=` (IEEE rules);
    /// the evaluator never passes one (a non-finite metric counts as missing).
    pub fn matches(&self, value: f64) -> bool {
        match self {
            Expr::Cmp(op, number) => op.holds(value, *number),
            Expr::And(terms) => terms.iter().all(|t| t.matches(value)),
            Expr::Or(terms) => terms.iter().any(|t| t.matches(value)),
            Expr::Not(inner) => !inner.matches(value),
        }
    }
}

/// A parsed condition with the text it came from (kept verbatim for the rules file and listings).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    source: String,
    expr: Expr,
}

impl Condition {
    /// Parses a condition. Errors carry the byte offset in `text` of the problem.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        if text.len() > MAX_LEN {
            return Err(ConditionError::new(MAX_LEN, ErrorKind::TooLong { len: text.len(), max: MAX_LEN }));
        }
        let tokens = lexer::tokenize(text)?;
        if tokens.is_empty() {
            return Err(ConditionError::new(0, ErrorKind::Empty));
        }
        let expr = parser::Parser::new(text, tokens).parse()?;
        Ok(Condition { source: text.to_owned(), expr })
    }

    /// Whether the condition holds for `value`.
    pub fn matches(&self, value: f64) -> bool {
        self.expr.matches(value)
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Parses a number with an optional unit, as in a condition (`10240`, `10 KiB`, `1.5MiB/s`):
/// the value of `ccbt alerts test --value`.
pub fn parse_quantity(text: &str) -> Result<f64, ConditionError> {
    if text.len() > MAX_LEN {
        return Err(ConditionError::new(MAX_LEN, ErrorKind::TooLong { len: text.len(), max: MAX_LEN }));
    }
    let tokens = lexer::tokenize(text)?;
    match tokens.as_slice() {
        [lexer::Token { tok: lexer::Tok::Number(n), .. }] => Ok(*n),
        [] => Err(ConditionError::new(0, ErrorKind::Empty)),
        [first, rest @ ..] => {
            let at = if matches!(first.tok, lexer::Tok::Number(_)) { rest[0].start } else { first.start };
            let expected = "a number with an optional unit";
            let found = format!("`{}`", text[at..].trim_end());
            Err(ConditionError::new(at, ErrorKind::Expected { expected, found }))
        }
    }
}

/// A condition that does not parse: where (byte offset into the condition) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at byte {at}: {kind}")]
pub struct ConditionError {
    pub at: usize,
    pub kind: ErrorKind,
}

impl ConditionError {
    pub(crate) fn new(at: usize, kind: ErrorKind) -> Self {
        ConditionError { at, kind }
    }
}

/// Why a condition does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("the condition is empty; write for example `value < 10 KiB`")]
    Empty,
    #[error("the condition is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("parentheses and `not` nest deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    #[error("`{0}` is not an operator; use `<`, `<=`, `>`, `>=`, `==` or `!=`")]
    LoneOperator(char),
    #[error("unknown word `{0}`; a condition uses only `value`, `and`, `or`, `not`, numbers and units")]
    UnknownWord(String),
    #[error("unknown unit `{0}`; known units: {units}", units = lexer::unit_list())]
    UnknownUnit(String),
    #[error("a unit must follow a number")]
    UnitWithoutNumber,
    #[error("`%` is not supported: metrics are compared in their own unit (a ratio as 0.05)")]
    Percent,
    #[error("`{0}` is not a valid number (digits with an optional fraction, like 10 or 0.5)")]
    BadNumber(String),
    #[error("a comparison is written `value OP number` (`value` first)")]
    NumberFirst,
    #[error("this `(` is never closed")]
    Unclosed,
    #[error("expected {expected}, found {found}")]
    Expected { expected: &'static str, found: String },
}
