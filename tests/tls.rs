//! HTTPS against the test server's own CA: refused without it (the webpki roots do not hold it),
//! accepted with the CA file, and accepted with `tls_verify = false` (no verification at all).

use opik_attachments::{Attachment, Client, EntityType, Options, Status};
use opik_test_server::{Config, StorageMode, TestServer, TlsPem};

const KEY: &str = "tls-test-key";

fn upload(
    server: &TestServer,
    ca_file: Option<std::path::PathBuf>,
    verify: Option<bool>,
) -> opik_attachments::Result<()> {
    let c = Client::new(&Options {
        url: Some(server.base_url()),
        api_key: Some(KEY.into()),
        workspace: Some("default".into()),
        project_name: Some("tls".into()),
        ca_file,
        tls_verify: verify,
        retry: Some(opik_attachments::RetryPolicy {
            attempts: 1,
            ..Default::default()
        }),
        ..Options::default()
    })?;
    let id = uuid::Uuid::new_v4().to_string();
    let a = Attachment::from_bytes(vec![1u8; 2000], "t.bin", None)?;
    c.upload(None, EntityType::Trace, &id, &a)
}

#[test]
fn tls_is_verified_against_the_ca_file_or_not_at_all() {
    for mode in [StorageMode::Direct, StorageMode::S3] {
        let server = TestServer::start(Config {
            mode,
            api_key: Some(KEY.into()),
            tls: Some(TlsPem {
                cert_chain: include_str!("server/tests/tls/server.pem").into(),
                private_key: include_str!("server/tests/tls/server.key").into(),
            }),
            ..Config::default()
        });
        let e = upload(&server, None, None).unwrap_err();
        assert_eq!(e.status, Status::Network, "{mode:?}: {e}");
        let ca =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/tests/tls/ca.pem");
        upload(&server, Some(ca), None).unwrap_or_else(|e| panic!("{mode:?} with the CA: {e}"));
        upload(&server, None, Some(false))
            .unwrap_or_else(|e| panic!("{mode:?} without verification: {e}"));
    }
}
