use super::*;
use crate::receivers::prometheus::adjust::NO_RECORDED_VALUE;
use crate::receivers::prometheus::relabel::RelabelConfig;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

fn target() -> Target {
    Target {
        job: "node".into(),
        instance: "10.0.0.5:9100".into(),
        scheme: "http".into(),
        labels: vec![
            ("env".into(), "prod".into()),
            ("instance".into(), "10.0.0.5:9100".into()),
            ("job".into(), "node".into()),
        ],
    }
}

fn opts() -> ScrapeOptions {
    ScrapeOptions {
        honor_labels: false,
        honor_timestamps: true,
        sample_limit: 0,
        metric_relabel: Vec::new(),
        external_labels: Vec::new(),
        start_time: StartTimePolicy::FirstObservation,
        start_time_metric: regex::Regex::new("^process_start_time_seconds$").unwrap(),
    }
}

fn metrics(req: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect()
}

fn metric<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    metrics(req)
        .into_iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn attr<'a>(attrs: &'a [KeyValue], k: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.key == k)
        .and_then(|a| match &a.value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => Some(s.as_str()),
            _ => None,
        })
}

fn number(m: &Metric) -> &NumberDataPoint {
    match m.data.as_ref().unwrap() {
        Data::Gauge(g) => &g.data_points[0],
        Data::Sum(s) => &s.data_points[0],
        other => panic!("not a number metric: {other:?}"),
    }
}

fn value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        _ => panic!("no value"),
    }
}

const TS: i64 = 1_700_000_000_000;

