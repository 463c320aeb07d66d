//! The OTTL lexer: turns a condition into tokens, each with its byte span.

use super::ParseError;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A word: path segment, keyword (`and`, `or`, `not`, `true`, `false`, `nil`), enum or
    /// function name.
    Ident(String),
    /// A string literal, unquoted.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A bytes literal (`0x0102`).
    Bytes(Vec<u8>),
    /// A comparison operator.
    Cmp(CmpOp),
    /// `+ - * /` (math expressions, not supported in conditions here).
    Math(char),
    /// `=` (named function arguments).
    Assign,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("integer {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Bytes(_) => "bytes literal".into(),
            Tok::Cmp(op) => format!("`{}`", op.as_str()),
            Tok::Math(c) => format!("`{c}`"),
            Tok::Assign => "`=`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::Colon => "`:`".into(),
            Tok::Eof => "end of condition".into(),
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Splits `src` into tokens; the last one is always `Eof`.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let err = |pos: usize, msg: String| ParseError::new(src, pos, msg);
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            b'(' => single(&mut i, Tok::LParen),
            b')' => single(&mut i, Tok::RParen),
            b'[' => single(&mut i, Tok::LBracket),
            b']' => single(&mut i, Tok::RBracket),
            b'{' => single(&mut i, Tok::LBrace),
            b'}' => single(&mut i, Tok::RBrace),
            b',' => single(&mut i, Tok::Comma),
            b':' => single(&mut i, Tok::Colon),
            b'*' | b'/' => single(&mut i, Tok::Math(c as char)),
            b'=' | b'!' | b'<' | b'>' => {
                let next = b.get(i + 1).copied();
                let (tok, len) = match (c, next) {
                    (b'=', Some(b'=')) => (Tok::Cmp(CmpOp::Eq), 2),
                    (b'!', Some(b'=')) => (Tok::Cmp(CmpOp::Ne), 2),
                    (b'<', Some(b'=')) => (Tok::Cmp(CmpOp::Le), 2),
                    (b'>', Some(b'=')) => (Tok::Cmp(CmpOp::Ge), 2),
                    (b'<', _) => (Tok::Cmp(CmpOp::Lt), 1),
                    (b'>', _) => (Tok::Cmp(CmpOp::Gt), 1),
                    (b'=', _) => (Tok::Assign, 1),
                    _ => {
                        return Err(err(
                            start,
                            "unexpected `!`: negation is written `not`, inequality `!=`".into(),
                        ))
                    }
                };
                i += len;
                tok
            }
            b'"' => {
                let (s, end) = lex_string(src, i)?;
                i = end;
                Tok::Str(s)
            }
            b'0' if matches!(b.get(i + 1), Some(b'x')) => {
                i += 2;
                let hs = i;
                while i < b.len() && b[i].is_ascii_hexdigit() {
                    i += 1;
                }
                if i == hs || (i - hs) % 2 != 0 {
                    return Err(err(
                        start,
                        "a bytes literal needs an even number of hex digits after `0x`".into(),
                    ));
                }
                Tok::Bytes(hex::decode(&src[hs..i]).map_err(|e| err(start, e.to_string()))?)
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => {
                let signed = matches!(c, b'+' | b'-');
                let digits_at = if signed { i + 1 } else { i };
                let starts_number = match b.get(digits_at) {
                    Some(d) if d.is_ascii_digit() => true,
                    Some(b'.') => b.get(digits_at + 1).is_some_and(u8::is_ascii_digit),
                    _ => false,
                };
                if !starts_number {
                    if signed {
                        single(&mut i, Tok::Math(c as char))
                    } else {
                        single(&mut i, Tok::Dot)
                    }
                } else {
                    let (tok, end) = lex_number(src, i)?;
                    i = end;
                    tok
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string())
            }
            _ => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(err(start, format!("unexpected character {ch:?}")));
            }
        };
        out.push(Token { tok, pos: start });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

fn single(i: &mut usize, tok: Tok) -> Tok {
    *i += 1;
    tok
}

/// Lexes `[-+]?\d*\.\d+([eE][-+]?\d+)?` (float) or `[-+]?\d+` (int) starting at `start`.
fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let b = src.as_bytes();
    let mut i = start;
    if matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut float = false;
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        float = true;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && matches!(b[i], b'e' | b'E') {
            let mut j = i + 1;
            if j < b.len() && matches!(b[j], b'+' | b'-') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                i = j;
            }
        }
    }
    let text = &src[start..i];
    let tok = if float {
        Tok::Float(
            text.parse()
                .map_err(|_| ParseError::new(src, start, format!("invalid number {text:?}")))?,
        )
    } else {
        Tok::Int(text.parse().map_err(|_| {
            ParseError::new(
                src,
                start,
                format!("integer {text} does not fit in 64 bits"),
            )
        })?)
    };
    Ok((tok, i))
}

/// Lexes a double-quoted string starting at `start` (the quote) with Go-style escapes;
/// returns the unquoted text and the byte after the closing quote.
fn lex_string(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, ch)) = chars.next() {
        let pos = start + 1 + off;
        match ch {
            '"' => return Ok((out, pos + 1)),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        for _ in 0..n {
                            let d = chars.next().and_then(|(_, d)| d.to_digit(16)).ok_or_else(
                                || {
                                    ParseError::new(
                                        src,
                                        pos,
                                        format!("`\\{e}` needs {n} hex digits"),
                                    )
                                },
                            )?;
                            code = code * 16 + d;
                        }
                        out.push(char::from_u32(code).ok_or_else(|| {
                            ParseError::new(src, pos, format!("invalid character code {code:#x}"))
                        })?);
                    }
                    other => {
                        return Err(ParseError::new(
                            src,
                            pos,
                            format!("unknown escape `\\{other}` in string"),
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::new(src, start, "unterminated string".into()))
}
