//! # opik-attachments
//!
//! Attach files to Opik traces and spans, list them, stream them back and delete them, from Rust
//! or — through the C ABI in [`ffi`] and `include/opik_attachments.h` — from C, C++, Go and Swift.
//!
//! Layers, each using only the ones below it (ARCHITECTURE.md draws them):
//!
//! - [`ffi`]: the C ABI — argument checks, handles, panics, status codes; nothing else.
//! - [`Client`]: the core's face; it decides where each call runs.
//! - `exec`: lanes for blocking calls, the background queue, the outbox.
//! - `opik`: the Opik protocol and the attachment flows; `media`: attachment sources and MIME types.
//! - `http`: transport, retries, stall timers, capped reads, errors, redaction.
//! - `settings` (every option, default, limit and its validation), `sys`, `encoding`, and [`Error`].
//!
//! The Rust API is what this file exports; the modules are private to the crate.

/// cbindgen:ignore
mod client;
/// cbindgen:ignore
mod encoding;
/// cbindgen:ignore
mod error;
/// cbindgen:ignore
mod exec;
pub mod ffi;
/// cbindgen:ignore
mod http;
/// cbindgen:ignore
mod media;
/// cbindgen:ignore
mod observe;
/// cbindgen:ignore
mod opik;
/// cbindgen:ignore
mod settings;
/// cbindgen:ignore
mod sys;
/// cbindgen:ignore
mod tracing;

pub use client::Client;
pub use error::{Error, Result, Status};
pub use exec::queue::{Completion, Operation};
pub use media::attachment::{Attachment, Source};
pub use media::extract::{
    extract as extract_embedded, Extraction, DEFAULT_MIN_CHARS as DEFAULT_EMBEDDED_MIN_CHARS,
};
pub use observe::{Counter, Level as LogLevel, LogSink};
pub use opik::entities::SpanType;
pub use opik::protocol::{AttachmentInfo, EntityType};
pub use opik::upload::Progress;
pub use settings::Limits;
pub use settings::{
    Config, Environment, Options, ProcessEnvironment, RetryPolicy, DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_QUEUED, DEFAULT_PROJECT, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TIMEOUT,
    DEFAULT_UPLOAD_CONCURRENCY, DEFAULT_WORKSPACE, MAX_UPLOAD_CONCURRENCY,
};
pub use tracing::{Span, Trace};

/// Internals for the fuzz targets in `fuzz/` (parsers of outside input). Not part of the API:
/// anything here may change in any release.
#[doc(hidden)]
pub mod fuzzing {
    /// Settings: the config file, the URL from the API key.
    pub mod config {
        pub use crate::settings::{
            normalize_base_url, url_from_api_key, Config, Environment, Options, DEFAULT_PROJECT,
            DEFAULT_WORKSPACE,
        };
    }
    /// The HTTP layer's parsers and header rules.
    pub mod transport {
        pub use crate::http::errors::server_message;
        pub use crate::http::peer::{display_url, is_presigned};
        pub use crate::http::transport::Transport;
        pub use crate::observe::Observer;
    }
    /// The Opik wire types.
    pub use crate::opik::protocol;
    /// The part plan of uploads.
    pub mod upload {
        pub use crate::opik::upload::PartPlan;
    }
    /// MIME inference.
    pub use crate::media::mime;
    /// Embedded media: the extractor and the SDK's sniffing rules.
    pub use crate::media::{extract, sniff};
}
