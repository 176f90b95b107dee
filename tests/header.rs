//! The checked-in header agrees with Cargo.toml and documents everything it declares.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn macro_value(header: &str, name: &str) -> u32 {
    let prefix = format!("#define {name} ");
    let line = header
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{name} missing"));
    line[prefix.len()..]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number: {line}"))
}

#[test]
fn version_macros_equal_cargo_toml() {
    let header = read("include/opik_attachments.h");
    let cargo = read("Cargo.toml");
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("package version in Cargo.toml");
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(macro_value(&header, "OPIK_VERSION_MAJOR"), parts[0]);
    assert_eq!(macro_value(&header, "OPIK_VERSION_MINOR"), parts[1]);
    assert_eq!(macro_value(&header, "OPIK_VERSION_PATCH"), parts[2]);
    let runtime =
        unsafe { std::ffi::CStr::from_ptr(opik_attachments::ffi::status::opik_version()) };
    assert_eq!(runtime.to_str().unwrap(), version);
}

#[test]
fn every_declaration_has_a_doc_comment() {
    let header = read("include/opik_attachments.h");
    let lines: Vec<&str> = header.lines().collect();
    let mut undocumented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let declares = line.starts_with("OPIK_API")
            || line.starts_with("typedef")
            || (line.starts_with("#define OPIK_")
                && !line.starts_with("#define OPIK_VERSION")
                && !line.starts_with("#define OPIK_API")
                && !line.starts_with("#define OPIK_ATTACHMENTS_H"));
        if !declares {
            continue;
        }
        // The comment is on the lines right above (a multi-line declaration starts at OPIK_API).
        let above = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        if !above.trim_start().starts_with("//") {
            undocumented.push(line.to_string());
        }
    }
    assert!(
        undocumented.is_empty(),
        "declarations without documentation:\n{}",
        undocumented.join("\n")
    );
}

#[test]
fn every_exported_name_has_the_prefix() {
    let header = read("include/opik_attachments.h");
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("typedef struct ") {
            assert!(rest.starts_with("opik_"), "{line}");
        }
        if let Some(rest) = line.strip_prefix("#define ") {
            assert!(rest.starts_with("OPIK_"), "{line}");
        }
    }
    let functions = header.matches("OPIK_API").count();
    assert!(functions >= 36, "only {functions} OPIK_API mentions");
}

#[test]
fn status_constants_equal_the_status_table() {
    let header = read("include/opik_attachments.h");
    let mut in_header: Vec<(String, i32)> = header
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter(|l| l.starts_with("OPIK_OK ") || l.starts_with("OPIK_ERR_"))
        .map(|l| {
            let (name, value) = l.split_once(' ').unwrap();
            (name.to_owned(), value.trim().parse().unwrap())
        })
        .collect();
    in_header.sort_by_key(|(_, v)| *v);
    let table: Vec<(String, i32)> = opik_attachments::Status::ALL
        .iter()
        .map(|s| (s.name().to_owned(), *s as i32))
        .collect();
    assert_eq!(in_header, table);
}
