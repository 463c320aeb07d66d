//! Command line of `sluice-loadgen`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::client::Protocol;
use super::generate::{self, LoadConfig};
use super::sink::{self, SinkConfig};
use crate::config::decode::parse_duration;
use crate::signal::Signal;

/// sluice-loadgen: OTLP load generator and sink for benchmarks and fault tests.
#[derive(Parser, Debug)]
#[command(name = "sluice-loadgen", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send spans.
    Traces(LoadArgs),
    /// Send metric data points (sums, gauges and histograms).
    Metrics(LoadArgs),
    /// Send log records.
    Logs(LoadArgs),
    /// Receive OTLP (gRPC and HTTP/protobuf) and count items.
    Sink(SinkArgs),
}

/// Options of the load subcommands.
#[derive(Args, Debug)]
struct LoadArgs {
    /// `host:port` or `http://host:port` (default: 127.0.0.1:4317 for gRPC, :4318 for HTTP).
    #[arg(long, default_value = "")]
    endpoint: String,
    /// Transport.
    #[arg(long, value_enum, default_value = "grpc")]
    protocol: Protocol,
    /// Items per second over all workers; 0 sends as fast as answers come back.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// How long to send (Go duration: 500ms, 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Concurrent senders, each with its own connection.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Items per export request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Per-call timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the end summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No per-second report lines.
    #[arg(long)]
    quiet: bool,
}

/// Options of `sink`.
#[derive(Args, Debug)]
struct SinkArgs {
    /// OTLP/gRPC listen address, e.g. 127.0.0.1:5317.
    #[arg(long)]
    grpc_listen: Option<String>,
    /// OTLP/HTTP (and control) listen address, e.g. 127.0.0.1:5318.
    #[arg(long)]
    http_listen: Option<String>,
    /// Record every span's trace ID and count duplicates.
    #[arg(long)]
    check_unique_trace_ids: bool,
    /// Wait this many milliseconds before answering each export.
    #[arg(long, default_value_t = 0)]
    delay: u64,
    /// Refuse every export with UNAVAILABLE / 503 until `POST /control/ok`.
    #[arg(long)]
    fail_unavailable: bool,
    /// Print the final counts as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No per-second count lines.
    #[arg(long)]
    quiet: bool,
}

fn report_every(quiet: bool) -> Option<Duration> {
    (!quiet).then_some(Duration::from_secs(1))
}

async fn load(signal: Signal, a: LoadArgs) -> anyhow::Result<()> {
    let cfg = LoadConfig {
        signal,
        endpoint: a.endpoint,
        protocol: a.protocol,
        rate: a.rate,
        duration: a.duration,
        workers: a.workers,
        batch: a.batch,
        timeout: a.timeout,
        report_every: report_every(a.quiet),
    };
    let summary = generate::run(cfg).await?;
    if a.json {
        eprintln!("{}", summary.text());
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}", summary.text());
    }
    Ok(())
}

async fn sink(a: SinkArgs) -> anyhow::Result<()> {
    let cfg = SinkConfig {
        grpc_listen: a.grpc_listen,
        http_listen: a.http_listen,
        check_unique_trace_ids: a.check_unique_trace_ids,
        delay: Duration::from_millis(a.delay),
        fail_unavailable: a.fail_unavailable,
    };
    let c = sink::run(&cfg, report_every(a.quiet)).await?;
    if a.json {
        println!("{}", serde_json::to_string(&c)?);
    } else {
        println!(
            "sink final: {}",
            sink::counts_line(Duration::ZERO, &c, &Default::default(), 1.0)
        );
    }
    Ok(())
}

/// Parses the command line and runs it; the whole of `sluice-loadgen`'s `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Traces(a) => load(Signal::Traces, a).await,
            Command::Metrics(a) => load(Signal::Metrics, a).await,
            Command::Logs(a) => load(Signal::Logs, a).await,
            Command::Sink(a) => sink(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
