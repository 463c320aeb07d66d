//! The OTTL condition grammar, as the collector's `pkg/ottl` defines it:
//!
//! ```text
//! condition  := term ("or" term)*
//! term       := boolValue ("and" boolValue)*
//! boolValue  := "not"? ( comparison | "true" | "false" | Converter(...) | "(" condition ")" )
//! comparison := value ("==" | "!=" | "<" | "<=" | ">" | ">=") value
//! value      := "nil" | bool | string | int | float | 0xBYTES | ENUM | Converter(...) | path
//! path       := field ("." field)*        field := lowercase_name ("[" (string | int) "]")*
//! ```
//!
//! `and` binds tighter than `or`; `not` applies to the one value after it. Math expressions,
//! list and map literals, editors and named arguments are recognised and rejected with a
//! message, so a user learns why the condition is refused rather than just where.
//!
//! This stage builds a raw tree; binding paths and functions to a context is in `bind`.

use super::lexer::{lex, CmpOp, Tok, Token};
use super::ParseError;

/// An index on a path field: `attributes["k"]` or `[0]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A map key.
    Str(String),
    /// A list index.
    Int(i64),
}

/// One field of a path as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawField {
    pub name: String,
    pub keys: Vec<Key>,
    pub pos: usize,
}

/// A value as written, with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawValue {
    pub pos: usize,
    pub kind: RawKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawKind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Enum(String),
    Path(Vec<RawField>),
    Call { name: String, args: Vec<RawValue> },
}

/// A boolean expression as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawBool {
    Or(Vec<RawBool>),
    And(Vec<RawBool>),
    Not(Box<RawBool>),
    Const(bool),
    Cmp(RawValue, CmpOp, RawValue),
    /// A converter call used as a boolean (`IsMatch(name, "x")`).
    Call(RawValue),
}

impl RawBool {
    /// Visits every value in the tree (including function arguments).
    pub(crate) fn for_each_value(&self, f: &mut dyn FnMut(&RawValue)) {
        fn walk_value(v: &RawValue, f: &mut dyn FnMut(&RawValue)) {
            f(v);
            if let RawKind::Call { args, .. } = &v.kind {
                for a in args {
                    walk_value(a, f);
                }
            }
        }
        match self {
            RawBool::Or(xs) | RawBool::And(xs) => xs.iter().for_each(|x| x.for_each_value(f)),
            RawBool::Not(x) => x.for_each_value(f),
            RawBool::Const(_) => {}
            RawBool::Cmp(a, _, b) => {
                walk_value(a, f);
                walk_value(b, f);
            }
            RawBool::Call(v) => walk_value(v, f),
        }
    }
}

/// How deeply parentheses, `not` and function-call arguments may nest. Parsing, binding,
/// evaluating and dropping a condition each recurse once per level, so without a bound a
/// condition such as 4000 `(` overflows the stack (found by the `ottl` fuzz target).
pub(crate) const MAX_NESTING: usize = 100;

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    i: usize,
    /// Current nesting level (parentheses, `not`, call arguments).
    depth: usize,
}

/// Parses one condition into a raw tree.
pub(crate) fn parse(src: &str) -> Result<RawBool, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        depth: 0,
    };
    if matches!(p.peek(), Tok::Eof) {
        return Err(p.err_here("empty condition".into()));
    }
    let expr = p.bool_expr()?;
    match p.peek() {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(p.err_here("unbalanced `)`".into())),
        other => {
            let msg = format!(
                "unexpected {} after a complete condition (expected `and`, `or` or the end)",
                other.describe()
            );
            Err(p.err_here(msg))
        }
    }
}

fn is_keyword(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s == kw)
}

