#!/usr/bin/env python3
"""Sends root spans (one trace each) with the Python OpenTelemetry SDK, for the processor-chain
end-to-end test (tests/processor_chain_python.rs). Every fifth span carries `drop.me=true` (for
the filter processor), span 3 of every 20 `sampling.priority=0` and span 7 of every 20
`sampling.priority=1` (for the probabilistic sampler). Prints one JSON line listing what was
sent.

    send_chain.py --endpoint 127.0.0.1:4318 --spans 600
"""

import argparse
import json

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--spans", type=int, default=600)
    args = ap.parse_args()

    resource = Resource.create({"service.name": "chain", "interop.sdk": "python"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://{args.endpoint}/v1/traces"))
    )
    tracer = tp.get_tracer("chain")
    sent = []
    for i in range(args.spans):
        attrs = {"chain.index": i}
        if i % 5 == 0:
            attrs["drop.me"] = True
        priority = None
        if i % 20 == 3:
            priority = 0
        elif i % 20 == 7:
            priority = 1
        if priority is not None:
            attrs["sampling.priority"] = priority
        with tracer.start_as_current_span(f"chain-{i}", attributes=attrs) as span:
            ctx = span.get_span_context()
            sent.append(
                {
                    "trace_id": format(ctx.trace_id, "032x"),
                    "name": f"chain-{i}",
                    "drop": i % 5 == 0,
                    "priority": priority,
                }
            )
    tp.force_flush()
    tp.shutdown()
    print(json.dumps({"spans": sent}))


if __name__ == "__main__":
    main()
