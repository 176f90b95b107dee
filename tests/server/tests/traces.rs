//! Traces and spans: batch create, validation, unknown fields, PATCH, GET by id, search streams,
//! faults and gzip, in both storage modes.

mod common;

use common::*;
use opik_test_server::{Config, FaultRule, StorageMode, TestServer};
use serde_json::{json, Value};

fn v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn patch(api: &Api, path: &str, body: &Value) -> Reply {
    let req = api
        .http
        .patch(api.url(path))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    reply(api.auth(req).send().await.unwrap()).await
}

/// The NDJSON lines of a search answer.
fn lines(r: &Reply) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect()
}

fn full_trace(id: &str) -> Value {
    json!({
        "id": id,
        "project_name": "traces-test",
        "name": "frame 1",
        "start_time": "2026-01-02T03:04:05.123456Z",
        "end_time": "2026-01-02T03:04:05.623456+00:00",
        "input": {"prompt": "hello"},
        "output": {"value": 3},
        "metadata": {"build": "abc"},
        "tags": ["game", "frame"],
        "error_info": {"exception_type": "E", "message": "m", "traceback": "tb"},
        "thread_id": "thread-1",
        "source": "sdk",
    })
}

fn span(id: &str, trace_id: &str, parent: Option<&str>, kind: &str) -> Value {
    json!({
        "id": id,
        "project_name": "traces-test",
        "trace_id": trace_id,
        "parent_span_id": parent,
        "name": format!("{kind} span"),
        "type": kind,
        "start_time": "2026-01-02T03:04:05.200000Z",
        "end_time": "2026-01-02T03:04:05.300000Z",
        "input": {"q": kind},
        "model": "m1",
        "provider": if kind == "llm" { "openai" } else { "local" },
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        "total_estimated_cost": 0.5,
        "source": "sdk",
    })
}

