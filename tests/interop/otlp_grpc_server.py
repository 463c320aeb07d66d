#!/usr/bin/env python3
"""An OTLP/gRPC server on grpcio (gRPC's C core, from PyPI) with the OpenTelemetry proto
package's generated services, for tests/grpc_interop.rs: the backend Sluice's otlp_grpc
exporter sends to. Prints "listening" once serving, then one JSON line per export:
signal, item count and (traces) every trace ID. (grpcio decompresses requests itself and does
not show the grpc-encoding they came with; the test counts bytes on the wire instead.)
With --fail-first N it answers the first N trace exports UNAVAILABLE.

    otlp_grpc_server.py --port 4317 [--fail-first 2]
"""

import argparse
import json
import sys
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

lock = threading.Lock()
failures_left = 0


def report(signal, items, context, trace_ids=None):
    line = {"signal": signal, "items": items}
    if trace_ids is not None:
        line["trace_ids"] = trace_ids
    with lock:
        print(json.dumps(line), flush=True)


class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        global failures_left
        with lock:
            fail = failures_left > 0
            failures_left -= 1
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "test backend: try again")
        ids, n = set(), 0
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    n += 1
                    ids.add(s.trace_id.hex())
        report("traces", n, context, sorted(ids))
        return trace_service_pb2.ExportTraceServiceResponse()


class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        n = 0
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    n += len(getattr(m, kind).data_points) if kind else 0
        report("metrics", n, context)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        n = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        report("logs", n, context)
        return logs_service_pb2.ExportLogsServiceResponse()


def main():
    global failures_left
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()
    failures_left = args.fail_first
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print("listening", flush=True)
    sys.stdout.flush()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
