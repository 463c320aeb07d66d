//! `sluice-loadgen`: OTLP load generator and sink (see `sluice::loadgen`).

fn main() -> std::process::ExitCode {
    sluice::loadgen::cli::main()
}
