//! Checks the serde mapping does not make: trace IDs are 16 bytes and span IDs 8 (or empty).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::DecodeError;

fn check_id(path: impl Fn() -> String, id: &[u8], want: usize) -> Result<(), DecodeError> {
    if id.is_empty() || id.len() == want {
        return Ok(());
    }
    Err(DecodeError {
        path: path(),
        message: format!("expected {} hex digits, got {}", want * 2, id.len() * 2),
    })
}

/// Checks every span's, link's trace and span ID lengths.
pub fn traces(req: &ExportTraceServiceRequest) -> Result<(), DecodeError> {
    for (r, rs) in req.resource_spans.iter().enumerate() {
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for (i, span) in ss.spans.iter().enumerate() {
                let p = |f: &str| format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}].{f}");
                check_id(|| p("traceId"), &span.trace_id, 16)?;
                check_id(|| p("spanId"), &span.span_id, 8)?;
                check_id(|| p("parentSpanId"), &span.parent_span_id, 8)?;
                for (l, link) in span.links.iter().enumerate() {
                    check_id(|| p(&format!("links[{l}].traceId")), &link.trace_id, 16)?;
                    check_id(|| p(&format!("links[{l}].spanId")), &link.span_id, 8)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks every log record's trace and span ID lengths.
pub fn logs(req: &ExportLogsServiceRequest) -> Result<(), DecodeError> {
    for (r, rl) in req.resource_logs.iter().enumerate() {
        for (s, sl) in rl.scope_logs.iter().enumerate() {
            for (i, rec) in sl.log_records.iter().enumerate() {
                let p = |f: &str| format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}].{f}");
                check_id(|| p("traceId"), &rec.trace_id, 16)?;
                check_id(|| p("spanId"), &rec.span_id, 8)?;
            }
        }
    }
    Ok(())
}
