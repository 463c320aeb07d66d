//! Redaction of secrets for `print-config`, logs and zpages: header values, tokens, passwords,
//! and passwords inside URLs.

use serde_json::Value;

const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "bearer",
    "credential",
    "private_key",
];

/// The placeholder that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| k.contains(w))
}

/// A copy of `v` with secrets replaced by `[REDACTED]`.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let red = if k.eq_ignore_ascii_case("headers") {
                        redact_all(v)
                    } else if k.eq_ignore_ascii_case("htpasswd") && v.is_object() {
                        // basicauth's inline user lines hold passwords or their hashes.
                        let mut m = v.as_object().cloned().unwrap_or_default();
                        if let Some(i) = m.get_mut("inline") {
                            *i = redact_all(i);
                        }
                        Value::Object(m)
                    } else if is_secret_key(k) && !v.is_object() && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), red)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        Value::String(s) => Value::String(redact_url_password(s)),
        other => other.clone(),
    }
}

/// Every leaf value under `v` redacted (keys kept).
fn redact_all(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), redact_all(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(redact_all).collect()),
        Value::Null => Value::Null,
        _ => Value::String(REDACTED.into()),
    }
}

/// `scheme://user:pass@host` → `scheme://user:[REDACTED]@host`.
pub fn redact_url_password(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return s.to_string();
    };
    let userinfo = &authority[..at];
    let Some((user, _)) = userinfo.split_once(':') else {
        return s.to_string();
    };
    format!("{scheme}://{user}:{REDACTED}@{}", &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_headers_tokens_passwords_and_url_passwords() {
        let v = json!({
            "exporters": {"otlphttp": {
                "endpoint": "http://user:hunter2@backend:4318/x",
                "headers": {"authorization": "Bearer abc", "x-tenant": "t1"},
                "auth": {"authenticator": "basicauth"},
            }},
            "extensions": {"bearertokenauth": {"token": "s3cr3t", "filename": "/f"},
                           "basicauth": {"client_auth": {"username": "u", "password": "p"}},
                           "bearertokenauth/list": {"tokens": ["tok-a", "tok-b"]},
                           "basicauth/server": {"htpasswd": {"file": "/etc/htpasswd", "inline": "ann:pw-ann"}}},
        });
        let r = redact(&v);
        assert_eq!(
            r["exporters"]["otlphttp"]["endpoint"],
            "http://user:[REDACTED]@backend:4318/x"
        );
        assert_eq!(
            r["exporters"]["otlphttp"]["headers"]["authorization"],
            REDACTED
        );
        assert_eq!(r["exporters"]["otlphttp"]["headers"]["x-tenant"], REDACTED);
        assert_eq!(
            r["exporters"]["otlphttp"]["auth"]["authenticator"],
            "basicauth"
        );
        assert_eq!(r["extensions"]["bearertokenauth"]["token"], REDACTED);
        assert_eq!(r["extensions"]["bearertokenauth"]["filename"], "/f");
        assert_eq!(
            r["extensions"]["basicauth"]["client_auth"]["password"],
            REDACTED
        );
        assert_eq!(r["extensions"]["basicauth"]["client_auth"]["username"], "u");
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            r["extensions"]["basicauth/server"]["htpasswd"]["file"],
            "/etc/htpasswd"
        );
        for secret in [
            "hunter2",
            "Bearer abc",
            "s3cr3t",
            "\"p\"",
            "tok-a",
            "pw-ann",
        ] {
            assert!(!s.contains(secret), "{secret} leaked: {s}");
        }
    }
}
