#!/usr/bin/env python3
"""Sends traces, metrics and logs to Sluice with the Python OpenTelemetry SDK.

Used by tests/interop_python.rs: it starts an OTLP sink and Sluice, runs this script, and
asserts what reaches the sink. Prints one JSON line describing what was sent.

    send_with_python_sdk.py --protocol grpc|http --endpoint 127.0.0.1:4317 --service NAME
"""

import argparse
import json
import logging
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

SPANS = 40
LOGS = 15


def exporters(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return (
            OTLPSpanExporter(endpoint=endpoint, insecure=True),
            OTLPMetricExporter(endpoint=endpoint, insecure=True),
            OTLPLogExporter(endpoint=endpoint, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    base = "http://" + endpoint
    return (
        OTLPSpanExporter(endpoint=base + "/v1/traces"),
        OTLPMetricExporter(endpoint=base + "/v1/metrics"),
        OTLPLogExporter(endpoint=base + "/v1/logs"),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--service", required=True)
    args = ap.parse_args()

    resource = Resource.create({"service.name": args.service, "interop.sdk": "python"})
    span_exp, metric_exp, log_exp = exporters(args.protocol, args.endpoint)

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(span_exp))
    tracer = tp.get_tracer("interop")
    spans = []
    for i in range(SPANS):
        with tracer.start_as_current_span(f"py-op-{i}") as span:
            span.set_attribute("py.index", i)
            span.set_attribute("py.route", f"/py/{i}")
            ctx = span.get_span_context()
            spans.append(
                {
                    "trace_id": format(ctx.trace_id, "032x"),
                    "span_id": format(ctx.span_id, "016x"),
                    "name": f"py-op-{i}",
                }
            )
    tp.force_flush()
    tp.shutdown()

    mp = MeterProvider(
        resource=resource,
        metric_readers=[PeriodicExportingMetricReader(metric_exp, export_interval_millis=60000)],
    )
    meter = mp.get_meter("interop")
    counter = meter.create_counter("py.requests")
    counter.add(3, {"route": "/x"})
    counter.add(4, {"route": "/y"})
    hist = meter.create_histogram("py.latency", unit="ms")
    for v in (2.0, 8.0):
        hist.record(v, {"route": "/x"})
    mp.force_flush()
    mp.shutdown()

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exp))
    handler = LoggingHandler(level=logging.INFO, logger_provider=lp)
    log = logging.getLogger("interop")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for i in range(LOGS):
        log.warning("python log %d", i, extra={"py.log_index": i})
    lp.force_flush()
    lp.shutdown()

    print(
        json.dumps(
            {
                "spans": spans,
                "metrics": {"py.requests": 2, "py.latency": 1},
                "logs": LOGS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
