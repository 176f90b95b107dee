//! Direct ("BEMinIO") mode: upload-start, PUT (Content-Length and chunked), list, download,
//! delete, paging, deduplication, validation, gzip, auth and the transcript.

mod common;

use common::*;
use opik_test_server::{Config, StorageMode, TestServer};
use serde_json::json;

#[tokio::test]
async fn upload_list_download_delete() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let data = make_bytes(3_000_000, 1);

    // Unknown project before any upload.
    let r = api
        .post(
            "v1/private/projects/retrieve",
            &json!({"name": "peer-test"}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"errors": ["Project not found"]}));

    // upload-start: one backend URL built from the decoded path.
    let start = api
        .upload_start("blob.bin", 3, "trace", TRACE_ID, Some("peer-test"))
        .await;
    assert_eq!(start.status, 200, "{}", start.text());
    let body = start.json();
    assert_eq!(body["upload_id"], "BEMinIO");
    let urls = body["pre_sign_urls"].as_array().unwrap();
    assert_eq!(urls.len(), 1);
    let expected = format!(
        "{}v1/private/attachment/upload?file_name=blob.bin&mime_type=application%2Foctet-stream&entity_type=trace&entity_id={TRACE_ID}&project_name=peer-test",
        server.base_url()
    );
    assert_eq!(urls[0], expected.as_str());

    // PUT with Content-Length.
    let put = api
        .http
        .put(urls[0].as_str().unwrap())
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);

    // PUT chunked (no Content-Length), like the Python SDK.
    let start = api
        .upload_start("notes.txt", 1, "trace", TRACE_ID, Some("peer-test"))
        .await;
    let url = start.json()["pre_sign_urls"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("mime_type=text%2Fplain"), "{url}");
    let text = make_bytes(1_000_001, 2);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = text
        .chunks(65_536)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let put = api
        .http
        .put(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);

    let project_id = api.project_id("peer-test").await;
    let list = api.list(&project_id, "trace", TRACE_ID, "").await;
    assert_eq!(list.status, 200, "{}", list.text());
    let page = list.json();
    assert_eq!(page["page"], 1);
    assert_eq!(page["size"], 2);
    assert_eq!(page["total"], 2);
    assert_eq!(page["sortableBy"], json!([]));
    let content = page["content"].as_array().unwrap();
    assert_eq!(content[0]["file_name"], "notes.txt");
    assert_eq!(content[0]["file_size"], 1_000_001);
    assert_eq!(content[0]["mime_type"], "text/plain");
    assert_eq!(content[1]["file_name"], "blob.bin");
    assert_eq!(content[1]["file_size"], 3_000_000);
    let link = content[1]["link"].as_str().unwrap();
    assert_eq!(
        link,
        format!(
            "{}v1/private/attachment/download?workspace_name=default&container_id={project_id}&file_name=blob.bin&mime_type=application%2Foctet-stream&entity_type=trace&entity_id={TRACE_ID}",
            server.base_url()
        )
    );

    let download = api.get_abs(link).await;
    assert_eq!(download.status, 200);
    assert_eq!(
        download.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(
        download.header("content-disposition").as_deref(),
        Some("attachment; filename=\"blob.bin\"")
    );
    assert!(download.body == data, "downloaded bytes differ");
    let download = api.get_abs(content[0]["link"].as_str().unwrap()).await;
    assert!(download.body == text, "chunked upload differs");

    // The test view of the rows, with hashes of the stored objects.
    let rows = server.attachments();
    assert_eq!(rows.len(), 2);
    let blob = rows.iter().find(|r| r.file_name == "blob.bin").unwrap();
    assert_eq!(blob.sha256.as_deref(), Some(sha256_hex(&data).as_str()));
    assert_eq!(blob.project_name, "peer-test");
    assert_eq!(blob.project_id, project_id);
    assert_eq!(blob.entity_id, TRACE_ID);

    // Delete with the real body; the other file stays.
    let r = api
        .post(
            "v1/private/attachment/delete",
            &json!({"file_names": ["blob.bin"], "entity_type": "trace", "entity_id": TRACE_ID, "container_id": project_id}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let page = api.list(&project_id, "trace", TRACE_ID, "").await.json();
    assert_eq!(page["total"], 1);
    assert_eq!(page["content"][0]["file_name"], "notes.txt");
    assert_eq!(api.get_abs(link).await.status, 404);
    let r = api
        .post(
            "v1/private/attachment/delete",
            &json!({"file_names": ["notes.txt"], "entity_type": "trace", "entity_id": TRACE_ID, "container_id": project_id}),
        )
        .await;
    assert_eq!(r.status, 204);
    let page = api.list(&project_id, "trace", TRACE_ID, "").await.json();
    assert_eq!(page["total"], 0);
    assert_eq!(page["content"], json!([]));
    assert!(server.attachments().is_empty());

    // upload-complete is accepted and ignored in direct mode.
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &json!({"file_name": "x", "entity_type": "trace", "entity_id": TRACE_ID, "file_size": 1,
                    "upload_id": "BEMinIO", "uploaded_file_parts": []}),
        )
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn paging_order_and_dedup() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    for (i, name) in ["c.txt", "a.txt", "e.txt", "b.txt", "d.txt"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            api.direct_upload(name, make_bytes(10 + i, i as u64), "paging")
                .await,
            204
        );
    }
    // Same name again: one row, the latest size.
    assert_eq!(
        api.direct_upload("c.txt", make_bytes(77, 9), "paging")
            .await,
        204
    );
    let project_id = api.project_id("paging").await;

    let mut names = Vec::new();
    for page in 1..=3 {
        let r = api
            .list(
                &project_id,
                "trace",
                TRACE_ID,
                &format!("&page={page}&size=2"),
            )
            .await;
        let body = r.json();
        assert_eq!(body["page"], page);
        assert_eq!(body["total"], 5);
        let expected_size = if page == 3 { 1 } else { 2 };
        assert_eq!(body["size"], expected_size);
        for item in body["content"].as_array().unwrap() {
            names.push(item["file_name"].as_str().unwrap().to_string());
            if item["file_name"] == "c.txt" {
                assert_eq!(item["file_size"], 77);
            }
        }
    }
    assert_eq!(names, ["e.txt", "d.txt", "c.txt", "b.txt", "a.txt"]);
    let beyond = api
        .list(&project_id, "trace", TRACE_ID, "&page=4&size=2")
        .await
        .json();
    assert_eq!(beyond["size"], 0);
    assert_eq!(beyond["total"], 5);
    assert_eq!(server.attachments().len(), 5);

    // Other entities and unknown projects see nothing.
    assert_eq!(
        api.list(&project_id, "span", TRACE_ID, "").await.json()["total"],
        0
    );
    let unknown = api
        .list(
            "5f0f0a4e-9d43-4c57-9d59-31c1e2a0d6b1",
            "trace",
            TRACE_ID,
            "",
        )
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json()["total"], 0);

    for bad in ["&page=0", "&size=0", "&page=x"] {
        assert_eq!(
            api.list(&project_id, "trace", TRACE_ID, bad).await.status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        api.list("not-a-uuid", "trace", TRACE_ID, "").await.status,
        400
    );
    assert_eq!(
        api.list(&project_id, "dataset", TRACE_ID, "").await.status,
        400
    );
}

