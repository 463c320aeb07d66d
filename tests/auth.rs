//! Authenticators end to end: a gateway's OTLP/gRPC receiver checks bearer tokens
//! (`bearertokenauth`, token file) and its OTLP/HTTP receiver basic auth (`basicauth` with a
//! bcrypt htpasswd); an agent's exporters authenticate with the client sides of the same
//! extensions and everything arrives once. Requests with a wrong token, a wrong password or no
//! credentials get UNAUTHENTICATED / 401, deliver nothing, and are counted; a token file
//! rewritten on disk takes effect without a restart; secrets never appear in the logs or in
//! `print-config`.

mod common;

use std::time::Duration;

use common::sink::Sink;
use common::{free_port, wait_port, wait_until, Sluice};

fn post(port: u16, auth: Option<&str>, body: &str) -> u16 {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/logs"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().map(|r| r.status().as_u16()).unwrap_or(0)
}

fn logs(tag: &str, n: u32) -> String {
    let recs: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"body":{{"stringValue":"{tag}-{i}"}}}}"#))
        .collect();
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{}]}}]}}]}}"#,
        recs.join(",")
    )
}

fn spans(n: u32, first: u32) -> String {
    let spans: Vec<String> = (first..first + n)
        .map(|i| {
            format!(
                r#"{{"traceId":"{:032x}","spanId":"{:016x}","name":"auth-{i}"}}"#,
                i + 1,
                i + 1
            )
        })
        .collect();
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn bearer_and_basic_auth_between_agent_and_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "gw-token-1\n").unwrap();
    let hash = bcrypt::hash("agent-pass", 4).unwrap();
    let rt = common::runtime(1);
    let sink = Sink::start(&rt);
    let (gw_grpc, gw_http, gw_metrics, agent_http) =
        (free_port(), free_port(), free_port(), free_port());

    let gateway_cfg = format!(
        r#"
extensions:
  bearertokenauth/server:
    filename: {token}
  basicauth/server:
    htpasswd:
      inline: |
        agent:{hash}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{gw_grpc}
        auth: {{authenticator: bearertokenauth/server}}
      http:
        endpoint: 127.0.0.1:{gw_http}
        auth: {{authenticator: basicauth/server}}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  extensions: [bearertokenauth/server, basicauth/server]
  telemetry:
    metrics:
      address: 127.0.0.1:{gw_metrics}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
    logs: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
        token = token_file.display(),
        sink = sink.grpc
    );
    let gateway = Sluice::start(&gateway_cfg);
    wait_port(gw_grpc);
    wait_port(gw_http);

    let agent = Sluice::start(&format!(
        r#"
extensions:
  bearertokenauth/client:
    token: gw-token-1
  bearertokenauth/wrong:
    token: not-the-token
  basicauth/client:
    client_auth: {{username: agent, password: agent-pass}}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{agent_http}
exporters:
  otlp_grpc/good:
    endpoint: 127.0.0.1:{gw_grpc}
    tls: {{insecure: true}}
    auth: {{authenticator: bearertokenauth/client}}
  otlp_grpc/wrong_token:
    endpoint: 127.0.0.1:{gw_grpc}
    tls: {{insecure: true}}
    auth: {{authenticator: bearertokenauth/wrong}}
    retry_on_failure: {{enabled: false}}
  otlp_http/basic:
    endpoint: http://127.0.0.1:{gw_http}
    auth: {{authenticator: basicauth/client}}
service:
  extensions: [bearertokenauth/client, bearertokenauth/wrong, basicauth/client]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc/good, otlp_grpc/wrong_token]}}
    logs: {{receivers: [otlp], exporters: [otlp_http/basic]}}
"#
    ));
    wait_port(agent_http);

    let agent_post = |path: &str, body: String| {
        reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{agent_http}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(agent_post("/v1/traces", spans(30, 0)), 200);
    assert_eq!(agent_post("/v1/logs", logs("agent", 12)), 200);
    assert!(
        wait_until(Duration::from_secs(15), || sink.spans().len() >= 30
            && sink.logs().len() >= 12),
        "spans {} logs {}\nagent:\n{}\ngateway:\n{}",
        sink.spans().len(),
        sink.logs().len(),
        agent.stderr(),
        gateway.stderr()
    );

    // Directly at the gateway: no credentials, a wrong password, the right one.
    assert_eq!(post(gw_http, None, &logs("none", 1)), 401);
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        post(
            gw_http,
            Some(&format!("Basic {}", b64("agent:nope"))),
            &logs("bad", 1)
        ),
        401
    );
    assert_eq!(
        post(
            gw_http,
            Some(&format!("Basic {}", b64("agent:agent-pass"))),
            &logs("ok", 3)
        ),
        200
    );

    // The token file is rotated: the agent's old token is refused from now on.
    std::fs::write(&token_file, "gw-token-2-rotated\n").unwrap();
    assert_eq!(agent_post("/v1/traces", spans(5, 100)), 200);
    std::thread::sleep(Duration::from_millis(1500));

    assert_eq!(
        sink.spans().len(),
        30,
        "only the good exporter's spans, before the rotation"
    );
    assert_eq!(
        sink.logs().len(),
        15,
        "12 from the agent + 3 posted with the right password"
    );
    let m = reqwest::blocking::get(format!("http://127.0.0.1:{gw_metrics}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metric(
            &m,
            "sluice_receiver_unauthenticated_requests{receiver=\"otlp\",transport=\"http\""
        ) >= 2.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "sluice_receiver_unauthenticated_requests{receiver=\"otlp\",transport=\"grpc\""
        ) >= 2.0,
        "{m}"
    );

    let (a, g) = (agent.stderr(), gateway.stderr());
    assert!(
        a.contains("Unauthenticated"),
        "the agent logs the refusal:\n{a}"
    );
    assert!(g.contains("bearer token does not match"), "{g}");
    for secret in [
        "gw-token-1",
        "gw-token-2",
        "agent-pass",
        "not-the-token",
        &hash,
    ] {
        assert!(
            !a.contains(secret) && !g.contains(secret),
            "{secret} leaked into a log"
        );
    }

    // print-config redacts the tokens, passwords and htpasswd lines.
    let cfg_file = dir.path().join("gw.yaml");
    std::fs::write(&cfg_file, &gateway_cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["print-config", "--config"])
        .arg(&cfg_file)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("[REDACTED]"), "{printed}");
    assert!(!printed.contains(&hash), "htpasswd hash leaked: {printed}");
}
