#!/usr/bin/env python3
"""Sends traces of several spans each with the Python OpenTelemetry SDK over OTLP/HTTP, for
tests/loadbalancing.rs. Prints one JSON line: every trace ID with its span IDs, and whether
every export succeeded.

    send_traces.py --endpoint 127.0.0.1:4318 --traces 3000 --spans-per-trace 2 [--delay-ms 2]
"""

import argparse
import json
import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult


class Recording(OTLPSpanExporter):
    """The SDK's exporter, remembering whether every export succeeded."""

    failures = 0

    def export(self, spans):
        r = super().export(spans)
        if r != SpanExportResult.SUCCESS:
            Recording.failures += 1
        return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--traces", type=int, default=3000)
    ap.add_argument("--spans-per-trace", type=int, default=2)
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--service", default="lb-test")
    args = ap.parse_args()

    tp = TracerProvider(resource=Resource.create({"service.name": args.service}))
    tp.add_span_processor(
        BatchSpanProcessor(
            Recording(endpoint=f"http://{args.endpoint}/v1/traces", timeout=10),
            # Large enough that the SDK never drops spans on its own side.
            max_queue_size=100_000,
            max_export_batch_size=256,
            schedule_delay_millis=50,
        )
    )
    tracer = tp.get_tracer("lb")
    traces = {}
    for t in range(args.traces):
        with tracer.start_as_current_span(f"root-{t}") as root:
            ids = [format(root.get_span_context().span_id, "016x")]
            for c in range(args.spans_per_trace - 1):
                with tracer.start_as_current_span(f"child-{t}-{c}") as child:
                    ids.append(format(child.get_span_context().span_id, "016x"))
            traces[format(root.get_span_context().trace_id, "032x")] = ids
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
    tp.shutdown()
    print(json.dumps({"traces": traces, "failures": Recording.failures}))


if __name__ == "__main__":
    main()
