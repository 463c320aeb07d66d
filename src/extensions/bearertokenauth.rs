//! The `bearertokenauth` extension, as in the collector: servers accept requests whose
//! `Authorization` (or configured header) is `Bearer <token>`; exporters send that header.
//! The token comes from `token`, `tokens` or `filename` (one token per line, re-read when the
//! file changes, so tokens rotate without a restart).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::auth::{secrets_equal, Authenticator, ClientAuth, ServerAuth};
use crate::component::{ComponentConfigError, ComponentId, Extension, ExtensionContext};
use crate::config::decode::decode;
use crate::registry::{ExtensionCreate, Factory};
use crate::tls::FileStamps;

/// The `bearertokenauth` extension's factory.
pub const FACTORY: Factory<ExtensionCreate> = Factory {
    type_name: "bearertokenauth",
    deprecated_names: &[],
    signals: &[],
    stability: "beta",
    create,
};

/// `extensions: bearertokenauth:` config (the collector's keys and defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BearerTokenConfig {
    /// Header carrying the token (default `Authorization`).
    pub header: String,
    /// Scheme before the token (default `Bearer`; empty sends the bare token).
    pub scheme: String,
    /// The token.
    pub token: Option<String>,
    /// Several accepted tokens (a client sends the first).
    pub tokens: Vec<String>,
    /// A file with one token per line, re-read when it changes.
    pub filename: Option<String>,
}

impl Default for BearerTokenConfig {
    fn default() -> Self {
        BearerTokenConfig {
            header: "Authorization".into(),
            scheme: "Bearer".into(),
            token: None,
            tokens: Vec::new(),
            filename: None,
        }
    }
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Extension>, ComponentConfigError> {
    let cfg: BearerTokenConfig = decode(raw)?;
    let set = [
        cfg.token.is_some(),
        !cfg.tokens.is_empty(),
        cfg.filename.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err(ComponentConfigError::at(
            &[],
            "set exactly one of token, tokens or filename",
        ));
    }
    let header = HeaderName::from_bytes(cfg.header.as_bytes())
        .map_err(|_| ComponentConfigError::at(&["header"], "not a valid header name"))?;
    let tokens = Tokens::new(&cfg).map_err(|e| ComponentConfigError::at(&["filename"], e))?;
    Ok(Box::new(BearerTokenAuth(Arc::new(Inner {
        header,
        scheme: cfg.scheme,
        tokens,
    }))))
}

/// Where the tokens come from, and the file's last state.
struct Tokens {
    file: Option<String>,
    state: Mutex<(Vec<String>, FileStamps)>,
}

fn read_tokens(path: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read token file {path:?}: {e}"))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if tokens.is_empty() {
        return Err(format!("token file {path:?} is empty"));
    }
    Ok(tokens)
}

impl Tokens {
    fn new(cfg: &BearerTokenConfig) -> Result<Tokens, String> {
        let (tokens, stamps) = match &cfg.filename {
            Some(f) => (read_tokens(f)?, FileStamps::of([f.as_str()])),
            None => (
                cfg.token.iter().chain(&cfg.tokens).cloned().collect(),
                FileStamps::default(),
            ),
        };
        Ok(Tokens {
            file: cfg.filename.clone(),
            state: Mutex::new((tokens, stamps)),
        })
    }

    /// The current tokens, re-reading the file if it changed (a bad new file keeps the old).
    fn current(&self) -> Vec<String> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = &self.file {
            if st.1.changed() {
                st.1 = FileStamps::of([f.as_str()]);
                match read_tokens(f) {
                    Ok(t) => {
                        tracing::info!(file = %f, "bearer token file changed; tokens reloaded");
                        st.0 = t;
                    }
                    Err(e) => tracing::warn!(error = %e, "keeping the previous bearer tokens"),
                }
            }
        }
        st.0.clone()
    }
}

struct Inner {
    header: HeaderName,
    scheme: String,
    tokens: Tokens,
}

