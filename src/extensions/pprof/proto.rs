//! The pprof `profile.proto` messages (github.com/google/pprof/proto/profile.proto), the
//! format `go tool pprof` reads, encoded with prost, and the conversion from a CPU report.

use std::collections::HashMap;

/// A profile.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each sample value means.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Code locations referenced by samples.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions referenced by locations.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Strings referenced by index; entry 0 is "".
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Collection start, ns since the epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// Collection duration, ns.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// What the period is measured in.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// Sampling period.
    #[prost(int64, tag = "12")]
    pub period: i64,
}

/// A value's type and unit (string table indexes).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    /// Type name index.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// Unit name index.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// One stack with its values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location IDs, leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per sample type.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Labels (thread name).
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// A sample label.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Key index.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// String value index.
    #[prost(int64, tag = "2")]
    pub str: i64,
}

/// A code location: an address and the (possibly inlined) lines at it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Unique non-zero ID.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Instruction address.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Lines, innermost (inlined) first.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

/// A line in a function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// Function ID.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Line number.
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// A function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// Unique non-zero ID.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Demangled name index.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// Raw (mangled) name index.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// Source file index.
    #[prost(int64, tag = "4")]
    pub filename: i64,
}

/// One frame of a stack: its address and the symbols at it (inlined first).
pub struct FrameIn {
    /// Instruction address (0 if unknown).
    pub address: u64,
    /// (demangled name, raw name, file, line) per symbol.
    pub symbols: Vec<(String, String, String, i64)>,
}

/// Builds a profile from stacks (leaf first) with sample counts, as `go tool pprof` expects a
/// CPU profile: sample types `samples/count` and `cpu/nanoseconds`, period 1/frequency s.
pub struct Builder {
    profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(String, String), u64>,
    period_ns: i64,
}

impl Builder {
    /// A CPU profile sampled at `frequency` Hz, started at `time_nanos`, lasting
    /// `duration_nanos`.
    pub fn cpu(frequency: i32, time_nanos: i64, duration_nanos: i64) -> Builder {
        let mut b = Builder {
            profile: Profile {
                string_table: vec![String::new()],
                time_nanos,
                duration_nanos,
                ..Default::default()
            },
            strings: HashMap::from([(String::new(), 0)]),
            functions: HashMap::new(),
            period_ns: 1_000_000_000 / i64::from(frequency.max(1)),
        };
        let samples = b.string("samples");
        let count = b.string("count");
        let cpu = b.string("cpu");
        let ns = b.string("nanoseconds");
        b.profile.sample_type = vec![
            ValueType {
                r#type: samples,
                unit: count,
            },
            ValueType {
                r#type: cpu,
                unit: ns,
            },
        ];
        b.profile.period_type = Some(ValueType {
            r#type: cpu,
            unit: ns,
        });
        b.profile.period = b.period_ns;
        b
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(i) = self.strings.get(s) {
            return *i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    /// Adds a stack (leaf first) seen `count` times on thread `thread`.
    pub fn add(&mut self, stack: &[FrameIn], thread: &str, count: i64) {
        let mut location_id = Vec::with_capacity(stack.len());
        for f in stack {
            let mut lines = Vec::with_capacity(f.symbols.len());
            for (name, raw, file, line) in &f.symbols {
                let key = (name.clone(), file.clone());
                let fid = match self.functions.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = self.profile.function.len() as u64 + 1;
                        let (n, r, fl) = (self.string(name), self.string(raw), self.string(file));
                        self.profile.function.push(Function {
                            id,
                            name: n,
                            system_name: r,
                            filename: fl,
                        });
                        self.functions.insert(key, id);
                        id
                    }
                };
                lines.push(Line {
                    function_id: fid,
                    line: *line,
                });
            }
            let id = self.profile.location.len() as u64 + 1;
            self.profile.location.push(Location {
                id,
                address: f.address,
                line: lines,
            });
            location_id.push(id);
        }
        let (key, str) = (self.string("thread"), self.string(thread));
        self.profile.sample.push(Sample {
            location_id,
            value: vec![count, count * self.period_ns],
            label: vec![Label { key, str }],
        });
    }

    /// The finished profile.
    pub fn finish(self) -> Profile {
        self.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn builds_a_decodable_cpu_profile() {
        let mut b = Builder::cpu(100, 1, 2_000_000_000);
        let frame = |n: &str| FrameIn {
            address: 0x1000,
            symbols: vec![(n.into(), format!("_ZN{n}"), "src/x.rs".into(), 7)],
        };
        b.add(&[frame("leaf"), frame("main")], "worker", 3);
        b.add(&[frame("other"), frame("main")], "worker", 1);
        let bytes = b.finish().encode_to_vec();
        let p = Profile::decode(bytes.as_slice()).unwrap();
        let s = |i: i64| p.string_table[i as usize].as_str();
        assert_eq!(s(p.sample_type[1].r#type), "cpu");
        assert_eq!(p.period, 10_000_000);
        assert_eq!(p.sample.len(), 2);
        assert_eq!(p.sample[0].value, vec![3, 30_000_000]);
        assert_eq!(p.function.len(), 3, "main is shared");
        let leaf = &p.location[p.sample[0].location_id[0] as usize - 1];
        assert_eq!(
            s(p.function[leaf.line[0].function_id as usize - 1].name),
            "leaf"
        );
        assert_eq!(p.string_table[0], "");
    }
}
