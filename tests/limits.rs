//! Limits that hold against hostile HTTP clients on the OTLP/HTTP receiver: a client that
//! sends half its headers is disconnected after `read_header_timeout` (slowloris), one that
//! stalls in its body gets 504 after `read_timeout` (counted), well-behaved clients are served
//! meanwhile, and at `max_connections` a new connection waits until one closes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, Sluice};

fn config(http: u16, sink: &str, extra: &str, telemetry: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
{extra}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#
    )
}

const BODY: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"ok"}]}]}]}"#;

fn request() -> String {
    format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
}

/// Reads until the peer closes or `limit` passes; returns what was read and whether it closed.
fn read_all(c: &mut TcpStream, limit: Duration) -> (String, bool) {
    c.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (String::from_utf8_lossy(&out).into(), false)
            }
            Err(_) => return (String::from_utf8_lossy(&out).into(), true),
        }
    }
}

fn ok_post(http: u16) -> bool {
    reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .is_ok_and(|r| r.status() == 200)
}

#[test]
fn slow_headers_and_slow_bodies_are_cut_off() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, telemetry) = (free_port(), free_port());
    let _sluice = Sluice::start(&config(
        http,
        &sink.grpc.to_string(),
        "        read_header_timeout: 1s\n        read_timeout: 1s",
        telemetry,
    ));
    wait_port(http);

    let mut slow_head = TcpStream::connect(("127.0.0.1", http)).unwrap();
    slow_head
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut slow_body = TcpStream::connect(("127.0.0.1", http)).unwrap();
    let head = request();
    let cut = head.find("\r\n\r\n").unwrap() + 4 + 10;
    slow_body.write_all(&head.as_bytes()[..cut]).unwrap();

    // Others are served while those two stall.
    assert!(ok_post(http));

    let (_, closed) = read_all(&mut slow_head, Duration::from_secs(10));
    assert!(closed, "a client stuck in its headers is disconnected");
    let (resp, _) = read_all(&mut slow_body, Duration::from_secs(10));
    assert!(resp.starts_with("HTTP/1.1 504"), "{resp}");
    assert!(resp.contains("read_timeout"), "{resp}");
    assert!(ok_post(http));

    let m = reqwest::blocking::get(format!("http://127.0.0.1:{telemetry}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("sluice_receiver_read_timeouts{receiver=\"otlp\"} 1")),
        "{m}"
    );
}

#[test]
fn max_connections_holds_new_connections_until_one_closes() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, telemetry) = (free_port(), free_port());
    let _sluice = Sluice::start(&config(
        http,
        &sink.grpc.to_string(),
        "        max_connections: 2\n        read_header_timeout: 0s",
        telemetry,
    ));
    wait_port(http);
    // wait_port's probe connection may still be counted for a moment.
    std::thread::sleep(Duration::from_millis(200));
    let held1 = TcpStream::connect(("127.0.0.1", http)).unwrap();
    let _held2 = TcpStream::connect(("127.0.0.1", http)).unwrap();
    let mut third = TcpStream::connect(("127.0.0.1", http)).unwrap();
    let req = request().replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
    third.write_all(req.as_bytes()).unwrap();
    let (resp, _) = read_all(&mut third, Duration::from_millis(700));
    assert!(resp.is_empty(), "served beyond the cap: {resp}");
    drop(held1);
    let (resp, _) = read_all(&mut third, Duration::from_secs(10));
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[test]
fn attribute_limits_cap_counts_and_lengths() {
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (http, telemetry) = (free_port(), free_port());
    let cfg = config(http, &sink.grpc.to_string(), "", telemetry).replace(
        "receivers:\n  otlp:\n",
        "receivers:\n  otlp:\n    attribute_limits: {max_count: 4, max_value_length: 8}\n",
    );
    let _sluice = Sluice::start(&cfg);
    wait_port(http);
    let attrs: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"key":"k{i}","value":{{"stringValue":"value-number-{i}"}}}}"#))
        .collect();
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"big","attributes":[{}]}}]}}]}}]}}"#,
        attrs.join(",")
    );
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(common::wait_until(Duration::from_secs(10), || sink
        .spans()
        .len()
        == 1));
    let span = &sink.spans()[0];
    assert_eq!(span.attributes.len(), 4);
    assert_eq!(span.dropped_attributes_count, 6);
    assert_eq!(
        common::sink::string_attr(&span.attributes, "k0").as_deref(),
        Some("value-nu")
    );
    let m = reqwest::blocking::get(format!("http://127.0.0.1:{telemetry}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        m.contains("sluice_receiver_attributes_dropped{receiver=\"otlp\"} 6"),
        "{m}"
    );
    assert!(
        m.contains("sluice_receiver_attribute_values_truncated{receiver=\"otlp\"} 4"),
        "{m}"
    );
}
