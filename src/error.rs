//! One error type for the whole library, mapped to a C status code in one place.

use std::ffi::CStr;
use std::fmt;

/// Declares [`Status`] from one table: variant, ABI value, C name. Everything else about a
/// status (its `OPIK_*` constant in the header, `opik_status_str`, the bindings' numbers) is
/// checked against this table by tests.
macro_rules! statuses {
    ($($variant:ident = $value:literal, $name:literal;)*) => {
        /// Status codes. Values are part of the ABI: never renumber, only append.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Status {
            $($variant = $value,)*
        }

        impl Status {
            /// Every status, in numeric order.
            pub const ALL: &'static [Status] = &[$(Status::$variant,)*];

            /// The C name of the status, e.g. `OPIK_ERR_IO`, as a C string.
            pub fn c_name(self) -> &'static CStr {
                match self {
                    $(Status::$variant => $name,)*
                }
            }
        }
    };
}

statuses! {
    Ok = 0, c"OPIK_OK";
    InvalidArgument = 1, c"OPIK_ERR_INVALID_ARGUMENT";
    Io = 2, c"OPIK_ERR_IO";
    NotFound = 3, c"OPIK_ERR_NOT_FOUND";
    Auth = 4, c"OPIK_ERR_AUTH";
    Http = 5, c"OPIK_ERR_HTTP";
    Network = 6, c"OPIK_ERR_NETWORK";
    Timeout = 7, c"OPIK_ERR_TIMEOUT";
    Cancelled = 8, c"OPIK_ERR_CANCELLED";
    AbortedByCallback = 9, c"OPIK_ERR_ABORTED_BY_CALLBACK";
    Protocol = 10, c"OPIK_ERR_PROTOCOL";
    TooLarge = 11, c"OPIK_ERR_TOO_LARGE";
    Config = 12, c"OPIK_ERR_CONFIG";
    Shutdown = 13, c"OPIK_ERR_SHUTDOWN";
    Forked = 14, c"OPIK_ERR_FORKED";
    Internal = 15, c"OPIK_ERR_INTERNAL";
}

impl Status {
    /// Converts an integer that came in from C; unknown values give `None`
    /// (an out-of-range Rust enum would be undefined behaviour).
    pub fn from_i32(value: i32) -> Option<Status> {
        Status::ALL.get(usize::try_from(value).ok()?).copied()
    }

    /// The C name of the status, e.g. `OPIK_ERR_IO`.
    pub fn name(self) -> &'static str {
        self.c_name().to_str().unwrap_or("OPIK_ERR_UNKNOWN")
    }
}

/// A failure: a status, a human-readable message and, when the server answered, its HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
    /// 0 when no HTTP status applies.
    pub http_status: u16,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
            http_status: 0,
        }
    }
    pub fn with_http_status(mut self, http_status: u16) -> Error {
        self.http_status = http_status;
        self
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Status::InvalidArgument, message)
    }
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Error {
        Error::new(Status::Io, format!("{context}: {err}"))
    }
    pub fn protocol(message: impl Into<String>) -> Error {
        Error::new(Status::Protocol, message)
    }
    pub fn config(message: impl Into<String>) -> Error {
        Error::new(Status::Config, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Status::Internal, message)
    }
    /// A client used in a process other than the one that made it (after `fork()`).
    pub fn forked() -> Error {
        Error::new(
            Status::Forked,
            "this client was created in another process (before fork()); create a new client \
             in the child",
        )
    }

    /// Prefixes the message with the step that failed ("upload-start: ...").
    pub fn context(mut self, step: impl fmt::Display) -> Error {
        self.message = format!("{step}: {}", self.message);
        self
    }

    /// Removes a secret from the message. Applied to every error leaving a client,
    /// so a hostile or chatty server that echoes the API key cannot leak it.
    pub fn redact(mut self, secret: Option<&str>) -> Error {
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            if self.message.contains(secret) {
                self.message = self.message.replace(secret, "[REDACTED]");
            }
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_rejects_unknown_values() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as i32, i as i32);
            assert_eq!(Status::from_i32(i as i32), Some(*s));
        }
        assert_eq!(Status::from_i32(-1), None);
        assert_eq!(Status::from_i32(16), None);
    }

    #[test]
    fn redact_removes_every_occurrence() {
        let e = Error::new(Status::Http, "key abc123 echoed: abc123").redact(Some("abc123"));
        assert_eq!(e.message, "key [REDACTED] echoed: [REDACTED]");
        let e = Error::new(Status::Http, "nothing").redact(Some(""));
        assert_eq!(e.message, "nothing");
    }
}
