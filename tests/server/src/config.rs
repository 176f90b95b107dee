//! Server configuration, shared by the library API and the command line.

/// Which storage mode the fake backend runs in (the backend's `IS_MINIO` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageMode {
    /// `IS_MINIO=true`: `upload-start` answers `upload_id = "BEMinIO"` and one URL pointing at
    /// `v1/private/attachment/upload`; the bytes go through the backend, with Opik auth headers.
    #[default]
    Direct,
    /// `IS_MINIO=false`: `upload-start` creates a multipart upload and answers presigned UploadPart
    /// URLs; list links are presigned GetObject URLs. Storage is the built-in S3 emulator unless
    /// [`Config::external_s3`] is set.
    S3,
}

/// A real S3 server the fake backend drives in S3 mode instead of its built-in emulator.
///
/// The server creates the bucket if missing, performs CreateMultipartUpload,
/// CompleteMultipartUpload, HeadObject and DeleteObject itself (signed with these credentials),
/// and hands clients presigned URLs for this endpoint.
#[derive(Clone, Debug)]
pub struct ExternalS3 {
    /// Endpoint URL, e.g. `http://127.0.0.1:8333` (path-style addressing is used).
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Bucket name (created if missing); the command line defaults it to `opik`.
    pub bucket: String,
    /// Signing region; the command line defaults it to `us-east-1`.
    pub region: String,
}

/// A certificate and key for serving HTTPS instead of HTTP.
#[derive(Clone, Debug)]
pub struct TlsPem {
    /// PEM certificate chain, leaf first.
    pub cert_chain: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: String,
}

/// Everything [`crate::TestServer::start`] needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Storage mode; default [`StorageMode::Direct`].
    pub mode: StorageMode,
    /// When set, every backend request must carry `Authorization: <key>` (401 otherwise) and
    /// `Comet-Workspace: <workspace>` (403 otherwise). When `None`, nothing is checked.
    pub api_key: Option<String>,
    /// Workspace name; default `default`. Also the `{workspace}` segment of object keys.
    pub workspace: String,
    /// Lifetime of presigned URLs in seconds; default 3600 (`S3_PRESIGN_URL_TIMEOUT`).
    pub presign_expiry_secs: u64,
    /// Use this S3 server instead of the built-in emulator (S3 mode only).
    pub external_s3: Option<ExternalS3>,
    /// Address to bind; default `127.0.0.1`.
    pub host: String,
    /// Port to bind; default 0 (a free port).
    pub port: u16,
    /// Serve HTTPS with this certificate (the base URL and emulator URLs become `https://`);
    /// default `None` (plain HTTP).
    pub tls: Option<TlsPem>,
    /// Read request bodies to the end and count them, but store nothing (built-in storage only;
    /// for benchmarks, so the server's disk and hashing cost nothing). Downloads then return a
    /// synthetic pattern of the recorded length and `sha256` in `/_test/attachments` is `null`.
    /// Default `false`.
    pub discard_bodies: bool,
    /// Fix the receive buffer (`SO_RCVBUF`) of every connection to this many bytes instead of
    /// letting the kernel grow it (to 32 MiB on some hosts). With a throttled reader
    /// (`read_bytes_per_sec`), this keeps what a client can push ahead of the reader to what a
    /// slow network link would hold, not tens of MiB. Default `None` (the kernel's choice).
    pub recv_buffer_bytes: Option<u32>,
    /// Origin (`scheme://host:port`, no path) written into the built-in emulator's presigned URLs
    /// instead of this server's own, e.g. a fault-injecting TCP proxy in front of this server
    /// (tests/network.rs puts Toxiproxy there). The proxy must forward to this server: the
    /// emulator still serves `/s3/...` here and checks each signature against the `Host` the
    /// request arrives with, which is then the proxy's. S3 mode with the built-in emulator only;
    /// default `None` (this server's origin).
    pub storage_origin: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: StorageMode::Direct,
            api_key: None,
            workspace: "default".to_string(),
            presign_expiry_secs: 3600,
            external_s3: None,
            host: "127.0.0.1".to_string(),
            port: 0,
            tls: None,
            discard_bodies: false,
            recv_buffer_bytes: None,
            storage_origin: None,
        }
    }
}
