#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/ (standard library only, plus the
`zstd` command for zstd bodies). Run from the repository root: python3 fuzz/gen_seeds.py

OTLP protobuf seeds are encoded by hand (a tiny wire-format writer below) so no protobuf
package is needed; the other seeds come from the repository's test data, configs and tests.
"""
import gzip
import hashlib
import os
import re
import struct
import subprocess
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def write(target, data, name=None):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- protobuf wire format -------------------------------------------------------------
def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def v(field, n):
    return key(field, 0) + varint(n)


def zz(n):
    return (n << 1) ^ (n >> 63)


def f64(field, n):
    return key(field, 1) + struct.pack("<Q", n)


def dbl(field, x):
    return key(field, 1) + struct.pack("<d", x)


def f32(field, n):
    return key(field, 5) + struct.pack("<I", n)


def ld(field, *parts):
    b = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    return key(field, 2) + varint(len(b)) + b


def any_str(s):
    return ld(1, s)


def kv(k, anyvalue):
    return ld(1, k) + ld(2, anyvalue)


def attrs(field):
    return b"".join(
        [
            ld(field, kv("service.name", any_str("checkout"))),
            ld(field, kv("http.status_code", v(3, 500))),
            ld(field, kv("ratio", dbl(4, 0.5))),
            ld(field, kv("retry", v(2, 1))),
            ld(field, kv("raw", ld(7, b"\xde\xad"))),
            ld(field, kv("tags", ld(5, ld(1, any_str("a")), ld(1, any_str("b"))))),
            ld(field, kv("nested", ld(6, ld(1, kv("k", any_str("v")))))),
        ]
    )


RESOURCE = ld(1, attrs(1))
SCOPE = ld(1, ld(1, "io.opentelemetry.http"), ld(2, "1.2.0"))
T0 = 1_700_000_000_000_000_000

span = ld(
    2,
    ld(1, bytes(range(1, 17))),
    ld(2, b"\xaa" * 8),
    ld(3, "rojo=00f067aa0ba902b7"),
    ld(4, b"\xbb" * 8),
    ld(5, "GET /users"),
    v(6, 2),
    f64(7, T0),
    f64(8, T0 + 5_000_000),
    attrs(9),
    ld(11, f64(1, T0 + 1000), ld(2, "exception"), attrs(3)),
    ld(13, ld(1, bytes(range(16))), ld(2, b"\x01" * 8)),
    ld(15, ld(2, "boom"), v(3, 2)),
)
TRACES = ld(1, RESOURCE, ld(2, SCOPE, span))


def number_point(value):
    return ld(1, attrs(7), f64(2, T0), f64(3, T0 + 1), value)


metrics = [
    ld(1, "cpu.temp") + ld(3, "Cel") + ld(5, number_point(dbl(4, 42.5))),
    ld(1, "requests") + ld(7, number_point(key(6, 1) + struct.pack("<q", 7)), v(2, 2), v(3, 1)),
    ld(1, "latency")
    + ld(3, "ms")
    + ld(
        9,
        ld(1, attrs(9), f64(2, T0), f64(3, T0 + 1), f64(4, 3), dbl(5, 7.0),
           ld(6, struct.pack("<3Q", 1, 1, 1)), ld(7, struct.pack("<2d", 1.0, 5.0))),
        v(2, 2),
    ),
    ld(1, "exp")
    + ld(
        10,
        ld(1, attrs(1), f64(2, T0), f64(3, T0 + 1), f64(4, 4), dbl(5, 9.0), v(6, zz(2)),
           f64(7, 1), ld(8, v(1, zz(-1)), ld(2, varint(1) + varint(2))), ld(9, v(1, 0), ld(2, varint(0)))),
        v(2, 1),
    ),
    ld(1, "rpc")
    + ld(11, ld(1, f64(2, T0), f64(3, T0 + 1), f64(4, 10), dbl(5, 12.5),
                ld(6, dbl(1, 0.5), dbl(2, 1.0)), ld(6, dbl(1, 0.99), dbl(2, 3.0)), attrs(7))),
]
METRICS = ld(1, RESOURCE, ld(2, SCOPE, *[ld(2, m) for m in metrics]))

log = ld(
    2,
    f64(1, T0),
    v(2, 17),
    ld(3, "ERROR"),
    ld(5, any_str("user login failed for alice")),
    attrs(6),
    f32(8, 1),
    ld(9, bytes(range(16))),
    ld(10, b"\x02" * 8),
    f64(11, T0 + 1),
)
LOGS = ld(1, RESOURCE, ld(2, SCOPE, log))


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


ENCODERS = [lambda d: d, gzip.compress, zstd, zlib.compress]  # order of ENCODINGS in the target
for sig, body in enumerate([TRACES, METRICS, LOGS]):
    for e, enc in enumerate(ENCODERS):
        write("otlp_proto", bytes([sig + 3 * e]) + enc(body))
    write("otlp_proto", bytes([sig]))  # empty request

# --- OTLP/JSON -------------------------------------------------------------------------
data = os.path.join(ROOT, "tests", "data", "otlp_json")
for fname, sig in [("trace.json", 0), ("metrics.json", 1), ("metrics_strings.json", 1), ("logs.json", 2)]:
    with open(os.path.join(data, fname), "rb") as f:
        write("otlp_json", bytes([sig]) + f.read())
for sig in range(3):
    write("otlp_json", bytes([sig]) + b"{}")

# --- Prometheus / OpenMetrics exposition -----------------------------------------------
PROM = """# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A normal comment.
#
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7e9
# TYPE up untyped
up NaN
"""
OM = """# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo histogram
foo_bucket{le="0.01"} 0
foo_bucket{le="0.1"} 8 # {trace_id="KOO5S4vxi0o"} 0.067 1520879607.789
foo_bucket{le="1"} 11 # {} 0.5
foo_bucket{le="+Inf"} 17
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# TYPE gh gaugehistogram
gh_bucket{le="1"} 2
gh_bucket{le="+Inf"} 3
gh_gcount 3
gh_gsum 2
# TYPE enabled stateset
enabled{enabled="a"} 1
enabled{enabled="b"} 0
# TYPE build info
build_info{version="1.2.3"} 1
# TYPE requests counter
requests_total 5 1520879607.789
requests_created 1520430000
# TYPE temp gauge
# UNIT temp celsius
temp{loc="a"} -1.5e1
# TYPE u unknown
u 1
# EOF
"""
write("prom_text", b"\x00" + PROM.encode())
write("prom_text", b"\x01" + OM.encode())
write("prom_text", b"\x10" + PROM.encode())
write("prom_text", b"\x05" + OM.encode())
write("prom_text", b"\x01" + b"# EOF\n")
write("prom_text", b"\x00" + b"a{b=\"c\",} 1\n\tindented 2 3\n")

# --- OTTL conditions -------------------------------------------------------------------
conds = []
for path in ["src/ottl/tests.rs", "src/processors/filter/tests.rs"]:
    with open(os.path.join(ROOT, path)) as f:
        conds += re.findall(r'r#"(.*?)"#', f.read())
conds = [c for c in dict.fromkeys(conds) if "\n" not in c and c.strip()][:60]
for c in conds:
    write("ottl", c)
write("ottl", 'span.name == "x"\nresource.attributes["k"] == nil\nspanevent.name != "y"')
write("ottl", 'metric.name == "m" and datapoint.attributes["a"] > 1.5e3\nHasAttrKeyOnDatapoint("k")')
write("ottl", 'log.severity_number >= SEVERITY_NUMBER_WARN or log.body["k"][0] == 0x0a0b')

# --- configs -----------------------------------------------------------------------------
cfgs = [os.path.join(ROOT, "config", "default.yaml")]
for sub in ["valid", "invalid"]:
    d = os.path.join(ROOT, "tests", "configs", sub)
    cfgs += [os.path.join(d, n) for n in sorted(os.listdir(d))]
for p in cfgs:
    with open(p, "rb") as f:
        write("config", f.read())
write(
    "config",
    """receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:HOST}:${PORT}
      http:
        endpoint: "${env:MISSING:-0.0.0.0}:4318"
processors:
  batch:
  filter/drop:
    error_mode: ignore
    trace_conditions:
      - 'span.name == "healthz"'
exporters:
  otlphttp/b:
    endpoint: https://otlp.example.com
    headers:
      authorization: "Bearer ${env:TOKEN} $$literal"
  debug:
    verbosity: ${NUM}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch, filter/drop]
      exporters: [otlphttp/b, debug]
---8<---
exporters:
  debug:
    verbosity: detailed
service:
  pipelines:
    logs/x:
      receivers: [otlp]
      exporters: [debug]
""",
)
print("seeds written to", SEEDS)
