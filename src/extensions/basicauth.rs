//! The `basicauth` extension, as in the collector: `htpasswd` (`file` and/or `inline` lines
//! `user:password-hash`) checks servers' `Authorization: Basic …`; `client_auth`
//! (`username`, `password`) is what exporters send. Hashes: bcrypt (`htpasswd -B`), `{SHA}`,
//! or plain text; MD5-crypt (`$apr1$`) and crypt are refused at load. Successful bcrypt checks
//! are remembered (by a SHA-256 of the credentials) so a client does not pay bcrypt per request.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use http::{header, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::auth::{secrets_equal, Authenticator, ClientAuth, ServerAuth};
use crate::component::{ComponentConfigError, ComponentId, Extension, ExtensionContext};
use crate::config::decode::decode;
use crate::registry::{ExtensionCreate, Factory};

/// The `basicauth` extension's factory.
pub const FACTORY: Factory<ExtensionCreate> = Factory {
    type_name: "basicauth",
    deprecated_names: &[],
    signals: &[],
    stability: "beta",
    create,
};

/// `extensions: basicauth:` config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuthConfig {
    /// Server side: accepted users.
    pub htpasswd: Option<Htpasswd>,
    /// Client side: the credentials exporters send.
    pub client_auth: Option<ClientCredentials>,
}

/// `htpasswd:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Htpasswd {
    /// An htpasswd file.
    pub file: Option<String>,
    /// htpasswd lines given inline (after the file's; a later user wins).
    pub inline: Option<String>,
}

/// `client_auth:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// How one user's password is stored.
#[derive(Debug, Clone, PartialEq)]
enum Hash {
    Bcrypt(String),
    Sha1(Vec<u8>),
    Plain(String),
}

fn parse_hash(user: &str, h: &str) -> Result<Hash, String> {
    use base64::engine::general_purpose::STANDARD;
    if h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$") {
        return Ok(Hash::Bcrypt(h.to_string()));
    }
    if let Some(b64) = h.strip_prefix("{SHA}") {
        let d = STANDARD
            .decode(b64)
            .map_err(|_| format!("user {user:?}: {{SHA}} hash is not base64"))?;
        return Ok(Hash::Sha1(d));
    }
    if h.starts_with("$apr1$")
        || h.starts_with("$1$")
        || h.starts_with("$5$")
        || h.starts_with("$6$")
    {
        return Err(format!(
            "user {user:?}: this crypt hash is not supported; use bcrypt (htpasswd -B)"
        ));
    }
    Ok(Hash::Plain(h.to_string()))
}

fn parse_lines(text: &str, users: &mut HashMap<String, Hash>) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| format!("line {}: expected user:password", n + 1))?;
        users.insert(user.to_string(), parse_hash(user, hash)?);
    }
    Ok(())
}

fn create(_id: &ComponentId, raw: &Value) -> Result<Box<dyn Extension>, ComponentConfigError> {
    let cfg: BasicAuthConfig = decode(raw)?;
    if cfg.htpasswd.is_none() && cfg.client_auth.is_none() {
        return Err(ComponentConfigError::at(
            &[],
            "set htpasswd (to check servers' requests) or client_auth (for exporters)",
        ));
    }
    let server = match &cfg.htpasswd {
        None => None,
        Some(h) => {
            let mut users = HashMap::new();
            if let Some(f) = &h.file {
                let text = std::fs::read_to_string(f).map_err(|e| {
                    ComponentConfigError::at(
                        &["htpasswd", "file"],
                        format!("cannot read {f:?}: {e}"),
                    )
                })?;
                parse_lines(&text, &mut users)
                    .map_err(|e| ComponentConfigError::at(&["htpasswd", "file"], e))?;
            }
            if let Some(i) = &h.inline {
                parse_lines(i, &mut users)
                    .map_err(|e| ComponentConfigError::at(&["htpasswd", "inline"], e))?;
            }
            Some(Arc::new(Users {
                users,
                verified: Mutex::new(HashSet::new()),
            }) as Arc<dyn ServerAuth>)
        }
    };
    let client = match &cfg.client_auth {
        None => None,
        Some(c) => {
            let raw = format!("{}:{}", c.username, c.password);
            let mut v = HeaderValue::from_str(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ))
            .map_err(|_| ComponentConfigError::at(&["client_auth"], "not a valid header value"))?;
            v.set_sensitive(true);
            Some(Arc::new(ClientHeader(v)) as Arc<dyn ClientAuth>)
        }
    };
    Ok(Box::new(BasicAuth(Authenticator { server, client })))
}

