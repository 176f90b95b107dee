//! The status and entity-type numbers of every binding agree with the C header.
//!
//! `include/opik_attachments.h` is the one table (`#define OPIK_OK 0`, `#define OPIK_ERR_* N`,
//! `#define OPIK_ENTITY_* N`). Each binding's copy is parsed from its source text:
//!
//! - C++ `bindings/cpp/opik_attachments.hpp`: `enum class Status` / `enum class EntityType`,
//!   whose enumerators name the header's macros (`Io = OPIK_ERR_IO`);
//! - Go `bindings/go/opik/errors.go` and `client.go`: `StatusIO Status = C.OPIK_ERR_IO`, the
//!   sentinels `ErrIO = &Error{Status: StatusIO}`, `EntityTrace EntityType = C.OPIK_ENTITY_TRACE`;
//! - Swift `bindings/swift/Sources/OpikAttachments/OpikAttachments.swift`: numbers written out,
//!   `static let io = OpikStatus(rawValue: 2)`, `case trace = 0`;
//! - Python `tests/interop/opik_c.py` (ctypes): numbers written out, `OPIK_ERR_IO = 2`.
//!
//! For every entry the value (a number, or a header macro) must be the number of the header
//! constant with the same name (names compared without case, underscores and prefixes, so
//! `AbortedByCallback`, `abortedByCallback` and `OPIK_ERR_ABORTED_BY_CALLBACK` match), and every
//! header constant must appear in every binding. No network, no build: text only.

use std::collections::BTreeMap;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Which table a header constant belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Table {
    Status,
    Entity,
}

/// The header's constants: macro name -> (table, number).
type Header = BTreeMap<String, (Table, i64)>;

fn table_of(name: &str) -> Option<Table> {
    if name == "OPIK_OK" || name.starts_with("OPIK_ERR_") {
        Some(Table::Status)
    } else if name.starts_with("OPIK_ENTITY_") {
        Some(Table::Entity)
    } else {
        None
    }
}

/// `#define OPIK_ERR_IO 2`, or an enumerator `OPIK_ERR_IO = 2,` should the header switch to an enum.
fn parse_header(text: &str) -> Header {
    let mut out = Header::new();
    for line in text.lines() {
        let line = line.trim();
        let (name, value) = if let Some(rest) = line.strip_prefix("#define ") {
            let mut it = rest.split_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(n), Some(v), None) => (n, v),
                _ => continue,
            }
        } else if let Some((n, v)) = line.trim_end_matches(',').split_once(" = ") {
            (n.trim(), v.trim())
        } else {
            continue;
        };
        if let (Some(table), Ok(number)) = (table_of(name), value.parse::<i64>()) {
            out.insert(name.to_string(), (table, number));
        }
    }
    out
}

/// One constant as a binding writes it: its name there and its value (a number or a macro name).
#[derive(Debug)]
struct Entry {
    name: String,
    value: String,
    table: Table,
}

fn entry(name: &str, value: &str, table: Table) -> Entry {
    Entry {
        name: name.trim().to_string(),
        value: value.trim().trim_start_matches("C.").to_string(),
        table,
    }
}

/// The lines between `start` (a line containing it) and the next line starting with `end`.
fn block<'a>(text: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| !l.contains(start));
    lines.next();
    lines
        .map(str::trim)
        .take_while(|l| !l.starts_with(end))
        .collect()
}

/// `Name = VALUE,` enumerators of the C++ enums.
fn parse_cpp(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (start, table) in [
        ("enum class Status ", Table::Status),
        ("enum class EntityType ", Table::Entity),
    ] {
        for line in block(text, start, "};") {
            if let Some((n, v)) = line.trim_end_matches(',').split_once(" = ") {
                out.push(entry(n, v, table));
            }
        }
    }
    out
}

/// `StatusX Status = C.OPIK_...`, `EntityX EntityType = C.OPIK_...`, and the sentinels
/// `ErrX = &Error{Status: StatusX}` (resolved through the Status constants).
fn parse_go(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut statuses = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some((n, v)) = line.split_once(" Status = ") {
            statuses.insert(n.trim().to_string(), v.trim().to_string());
            out.push(entry(n.trim_start_matches("Status"), v, Table::Status));
        } else if let Some((n, v)) = line.split_once(" EntityType = ") {
            out.push(entry(n.trim_start_matches("Entity"), v, Table::Entity));
        }
    }
    for line in text.lines().map(str::trim) {
        if let Some((n, rest)) = line.split_once(" = &Error{Status: ") {
            let status = rest.trim_end_matches('}');
            let value = statuses
                .get(status)
                .cloned()
                .unwrap_or_else(|| status.to_string());
            out.push(entry(n.trim_start_matches("Err"), &value, Table::Status));
        }
    }
    out
}

/// `public static let x = OpikStatus(rawValue: N)` and the `case x = N` of `enum Kind`.
fn parse_swift(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("public static let ") {
            if let Some((n, v)) = rest.split_once(" = OpikStatus(rawValue: ") {
                out.push(entry(n, v.trim_end_matches(')'), Table::Status));
            }
        }
    }
    for line in block(text, "public enum Kind: Int32", "}") {
        if let Some((n, v)) = line.strip_prefix("case ").and_then(|l| l.split_once(" = ")) {
            out.push(entry(n, v, Table::Entity));
        }
    }
    out
}

/// Module-level `OPIK_... = N` assignments.
fn parse_python(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| line.split_once(" = "))
        .filter_map(|(n, v)| table_of(n).map(|t| entry(n, v, t)))
        .collect()
}