impl<'s> Parser<'s> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let j = (self.i + n).min(self.toks.len() - 1);
        &self.toks[j].tok
    }

    fn pos(&self) -> usize {
        self.toks[self.i].pos
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err_at(&self, pos: usize, msg: String) -> ParseError {
        ParseError::new(self.src, pos, msg)
    }

    fn err_here(&self, msg: String) -> ParseError {
        self.err_at(self.pos(), msg)
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<Token, ParseError> {
        if *self.peek() == want {
            Ok(self.bump())
        } else {
            let msg = format!("expected {what}, found {}", self.peek().describe());
            Err(self.err_here(msg))
        }
    }

    /// Runs `f` one nesting level deeper, failing at the current token (the `(`, `not` or
    /// argument that would open level [`MAX_NESTING`] + 1).
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err_here(format!(
                "the condition nests more than {MAX_NESTING} levels deep (parentheses, `not` and function calls)"
            )));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn bool_expr(&mut self) -> Result<RawBool, ParseError> {
        let mut terms = vec![self.term()?];
        while is_keyword(self.peek(), "or") {
            self.bump();
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            RawBool::Or(terms)
        })
    }

    fn term(&mut self) -> Result<RawBool, ParseError> {
        let mut vals = vec![self.bool_value()?];
        while is_keyword(self.peek(), "and") {
            self.bump();
            vals.push(self.bool_value()?);
        }
        Ok(if vals.len() == 1 {
            vals.pop().expect("one value")
        } else {
            RawBool::And(vals)
        })
    }

    fn bool_value(&mut self) -> Result<RawBool, ParseError> {
        if is_keyword(self.peek(), "not") {
            let inner = self.nested(|p| {
                p.bump();
                p.bool_value()
            })?;
            return Ok(RawBool::Not(Box::new(inner)));
        }
        if matches!(self.peek(), Tok::LParen) {
            let inner = self.nested(|p| {
                p.bump();
                p.bool_expr()
            })?;
            self.expect(Tok::RParen, "`)`")?;
            if let Tok::Cmp(_) | Tok::Math(_) = self.peek() {
                return Err(self.err_here(
                    "parentheses group conditions here; math sub-expressions are not supported"
                        .into(),
                ));
            }
            return Ok(inner);
        }
        let left = self.value()?;
        if let Tok::Cmp(op) = *self.peek() {
            self.bump();
            let right = self.value()?;
            if let Tok::Cmp(_) = self.peek() {
                return Err(
                    self.err_here("comparisons cannot be chained; join them with `and`".into())
                );
            }
            return Ok(RawBool::Cmp(left, op, right));
        }
        match left.kind {
            RawKind::Bool(b) => Ok(RawBool::Const(b)),
            RawKind::Call { .. } => Ok(RawBool::Call(left)),
            _ => {
                let msg = format!(
                    "expected a comparison operator (==, !=, <, <=, >, >=) after the value, found {}",
                    self.peek().describe()
                );
                Err(self.err_here(msg))
            }
        }
    }

    fn value(&mut self) -> Result<RawValue, ParseError> {
        let v = self.value_inner()?;
        if let Tok::Math(c) = self.peek() {
            let msg = format!("math expressions (`{c}`) are not supported in filter conditions");
            return Err(self.err_here(msg));
        }
        Ok(v)
    }

    fn value_inner(&mut self) -> Result<RawValue, ParseError> {
        let pos = self.pos();
        let kind = match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                RawKind::Str(s)
            }
            Tok::Int(i) => {
                self.bump();
                RawKind::Int(i)
            }
            Tok::Float(f) => {
                self.bump();
                RawKind::Float(f)
            }
            Tok::Bytes(b) => {
                self.bump();
                RawKind::Bytes(b)
            }
            Tok::LBracket => {
                return Err(self.err_here("list literals are not supported".into()));
            }
            Tok::LBrace => {
                return Err(self.err_here("map literals are not supported".into()));
            }
            Tok::Ident(name) => match name.as_str() {
                "nil" => {
                    self.bump();
                    RawKind::Nil
                }
                "true" | "false" => {
                    self.bump();
                    RawKind::Bool(name == "true")
                }
                "and" | "or" | "not" => {
                    let msg = format!("expected a value, found the keyword `{name}`");
                    return Err(self.err_here(msg));
                }
                _ if name.starts_with(|c: char| c.is_ascii_uppercase()) => {
                    if matches!(self.peek_at(1), Tok::LParen) {
                        self.call()?
                    } else if name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    {
                        self.bump();
                        RawKind::Enum(name)
                    } else {
                        let msg = format!("`{name}` looks like a function call but has no `(`");
                        return Err(self.err_here(msg));
                    }
                }
                _ if matches!(self.peek_at(1), Tok::LParen) => {
                    let msg = format!(
                        "`{name}` is an editor name; a condition can only call converters, whose names start with an uppercase letter"
                    );
                    return Err(self.err_here(msg));
                }
                _ => RawKind::Path(self.path()?),
            },
            other => {
                let msg = format!(
                    "expected a value (a path, literal or function call), found {}",
                    other.describe()
                );
                return Err(self.err_here(msg));
            }
        };
        Ok(RawValue { pos, kind })
    }

    fn call(&mut self) -> Result<RawKind, ParseError> {
        let Tok::Ident(name) = self.bump().tok else {
            unreachable!("call() starts at an identifier")
        };
        self.expect(Tok::LParen, "`(`")?;
        let mut args = Vec::new();
        if !matches!(self.peek(), Tok::RParen) {
            loop {
                if let (Tok::Ident(n), Tok::Assign) = (self.peek(), self.peek_at(1)) {
                    let msg = format!("named arguments (`{n} = …`) are not supported");
                    return Err(self.err_here(msg));
                }
                args.push(self.nested(Self::value)?);
                match self.peek() {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RParen => break,
                    other => {
                        let msg = format!(
                            "expected `,` or `)` in the arguments of {name}, found {}",
                            other.describe()
                        );
                        return Err(self.err_here(msg));
                    }
                }
            }
        }
        self.expect(Tok::RParen, "`)`")?;
        if matches!(self.peek(), Tok::LBracket) {
            return Err(self.err_here("indexing the result of a function is not supported".into()));
        }
        Ok(RawKind::Call { name, args })
    }

    fn path(&mut self) -> Result<Vec<RawField>, ParseError> {
        let mut fields = Vec::new();
        loop {
            let pos = self.pos();
            let name = match self.peek() {
                Tok::Ident(n) if n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') => {
                    n.clone()
                }
                other => {
                    let msg = format!("expected a path field name, found {}", other.describe());
                    return Err(self.err_here(msg));
                }
            };
            self.bump();
            let mut keys = Vec::new();
            while matches!(self.peek(), Tok::LBracket) {
                self.bump();
                let key = match self.peek().clone() {
                    Tok::Str(s) => Key::Str(s),
                    Tok::Int(i) => Key::Int(i),
                    other => {
                        let msg = format!(
                            "expected a string or integer key inside `[ ]`, found {}",
                            other.describe()
                        );
                        return Err(self.err_here(msg));
                    }
                };
                self.bump();
                self.expect(Tok::RBracket, "`]`")?;
                keys.push(key);
            }
            fields.push(RawField { name, keys, pos });
            if matches!(self.peek(), Tok::Dot) {
                self.bump();
            } else {
                break;
            }
        }
        Ok(fields)
    }
}
