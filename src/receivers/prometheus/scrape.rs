//! Scraping: one task per target, started at a jittered offset inside the interval, each scrape
//! bounded by its timeout so a slow or dead target never delays another.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{header, Request, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use tokio_util::sync::CancellationToken;

use super::client::{HttpClient, ScrapeClient};
use super::config::{Auth, ScrapeConfig};
use super::convert::{ScrapeError, ScrapeOptions, TargetConverter};
use super::discovery::TargetSpec;
use super::parser::{Format, Parser};
use crate::component::ComponentId;
use crate::pipeline::Consumer;
use crate::signal::{Batch, Data};

/// The Accept header Prometheus sends: OpenMetrics preferred, then the text format.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The offset of a target's scrapes inside the interval: a hash of the target and a per-process
/// seed, as Prometheus spreads targets so they are not all scraped at once.
pub fn offset(spec: &TargetSpec, interval: Duration, seed: u64) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    spec.hash(&mut h);
    seed.hash(&mut h);
    let n = interval.as_nanos().max(1) as u64;
    Duration::from_nanos(h.finish() % n)
}

fn read_secret_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {path:?}: {e}"))
}

fn auth_header(auth: &Auth) -> Result<Option<String>, String> {
    use base64::Engine;
    Ok(match auth {
        Auth::None => None,
        Auth::Basic(b) => {
            let pw = match (&b.password, &b.password_file) {
                (Some(p), _) => p.clone(),
                (None, Some(f)) => read_secret_file(f)?,
                (None, None) => String::new(),
            };
            let raw = format!("{}:{}", b.username, pw);
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ))
        }
        Auth::Header(a) => {
            let cred = match (&a.credentials, &a.credentials_file) {
                (Some(c), _) => c.clone(),
                (None, Some(f)) => read_secret_file(f)?,
                (None, None) => String::new(),
            };
            Some(format!("{} {}", a.kind, cred))
        }
    })
}

/// Fetches one exposition: returns the body (decompressed) and its format.
pub async fn fetch(
    client: &HttpClient,
    url: &Uri,
    cfg: &ScrapeConfig,
) -> Result<(Vec<u8>, Format), String> {
    let mut req = Request::get(url.clone())
        .header(header::ACCEPT, ACCEPT)
        .header(
            header::ACCEPT_ENCODING,
            if cfg.enable_compression {
                "gzip"
            } else {
                "identity"
            },
        )
        .header(
            header::USER_AGENT,
            concat!("Sluice/", env!("CARGO_PKG_VERSION")),
        )
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", cfg.scrape_timeout.as_secs_f64()),
        );
    if let Some(a) = auth_header(&cfg.auth)? {
        let mut v = http::HeaderValue::from_str(&a)
            .map_err(|_| "credentials are not a valid header value".to_string())?;
        v.set_sensitive(true);
        req = req.header(header::AUTHORIZATION, v);
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| crate::telemetry::error_chain(&e))?;
    let status = resp.status();
    if status != http::StatusCode::OK {
        return Err(format!("server returned HTTP status {status}"));
    }
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let gzip = resp
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let limit = if cfg.body_size_limit == 0 {
        usize::MAX
    } else {
        cfg.body_size_limit as usize
    };
    let too_big = || {
        format!(
            "body size limit exceeded: the response is larger than {} bytes",
            cfg.body_size_limit
        )
    };
    let body = Limited::new(resp.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_big()
            } else {
                format!("reading the body: {e}")
            }
        })?
        .to_bytes();
    let body = if gzip {
        use std::io::Read;
        let mut out = Vec::with_capacity(body.len() * 4);
        let mut dec =
            flate2::read::GzDecoder::new(&body[..]).take((limit as u64).saturating_add(1));
        dec.read_to_end(&mut out)
            .map_err(|e| format!("decompressing the gzip body: {e}"))?;
        if out.len() > limit {
            return Err(too_big());
        }
        out
    } else {
        body.to_vec()
    };
    Ok((body, Format::from_content_type(ctype.as_deref())))
}