/// Accepted users and the credentials already verified.
struct Users {
    users: HashMap<String, Hash>,
    /// SHA-256 of `user:password` pairs that passed bcrypt.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl ServerAuth for Users {
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
        use sha2::{Digest, Sha256};
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or("missing Authorization header")?
            .to_str()
            .map_err(|_| "Authorization header is not text")?;
        let b64 = value
            .strip_prefix("Basic ")
            .ok_or("Authorization is not Basic")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| "Basic credentials are not base64")?;
        let text = String::from_utf8(decoded).map_err(|_| "Basic credentials are not UTF-8")?;
        let (user, pass) = text.split_once(':').ok_or("Basic credentials lack ':'")?;
        let Some(hash) = self.users.get(user) else {
            return Err("unknown user".into());
        };
        let ok = match hash {
            Hash::Plain(p) => secrets_equal(p.as_bytes(), pass.as_bytes()),
            Hash::Sha1(d) => {
                use sha1::Digest as _;
                secrets_equal(&sha1::Sha1::digest(pass.as_bytes()), d)
            }
            Hash::Bcrypt(h) => {
                let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
                let mut seen = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if seen.contains(&key) {
                    true
                } else if bcrypt::verify(pass, h).unwrap_or(false) {
                    if seen.len() > 10_000 {
                        seen.clear();
                    }
                    seen.insert(key);
                    true
                } else {
                    false
                }
            }
        };
        if ok {
            Ok(())
        } else {
            Err("wrong password".into())
        }
    }
}

/// The fixed `Authorization: Basic …` header of `client_auth`.
struct ClientHeader(HeaderValue);

impl ClientAuth for ClientHeader {
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        Ok(vec![(header::AUTHORIZATION, self.0.clone())])
    }
}

/// A configured basicauth extension.
pub struct BasicAuth(Authenticator);

#[async_trait]
impl Extension for BasicAuth {
    fn authenticator(&self) -> Option<Authenticator> {
        Some(self.0.clone())
    }

    async fn start(self: Box<Self>, ctx: ExtensionContext) -> anyhow::Result<JoinHandle<()>> {
        Ok(tokio::spawn(async move { ctx.shutdown.cancelled().await }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn basic(user: &str, pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    fn server(v: Value) -> Arc<dyn ServerAuth> {
        create(&ComponentId::parse("basicauth").unwrap(), &v)
            .unwrap()
            .authenticator()
            .unwrap()
            .server
            .unwrap()
    }

    #[test]
    fn htpasswd_bcrypt_sha_and_plain() {
        let bcrypt_hash = bcrypt::hash("b-pass", 4).unwrap();
        // {SHA} of "s-pass", as `htpasswd -s` writes it.
        let sha = {
            use sha1::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"s-pass"))
        };
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("htpasswd");
        std::fs::write(
            &f,
            format!("# users\nbob:{bcrypt_hash}\nsam:{{SHA}}{sha}\n"),
        )
        .unwrap();
        let s = server(
            json!({"htpasswd": {"file": f.display().to_string(), "inline": "pat:plain-pass"}}),
        );
        assert!(s.authenticate(&basic("bob", "b-pass")).is_ok());
        assert!(
            s.authenticate(&basic("bob", "b-pass")).is_ok(),
            "remembered"
        );
        assert!(s.authenticate(&basic("bob", "wrong")).is_err());
        assert!(s.authenticate(&basic("sam", "s-pass")).is_ok());
        assert!(s.authenticate(&basic("sam", "x")).is_err());
        assert!(s.authenticate(&basic("pat", "plain-pass")).is_ok());
        assert!(s.authenticate(&basic("eve", "plain-pass")).is_err());
        assert!(s.authenticate(&HeaderMap::new()).is_err());
    }

    #[test]
    fn client_header_and_config_errors() {
        let id = ComponentId::parse("basicauth").unwrap();
        let a = create(
            &id,
            &json!({"client_auth": {"username": "u", "password": "p"}}),
        )
        .unwrap()
        .authenticator()
        .unwrap();
        let h = a.client.unwrap().headers().unwrap();
        assert_eq!(h[0].1, "Basic dTpw");
        assert!(h[0].1.is_sensitive());
        assert!(create(&id, &json!({})).is_err());
        let e = create(&id, &json!({"htpasswd": {"inline": "u:$apr1$x$y"}}))
            .err()
            .unwrap();
        assert!(e.message.contains("bcrypt"), "{e}");
    }
}
