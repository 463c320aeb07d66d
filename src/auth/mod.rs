//! Authentication as the collector does it: authenticator extensions (`bearertokenauth`,
//! `basicauth`) referenced by receivers and exporters with `auth: {authenticator: ID}`.
//! A server authenticator checks each request's headers (gRPC metadata are headers too); a
//! client authenticator supplies the headers an exporter adds to each request.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::component::{ComponentConfigError, ComponentId};

/// Checks incoming requests.
pub trait ServerAuth: Send + Sync {
    /// `Ok` when the request may proceed; `Err` with a reason for the log (never echoing
    /// credentials) otherwise.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), String>;
}

/// Supplies credentials for outgoing requests.
pub trait ClientAuth: Send + Sync {
    /// Headers to add to the next request (current token, re-read when its file changes).
    fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, String>;
}

/// What an authenticator extension offers.
#[derive(Clone, Default)]
pub struct Authenticator {
    /// Its server side, if it has one.
    pub server: Option<Arc<dyn ServerAuth>>,
    /// Its client side, if it has one.
    pub client: Option<Arc<dyn ClientAuth>>,
}

/// The running authenticator extensions by ID.
#[derive(Clone, Default)]
pub struct Authenticators(pub BTreeMap<ComponentId, Authenticator>);

impl Authenticators {
    /// The server authenticator `id`, or an error naming what is missing.
    pub fn server(&self, id: &ComponentId) -> anyhow::Result<Arc<dyn ServerAuth>> {
        self.0
            .get(id)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "authenticator {id} is not an enabled extension (define it under extensions and list it in service.extensions)"
                )
            })?
            .server
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{id} cannot authenticate servers"))
    }

    /// The client authenticator `id`, or an error naming what is missing.
    pub fn client(&self, id: &ComponentId) -> anyhow::Result<Arc<dyn ClientAuth>> {
        self.0
            .get(id)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "authenticator {id} is not an enabled extension (define it under extensions and list it in service.extensions)"
                )
            })?
            .client
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{id} cannot authenticate clients"))
    }
}

/// A component's `auth:` block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRef {
    /// The authenticator extension's ID (`bearertokenauth/NAME`, `basicauth`, …).
    pub authenticator: String,
}

impl AuthRef {
    /// The checked authenticator ID from an optional raw `auth:` value.
    pub fn parse(
        raw: &Option<serde_json::Value>,
    ) -> Result<Option<ComponentId>, ComponentConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let r: AuthRef = crate::config::decode::decode(raw).map_err(|e| ComponentConfigError {
            path: [vec!["auth".to_string()], e.path].concat(),
            ..e
        })?;
        ComponentId::parse(&r.authenticator)
            .map(Some)
            .map_err(|e| ComponentConfigError::at(&["auth", "authenticator"], e.to_string()))
    }
}

/// Constant-time comparison of two secrets (their SHA-256 digests, so lengths leak nothing).
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}