/// Everything a target task needs.
pub struct TargetTask {
    /// The receiver, for logs.
    pub id: ComponentId,
    /// The target.
    pub spec: TargetSpec,
    /// Its scrape config.
    pub cfg: Arc<ScrapeConfig>,
    /// Sample options.
    pub opts: ScrapeOptions,
    /// The scrape config's client, shared by its targets.
    pub client: Arc<ScrapeClient>,
    /// Where metrics go.
    pub consumer: Consumer,
    /// Offset seed.
    pub seed: u64,
}

async fn deliver(id: &ComponentId, consumer: &Consumer, req: ExportMetricsServiceRequest) {
    if req.resource_metrics.is_empty() {
        return;
    }
    if let Err(e) = consumer.consume(Batch::new(Data::Metrics(req))).await {
        tracing::warn!(receiver = %id, error = %e, "Dropped scraped metrics: the pipeline refused them");
    }
}

impl TargetTask {
    /// Scrapes until `shutdown` is cancelled; when `removed` is cancelled first (the target
    /// went away), sends staleness markers for its series and ends.
    pub async fn run(self, shutdown: CancellationToken, removed: CancellationToken) {
        let interval = self.cfg.scrape_interval;
        let url: Uri = match self.spec.url.parse() {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(receiver = %self.id, url = %self.spec.url, error = %e, "Invalid scrape URL; target skipped");
                return;
            }
        };
        let mut conv = TargetConverter::new(self.spec.target.clone(), self.opts.clone());
        let first = tokio::time::Instant::now() + offset(&self.spec, interval, self.seed);
        let mut ticker = tokio::time::interval_at(first, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = removed.cancelled() => {
                    let req = conv.stale_all(now_ms());
                    deliver(&self.id, &self.consumer, req).await;
                    return;
                }
                _ = ticker.tick() => {}
            }
            let ts = now_ms();
            let started = Instant::now();
            let client = self.client.current();
            let fetched = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(self.cfg.scrape_timeout, fetch(&client, &url, &self.cfg)) => r,
            };
            let result = match fetched {
                Ok(Ok((body, format))) => match Parser::check_utf8(&body) {
                    Ok(text) => {
                        let (req, r) =
                            conv.convert(text, format, ts, started.elapsed().as_secs_f64());
                        (req, r.map(|_| ()))
                    }
                    Err(e) => (
                        conv.failed(ts, started.elapsed().as_secs_f64()),
                        Err(ScrapeError::Parse(e)),
                    ),
                },
                Ok(Err(e)) => (
                    conv.failed(ts, started.elapsed().as_secs_f64()),
                    Err(ScrapeError::Http(e)),
                ),
                Err(_) => (
                    conv.failed(ts, started.elapsed().as_secs_f64()),
                    Err(ScrapeError::Http(format!(
                        "scrape timed out after {:?}",
                        self.cfg.scrape_timeout
                    ))),
                ),
            };
            let (req, outcome) = result;
            match outcome {
                Ok(()) => {
                    if last_error.take().is_some() {
                        tracing::info!(receiver = %self.id, job = %self.spec.target.job, target = %self.spec.url, "Scrape recovered");
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    if last_error.as_deref() != Some(msg.as_str()) {
                        tracing::warn!(receiver = %self.id, job = %self.spec.target.job, target = %self.spec.url, error = %msg, "Failed to scrape Prometheus endpoint");
                    } else {
                        tracing::debug!(receiver = %self.id, target = %self.spec.url, error = %msg, "Scrape failed again");
                    }
                    last_error = Some(msg);
                }
            }
            deliver(&self.id, &self.consumer, req).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::prometheus::config::PrometheusConfig;
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server: answers every request with `status`, `headers` and `body`, and
    /// sends back the request head it saw.
    async fn serve(
        status: &'static str,
        headers: &'static str,
        body: Vec<u8>,
    ) -> (u16, tokio::sync::mpsc::Receiver<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let mut buf = vec![0u8; 8192];
                let n = c.read(&mut buf).await.unwrap_or(0);
                let _ = tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .await;
                let head = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(head.as_bytes()).await;
                let _ = c.write_all(&body).await;
            }
        });
        (port, rx)
    }

    fn cfg(extra: serde_json::Value) -> ScrapeConfig {
        let mut sc =
            serde_json::json!({"job_name": "t", "scrape_timeout": "2s", "scrape_interval": "5s"});
        sc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        PrometheusConfig::from_value(&serde_json::json!({"config": {"scrape_configs": [sc]}}))
            .unwrap()
            .scrape_configs
            .remove(0)
    }

    fn plain() -> HttpClient {
        super::super::client::build(&Default::default()).unwrap()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[tokio::test]
    async fn negotiates_openmetrics_sends_auth_and_decompresses_gzip() {
        let om = b"# TYPE a counter\na_total 1\n# EOF\n".to_vec();
        let (port, mut seen) = serve(
            "200 OK",
            "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Encoding: gzip\r\n",
            gzip(&om),
        )
        .await;
        let c = cfg(serde_json::json!({"authorization": {"credentials": "s3cret"}}));
        let url: Uri = format!("http://127.0.0.1:{port}/metrics").parse().unwrap();
        let (body, format) = fetch(&plain(), &url, &c).await.unwrap();
        assert_eq!(body, om);
        assert_eq!(format, Format::OpenMetrics);
        let req = seen.recv().await.unwrap().to_ascii_lowercase();
        assert!(
            req.contains(&format!("accept: {}", ACCEPT.to_ascii_lowercase())),
            "{req}"
        );
        assert!(req.contains("accept-encoding: gzip"), "{req}");
        assert!(req.contains("authorization: bearer s3cret"), "{req}");
        assert!(
            req.contains("x-prometheus-scrape-timeout-seconds: 2"),
            "{req}"
        );
    }

    #[tokio::test]
    async fn basic_auth_status_errors_and_body_limits() {
        let (port, mut seen) = serve("503 Service Unavailable", "", b"down".to_vec()).await;
        let c = cfg(serde_json::json!({"basic_auth": {"username": "u", "password": "p"}}));
        let url: Uri = format!("http://127.0.0.1:{port}/metrics").parse().unwrap();
        let e = fetch(&plain(), &url, &c).await.unwrap_err();
        assert!(e.contains("503"), "{e}");
        let req = seen.recv().await.unwrap().to_ascii_lowercase();
        assert!(req.contains("authorization: basic dtpw"), "{req}");

        let big = vec![b'#'; 4096];
        let (port, _) = serve("200 OK", "Content-Type: text/plain\r\n", big.clone()).await;
        let url: Uri = format!("http://127.0.0.1:{port}/metrics").parse().unwrap();
        let e = fetch(
            &plain(),
            &url,
            &cfg(serde_json::json!({"body_size_limit": "1KB"})),
        )
        .await
        .unwrap_err();
        assert!(e.contains("body size limit"), "{e}");
        // The limit applies to the decompressed size too.
        let (port, _) = serve("200 OK", "Content-Encoding: gzip\r\n", gzip(&big)).await;
        let url: Uri = format!("http://127.0.0.1:{port}/metrics").parse().unwrap();
        let e = fetch(
            &plain(),
            &url,
            &cfg(serde_json::json!({"body_size_limit": "1KB"})),
        )
        .await
        .unwrap_err();
        assert!(e.contains("body size limit"), "{e}");
        let e = fetch(
            &plain(),
            &"http://127.0.0.1:1/metrics".parse().unwrap(),
            &cfg(serde_json::json!({})),
        )
        .await
        .unwrap_err();
        assert!(e.to_ascii_lowercase().contains("connect"), "{e}");
    }

    #[test]
    fn offsets_spread_targets_inside_the_interval() {
        use crate::receivers::prometheus::convert::Target;
        let spec = |i: u16| TargetSpec {
            target: Target {
                job: "j".into(),
                instance: format!("h:{i}"),
                scheme: "http".into(),
                labels: Vec::new(),
            },
            url: format!("http://h:{i}/metrics"),
        };
        let iv = Duration::from_secs(10);
        let offs: Vec<Duration> = (0..50).map(|i| offset(&spec(i), iv, 7)).collect();
        assert!(offs.iter().all(|o| *o < iv));
        assert!(offs.iter().any(|o| *o < Duration::from_secs(5)));
        assert!(offs.iter().any(|o| *o >= Duration::from_secs(5)));
        assert_eq!(offset(&spec(1), iv, 7), offset(&spec(1), iv, 7));
    }
}
