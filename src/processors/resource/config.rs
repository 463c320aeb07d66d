//! `processors: resource:` config, as the collector's resource processor reads it.

use serde::Deserialize;
use serde_json::Value;

/// `processors: resource:` config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    /// The actions applied, in order, to the resource attributes of every batch. Required and
    /// non-empty.
    #[serde(deserialize_with = "null_as_empty")]
    pub attributes: Vec<ActionConfig>,
}

/// `attributes:` with nothing under it is an empty list (then refused as missing), as in the
/// collector.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ActionConfig>, D::Error> {
    Ok(Option::<Vec<ActionConfig>>::deserialize(d)?.unwrap_or_default())
}

/// One entry of `attributes:`: an action on one attribute key (or on every key matching a
/// pattern), with the collector's attribute-action (`attraction`) semantics.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionConfig {
    /// The attribute to act on. Required except for `delete` and `hash`, which take `key`
    /// and/or `pattern`.
    pub key: String,
    /// A literal value for `insert`, `update` and `upsert`; its YAML type is kept (string,
    /// int, double, bool, list, map).
    pub value: Option<Value>,
    /// For `insert`, `update` and `upsert`: copy the value of this attribute of the same
    /// resource. Nothing happens when it is absent (unless `default_value` is set).
    pub from_attribute: String,
    /// For `insert`, `update` and `upsert`: take the value from the request's client metadata
    /// (`metadata.<name>` or a bare header name; several values are joined with `;`).
    pub from_context: String,
    /// The value used by `insert`, `update` and `upsert` when `from_attribute`/`from_context`
    /// find nothing.
    pub default_value: Option<Value>,
    /// A regular expression: the keys to `delete`/`hash`, or, for `extract`, the pattern whose
    /// named groups become new attributes.
    pub pattern: String,
    /// `insert`, `update`, `upsert`, `delete`, `hash`, `extract` or `convert` (any case).
    pub action: String,
    /// For `convert`: `int`, `double` or `string`.
    pub converted_type: String,
}