/// A name without case, underscores and the prefixes the bindings put in front.
fn normalize(name: &str) -> String {
    let mut n: String = name
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    for prefix in ["opikerr", "opikentity", "opik"] {
        if let Some(rest) = n.strip_prefix(prefix) {
            n = rest.to_string();
            break;
        }
    }
    n
}

/// Everything wrong with one binding's table, as readable lines (empty: it agrees).
fn disagreements(binding: &str, header: &Header, entries: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeMap::new();
    for e in entries {
        let number = match e.value.parse::<i64>() {
            Ok(n) => n,
            Err(_) => match header.get(&e.value) {
                Some((table, n)) if *table == e.table => *n,
                _ => {
                    problems.push(format!(
                        "{binding}: {} = {}: not a {:?} constant of the header",
                        e.name, e.value, e.table
                    ));
                    continue;
                }
            },
        };
        let Some((macro_name, _)) = header
            .iter()
            .find(|(_, (table, n))| *table == e.table && *n == number)
        else {
            problems.push(format!(
                "{binding}: {} = {number}: the header has no {:?} constant {number}",
                e.name, e.table
            ));
            continue;
        };
        let (want, got) = (normalize(macro_name), normalize(&e.name));
        // Swift spells two names around its keywords: protocolError, internalError.
        if got != want && got.strip_suffix("error") != Some(want.as_str()) {
            problems.push(format!(
                "{binding}: {} = {number}, but {number} is {macro_name} in the header",
                e.name
            ));
        }
        seen.insert(macro_name.clone(), ());
    }
    for name in header.keys() {
        if !seen.contains_key(name) {
            problems.push(format!("{binding}: {name} is missing"));
        }
    }
    problems
}

fn header() -> Header {
    let header = parse_header(&read("include/opik_attachments.h"));
    let statuses = header.values().filter(|(t, _)| *t == Table::Status).count();
    let entities = header.values().filter(|(t, _)| *t == Table::Entity).count();
    assert!(
        statuses >= 16 && entities >= 2,
        "parsed {statuses} statuses and {entities} entity types from the header: {header:?}"
    );
    assert_eq!(header.get("OPIK_OK"), Some(&(Table::Status, 0)));
    header
}

fn bindings() -> Vec<(&'static str, Vec<Entry>)> {
    vec![
        (
            "C++ bindings/cpp/opik_attachments.hpp",
            parse_cpp(&read("bindings/cpp/opik_attachments.hpp")),
        ),
        (
            "Go bindings/go/opik",
            [
                parse_go(&read("bindings/go/opik/errors.go")),
                parse_go(&read("bindings/go/opik/client.go")),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
        (
            "Swift bindings/swift/Sources/OpikAttachments/OpikAttachments.swift",
            parse_swift(&read(
                "bindings/swift/Sources/OpikAttachments/OpikAttachments.swift",
            )),
        ),
        (
            "Python tests/interop/opik_c.py",
            parse_python(&read("tests/interop/opik_c.py")),
        ),
    ]
}

#[test]
fn every_binding_has_the_headers_numbers() {
    let header = header();
    let mut problems = Vec::new();
    for (binding, entries) in bindings() {
        // Each binding names at least every header constant once (Go twice: constants and sentinels).
        assert!(
            entries.len() >= header.len(),
            "{binding}: parsed only {} entries; did its layout change? {entries:?}",
            entries.len()
        );
        problems.extend(disagreements(binding, &header, &entries));
    }
    assert!(
        problems.is_empty(),
        "bindings disagree with include/opik_attachments.h:\n  {}",
        problems.join("\n  ")
    );
}

/// A binding source to mutate: (file, text there, its replacement, parser, expected problem).
type Mutation = (
    &'static str,
    &'static str,
    &'static str,
    fn(&str) -> Vec<Entry>,
    &'static str,
);

/// The check catches what it is for: a wrong number, a swapped name, a missing constant, a macro
/// the header does not have — in each binding's own syntax.
#[test]
fn a_wrong_table_is_reported() {
    let header = header();
    let cases: [Mutation; 5] = [
        (
            "tests/interop/opik_c.py",
            "OPIK_ERR_IO = 2",
            "OPIK_ERR_IO = 3",
            parse_python,
            "OPIK_ERR_IO = 3, but 3 is OPIK_ERR_NOT_FOUND",
        ),
        (
            "bindings/swift/Sources/OpikAttachments/OpikAttachments.swift",
            "public static let timeout = OpikStatus(rawValue: 7)",
            "public static let timeout = OpikStatus(rawValue: 8)",
            parse_swift,
            "timeout = 8, but 8 is OPIK_ERR_CANCELLED",
        ),
        (
            "bindings/cpp/opik_attachments.hpp",
            "Timeout = OPIK_ERR_TIMEOUT,",
            "Timeout = OPIK_ERR_CANCELLED,",
            parse_cpp,
            "Timeout = 8, but 8 is OPIK_ERR_CANCELLED",
        ),
        (
            "bindings/go/opik/errors.go",
            "StatusForked            Status = C.OPIK_ERR_FORKED",
            "StatusForked            Status = C.OPIK_ERR_FORKD",
            parse_go,
            "Forked = OPIK_ERR_FORKD: not a Status constant of the header",
        ),
        (
            "tests/interop/opik_c.py",
            "OPIK_ERR_INTERNAL = 15\n",
            "\n",
            parse_python,
            "OPIK_ERR_INTERNAL is missing",
        ),
    ];
    for (file, from, to, parse, want) in cases {
        let text = read(file);
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        let problems = disagreements(file, &header, &parse(&text.replacen(from, to, 1)));
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{file} with {to:?}: expected a problem containing {want:?}, got {problems:?}"
        );
    }
}
