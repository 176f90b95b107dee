//! Exit codes: the one table. `--help`, the README and the tests are all checked against it.

use opik_attachments::{Error, Status};

/// How the program ended, as far as the exit code is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A library status (`Status::Ok` is success).
    Status(Status),
    /// The command line could not be parsed (clap's own code).
    Usage,
    /// Interrupted by SIGINT (Ctrl-C).
    Interrupted,
}

/// One row: the code, the name printed in `--json` errors and tables, and what it means.
pub struct Row {
    pub outcome: Outcome,
    pub code: u8,
    pub meaning: &'static str,
}

const fn status(s: Status, code: u8, meaning: &'static str) -> Row {
    Row {
        outcome: Outcome::Status(s),
        code,
        meaning,
    }
}

/// Every exit code of the program. Codes are distinct; every library status has exactly one row
/// (a unit test checks both).
pub const TABLE: &[Row] = &[
    status(Status::Ok, 0, "success"),
    Row {
        outcome: Outcome::Usage,
        code: 2,
        meaning: "usage: bad or missing arguments",
    },
    status(
        Status::InvalidArgument,
        3,
        "invalid argument (e.g. an id that is not a UUID, a bad name)",
    ),
    status(
        Status::Io,
        4,
        "local file error (missing, unreadable, cannot write)",
    ),
    status(Status::NotFound, 5, "no such attachment (download, delete)"),
    status(
        Status::Auth,
        6,
        "the server refused the API key or workspace",
    ),
    status(Status::Http, 7, "the server answered with an error status"),
    status(Status::Network, 8, "cannot reach the server"),
    status(Status::Timeout, 9, "the server went silent for too long"),
    status(Status::Cancelled, 10, "cancelled"),
    status(
        Status::AbortedByCallback,
        11,
        "stopped while writing the output",
    ),
    status(Status::Protocol, 12, "the server's answer made no sense"),
    status(Status::TooLarge, 13, "over a size or queue limit"),
    status(
        Status::Config,
        14,
        "configuration error (e.g. no Opik URL configured)",
    ),
    status(
        Status::Shutdown,
        15,
        "the client closed before the work finished",
    ),
    status(Status::Forked, 16, "used across fork()"),
    status(
        Status::Internal,
        17,
        "internal error (a bug; please report it)",
    ),
    Row {
        outcome: Outcome::Interrupted,
        code: 130,
        meaning: "interrupted (Ctrl-C or SIGTERM); no partial download left",
    },
];

impl Outcome {
    pub fn row(self) -> &'static Row {
        TABLE
            .iter()
            .find(|r| r.outcome == self)
            .unwrap_or(&TABLE[TABLE.len() - 1])
    }

    pub fn code(self) -> u8 {
        self.row().code
    }

    /// `OPIK_ERR_NOT_FOUND`, `USAGE`, `INTERRUPTED`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Status(s) => s.name(),
            Outcome::Usage => "USAGE",
            Outcome::Interrupted => "INTERRUPTED",
        }
    }
}

pub fn code_of(e: &Error) -> u8 {
    Outcome::Status(e.status).code()
}

/// The table as text, for `--help` and the README.
pub fn help_table() -> String {
    let mut s = String::from("Exit codes:\n");
    for r in TABLE {
        s.push_str(&format!(
            "  {:>3}  {:<28} {}\n",
            r.code,
            r.outcome.name(),
            r.meaning
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_row_and_codes_are_distinct() {
        for s in Status::ALL {
            let rows = TABLE
                .iter()
                .filter(|r| r.outcome == Outcome::Status(*s))
                .count();
            assert_eq!(rows, 1, "{s:?}");
        }
        let mut codes: Vec<u8> = TABLE.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len(), "duplicate exit codes");
        assert_eq!(Outcome::Status(Status::Ok).code(), 0);
        assert_eq!(
            Outcome::Usage.code(),
            2,
            "clap exits with 2 on usage errors"
        );
        assert_eq!(Outcome::Interrupted.code(), 130);
    }
}
