use std::io::Read;
use std::path::Path;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data as MetricData;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::json;

use super::*;

fn resource_with(attrs: &[(&str, &str)]) -> Option<Resource> {
    Some(Resource {
        attributes: attrs
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.to_string(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(v.to_string())),
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(service.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn traces(n: usize, name: &str) -> Data {
    Data::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("api"),
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        trace_id: vec![(i % 250) as u8 + 1; 16],
                        span_id: vec![(i % 250) as u8 + 1; 8],
                        name: name.into(),
                        start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                        end_time_unix_nano: 1_700_000_001_000_000_000,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn metrics() -> Data {
    Data::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("api"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue.depth".into(),
                    data: Some(MetricData::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: 1_700_000_000_000_000_000,
                            value: Some(NV::AsInt(42)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn logs() -> Data {
    Data::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("api"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("hello".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

async fn exporter(cfg: serde_json::Value) -> Box<dyn Exporter> {
    let e = create(&ComponentId::parse("file").unwrap(), &cfg).unwrap();
    e.start().await.unwrap();
    e
}

/// Splits length-prefixed records.
fn records(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push(bytes[4..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    out
}

fn decode_proto(signal: Signal, b: &[u8]) -> Data {
    match signal {
        Signal::Traces => Data::Traces(ExportTraceServiceRequest::decode(b).unwrap()),
        Signal::Metrics => Data::Metrics(ExportMetricsServiceRequest::decode(b).unwrap()),
        Signal::Logs => Data::Logs(ExportLogsServiceRequest::decode(b).unwrap()),
    }
}

#[tokio::test]
async fn json_lines_read_back_as_the_requests_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json");
    std::fs::write(&path, "old content\n").unwrap();
    let e = exporter(json!({"path": path})).await;
    let sent = [traces(2, "GET /"), metrics(), logs()];
    for d in &sent {
        e.export(d).await.unwrap();
    }
    e.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "the old content is truncated: {text}");
    for (line, d) in lines.iter().zip(&sent) {
        let back = crate::otlp_json::decode_data(d.signal(), line.as_bytes()).unwrap();
        assert_eq!(&back, d);
    }
    // The otlpjsonfile receiver's shape: one ExportXServiceRequest object per line.
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"],
        "GET /"
    );
    assert_eq!(
        v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"],
        "01010101010101010101010101010101"
    );
}

#[tokio::test]
async fn append_keeps_what_the_file_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json");
    std::fs::write(&path, "{}\n").unwrap();
    let e = exporter(json!({"path": path, "append": true})).await;
    e.export(&logs()).await.unwrap();
    e.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert_eq!(text.lines().next(), Some("{}"));
}

#[tokio::test]
async fn the_directory_is_created_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/out.json");
    let e = create(&ComponentId::parse("file").unwrap(), &json!({"path": path})).unwrap();
    assert!(e.start().await.is_err());
    let e = exporter(json!({"path": path, "create_directory": true})).await;
    e.export(&logs()).await.unwrap();
    e.shutdown().await;
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn proto_records_are_length_prefixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.pb");
    let e = exporter(json!({"path": path, "format": "proto"})).await;
    let sent = [traces(3, "db"), metrics(), logs()];
    for d in &sent {
        e.export(d).await.unwrap();
    }
    e.shutdown().await;
    let recs = records(&std::fs::read(&path).unwrap());
    assert_eq!(recs.len(), 3);
    for (r, d) in recs.iter().zip(&sent) {
        assert_eq!(&decode_proto(d.signal(), r), d);
    }
}

#[tokio::test]
async fn zstd_records_decompress_to_the_requests() {
    for format in ["proto", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.zst");
        let e = exporter(json!({"path": path, "format": format, "compression": "zstd"})).await;
        let sent = [traces(50, "compressible"), logs()];
        for d in &sent {
            e.export(d).await.unwrap();
        }
        e.shutdown().await;
        let recs = records(&std::fs::read(&path).unwrap());
        assert_eq!(recs.len(), 2);
        for (r, d) in recs.iter().zip(&sent) {
            assert_eq!(&r[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
            let mut raw = Vec::new();
            zstd::stream::Decoder::new(&r[..])
                .unwrap()
                .read_to_end(&mut raw)
                .unwrap();
            let back = if format == "json" {
                crate::otlp_json::decode_data(d.signal(), &raw).unwrap()
            } else {
                decode_proto(d.signal(), &raw)
            };
            assert_eq!(&back, d);
        }
    }
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

#[tokio::test]
async fn rotates_at_max_megabytes_and_keeps_max_backups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.json");
    let e = exporter(json!({
        "path": path,
        "rotation": {"max_megabytes": 1, "max_backups": 2},
    }))
    .await;
    // Each line is the same size; 1 MiB holds `per_file` of them.
    let one = traces(400, "a-span-name-long-enough-to-matter");
    let line = encode_record(&one, Format::Json, false).unwrap().len() as u64;
    let per_file = (1024 * 1024) / line;
    assert!((2..20).contains(&per_file), "line of {line} bytes");
    let total = per_file * 4 + 1; // four full files, then one line in a fifth
    for _ in 0..total {
        e.export(&one).await.unwrap();
    }
    e.shutdown().await;
    let backups = rotate::backups(&path).unwrap();
    assert_eq!(backups.len(), 2, "{backups:?}");
    for b in &backups {
        assert_eq!(
            size(b),
            per_file * line,
            "{b:?} was rotated when the next line did not fit"
        );
        let text = std::fs::read_to_string(b).unwrap();
        for l in text.lines() {
            crate::otlp_json::decode_data(Signal::Traces, l.as_bytes()).unwrap();
        }
    }
    assert_eq!(size(&path), line, "the current file holds the last line");
    // Older backups were removed: nothing else in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[test]
fn config_rules_match_upstream() {
    let err = |v: serde_json::Value| {
        create(&ComponentId::parse("file").unwrap(), &v)
            .err()
            .unwrap()
    };
    assert_eq!(err(json!({})).path, ["path"]);
    assert_eq!(
        err(json!({"path": "x", "append": true, "compression": "zstd"})).path,
        ["append"]
    );
    assert_eq!(
        err(json!({"path": "x", "append": true, "rotation": {}})).path,
        ["append"]
    );
    assert_eq!(
        err(json!({"path": "x", "group_by": {"enabled": true}})).path,
        ["path"]
    );
    assert_eq!(
        err(json!({"path": "*x", "group_by": {"enabled": true}})).path,
        ["path"]
    );
    assert_eq!(
        err(json!({"path": "a*", "group_by": {"enabled": true, "resource_attribute": ""}})).path,
        ["group_by", "resource_attribute"]
    );
    assert_eq!(
        err(json!({"path": "x", "compression": "zsdt"}))
            .hint
            .as_deref(),
        Some("did you mean \"zstd\"?")
    );
    assert!(err(json!({"path": "x", "format": "jsn"}))
        .message
        .contains("json"));
    let c: FileConfig = decode(&json!({"path": "x", "rotation": {}})).unwrap();
    assert_eq!(
        c.rotation,
        Some(Rotation {
            max_megabytes: 100,
            max_days: 0,
            max_backups: 100,
            localtime: false
        })
    );
    assert_eq!(c.flush_interval, std::time::Duration::from_secs(1));
    let c: FileConfig = decode(&json!({"path": "x", "flush_interval": "0s"})).unwrap();
    assert_eq!(c.flush_every(), std::time::Duration::from_secs(1));
    assert_eq!(
        err(json!({"path": "x", "directory_permissions": "0755"})).path,
        ["directory_permissions"]
    );
    assert_eq!(
        err(json!({"path": "x", "create_directory": true, "directory_permissions": "0x1"})).path,
        ["directory_permissions"]
    );
    assert_eq!(c.format, Format::Json);
}

#[tokio::test]
async fn rotation_removes_backups_older_than_max_days() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json");
    let day = std::time::Duration::from_secs(86_400);
    let now = std::time::SystemTime::now();
    let old = rotate::backup_name(&path, now - day * 3, false);
    let recent = rotate::backup_name(&path, now - day / 2, false);
    std::fs::write(&old, "old\n").unwrap();
    std::fs::write(&recent, "recent\n").unwrap();
    let e = exporter(json!({"path": path, "rotation": {"max_megabytes": 1, "max_days": 1}})).await;
    let one = traces(400, "a-span-name-long-enough-to-matter");
    let line = encode_record(&one, Format::Json, false).unwrap().len() as u64;
    for _ in 0..(1024 * 1024 / line + 1) {
        e.export(&one).await.unwrap();
    }
    e.shutdown().await;
    let backups = rotate::backups(&path).unwrap();
    assert!(!old.exists(), "a 3-day-old backup is removed");
    assert!(recent.exists());
    assert_eq!(backups.len(), 2, "{backups:?}");
}

fn logs_of(segments: &[Option<&str>]) -> Data {
    let Data::Logs(one) = logs() else {
        unreachable!()
    };
    Data::Logs(ExportLogsServiceRequest {
        resource_logs: segments
            .iter()
            .map(|seg| {
                let mut rl = one.resource_logs[0].clone();
                rl.resource = match seg {
                    Some(s) => {
                        resource_with(&[("service.name", "api"), ("fileexporter.path_segment", s)])
                    }
                    None => resource_with(&[("service.name", "api")]),
                };
                rl
            })
            .collect(),
    })
}

#[tokio::test]
async fn group_by_writes_one_file_per_attribute_value() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("out-*.json");
    let e = exporter(json!({
        "path": pattern,
        "group_by": {"enabled": true, "max_open_files": 1},
    }))
    .await;
    // "team/db" makes a directory; the resource without the attribute is dropped.
    e.export(&logs_of(&[Some("api"), Some("team/db"), None, Some("api")]))
        .await
        .unwrap();
    // The api file was closed to keep one file open: it is appended to, not truncated.
    e.export(&logs_of(&[Some("api")])).await.unwrap();
    e.shutdown().await;
    let read = |p: &Path| -> Vec<Data> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| crate::otlp_json::decode_data(Signal::Logs, l.as_bytes()).unwrap())
            .collect()
    };
    assert_eq!(
        read(&dir.path().join("out-api.json")),
        vec![
            logs_of(&[Some("api"), Some("api")]),
            logs_of(&[Some("api")])
        ]
    );
    assert_eq!(
        read(&dir.path().join("out-team/db.json")),
        vec![logs_of(&[Some("team/db")])]
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["out-api.json", "out-team"]);
}
