//! OpenTelemetry: with `[telemetry] otlp_endpoint`, a publish and each delivery attempt are
//! spans, exported over OTLP/HTTP to a collector, here a loopback server this test runs that
//! decodes what it receives with the OpenTelemetry project's own protobuf types.

use crate::delivery::{candidate_change, config, setup};
use crate::receiver::{Received, Reply, TestReceiver};
use cxhooks_server::AppState;
use cxhooks_store::testing::Backend;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use std::collections::HashMap;

/// A span as the collector got it: its name, attributes as text, and status code.
#[derive(Debug)]
struct Got {
    name: String,
    attributes: HashMap<String, String>,
    status: i32,
    service: String,
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn spans(posts: &[Received]) -> Vec<Got> {
    let mut out = Vec::new();
    for post in posts {
        assert_eq!(post.header("content-type"), "application/x-protobuf");
        let request = ExportTraceServiceRequest::decode(post.body.as_ref()).expect("OTLP protobuf");
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .map(|a| text(&a.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    out.push(got(span, &service));
                }
            }
        }
    }
    out
}

fn got(span: Span, service: &str) -> Got {
    Got {
        attributes: span
            .attributes
            .iter()
            .map(|a| (a.key.clone(), text(&a.value)))
            .collect(),
        status: span.status.map_or(0, |s| s.code),
        name: span.name,
        service: service.to_owned(),
    }
}

async fn flush(state: &AppState) {
    let telemetry = state.telemetry.clone().expect("telemetry is on");
    tokio::task::spawn_blocking(move || telemetry.flush())
        .await
        .unwrap()
        .expect("the spans are exported");
}

async fn publishes_and_attempts_are_exported_as_spans(backend: Backend) {
    let collector = TestReceiver::ok().await;
    let receiver = TestReceiver::start(|n| Reply::Status(if n == 0 { 503 } else { 204 })).await;
    let mut c = config();
    c.telemetry.otlp_endpoint = Some(collector.url.trim_end_matches("/hook").to_owned());
    c.telemetry.service_name = "cxhooks-under-test".into();
    let s = setup(backend, c, &receiver.url).await;
    let a = s.publish(&candidate_change("7")).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let id = receiver.wait_for(1).await[0].json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_status(&id, "delivered").await;
    flush(&s.app.state).await;

    let got = spans(&collector.received());
    let publish: Vec<_> = got.iter().filter(|g| g.name == "publish").collect();
    assert_eq!(publish.len(), 1, "{got:?}");
    let p = &publish[0].attributes;
    assert_eq!(
        (
            &p["cx.tenant"],
            &p["cx.changes"],
            &p["cx.deliveries"],
            &p["cx.outcome"]
        ),
        (&"acme".into(), &"1".into(), &"1".into(), &"accepted".into())
    );
    assert_eq!(publish[0].service, "cxhooks-under-test");
    let attempts: Vec<_> = got
        .iter()
        .filter(|g| g.name == "delivery.attempt")
        .collect();
    let seen: Vec<_> = attempts
        .iter()
        .map(|g| {
            let a = &g.attributes;
            assert_eq!(a["cx.tenant"], "acme");
            assert_eq!(a["cx.webhook"], s.hook_id);
            assert_eq!(a["cx.application"], s.app_id);
            assert_eq!(a["cx.delivery"], id);
            (
                a["cx.attempt"].clone(),
                a["http.response.status_code"].clone(),
                a["cx.outcome"].clone(),
                g.status,
            )
        })
        .collect();
    // Status codes: 2 is ERROR, 0 UNSET (OTLP's Status.StatusCode).
    assert_eq!(
        seen,
        [
            ("1".into(), "503".into(), "retrying".into(), 2),
            ("2".into(), "204".into(), "delivered".into(), 0)
        ]
    );
}

/// A collector that does not answer costs the deliveries nothing.
async fn a_missing_collector_hurts_no_delivery(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = config();
    c.telemetry.otlp_endpoint = Some(format!("http://127.0.0.1:{port}"));
    let s = setup(backend, c, &receiver.url).await;
    for n in 0..3 {
        let a = s.publish(&candidate_change(&n.to_string())).await;
        assert_eq!(a.status, 202, "{}", a.text);
    }
    for r in receiver.wait_for(3).await {
        let id = r.json()["id"].as_str().unwrap().to_owned();
        s.wait_status(&id, "delivered").await;
    }
    let state = s.app.state.clone();
    let telemetry = state.telemetry.clone().unwrap();
    let flushed = tokio::task::spawn_blocking(move || telemetry.flush())
        .await
        .unwrap();
    assert!(flushed.is_err(), "nothing could be exported: {flushed:?}");
}

cxhooks_store::both_backends!(
    publishes_and_attempts_are_exported_as_spans,
    a_missing_collector_hurts_no_delivery,
);
