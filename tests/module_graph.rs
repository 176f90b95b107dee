//! The crate's modules form a graph without cycles: data flows one way, from the C ABI down to
//! HTTP (ARCHITECTURE.md). A module is a file of src/ (a folder's mod.rs is the folder); an edge
//! A -> B is a `crate::`/`super::` path in A's code (tests excluded) that names B or something
//! in it. A cycle fails this test with its modules listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Module path of a file: src/http/transport.rs -> ["http", "transport"]; mod.rs and lib.rs
/// stand for their folder.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code without comments and without the `#[cfg(test)]` module at its end.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path in `code` that starts with `crate::` or `super::`, with `use` groups expanded one
/// level (`use crate::a::{b, c::D}` gives `crate::a::b` and `crate::a::c::D`).
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for root in ["crate::", "super::"] {
        let mut at = 0;
        while let Some(i) = code[at..].find(root) {
            let start = at + i;
            at = start + root.len();
            let before = code[..start].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[start..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let path = &rest[..end];
            if path.ends_with("::") && rest[end..].starts_with('{') {
                let close = rest[end..].find('}').map_or(rest.len(), |j| end + j);
                for item in rest[end + 1..close].split(',') {
                    let item = item.trim();
                    if !item.is_empty() && item != "self" {
                        paths.push(format!("{path}{item}"));
                    } else if item == "self" {
                        paths.push(path.trim_end_matches("::").to_owned());
                    }
                }
            } else {
                paths.push(path.to_owned());
            }
        }
    }
    paths
}

/// The module a path lands in: the longest prefix of it that is a module of the crate.
fn target(path: &str, from: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = Vec::new();
    match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
        }
        Some(&"super") => {
            segments.remove(0);
            // `super` of a file is its folder; of a folder's mod.rs (module = the folder), the
            // folder's parent: in both cases the module path without its last segment.
            base = from.to_vec();
            base.pop();
        }
        _ => return None,
    }
    let mut full = base;
    full.extend(segments.iter().map(|s| s.to_string()));
    (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| modules.contains(m))
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let out = edges.entry(from.clone()).or_default();
        for path in paths_in(&code) {
            if let Some(to) = target(&path, &from, &modules) {
                // A folder re-exporting its own children is not a dependency on them.
                let child_of_from = to.len() > from.len() && to.starts_with(&from);
                if to != from && !child_of_from && !to.is_empty() {
                    out.insert(to);
                }
            }
        }
    }
    edges
}

fn find_cycle(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let i = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[i..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(node, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_import_cycle_between_modules() {
    let edges = graph();
    assert!(edges.len() > 20, "too few modules read: {:?}", edges.keys());
    if let Some(cycle) = find_cycle(&edges) {
        let shown: Vec<String> = cycle.iter().map(|m| name(m)).collect();
        panic!("import cycle: {}", shown.join(" -> "));
    }
}

#[test]
fn the_layers_point_down() {
    // Each top-level area may use only the ones listed after it.
    let allowed: &[(&str, &[&str])] = &[
        (
            "ffi",
            &[
                "client", "tracing", "settings", "media", "opik", "observe", "error", "exec",
            ],
        ),
        (
            "client",
            &[
                "tracing", "exec", "opik", "media", "http", "settings", "observe", "sys", "error",
            ],
        ),
        ("tracing", &["exec", "opik", "media", "error"]),
        (
            "exec",
            &[
                "opik", "media", "http", "settings", "observe", "sys", "error",
            ],
        ),
        (
            "opik",
            &["media", "http", "settings", "observe", "sys", "error"],
        ),
        ("media", &["sys", "encoding", "error"]),
        ("http", &["settings", "observe", "sys", "error"]),
        ("settings", &["observe", "sys", "encoding", "error"]),
        ("observe", &[]),
        ("sys", &["error"]),
        ("encoding", &[]),
        ("error", &[]),
    ];
    let edges = graph();
    let mut wrong = Vec::new();
    for (from, tos) in &edges {
        let Some(area) = from.first() else { continue };
        let Some((_, ok)) = allowed.iter().find(|(a, _)| a == area) else {
            wrong.push(format!("{} is in no known layer", name(from)));
            continue;
        };
        for to in tos {
            let to_area = to.first().map(String::as_str).unwrap_or("crate");
            if to_area != area && !ok.contains(&to_area) {
                wrong.push(format!("{} -> {}", name(from), name(to)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let m = |s: &str| vec![s.to_owned()];
    edges.entry(m("a")).or_default().insert(m("b"));
    edges.entry(m("b")).or_default().insert(m("c"));
    edges.entry(m("c")).or_default().insert(m("a"));
    assert_eq!(find_cycle(&edges).unwrap().len(), 4);
    let paths = paths_in("use crate::x::{self, y::Z, w};\nlet v = super::q::R;");
    assert_eq!(
        paths,
        ["crate::x", "crate::x::y::Z", "crate::x::w", "super::q::R"]
    );
}
