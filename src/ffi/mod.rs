//! The C ABI. Thin by design: every function converts arguments with the helpers in
//! [`boundary`], calls the core, and maps the result to a status. The helpers are what make the
//! conventions hold everywhere: panics are caught ([`guard`]), NULL and bad UTF-8 become
//! `OPIK_ERR_INVALID_ARGUMENT`, out-parameters are written only on success.
//!
//! One file per API area; the header presents them in the order of `SECTIONS` in tools/gen-header.

#![allow(non_camel_case_types)]
// Exported functions take raw pointers by design (C passes them); the boundary helpers check
// every one before use, and each `unsafe` block says why it is sound.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod attachment;
pub mod background;
mod boundary;
pub mod client;
pub mod entity;
pub mod error;
pub mod extract;
mod guard;
pub mod list;
pub mod observe;
pub mod operations;
pub mod options;
pub mod status;
pub mod tracing;