#[tokio::test]
async fn validation_and_errors() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let path = path_param(&server.base_url());
    let valid = json!({"file_name": "f.png", "num_of_file_parts": 1, "entity_type": "span",
                       "entity_id": SPAN_ID, "path": path});

    let r = api.post("v1/private/attachment/upload-start", &valid).await;
    assert_eq!(r.status, 200);
    let url = r.json()["pre_sign_urls"][0].as_str().unwrap().to_string();
    assert!(url.contains("mime_type=image%2Fpng"), "{url}");
    assert!(!url.contains("project_name"), "{url}");
    // project_name null → "Default Project".
    api.project_id("Default Project").await;

    let mut cases = Vec::new();
    for (field, value) in [
        ("file_name", json!("  ")),
        ("file_name", json!(null)),
        ("num_of_file_parts", json!(0)),
        ("num_of_file_parts", json!("two")),
        ("entity_type", json!("dataset")),
        ("entity_id", json!("not-a-uuid")),
        ("path", json!("")),
        ("project_name", json!(" ")),
    ] {
        let mut body = valid.clone();
        body[field] = value.clone();
        cases.push((format!("{field}={value}"), body));
    }
    for (name, body) in cases {
        let r = api.post("v1/private/attachment/upload-start", &body).await;
        assert_eq!(r.status, 422, "{name}: {}", r.text());
        assert!(r.json()["errors"][0].is_string(), "{name}");
    }

    let mut bad_path = valid.clone();
    bad_path["path"] = json!("%%% not base64 %%%");
    let r = api
        .post("v1/private/attachment/upload-start", &bad_path)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"errors": ["Invalid base URL format"]}));

    // Standard-alphabet base64 is accepted too.
    let mut std_path = valid.clone();
    std_path["path"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        server.base_url()
    ));
    assert_eq!(
        api.post("v1/private/attachment/upload-start", &std_path)
            .await
            .status,
        200
    );

    // Malformed JSON.
    let r = api
        .http
        .post(api.url("v1/private/attachment/upload-start"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The OpenAPI-bug delete body is refused; so is a body without container_id.
    let bug = json!({"file_name": "f.png", "upload_id": "x", "entity_type": "span", "entity_id": SPAN_ID,
                     "file_size": 1, "uploaded_file_parts": []});
    assert_eq!(
        api.post("v1/private/attachment/delete", &bug).await.status,
        422
    );
    let no_container =
        json!({"file_names": ["f.png"], "entity_type": "span", "entity_id": SPAN_ID});
    assert_eq!(
        api.post("v1/private/attachment/delete", &no_container)
            .await
            .status,
        422
    );

    // Direct PUT needs its query parameters; download of a missing object is 404.
    let r = api
        .http
        .put(api.url("v1/private/attachment/upload?entity_type=trace"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = api
        .get(&format!(
            "v1/private/attachment/download?container_id={SPAN_ID}&entity_type=trace&entity_id={TRACE_ID}&file_name=nope&mime_type=text%2Fplain"
        ))
        .await;
    assert_eq!(r.status, 404);

    // Unknown paths and wrong methods.
    assert_eq!(api.get("v1/private/nothing").await.status, 404);
    assert_eq!(
        api.get("v1/private/attachment/upload-start").await.status,
        405
    );
    assert_eq!(api.get("is-alive/ping").await.status, 200);
}

#[tokio::test]
async fn gzip_bodies_and_transcript() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let body = json!({"file_name": "g.json", "num_of_file_parts": 1, "mime_type": null, "project_name": "gz",
                      "entity_type": "trace", "entity_id": TRACE_ID, "path": path_param(&server.base_url()),
                      "unknown_field": {"ignored": true}});
    let r = api
        .post_gzip("v1/private/attachment/upload-start", &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let url = r.json()["pre_sign_urls"][0].as_str().unwrap().to_string();
    assert!(url.contains("mime_type=application%2Fjson"), "{url}");
    let put = api
        .http
        .put(&url)
        .header("x-custom", "1")
        .body(vec![7u8; 1234])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let start = &requests[0];
    assert_eq!(start.method, "POST");
    assert_eq!(start.path, "/v1/private/attachment/upload-start");
    assert_eq!(start.query, None);
    assert_eq!(start.target, "rest");
    assert_eq!(start.status, 200);
    assert_eq!(
        start.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
    assert_eq!(start.body_json.as_ref(), Some(&body));
    assert_eq!(
        start.body_len,
        gzip(&serde_json::to_vec(&body).unwrap()).len() as u64
    );
    let put = &requests[1];
    assert_eq!(put.target, "direct_upload");
    assert_eq!(put.status, 204);
    assert_eq!(put.body_len, 1234);
    assert_eq!(put.body_json, None);
    assert_eq!(
        put.headers.get("content-length").map(String::as_str),
        Some("1234")
    );
    assert_eq!(put.headers.get("x-custom").map(String::as_str), Some("1"));
    assert!(put
        .query
        .as_deref()
        .unwrap()
        .starts_with("file_name=g.json&"));

    // Invalid gzip is a 400.
    let r = api
        .http
        .post(api.url("v1/private/attachment/upload-start"))
        .header("content-encoding", "gzip")
        .body("definitely not gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The HTTP controls see the same, and are not recorded themselves.
    let http = client();
    let base = server.base_url();
    let listed: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{base}_test/requests"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[0]["target"], "rest");
    assert_eq!(listed[1]["target"], "direct_upload");
    let stats: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{base}_test/stats"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["requests"], 3);
    assert!(stats["bytes_received"].as_u64().unwrap() > 1234);
    let rows: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{base}_test/attachments"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rows[0]["file_name"], "g.json");
    assert_eq!(rows[0]["sha256"], sha256_hex(&[7u8; 1234]));
    assert_eq!(
        http.delete(format!("{base}_test/requests"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(server.requests().is_empty());
    assert_eq!(
        http.post(format!("{base}_test/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(server.attachments().is_empty());
    assert_eq!(server.stats().bytes_received, 0);
}

#[tokio::test]
async fn auth_is_enforced_when_configured() {
    let server = TestServer::start(Config {
        api_key: Some("dummy-key".into()),
        workspace: "ws1".into(),
        ..Config::default()
    });
    let good = Api::with_auth(&server, "dummy-key", "ws1");
    let retrieve = json!({"name": "p"});

    let none = Api::new(&server);
    let r = none.post("v1/private/projects/retrieve", &retrieve).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"code": 401, "message": "User not allowed to access workspace"})
    );
    let bearer = Api::with_auth(&server, "Bearer dummy-key", "ws1");
    assert_eq!(
        bearer
            .post("v1/private/projects/retrieve", &retrieve)
            .await
            .status,
        401
    );
    let wrong_ws = Api::with_auth(&server, "dummy-key", "other");
    assert_eq!(
        wrong_ws
            .post("v1/private/projects/retrieve", &retrieve)
            .await
            .status,
        403
    );
    assert_eq!(
        good.post("v1/private/projects/retrieve", &retrieve)
            .await
            .status,
        404
    );
    assert_eq!(none.get("is-alive/ping").await.status, 200);

    // The direct PUT needs auth too.
    let start = good
        .upload_start("a.bin", 1, "trace", TRACE_ID, Some("p"))
        .await;
    let url = start.json()["pre_sign_urls"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        none.http
            .put(&url)
            .body("abc")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        good.auth(good.http.put(&url))
            .body("abc")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    // Download: the key is required; the workspace may come from workspace_name in the link.
    let project_id = good.project_id("p").await;
    let link = good.list(&project_id, "trace", TRACE_ID, "").await.json()["content"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(none.get_abs(&link).await.status, 401);
    let key_only = good
        .http
        .get(&link)
        .header("authorization", "dummy-key")
        .send()
        .await
        .unwrap();
    assert_eq!(key_only.status(), 200);
    assert_eq!(key_only.bytes().await.unwrap().as_ref(), b"abc");

    // Controls never need auth.
    assert_eq!(
        client()
            .get(format!("{}_test/stats", server.base_url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