const PROM_TEXT: &str = "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
# TYPE node_cpu_seconds_total counter\n\
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 100.5\n\
node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 20\n\
# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.\n\
# TYPE node_memory_MemTotal_bytes gauge\n\
node_memory_MemTotal_bytes 1.6e+10\n\
# TYPE rpc_duration_seconds histogram\n\
rpc_duration_seconds_bucket{le=\"0.1\"} 2\n\
rpc_duration_seconds_bucket{le=\"0.5\"} 5\n\
rpc_duration_seconds_bucket{le=\"+Inf\"} 7\n\
rpc_duration_seconds_sum 2.5\n\
rpc_duration_seconds_count 7\n\
# TYPE gc_seconds summary\n\
gc_seconds{quantile=\"0.5\"} 0.01\n\
gc_seconds{quantile=\"0.99\"} 0.2\n\
gc_seconds_sum 3\n\
gc_seconds_count 40\n\
untyped_thing{empty=\"\"} 4\n";

#[test]
fn converts_each_type_as_upstream() {
    let mut c = TargetConverter::new(target(), opts());
    let (req, r) = c.convert(PROM_TEXT, Format::Prometheus, TS, 0.25);
    let counts = r.unwrap();
    assert_eq!(counts.scraped, 13);
    assert_eq!(counts.post_relabel, 13);
    assert_eq!(counts.added, 13);
    assert_eq!(req.resource_metrics.len(), 1);
    let res = req.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(attr(&res.attributes, "service.name"), Some("node"));
    assert_eq!(
        attr(&res.attributes, "service.instance.id"),
        Some("10.0.0.5:9100")
    );
    assert_eq!(attr(&res.attributes, "server.address"), Some("10.0.0.5"));
    assert_eq!(attr(&res.attributes, "server.port"), Some("9100"));
    assert_eq!(attr(&res.attributes, "url.scheme"), Some("http"));
    assert_eq!(
        req.resource_metrics[0].scope_metrics[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        SCOPE_NAME
    );

    let cpu = metric(&req, "node_cpu_seconds_total");
    assert_eq!(cpu.description, "Seconds the CPUs spent in each mode.");
    let Some(Data::Sum(s)) = &cpu.data else {
        panic!()
    };
    assert!(s.is_monotonic);
    assert_eq!(s.aggregation_temporality, CUMULATIVE);
    assert_eq!(s.data_points.len(), 2);
    let p = &s.data_points[0];
    assert_eq!(value(p), 100.5);
    assert_eq!(attr(&p.attributes, "cpu"), Some("0"));
    assert_eq!(attr(&p.attributes, "mode"), Some("idle"));
    assert_eq!(attr(&p.attributes, "env"), Some("prod"));
    assert_eq!(attr(&p.attributes, "job"), None, "job is the resource");
    assert_eq!(attr(&p.attributes, "instance"), None);
    assert_eq!(p.time_unix_nano, ms_to_ns(TS));
    assert_eq!(
        p.start_time_unix_nano,
        ms_to_ns(TS),
        "first observation starts the series"
    );

    let mem = metric(&req, "node_memory_MemTotal_bytes");
    assert!(matches!(mem.data, Some(Data::Gauge(_))));
    assert_eq!(value(number(mem)), 1.6e10);
    assert_eq!(number(mem).start_time_unix_nano, 0);

    let h = metric(&req, "rpc_duration_seconds");
    let Some(Data::Histogram(h)) = &h.data else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, vec![0.1, 0.5]);
    assert_eq!(p.bucket_counts, vec![2, 3, 2]);
    assert_eq!(p.count, 7);
    assert_eq!(p.sum, Some(2.5));

    let s = metric(&req, "gc_seconds");
    let Some(Data::Summary(s)) = &s.data else {
        panic!()
    };
    let p = &s.data_points[0];
    assert_eq!(p.count, 40);
    assert_eq!(p.sum, 3.0);
    let q: Vec<(f64, f64)> = p
        .quantile_values
        .iter()
        .map(|q| (q.quantile, q.value))
        .collect();
    assert_eq!(q, vec![(0.5, 0.01), (0.99, 0.2)]);

    let u = metric(&req, "untyped_thing");
    assert!(matches!(u.data, Some(Data::Gauge(_))));
    assert_eq!(attr(&number(u).attributes, "empty"), None);
    assert_eq!(attr(&u.metadata, "prometheus.type"), Some("unknown"));

    assert_eq!(value(number(metric(&req, "up"))), 1.0);
    assert_eq!(value(number(metric(&req, "scrape_duration_seconds"))), 0.25);
    assert_eq!(metric(&req, "scrape_duration_seconds").unit, "s");
    assert_eq!(value(number(metric(&req, "scrape_samples_scraped"))), 13.0);
    assert_eq!(
        value(number(metric(
            &req,
            "scrape_samples_post_metric_relabeling"
        ))),
        13.0
    );
    assert_eq!(value(number(metric(&req, "scrape_series_added"))), 13.0);
    assert_eq!(
        attr(&number(metric(&req, "up")).attributes, "env"),
        Some("prod")
    );
}

const OM_TEXT: &str = "# TYPE requests counter\n\
# HELP requests Requests.\n\
requests_total{path=\"/\"} 10 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\",user=\"u\"} 1 1700000000.5\n\
requests_created{path=\"/\"} 1600000000.25\n\
# TYPE lat_seconds histogram\n\
# UNIT lat_seconds seconds\n\
lat_seconds_bucket{le=\"1\"} 1\n\
lat_seconds_bucket{le=\"+Inf\"} 2\n\
lat_seconds_sum 3\n\
lat_seconds_count 2\n\
lat_seconds_created 1600000001\n\
# TYPE build info\n\
build_info{version=\"1.0\"} 1\n\
# TYPE target info\n\
target_info{region=\"eu\"} 1\n\
# EOF\n";

#[test]
fn openmetrics_created_exemplars_units_and_target_info() {
    let mut c = TargetConverter::new(target(), opts());
    let (req, r) = c.convert(OM_TEXT, Format::OpenMetrics, TS, 0.1);
    r.unwrap();
    let m = metric(&req, "requests_total");
    assert_eq!(m.description, "Requests.");
    let p = number(m);
    assert_eq!(p.start_time_unix_nano, 1_600_000_000_250_000_000);
    let ex = &p.exemplars[0];
    assert_eq!(
        hex::encode(&ex.trace_id),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(hex::encode(&ex.span_id), "00f067aa0ba902b7");
    assert_eq!(attr(&ex.filtered_attributes, "user"), Some("u"));
    assert_eq!(ex.time_unix_nano, 1_700_000_000_500_000_000);
    assert!(metrics(&req).iter().all(|m| !m.name.ends_with("_created")));

    let h = metric(&req, "lat_seconds");
    assert_eq!(h.unit, "s");
    let Some(Data::Histogram(h)) = &h.data else {
        panic!()
    };
    assert_eq!(
        h.data_points[0].start_time_unix_nano,
        1_600_000_001_000_000_000
    );
    assert_eq!(h.data_points[0].bucket_counts, vec![1, 1]);

    // Info families are named after the family, as upstream (`# TYPE build info`).
    let b = metric(&req, "build");
    let Some(Data::Sum(s)) = &b.data else {
        panic!()
    };
    assert!(!s.is_monotonic);

    let res = req.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(attr(&res.attributes, "region"), Some("eu"));
}

#[test]
fn start_time_persists_and_resets_on_decrease() {
    let mut c = TargetConverter::new(target(), opts());
    let scrape = |c: &mut TargetConverter, v: f64, ts: i64| {
        let text = format!("# TYPE c_total counter\nc_total {v}\n# TYPE h histogram\nh_bucket{{le=\"+Inf\"}} {v}\nh_sum {v}\nh_count {v}\n");
        let (req, r) = c.convert(&text, Format::Prometheus, ts, 0.0);
        r.unwrap();
        let sum_start = number(metric(&req, "c_total")).start_time_unix_nano;
        let Some(Data::Histogram(h)) = &metric(&req, "h").data else {
            panic!()
        };
        (sum_start, h.data_points[0].start_time_unix_nano)
    };
    assert_eq!(scrape(&mut c, 5.0, TS), (ms_to_ns(TS), ms_to_ns(TS)));
    assert_eq!(scrape(&mut c, 7.0, TS + 1000), (ms_to_ns(TS), ms_to_ns(TS)));
    // A decrease is a reset: the series starts again at the decreasing point.
    assert_eq!(
        scrape(&mut c, 1.0, TS + 2000),
        (ms_to_ns(TS + 2000), ms_to_ns(TS + 2000))
    );
    assert_eq!(
        scrape(&mut c, 2.0, TS + 3000),
        (ms_to_ns(TS + 2000), ms_to_ns(TS + 2000))
    );

    let mut o = opts();
    o.start_time = StartTimePolicy::CreatedOnly;
    let mut c = TargetConverter::new(target(), o);
    assert_eq!(scrape(&mut c, 5.0, TS), (0, 0));

    let mut o = opts();
    o.start_time = StartTimePolicy::StartTimeMetric;
    let mut c = TargetConverter::new(target(), o);
    let text = "process_start_time_seconds 1600000000\n# TYPE c_total counter\nc_total 1\n";
    let (req, _) = c.convert(text, Format::Prometheus, TS, 0.0);
    assert_eq!(
        number(metric(&req, "c_total")).start_time_unix_nano,
        1_600_000_000_000_000_000
    );
}

#[test]
fn vanished_series_get_a_staleness_marker() {
    let mut c = TargetConverter::new(target(), opts());
    let first = "# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 1\n# TYPE g gauge\ng 3\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n";
    c.convert(first, Format::Prometheus, TS, 0.0).1.unwrap();
    let (req, r) = c.convert(
        "# TYPE a_total counter\na_total{x=\"1\"} 2\n",
        Format::Prometheus,
        TS + 1000,
        0.0,
    );
    assert_eq!(r.unwrap().added, 0);
    let stale: Vec<(&str, u32)> = metrics(&req)
        .iter()
        .filter_map(|m| match m.data.as_ref().unwrap() {
            Data::Sum(s) => s
                .data_points
                .iter()
                .find(|p| p.flags == NO_RECORDED_VALUE)
                .map(|p| (m.name.as_str(), p.flags)),
            Data::Gauge(g) => g
                .data_points
                .iter()
                .find(|p| p.flags == NO_RECORDED_VALUE)
                .map(|p| (m.name.as_str(), p.flags)),
            Data::Histogram(h) => h
                .data_points
                .iter()
                .find(|p| p.flags == NO_RECORDED_VALUE)
                .map(|p| (m.name.as_str(), p.flags)),
            _ => None,
        })
        .collect();
    let mut names: Vec<&str> = stale.iter().map(|s| s.0).collect();
    names.sort();
    assert_eq!(names, vec!["a_total", "g", "h"]);
    let a = metrics(&req)
        .into_iter()
        .filter(|m| m.name == "a_total")
        .find_map(|m| match m.data.as_ref().unwrap() {
            Data::Sum(s) => s
                .data_points
                .iter()
                .find(|p| p.flags == NO_RECORDED_VALUE)
                .cloned(),
            _ => None,
        })
        .unwrap();
    assert_eq!(attr(&a.attributes, "x"), Some("2"));
    assert_eq!(a.value, None);
    assert_eq!(a.time_unix_nano, ms_to_ns(TS + 1000));
    assert_eq!(a.start_time_unix_nano, ms_to_ns(TS));
}

#[test]
fn malformed_exposition_fails_the_scrape_with_up_zero() {
    let mut c = TargetConverter::new(target(), opts());
    c.convert("# TYPE g gauge\ng 1\n", Format::Prometheus, TS, 0.0)
        .1
        .unwrap();
    let (req, r) = c.convert("g 1\ng{ 2\n", Format::Prometheus, TS + 1000, 0.0);
    match r {
        Err(ScrapeError::Parse(e)) => assert_eq!(e.line, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(value(number(metric(&req, "up"))), 0.0);
    assert_eq!(value(number(metric(&req, "scrape_samples_scraped"))), 0.0);
    assert_eq!(number(metric(&req, "g")).flags, NO_RECORDED_VALUE);
}

#[test]
fn target_label_clashes_metric_relabel_and_sample_limit() {
    let text = "m{env=\"dev\",drop=\"yes\"} 1\nm{env=\"dev\"} 2\nn 3\n";
    let mut c = TargetConverter::new(target(), opts());
    let (req, _) = c.convert(text, Format::Prometheus, TS, 0.0);
    let Some(Data::Gauge(g)) = &metric(&req, "m").data else {
        panic!()
    };
    assert_eq!(attr(&g.data_points[0].attributes, "env"), Some("prod"));
    assert_eq!(
        attr(&g.data_points[0].attributes, "exported_env"),
        Some("dev")
    );

    let mut o = opts();
    o.honor_labels = true;
    o.metric_relabel = vec![crate::config::decode::decode::<RelabelConfig>(
        &serde_json::json!({"source_labels": ["drop"], "regex": "yes", "action": "drop"}),
    )
    .unwrap()
    .compile()
    .unwrap()];
    let mut c = TargetConverter::new(target(), o.clone());
    let (req, r) = c.convert(text, Format::Prometheus, TS, 0.0);
    let counts = r.unwrap();
    assert_eq!((counts.scraped, counts.post_relabel), (3, 2));
    let Some(Data::Gauge(g)) = &metric(&req, "m").data else {
        panic!()
    };
    assert_eq!(g.data_points.len(), 1);
    assert_eq!(attr(&g.data_points[0].attributes, "env"), Some("dev"));

    o.sample_limit = 1;
    let mut c = TargetConverter::new(target(), o);
    let (req, r) = c.convert(text, Format::Prometheus, TS, 0.0);
    assert_eq!(r.unwrap_err(), ScrapeError::SampleLimit(1));
    assert_eq!(value(number(metric(&req, "up"))), 0.0);
}

#[test]
fn honor_timestamps_and_invalid_histograms() {
    let text = "# TYPE g gauge\ng 1 1600000000000\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\nh_count 5\n";
    let mut c = TargetConverter::new(target(), opts());
    let (req, _) = c.convert(text, Format::Prometheus, TS, 0.0);
    assert_eq!(
        number(metric(&req, "g")).time_unix_nano,
        1_600_000_000_000_000_000
    );
    assert!(
        metrics(&req).iter().all(|m| m.name != "h"),
        "decreasing buckets are dropped"
    );
    let mut o = opts();
    o.honor_timestamps = false;
    let mut c = TargetConverter::new(target(), o);
    let (req, _) = c.convert(text, Format::Prometheus, TS, 0.0);
    assert_eq!(number(metric(&req, "g")).time_unix_nano, ms_to_ns(TS));
}

#[test]
fn resource_hosts_and_units() {
    let r = resource("j", "localhost:9100", "http", None);
    assert_eq!(attr(&r.attributes, "server.address"), None);
    assert_eq!(attr(&r.attributes, "server.port"), Some("9100"));
    let r = resource("j", "[2001:db8::1]:80", "https", None);
    assert_eq!(attr(&r.attributes, "server.address"), Some("2001:db8::1"));
    let r = resource("j", "myhost", "http", None);
    assert_eq!(attr(&r.attributes, "server.port"), Some(""));
    assert_eq!(unit_to_ucum("bytes_per_second"), "By/s");
    assert_eq!(unit_to_ucum("celsius"), "Cel");
    assert_eq!(unit_to_ucum("widgets"), "widgets");
}

#[test]
fn target_removal_marks_everything_stale() {
    let mut c = TargetConverter::new(target(), opts());
    c.convert("g 1\n", Format::Prometheus, TS, 0.0).1.unwrap();
    let req = c.stale_all(TS + 5);
    let names: Vec<&str> = metrics(&req).iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"g") && names.contains(&"up"), "{names:?}");
    assert!(metrics(&req)
        .iter()
        .all(|m| number(m).flags == NO_RECORDED_VALUE));
}

#[test]
fn counter_named_after_its_total_even_when_created_comes_first() {
    let text = "# TYPE jobs counter\njobs_created 1600000000\njobs_total 4\n# EOF\n";
    let mut c = TargetConverter::new(target(), opts());
    let (req, r) = c.convert(text, Format::OpenMetrics, TS, 0.0);
    r.unwrap();
    let p = number(metric(&req, "jobs_total"));
    assert_eq!(value(p), 4.0);
    assert_eq!(p.start_time_unix_nano, 1_600_000_000_000_000_000);
}
