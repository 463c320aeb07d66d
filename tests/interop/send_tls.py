#!/usr/bin/env python3
"""Sends spans to Sluice over TLS with the Python OpenTelemetry SDK's OTLP exporters, for
tests/tls_python.rs. Trusts only --ca; with --cert/--key it presents a client certificate
(mTLS). Exits 0 when every export succeeded, 1 otherwise, and prints one JSON line.

    send_tls.py --protocol grpc|http --endpoint 127.0.0.1:4317 --ca ca.pem [--cert c.pem --key k.pem]
        --service NAME --spans 20
"""

import argparse
import json

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult


class Recording:
    """Wraps an exporter and remembers every result."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, spans):
        r = self.inner.export(spans)
        self.results.append(r)
        return r

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def exporter(args):
    if args.protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        def read(p):
            if not p:
                return None
            with open(p, "rb") as f:
                return f.read()

        creds = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca),
            private_key=read(args.key),
            certificate_chain=read(args.cert),
        )
        return OTLPSpanExporter(
            endpoint=f"https://{args.endpoint}", credentials=creds, timeout=5
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=f"https://{args.endpoint}/v1/traces",
        certificate_file=args.ca,
        client_certificate_file=args.cert,
        client_key_file=args.key,
        timeout=5,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--service", required=True)
    ap.add_argument("--spans", type=int, default=20)
    args = ap.parse_args()

    rec = Recording(exporter(args))
    tp = TracerProvider(resource=Resource.create({"service.name": args.service}))
    tp.add_span_processor(SimpleSpanProcessor(rec))
    tracer = tp.get_tracer("tls")
    for i in range(args.spans):
        with tracer.start_as_current_span(f"{args.service}-{i}"):
            pass
    tp.shutdown()
    ok = sum(1 for r in rec.results if r == SpanExportResult.SUCCESS)
    print(json.dumps({"exports": len(rec.results), "succeeded": ok}))
    raise SystemExit(0 if ok == len(rec.results) == args.spans else 1)


if __name__ == "__main__":
    main()
