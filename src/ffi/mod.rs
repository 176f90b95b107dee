//! The C ABI. Thin by design: every function converts arguments with the helpers in
//! [`boundary`], calls the core, and maps the result to a status. The helpers are what make the
//! conventions hold everywhere: panics are caught, NULL and bad UTF-8 become
//! `OPIK_ERR_INVALID_ARGUMENT`, out-parameters are written only on success.

#![allow(non_camel_case_types)]

pub mod attachment;
pub mod background;
pub mod boundary;
pub mod client;
pub mod error;
pub mod list;
pub mod operations;
pub mod options;
pub mod status;