impl Inner {
    fn value(&self, token: &str) -> String {
        if self.scheme.is_empty() {
            token.to_string()
        } else {
            format!("{} {token}", self.scheme)
        }
    }
}

impl ServerAuth for Inner {
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(got) = headers.get(&self.header) else {
            return Err(format!("missing {} header", self.header));
        };
        let got = got.as_bytes();
        if self
            .tokens
            .current()
            .iter()
            .any(|t| secrets_equal(got, self.value(t).as_bytes()))
        {
            Ok(())
        } else {
            Err("bearer token does not match".into())
        }
    }
}

impl ClientAuth for Inner {
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let tokens = self.tokens.current();
        let token = tokens.first().ok_or("no bearer token")?;
        let mut v = HeaderValue::from_str(&self.value(token))
            .map_err(|_| "the bearer token is not a valid header value".to_string())?;
        v.set_sensitive(true);
        Ok(vec![(self.header.clone(), v)])
    }
}

/// A configured bearertokenauth extension.
pub struct BearerTokenAuth(Arc<Inner>);

#[async_trait]
impl Extension for BearerTokenAuth {
    fn authenticator(&self) -> Option<Authenticator> {
        Some(Authenticator {
            server: Some(self.0.clone()),
            client: Some(self.0.clone()),
        })
    }

    async fn start(self: Box<Self>, ctx: ExtensionContext) -> anyhow::Result<JoinHandle<()>> {
        Ok(tokio::spawn(async move { ctx.shutdown.cancelled().await }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn auth(v: Value) -> Authenticator {
        create(&ComponentId::parse("bearertokenauth").unwrap(), &v)
            .unwrap()
            .authenticator()
            .unwrap()
    }

    fn headers(k: &str, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
        h
    }

    #[test]
    fn accepts_the_token_and_refuses_others() {
        let a = auth(json!({"token": "s3cret"}));
        let s = a.server.unwrap();
        assert!(s
            .authenticate(&headers("authorization", "Bearer s3cret"))
            .is_ok());
        assert!(s
            .authenticate(&headers("authorization", "Bearer wrong"))
            .is_err());
        assert!(s.authenticate(&headers("authorization", "s3cret")).is_err());
        assert!(s.authenticate(&HeaderMap::new()).is_err());
        let sent = a.client.unwrap().headers().unwrap();
        assert_eq!(sent[0].0, "authorization");
        assert_eq!(sent[0].1, "Bearer s3cret");
        assert!(sent[0].1.is_sensitive());
    }

    #[test]
    fn custom_header_scheme_and_token_lists() {
        let a = auth(json!({"header": "X-Api-Key", "scheme": "", "tokens": ["a", "b"]}));
        let s = a.server.unwrap();
        assert!(s.authenticate(&headers("x-api-key", "b")).is_ok());
        assert!(s
            .authenticate(&headers("authorization", "Bearer a"))
            .is_err());
        assert_eq!(a.client.unwrap().headers().unwrap()[0].1, "a");
    }

    #[test]
    fn token_file_is_reloaded_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "first\n").unwrap();
        let a = auth(json!({"filename": f.display().to_string()}));
        let s = a.server.unwrap();
        assert!(s
            .authenticate(&headers("authorization", "Bearer first"))
            .is_ok());
        std::fs::write(&f, "second-token\n").unwrap();
        assert!(s
            .authenticate(&headers("authorization", "Bearer second-token"))
            .is_ok());
        assert!(s
            .authenticate(&headers("authorization", "Bearer first"))
            .is_err());
    }

    #[test]
    fn config_errors() {
        let id = ComponentId::parse("bearertokenauth").unwrap();
        assert!(create(&id, &json!({})).is_err());
        assert!(create(&id, &json!({"token": "a", "filename": "/x"})).is_err());
        let e = create(&id, &json!({"filename": "/nonexistent/token"}))
            .err()
            .unwrap();
        assert!(e.message.contains("/nonexistent/token"), "{e}");
    }
}
