//! A YAML document as a tree whose every node knows the file, line and column it came from,
//! parsed with serde-saphyr (its `Spanned` values carry the positions).

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Most YAML events aliases may replay in one config document.
pub const MAX_ALIAS_REPLAYED_EVENTS: usize = 100_000;

/// Where a node was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pos {
    /// The file (empty when unknown).
    pub file: Arc<str>,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub col: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        } else {
            write!(f, "{}", self.file)
        }
    }
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it was written.
    pub pos: Pos,
}

/// A YAML value. Map keys keep their own positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer too large for `i64`.
    Uint(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order: (key, key position, value).
    Map(Vec<(String, Pos, Node)>),
}

impl Node {
    /// A node with no position.
    pub fn new(value: Value) -> Node {
        Node {
            value,
            pos: Pos::default(),
        }
    }

    /// The value of `key` in a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// Converts to JSON, the form component factories decode.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Uint(u) => J::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(text) => J::String(text.clone()),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => {
                J::Object(m.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    fn with_file(mut self, file: &Arc<str>) -> Node {
        self.pos.file = file.clone();
        self.value = match self.value {
            Value::Seq(s) => Value::Seq(s.into_iter().map(|n| n.with_file(file)).collect()),
            Value::Map(m) => Value::Map(
                m.into_iter()
                    .map(|(k, mut kp, v)| {
                        kp.file = file.clone();
                        (k, kp, v.with_file(file))
                    })
                    .collect(),
            ),
            other => other,
        };
        self
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

/// Parses one YAML document. An empty document is an empty map.
pub fn parse(file: &str, text: &str) -> Result<Node, SyntaxError> {
    let file: Arc<str> = Arc::from(file);
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Map(vec![]),
            pos: Pos {
                file,
                line: 1,
                col: 1,
            },
        });
    }
    // YAML 1.2 booleans only (as the collector's go-yaml v3: `y`, `on`, `no` stay strings)
    // and duplicate keys are errors.
    // Alias expansion is capped well below the library's default (1M replayed events): a
    // few hundred bytes of nested aliases ("billion laughs") must not cost seconds of CPU.
    let options = serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::Error,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_REPLAYED_EVENTS,
        },
    };
    match serde_saphyr::from_str_with_options::<Spanned<Value>>(text, options) {
        Ok(sp) => Ok(Node {
            value: sp.value,
            pos: pos_of(&sp.referenced),
        }
        .with_file(&file)),
        Err(e) => {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = e.to_string();
            let message = message.lines().next().unwrap_or("invalid YAML").to_string();
            Err(SyntaxError {
                pos: Pos { file, line, col },
                message,
            })
        }
    }
}

fn pos_of(l: &serde_saphyr::Location) -> Pos {
    Pos {
        file: Arc::from(""),
        line: l.line(),
        col: l.column(),
    }
}

fn spanned_node(sp: Spanned<Value>) -> Node {
    Node {
        value: sp.value,
        pos: pos_of(&sp.referenced),
    }
}

/// A map key: any scalar, kept as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Str(text) => Ok(Key(text)),
            Value::Int(i) => Ok(Key(i.to_string())),
            Value::Uint(u) => Ok(Key(u.to_string())),
            Value::Float(f) => Ok(Key(f.to_string())),
            Value::Bool(b) => Ok(Key(b.to_string())),
            Value::Null => Ok(Key("null".into())),
            _ => Err(de::Error::custom("map keys must be scalars")),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::Uint(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(sp) = seq.next_element::<Spanned<Value>>()? {
            out.push(spanned_node(sp));
        }
        Ok(Value::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out: Vec<(String, Pos, Node)> = Vec::new();
        while let Some(k) = map.next_key::<Spanned<Key>>()? {
            let v = map.next_value::<Spanned<Value>>()?;
            let key = k.value.0;
            let kp = pos_of(&k.referenced);
            out.push((key, kp, spanned_node(v)));
        }
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_bombs_are_refused() {
        // Each level repeats the previous one tenfold: 10^8 scalars from a few hundred bytes.
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            doc += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        assert!(doc.len() < 600);
        assert!(parse("bomb.yaml", &doc).is_err());
        // Ordinary anchors and aliases still work.
        let ok = "base: &b {endpoint: 0.0.0.0:4317}\ncopy: *b\n";
        assert!(parse("ok.yaml", ok).is_ok());
    }

    #[test]
    fn keeps_positions_and_types() {
        let doc = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: \"0.0.0.0:4317\"\nport: 8\nratio: 0.5\nflag: true\nnothing:\nquoted: \"12\"\nlist: [a, b]\n";
        let n = parse("c.yaml", doc).unwrap();
        let grpc = n
            .get("receivers")
            .unwrap()
            .get("otlp")
            .unwrap()
            .get("protocols")
            .unwrap()
            .get("grpc")
            .unwrap();
        assert_eq!(grpc.get("endpoint").unwrap().pos.line, 5);
        let Value::Map(m) = &n.value else { panic!() };
        let (k, kp, _) = &m[0];
        assert_eq!((k.as_str(), kp.line, kp.col), ("receivers", 1, 1));
        let port = n.get("port").unwrap();
        assert_eq!(port.value, Value::Int(8));
        assert_eq!(port.pos.line, 6);
        assert_eq!(&*port.pos.file, "c.yaml");
        assert_eq!(n.get("ratio").unwrap().value, Value::Float(0.5));
        assert_eq!(n.get("flag").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("nothing").unwrap().value, Value::Null);
        assert_eq!(n.get("quoted").unwrap().value, Value::Str("12".into()));
        assert_eq!(
            n.get("list").unwrap().to_json(),
            serde_json::json!(["a", "b"])
        );
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings_and_duplicate_keys_fail() {
        let n = parse("c.yaml", "y: on\nn: yes\n").unwrap();
        assert_eq!(n.get("y").unwrap().value, Value::Str("on".into()));
        assert_eq!(n.get("n").unwrap().value, Value::Str("yes".into()));
        assert!(parse("c.yaml", "a: 1\na: 2\n").is_err());
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = parse("bad.yaml", "a: b\nc: [unclosed\nd: e\n").unwrap_err();
        assert!(e.pos.line >= 2, "{e:?}");
        assert_eq!(&*e.pos.file, "bad.yaml");
    }
}
