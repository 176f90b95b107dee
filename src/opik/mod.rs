//! The Opik REST protocol: paths and bodies, and the attachment flows built on them (upload,
//! list, download, delete). Each flow is a function of a [`crate::http::Transport`]; where the
//! work runs (calling thread, I/O threads, background queue) is decided above, in
//! [`crate::client`] and [`crate::exec`].

pub(crate) mod delete;
pub(crate) mod download;
pub(crate) mod entities;
pub(crate) mod json_field;
pub(crate) mod list;
pub mod protocol;
pub(crate) mod upload;
