//! Config errors: where (file, line, column), which key (`exporters::otlp/jaeger::endpoint`),
//! what is wrong, and a hint.

use std::fmt;

use super::yaml::Pos;

/// One problem in a config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Where it was written, when known.
    pub pos: Option<Pos>,
    /// The key path, segments joined with `::`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// A suggestion such as `did you mean "traces"?`.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error: ")?;
        if let Some(p) = &self.pos {
            write!(f, "{p}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// Every problem found in a config, printed one per line.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<ConfigError>);

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} found in the config",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Errors {}
