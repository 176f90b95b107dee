//! What gets uploaded: attachment sources (files, bytes, base64) and MIME type inference.

pub(crate) mod attachment;
pub mod extract;
pub mod mime;
pub mod sniff;
