//! Recursive descent over the tokens. Chains of `and`/`or` are loops (flat lists), so only
//! parentheses and `not` nest, and those are counted against [`MAX_DEPTH`](super::MAX_DEPTH).

use super::lexer::{Tok, Token};
use super::{CmpOp, ConditionError, ErrorKind, Expr, MAX_DEPTH};

pub(crate) struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, tokens: Vec<Token>) -> Self {
        Parser { text, tokens, pos: 0 }
    }

    /// The whole condition: one expression, then nothing.
    pub(crate) fn parse(mut self) -> Result<Expr, ConditionError> {
        let expr = self.or(0)?;
        match self.peek() {
            None => Ok(expr),
            Some(token) => Err(self.expected("`and`, `or` or the end of the condition", token)),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next_is(&self, tok: &Tok) -> bool {
        self.peek().is_some_and(|t| &t.tok == tok)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, ConditionError> {
        let mut terms = vec![self.and(depth)?];
        while self.next_is(&Tok::Or) {
            self.pos += 1;
            terms.push(self.and(depth)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, ConditionError> {
        let mut terms = vec![self.unary(depth)?];
        while self.next_is(&Tok::And) {
            self.pos += 1;
            terms.push(self.unary(depth)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ConditionError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.at_end("`value`, `not` or `(`"));
        };
        match token.tok {
            Tok::Not | Tok::LParen if depth >= MAX_DEPTH => {
                Err(ConditionError::new(token.start, ErrorKind::TooDeep { max: MAX_DEPTH }))
            }
            Tok::Not => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Tok::LParen => {
                self.pos += 1;
                let inner = self.or(depth + 1)?;
                match self.peek() {
                    Some(t) if t.tok == Tok::RParen => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    Some(t) => Err(self.expected("`)`, `and` or `or`", t)),
                    None => Err(ConditionError::new(token.start, ErrorKind::Unclosed)),
                }
            }
            Tok::Value => {
                self.pos += 1;
                self.comparison()
            }
            Tok::Number(_) => Err(ConditionError::new(token.start, ErrorKind::NumberFirst)),
            _ => Err(self.expected("`value`, `not` or `(`", &token)),
        }
    }

    /// After `value`: an operator and a number.
    fn comparison(&mut self) -> Result<Expr, ConditionError> {
        let op = match self.peek() {
            Some(Token { tok: Tok::Op(op), .. }) => *op,
            Some(t) => return Err(self.expected(OPERATORS, t)),
            None => return Err(self.at_end(OPERATORS)),
        };
        self.pos += 1;
        let number = match self.peek() {
            Some(Token { tok: Tok::Number(n), .. }) => *n,
            Some(t) => return Err(self.expected("a number", t)),
            None => return Err(self.at_end("a number")),
        };
        self.pos += 1;
        Ok(Expr::Cmp(op, number))
    }

    fn expected(&self, expected: &'static str, found: &Token) -> ConditionError {
        let text = &self.text[found.start..found.end];
        ConditionError::new(found.start, ErrorKind::Expected { expected, found: found.tok.describe(text) })
    }

    fn at_end(&self, expected: &'static str) -> ConditionError {
        let found = "the end of the condition".to_owned();
        ConditionError::new(self.text.len(), ErrorKind::Expected { expected, found })
    }
}

const OPERATORS: &str = "a comparison (`<`, `<=`, `>`, `>=`, `==` or `!=`)";

impl CmpOp {
    pub(crate) fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
        }
    }
}
