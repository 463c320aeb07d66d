//! The zpages HTML pages, rendered from the service's config, the metrics registry and the
//! own-span store. Every value shown is HTML-escaped; config values pass through redaction.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::config::{redact, redact_url_password, to_yaml, Config};
use crate::registry;
use crate::service::host::{go_duration, rfc3339, Host, Status};
use crate::telemetry::registry::{fmt_value, Registry, GLOBAL};
use crate::telemetry::{process, spans};

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{background:#243047;color:#fff;padding:10px 20px}header a{color:#cfe0ff;margin-right:16px;text-decoration:none}\
header b{margin-right:24px}main{padding:16px 20px}h1{font-size:1.3em}h2{font-size:1.1em;margin-top:24px}\
table{border-collapse:collapse;background:#fff;margin:8px 0}td,th{border:1px solid #d5d9e0;padding:4px 10px;text-align:left;vertical-align:top}\
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}.flow{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}\
.stage{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:8px 12px;min-width:220px}.stage h3{margin:0 0 6px;font-size:.95em;color:#55607a}\
.arrow{font-size:1.6em;color:#8892a6;align-self:center}.comp{margin:4px 0 8px}.comp code{font-weight:bold}\
.err{color:#b00020}.ok{color:#1b7f3b}pre{background:#fff;border:1px solid #d5d9e0;padding:10px;overflow:auto}";

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    let nav = ["servicez", "pipelinez", "extensionz", "featurez", "tracez"]
        .iter()
        .map(|p| format!("<a href=\"/debug/{p}\">{p}</a>"))
        .collect::<String>();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · Sluice</title>\
         <style>{CSS}</style></head><body><header><b>Sluice zPages</b>{nav}</header>\
         <main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    )
}

fn status_text(s: Status) -> String {
    match s {
        Status::Starting => "starting".into(),
        Status::Ready(since) => format!(
            "running since {} ({})",
            rfc3339(since),
            go_duration(SystemTime::now().duration_since(since).unwrap_or_default())
        ),
        Status::Stopping => "stopping".into(),
    }
}

/// `/debug/servicez`: version, build, start time, status and the redacted config.
pub fn servicez(host: &Host) -> String {
    let mut b = String::new();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let rows = [
        ("Version", env!("CARGO_PKG_VERSION").to_string()),
        (
            "Build",
            format!(
                "{build}, {} {}",
                std::env::consts::ARCH,
                std::env::consts::OS
            ),
        ),
        ("Start time", rfc3339(process::started_at())),
        (
            "Uptime",
            go_duration(std::time::Duration::from_secs_f64(process::uptime_secs())),
        ),
        ("Status", status_text(host.status())),
        (
            "Pipelines",
            host.config().service.pipelines.len().to_string(),
        ),
        (
            "Extensions",
            host.config()
                .service
                .extensions
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    b.push_str("<table>");
    for (k, v) in rows {
        let _ = write!(b, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    b.push_str("</table><h2>Config (secrets redacted)</h2>");
    let document = host.document();
    if document.is_null() {
        b.push_str("<p>(not available)</p>");
    } else {
        let _ = write!(b, "<pre>{}</pre>", esc(&to_yaml(&redact(&document))));
    }
    layout("Service", &b)
}

fn num(reg: &Registry, name: &str, labels: &[(&str, &str)]) -> String {
    fmt_value(reg.sum(name, labels))
}

fn counts(rows: &[(&str, String)]) -> String {
    let mut s = String::from("<table>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><td>{k}</td><td class=\"n\">{v}</td></tr>");
    }
    s.push_str("</table>");
    s
}

/// `/debug/pipelinez`: every pipeline's receivers → processors → exporters with live counts
/// from the metrics registry.
pub fn pipelinez(config: &Config) -> String {
    pipelinez_from(config, &GLOBAL)
}

/// [`pipelinez`] reading counts from `reg`.
pub fn pipelinez_from(config: &Config, reg: &Registry) -> String {
    let mut b = String::from(
        "<p>Counts are items (spans, metric points, log records) since start, per component \
         and signal; a component in several pipelines of one signal shows its total.</p>",
    );
    for (pid, p) in &config.service.pipelines {
        let sig = pid.signal;
        let item = sig.item_name();
        let _ = write!(
            b,
            "<h2 id=\"{id}\">Pipeline <code>{id}</code></h2><div class=\"flow\">",
            id = esc(&pid.to_string())
        );
        // Receivers.
        b.push_str("<div class=\"stage\"><h3>Receivers</h3>");
        for r in &p.receivers {
            let rid = r.to_string();
            let l = [("receiver", rid.as_str())];
            let _ = write!(
                b,
                "<div class=\"comp\"><code>{}</code>{}</div>",
                esc(&rid),
                counts(&[
                    (
                        "accepted",
                        num(reg, &format!("otelcol_receiver_accepted_{item}"), &l)
                    ),
                    (
                        "refused",
                        num(reg, &format!("otelcol_receiver_refused_{item}"), &l)
                    ),
                ])
            );
        }
        b.push_str("</div><div class=\"arrow\">→</div>");
        // Processors.
        b.push_str("<div class=\"stage\"><h3>Processors</h3>");
        if p.processors.is_empty() {
            b.push_str("<p>(none)</p>");
        }
        for pr in &p.processors {
            let id = pr.to_string();
            let l = [("processor", id.as_str()), ("otel_signal", sig.as_str())];
            let _ = write!(
                b,
                "<div class=\"comp\"><code>{}</code>{}</div>",
                esc(&id),
                counts(&[
                    ("incoming", num(reg, "otelcol_processor_incoming_items", &l)),
                    ("outgoing", num(reg, "otelcol_processor_outgoing_items", &l)),
                    (
                        "dropped",
                        num(
                            reg,
                            &format!("otelcol_processor_dropped_{item}"),
                            &[("processor", id.as_str())]
                        )
                    ),
                ])
            );
        }
        b.push_str("</div><div class=\"arrow\">→</div>");
        // Exporters.
        b.push_str("<div class=\"stage\"><h3>Exporters</h3>");
        for e in &p.exporters {
            let id = e.to_string();
            let l = [("exporter", id.as_str())];
            let _ = write!(
                b,
                "<div class=\"comp\"><code>{}</code>{}</div>",
                esc(&id),
                counts(&[
                    (
                        "sent",
                        num(reg, &format!("otelcol_exporter_sent_{item}"), &l)
                    ),
                    (
                        "send failed",
                        num(reg, &format!("otelcol_exporter_send_failed_{item}"), &l)
                    ),
                    (
                        "enqueue failed",
                        num(reg, &format!("otelcol_exporter_enqueue_failed_{item}"), &l)
                    ),
                    (
                        "dropped",
                        num(reg, &format!("otelcol_exporter_dropped_{item}"), &l)
                    ),
                    (
                        "queue (batches)",
                        format!(
                            "{} / {}",
                            num(reg, "otelcol_exporter_queue_size", &l),
                            num(reg, "otelcol_exporter_queue_capacity", &l)
                        )
                    ),
                ])
            );
        }
        b.push_str("</div></div>");
    }
    if config.service.pipelines.is_empty() {
        b.push_str("<p>No pipelines.</p>");
    }
    layout("Pipelines", &b)
}

/// `/debug/extensionz`: the extensions the service runs.
pub fn extensionz(config: &Config) -> String {
    let mut b = String::from("<table><tr><th>Extension</th><th>Type</th><th>Status</th></tr>");
    for id in &config.service.extensions {
        let _ = write!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"ok\">running</td></tr>",
            esc(&id.to_string()),
            esc(id.type_name())
        );
    }
    b.push_str("</table>");
    if config.service.extensions.is_empty() {
        b.push_str("<p>No extensions enabled.</p>");
    }
    layout("Extensions", &b)
}

/// `/debug/featurez`: feature gates (Sluice has none) and the built-in component types with
/// their stability.
pub fn featurez() -> String {
    let mut b = String::from(
        "<h2>Feature gates</h2><p>Sluice defines no feature gates; behaviour is chosen in the \
         config.</p><h2>Built-in components</h2>\
         <table><tr><th>Kind</th><th>Type</th><th>Stability</th><th>Signals</th><th>Also accepted</th></tr>",
    );
    for c in registry::describe() {
        let signals: Vec<&str> = c.signals.iter().map(|s| s.as_str()).collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.kind.singular(),
            esc(c.type_name),
            esc(c.stability),
            signals.join(", "),
            esc(&c.deprecated_names.join(", "))
        );
    }
    b.push_str("</table>");
    layout("Features", &b)
}

fn link(name: &str, query: &str, text: &str) -> String {
    format!(
        "<a href=\"/debug/tracez?name={}{query}\">{text}</a>",
        esc(&url_encode(name))
    )
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `/debug/tracez`: span names with counts per latency bucket and errors; with `name` and
/// `bucket` (or `error`), the latest samples of that cell.
pub fn tracez(name: Option<&str>, bucket: Option<usize>, error: bool) -> String {
    let all = spans::snapshot();
    let mut b = String::from(
        "<p>Sluice's own spans: one per export attempt, by latency (successes) and errors. \
         Click a count for its latest samples.</p><table><tr><th>Span name</th>",
    );
    for i in 0..spans::BUCKETS {
        let _ = write!(b, "<th>{}</th>", esc(&spans::bucket_label(i)));
    }
    b.push_str("<th>Errors</th></tr>");
    for (n, s) in &all {
        let _ = write!(b, "<tr><td><code>{}</code></td>", esc(n));
        for (i, c) in s.latency_counts.iter().enumerate() {
            if *c > 0 {
                let _ = write!(
                    b,
                    "<td class=\"n\">{}</td>",
                    link(n, &format!("&amp;bucket={i}"), &c.to_string())
                );
            } else {
                b.push_str("<td class=\"n\">0</td>");
            }
        }
        if s.errors > 0 {
            let _ = write!(
                b,
                "<td class=\"n err\">{}</td></tr>",
                link(n, "&amp;error=1", &s.errors.to_string())
            );
        } else {
            b.push_str("<td class=\"n\">0</td></tr>");
        }
    }
    b.push_str("</table>");
    if all.is_empty() {
        b.push_str("<p>No spans recorded yet.</p>");
    }
    if let Some(s) = name.and_then(|n| all.get(n).map(|s| (n, s))) {
        let (n, summary) = s;
        let (title, samples) = if error {
            ("errors".to_string(), Some(&summary.error_samples))
        } else {
            match bucket.filter(|b| *b < spans::BUCKETS) {
                Some(i) => (
                    format!("latency {}", spans::bucket_label(i)),
                    Some(&summary.latency_samples[i]),
                ),
                None => (String::new(), None),
            }
        };
        if let Some(samples) = samples {
            let _ = write!(
                b,
                "<h2>Latest samples of <code>{}</code>: {}</h2><table><tr><th>Start</th>\
                 <th>Duration</th><th>Attributes</th><th>Error</th></tr>",
                esc(n),
                esc(&title)
            );
            for r in samples.iter().rev() {
                let attrs: Vec<String> = r
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={}", esc(v)))
                    .collect();
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td class=\"n\">{:?}</td><td>{}</td><td class=\"err\">{}</td></tr>",
                    rfc3339(r.start),
                    r.duration,
                    attrs.join(" "),
                    esc(&r.error.as_deref().map(redact_words).unwrap_or_default())
                );
            }
            b.push_str("</table>");
        }
    }
    layout("Traces", &b)
}

/// Passwords inside URLs in an error message are replaced before it is shown.
fn redact_words(s: &str) -> String {
    s.split(' ')
        .map(redact_url_password)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_docs;

    const YAML: &str = r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
processors:
  batch:
exporters:
  otlp_http/backend:
    endpoint: http://user:hunter2@example.invalid
    headers:
      authorization: Bearer very-secret-token
service:
  pipelines:
    traces/main:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_http/backend]
"#;

    #[test]
    fn pipelinez_shows_the_flow_with_counts() {
        let loaded = load_docs(&[("c.yaml".into(), YAML.into())], &|_| None).expect("valid");
        let reg = Registry::default();
        metrics::with_local_recorder(&reg, || {
            metrics::counter!("otelcol_receiver_accepted_spans", "receiver" => "otlp")
                .increment(42);
            metrics::counter!("otelcol_exporter_sent_spans", "exporter" => "otlp_http/backend")
                .increment(40);
        });
        let page = pipelinez_from(&loaded.config, &reg);
        assert!(page.contains("Pipeline <code>traces/main</code>"));
        assert!(
            page.contains("<code>otlp</code><table><tr><td>accepted</td><td class=\"n\">42</td>")
        );
        assert!(page.contains("<td>sent</td><td class=\"n\">40</td>"));
        assert!(page.contains("<code>batch</code>"));
    }

    #[test]
    fn servicez_redacts_secrets() {
        let doc = serde_json::json!({"exporters": {"otlp_http": {
            "endpoint": "https://user:hunter2@example.invalid",
            "headers": {"authorization": "Bearer very-secret-token"}}}});
        let status = crate::service::StatusSender::new();
        let host = Host::new(
            &status,
            std::sync::Arc::new(Config::default()),
            std::sync::Arc::new(doc),
        );
        let page = servicez(&host);
        assert!(!page.contains("hunter2"), "{page}");
        assert!(!page.contains("very-secret-token"), "{page}");
        assert!(page.contains("[REDACTED]"));
        assert!(page.contains(env!("CARGO_PKG_VERSION")));
        assert!(page.contains("starting"));
    }

    #[test]
    fn tracez_lists_buckets_and_samples_escaped() {
        spans::record(
            "exporter/<x>/export",
            spans::SpanRecord {
                start: SystemTime::now(),
                duration: std::time::Duration::from_millis(3),
                attributes: vec![("items", "5".into())],
                error: Some("connect to https://u:pw@host failed".into()),
            },
        );
        let page = tracez(Some("exporter/<x>/export"), None, true);
        assert!(page.contains("exporter/&lt;x&gt;/export"));
        assert!(!page.contains("u:pw@"), "{page}");
        assert!(page.contains("items=5"));
        assert!(esc("<a href='x'>").starts_with("&lt;a href=&#39;"));
    }
}