async fn create_get_and_search(mode: StorageMode) {
    let server = start(mode);
    let api = Api::new(&server);
    let trace_id = v7();
    let trace = full_trace(&trace_id);
    let r = api
        .post("v1/private/traces/batch", &json!({"traces": [trace]}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());

    let (llm, tool) = (v7(), v7());
    let spans = [
        span(&llm, &trace_id, None, "llm"),
        span(&tool, &trace_id, Some(&llm), "tool"),
    ];
    let r = api
        .post("v1/private/spans/batch", &json!({"spans": spans}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    // The project was created by name.
    let project_id = api.project_id("traces-test").await;

    // GET the trace: every field back, times in UTC Z, the aggregates of its spans.
    let r = api.get(&format!("v1/private/traces/{trace_id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    assert_eq!(t["id"], trace_id);
    assert_eq!(t["project_id"], project_id);
    for field in [
        "name",
        "input",
        "output",
        "metadata",
        "tags",
        "error_info",
        "thread_id",
    ] {
        assert_eq!(t[field], trace[field], "{field}");
    }
    assert_eq!(t["start_time"], "2026-01-02T03:04:05.123456Z");
    assert_eq!(t["end_time"], "2026-01-02T03:04:05.623456Z");
    assert_eq!(t["duration"], 500.0);
    assert_eq!(t["span_count"], 2);
    assert_eq!(t["llm_span_count"], 1);
    assert_eq!(t["has_tool_spans"], true);
    assert_eq!(t["providers"], json!(["local", "openai"]));
    assert_eq!(
        t["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30})
    );
    assert_eq!(t["total_estimated_cost"], 1.0);
    assert!(t.get("project_name").is_none());

    // GET a span.
    let r = api.get(&format!("v1/private/spans/{tool}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let s = r.json();
    for field in [
        "trace_id",
        "parent_span_id",
        "name",
        "type",
        "input",
        "model",
        "provider",
        "usage",
        "total_estimated_cost",
        "source",
    ] {
        assert_eq!(s[field], spans[1][field], "{field}");
    }
    assert_eq!(s["project_id"], project_id);
    assert_eq!(s["project_name"], "traces-test");
    assert_eq!(s["duration"], 100.0);

    // Unknown ids are 404; a malformed one too.
    assert_eq!(
        api.get(&format!("v1/private/traces/{}", v7())).await.status,
        404
    );
    assert_eq!(api.get("v1/private/spans/not-a-uuid").await.status, 404);

    // Search: newest id first, paged with limit and last_retrieved_id, trace_id and type filters.
    let search = |body: Value| {
        let api = &api;
        async move { api.post("v1/private/spans/search", &body).await }
    };
    let all = lines(&search(json!({"project_name": "traces-test", "trace_id": trace_id})).await);
    let ids: Vec<&str> = all.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [tool.as_str(), llm.as_str()]);
    let page1 = lines(&search(json!({"project_name": "traces-test", "limit": 1})).await);
    assert_eq!(page1.len(), 1);
    assert_eq!(page1[0]["id"], tool);
    let page2 = lines(
        &search(json!({"project_name": "traces-test", "limit": 1, "last_retrieved_id": tool}))
            .await,
    );
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0]["id"], llm);
    let llm_only = lines(&search(json!({"project_id": project_id, "type": "llm"})).await);
    assert_eq!(llm_only.len(), 1);
    assert_eq!(llm_only[0]["id"], llm);
    let other_trace =
        lines(&search(json!({"project_name": "traces-test", "trace_id": v7()})).await);
    assert!(other_trace.is_empty());
    let slim =
        lines(&search(json!({"project_name": "traces-test", "exclude": ["input", "usage"]})).await);
    assert!(slim
        .iter()
        .all(|s| s.get("input").is_none() && s.get("usage").is_none()));
    assert!(slim.iter().all(|s| s.get("model").is_some()));
    let r = search(json!({"project_name": "traces-test", "filters": [{"field": "name"}]})).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = search(json!({"project_name": "no such project"})).await;
    assert_eq!(r.status, 404, "{}", r.text());

    // Traces search too.
    let r = api
        .post(
            "v1/private/traces/search",
            &json!({"project_name": "traces-test"}),
        )
        .await;
    let traces = lines(&r);
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0]["id"], trace_id);

    // The log: rows as received, nothing unknown, stored rows in the public shape.
    let log = server.traces();
    assert_eq!(log.received, vec![trace.clone()]);
    assert!(log.updates.is_empty());
    assert!(log.unknown_fields.is_empty(), "{:?}", log.unknown_fields);
    assert_eq!(log.stored, vec![t]);
    let log = server.spans();
    assert_eq!(log.received, spans.to_vec());
    assert!(log.unknown_fields.is_empty(), "{:?}", log.unknown_fields);
    assert_eq!(log.stored.len(), 2);

    // Over HTTP as well.
    let over_http = api.get("_test/spans").await.json();
    assert_eq!(over_http["received"], json!(spans));
    assert_eq!(over_http["unknown_fields"], json!([]));

    // A null project_name goes to "Default Project"; reset forgets everything.
    let id = v7();
    let r = api
        .post(
            "v1/private/traces/batch",
            &json!({"traces": [{"id": id, "project_name": null, "start_time": "2026-01-02T03:04:05Z"}]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let default_id = api.project_id("Default Project").await;
    assert_eq!(
        api.get(&format!("v1/private/traces/{id}")).await.json()["project_id"],
        default_id
    );
    server.reset();
    assert!(server.traces().stored.is_empty());
    assert!(server.spans().received.is_empty());
    assert_eq!(
        api.get(&format!("v1/private/traces/{id}")).await.status,
        404
    );
}

#[tokio::test]
async fn create_get_and_search_direct() {
    create_get_and_search(StorageMode::Direct).await;
}

#[tokio::test]
async fn create_get_and_search_s3() {
    create_get_and_search(StorageMode::S3).await;
}

#[tokio::test]
async fn validation_errors_store_nothing() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let trace_id = v7();
    let good = json!({"id": v7(), "start_time": "2026-01-02T03:04:05Z"});
    let cases: Vec<(Value, &str, u16, &str)> = vec![
        // (bad entity, list, status, text in the answer)
        (
            json!({"id": uuid::Uuid::new_v4().to_string(), "start_time": "2026-01-02T03:04:05Z"}),
            "traces",
            400,
            "Trace id must be a version 7 UUID",
        ),
        (
            json!({"id": v7()}),
            "traces",
            422,
            "start_time must not be null",
        ),
        (
            json!({"id": v7(), "start_time": "2026-01-02 03:04:05"}),
            "traces",
            400,
            "start_time",
        ),
        (
            json!({"id": v7(), "start_time": "2026-01-02T03:04:05Z", "tags": "a,b"}),
            "traces",
            400,
            "tags",
        ),
        (
            json!({"id": v7(), "start_time": "2026-01-02T03:04:05Z", "tags": ["a", 1]}),
            "traces",
            400,
            "tags",
        ),
        (
            json!({"id": v7(), "start_time": "2026-01-02T03:04:05Z", "error_info": {"exception_type": "E"}}),
            "traces",
            422,
            "traceback must not be blank",
        ),
        (
            json!({"id": v7(), "start_time": "2026-01-02T03:04:05Z", "source": "robot"}),
            "traces",
            400,
            "source",
        ),
        (
            json!({"id": v7(), "start_time": "2026-01-02T03:04:05Z", "project_name": "  "}),
            "traces",
            422,
            "project_name must not be blank",
        ),
        (
            json!({"id": v7(), "trace_id": trace_id, "type": "llm", "start_time": "2026-01-02T03:04:05Z", "usage": {"total_tokens": 1.5}}),
            "spans",
            400,
            "usage.total_tokens",
        ),
        (
            json!({"id": v7(), "trace_id": trace_id, "type": "agent", "start_time": "2026-01-02T03:04:05Z"}),
            "spans",
            400,
            "type",
        ),
        (
            json!({"id": v7(), "type": "llm", "start_time": "2026-01-02T03:04:05Z"}),
            "spans",
            422,
            "trace_id must not be null",
        ),
        (
            json!({"id": v7(), "trace_id": trace_id, "start_time": "2026-01-02T03:04:05Z"}),
            "spans",
            422,
            "type must not be null",
        ),
        (
            json!({"id": v7(), "trace_id": uuid::Uuid::new_v4().to_string(), "type": "llm", "start_time": "2026-01-02T03:04:05Z"}),
            "spans",
            400,
            "Trace id must be a version 7 UUID",
        ),
    ];
    for (bad, list, status, text) in cases {
        let mut good = good.clone();
        if list == "spans" {
            good["trace_id"] = json!(trace_id);
            good["type"] = json!("general");
        }
        let r = api
            .post(
                &format!("v1/private/{list}/batch"),
                &json!({ list: [good, bad.clone()] }),
            )
            .await;
        assert_eq!(r.status, status, "{bad}: {}", r.text());
        assert!(r.text().contains(text), "{bad}: {}", r.text());
    }
    for (body, status) in [
        (json!({"traces": []}), 422),
        (json!({"traces": null}), 422),
        (json!({"traces": {}}), 400),
        (json!([1]), 400),
    ] {
        let r = api.post("v1/private/traces/batch", &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"id": v7(), "start_time": "2026-01-02T03:04:05Z"}))
        .collect();
    let r = api
        .post("v1/private/traces/batch", &json!({"traces": many}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = reply(
        api.http
            .post(api.url("v1/private/spans/batch"))
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);

    // Nothing of a rejected batch was stored, not even its valid first entity.
    assert!(server.traces().stored.is_empty());
    assert!(server.traces().received.is_empty());
    assert!(server.spans().stored.is_empty());

    // A missing id is generated, as a UUIDv7.
    let r = api
        .post(
            "v1/private/traces/batch",
            &json!({"traces": [{"start_time": "2026-01-02T03:04:05Z"}]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let stored = server.traces().stored;
    assert_eq!(stored.len(), 1);
    let id = uuid::Uuid::parse_str(stored[0]["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
}

#[tokio::test]
async fn unknown_fields_are_accepted_and_recorded() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let trace_id = v7();
    let r = api
        .post(
            "v1/private/traces/batch",
            &json!({
                "traces": [{"id": trace_id, "start_time": "2026-01-02T03:04:05Z", "colour": "red",
                            "error_info": {"exception_type": "E", "traceback": "t", "line": 3}}],
                "version": 2,
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = patch(
        &api,
        &format!("v1/private/traces/{trace_id}"),
        &json!({"end_time": "2026-01-02T03:04:06Z", "shade": 1}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let log = server.traces();
    assert_eq!(
        log.unknown_fields,
        ["batch.version", "colour", "error_info.line", "shade"]
    );
    // Ignored like the backend does: the stored trace has none of them.
    let stored = &log.stored[0];
    assert!(stored.get("colour").is_none() && stored.get("shade").is_none());
    assert_eq!(
        stored["error_info"],
        json!({"exception_type": "E", "traceback": "t"})
    );
    // As received, they are there.
    assert_eq!(log.received[0]["colour"], "red");
    assert!(server.spans().unknown_fields.is_empty());
}

#[tokio::test]
async fn patch_merges_and_create_replaces() {
    let server = start(StorageMode::S3);
    let api = Api::new(&server);
    let trace_id = v7();
    let trace = full_trace(&trace_id);
    let r = api
        .post("v1/private/traces/batch", &json!({"traces": [trace]}))
        .await;
    assert_eq!(r.status, 204);

    let r = patch(
        &api,
        &format!("v1/private/traces/{trace_id}"),
        &json!({"project_name": "traces-test", "end_time": "2026-01-02T03:04:07Z",
                "output": {"value": 4}, "tags_to_add": ["late"], "tags_to_remove": ["game"]}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let t = api
        .get(&format!("v1/private/traces/{trace_id}"))
        .await
        .json();
    assert_eq!(t["end_time"], "2026-01-02T03:04:07Z");
    assert_eq!(t["output"], json!({"value": 4}));
    assert_eq!(t["tags"], json!(["frame", "late"]));
    assert_eq!(t["input"], trace["input"], "fields not in the update stay");
    assert_eq!(t["name"], trace["name"]);
    let r = patch(
        &api,
        &format!("v1/private/traces/{trace_id}"),
        &json!({"tags": ["only"]}),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        api.get(&format!("v1/private/traces/{trace_id}"))
            .await
            .json()["tags"],
        json!(["only"])
    );
    assert_eq!(server.traces().updates.len(), 2);
    assert_eq!(server.traces().updates[1]["id"], trace_id);

    // A create with the same id replaces the trace whole.
    let r = api
        .post(
            "v1/private/traces/batch",
            &json!({"traces": [{"id": trace_id, "project_name": "traces-test", "name": "again",
                                "start_time": "2026-01-02T03:04:05Z"}]}),
        )
        .await;
    assert_eq!(r.status, 204);
    let t = api
        .get(&format!("v1/private/traces/{trace_id}"))
        .await
        .json();
    assert_eq!(t["name"], "again");
    assert!(t.get("input").is_none() && t.get("tags").is_none());

    // A PATCH that overtakes its create (the SDK's end() often does): the create fills in the
    // rest, the update's fields are kept.
    let (trace2, span_id) = (v7(), v7());
    let r = patch(
        &api,
        &format!("v1/private/spans/{span_id}"),
        &json!({"trace_id": trace2, "project_name": "p2", "end_time": "2026-01-02T03:04:09Z",
                "output": {"r": 1}}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let partial = api.get(&format!("v1/private/spans/{span_id}")).await.json();
    assert_eq!(partial["start_time"], "1970-01-01T00:00:00Z");
    let mut s = span(&span_id, &trace2, None, "llm");
    s["project_name"] = json!("p2");
    s["output"] = json!({"r": "from create"});
    let r = api
        .post("v1/private/spans/batch", &json!({"spans": [s]}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let merged = api.get(&format!("v1/private/spans/{span_id}")).await.json();
    assert_eq!(merged["start_time"], "2026-01-02T03:04:05.2Z");
    assert_eq!(merged["end_time"], "2026-01-02T03:04:09Z");
    assert_eq!(merged["output"], json!({"r": 1}));
    assert_eq!(merged["input"], s["input"]);
    assert_eq!(merged["project_id"], api.project_id("p2").await);

    // PATCH validation: a span update needs trace_id; ids must be v7; types are checked.
    let r = patch(
        &api,
        &format!("v1/private/spans/{span_id}"),
        &json!({"name": "x"}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = patch(
        &api,
        &format!("v1/private/traces/{}", uuid::Uuid::new_v4()),
        &json!({"name": "x"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = patch(
        &api,
        &format!("v1/private/traces/{trace_id}"),
        &json!({"tags": "x"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = reply(
        api.http
            .delete(api.url(&format!("v1/private/traces/{trace_id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(
        api.get(&format!("v1/private/traces/{trace_id}"))
            .await
            .json()["name"],
        "again",
        "rejected updates change nothing"
    );
}

#[tokio::test]
async fn faults_gzip_auth_and_transcript() {
    let server = TestServer::start(Config {
        api_key: Some("k-1".into()),
        workspace: "ws".into(),
        ..Config::default()
    });
    let api = Api::with_auth(&server, "k-1", "ws");
    let id = v7();
    let body = json!({"traces": [{"id": id, "start_time": "2026-01-02T03:04:05Z", "input": {"x": "y".repeat(500)}}]});

    // Faults apply to the trace endpoints as target "rest": nothing is stored while they fire.
    server.add_fault(FaultRule {
        path_contains: Some("/traces/batch".into()),
        target: Some("rest".into()),
        status: Some(503),
        retry_after: Some("2".into()),
        times: 1,
        ..Default::default()
    });
    let r = api.post_gzip("v1/private/traces/batch", &body).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));
    assert!(server.traces().stored.is_empty());
    server.add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: Some("spans/batch".into()),
        drop_connection: true,
        ..Default::default()
    });
    let dropped = api
        .http
        .post(api.url("v1/private/spans/batch"))
        .header("authorization", "k-1")
        .header("comet-workspace", "ws")
        .body(json!({"spans": []}).to_string())
        .send()
        .await;
    assert!(dropped.is_err(), "the connection is dropped");

    // gzip bodies are accepted.
    let r = api.post_gzip("v1/private/traces/batch", &body).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        server.traces().received,
        body["traces"].as_array().unwrap().clone()
    );

    // Auth like every backend endpoint.
    let anonymous = Api::new(&server);
    assert_eq!(
        anonymous
            .get(&format!("v1/private/traces/{id}"))
            .await
            .status,
        401
    );
    let wrong_ws = Api::with_auth(&server, "k-1", "other");
    assert_eq!(
        patch(
            &wrong_ws,
            &format!("v1/private/traces/{id}"),
            &json!({"name": "n"})
        )
        .await
        .status,
        403
    );
    assert_eq!(
        api.get(&format!("v1/private/traces/{id}")).await.status,
        200
    );

    // The transcript: the faulted, dropped and accepted requests with their parsed bodies.
    let requests = server.requests();
    let summary: Vec<(String, String, u16)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.status))
        .collect();
    assert_eq!(
        summary[..3],
        [
            ("POST".into(), "/v1/private/traces/batch".into(), 503),
            ("POST".into(), "/v1/private/spans/batch".into(), 0),
            ("POST".into(), "/v1/private/traces/batch".into(), 204),
        ]
    );
    assert_eq!(requests[2].body_json.as_ref(), Some(&body));
    assert_eq!(requests[0].target, "rest");
}
