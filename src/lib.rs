//! # opik-attachments
//!
//! Attach files to Opik traces and spans, list them, stream them back and delete them, from Rust
//! or — through the C ABI in [`ffi`] and `include/opik_attachments.h` — from C, C++, Go and Swift.
//!
//! Layers: [`ffi`] (C ABI: argument checks, handles, panics, status codes) → [`Client`] and the
//! core modules (configuration, attachments, the Opik protocol, upload/list/download/delete) →
//! [`transport`] (HTTP with retries, the header rules for backend vs presigned storage URLs).

/// cbindgen:ignore
pub mod attachment;
/// cbindgen:ignore
pub mod background;
/// cbindgen:ignore
pub mod client;
/// cbindgen:ignore
pub mod config;
/// cbindgen:ignore
pub mod delete;
/// cbindgen:ignore
pub mod download;
/// cbindgen:ignore
pub mod error;
pub mod ffi;
mod file_reads;
mod stall;
mod sys_socket;
mod unsent;
mod lanes;
/// cbindgen:ignore
pub mod list;
/// cbindgen:ignore
pub mod mime;
/// cbindgen:ignore
pub mod outbox;
/// cbindgen:ignore
pub mod protocol;
/// cbindgen:ignore
pub mod sigpipe;
/// cbindgen:ignore
pub mod transport;
/// cbindgen:ignore
pub mod upload;

pub use attachment::{Attachment, Source};
pub use client::Client;
pub use config::{Config, Options};
pub use error::{Error, Result, Status};
pub use protocol::{AttachmentInfo, EntityType};
