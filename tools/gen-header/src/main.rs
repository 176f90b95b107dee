//! `make header`: writes include/opik_attachments.h from the C ABI in src/ffi with the pinned
//! cbindgen, in the order a user meets the API, one section per file of src/ffi under a banner.
//! `make header-check` (`--check`) fails when the checked-in header differs from what this makes.
//!
//! cbindgen groups declarations by kind (constants, then types, then functions); the header is
//! regrouped here by the file of src/ffi that defines each name, in the order of `SECTIONS`, and
//! within a section by position in that file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// (banner title, files of src/ffi whose declarations form the section), in header order.
const SECTIONS: &[(&str, &[&str])] = &[
    ("Version and status codes", &["status.rs"]),
    ("Errors", &["error.rs"]),
    ("Entity types", &["entity.rs"]),
    ("Options", &["options.rs"]),
    ("Client", &["client.rs"]),
    ("Attachments (what to upload)", &["attachment.rs"]),
    (
        "Blocking calls: upload, list, download, delete",
        &["operations.rs", "list.rs"],
    ),
    ("Background calls", &["background.rs"]),
    ("Traces and spans", &["tracing.rs"]),
    ("Embedded media", &["extract.rs"]),
    ("Observability of the library itself", &["observe.rs"]),
];

const HEADER: &str = "include/opik_attachments.h";

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let check = std::env::args().any(|a| a == "--check");
    let fresh = match generate(&root) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = root.join(HEADER);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if check {
        if current == fresh {
            println!("{HEADER} is up to date");
            return ExitCode::SUCCESS;
        }
        eprintln!("{HEADER} differs from the sources: run `make header` and commit it");
        return ExitCode::FAILURE;
    }
    if current != fresh {
        if let Err(e) = std::fs::write(&path, fresh) {
            eprintln!("gen-header: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {HEADER}");
    }
    ExitCode::SUCCESS
}

fn generate(root: &Path) -> Result<String, String> {
    let version = package_version(root)?;
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .map_err(|e| format!("cbindgen.toml: {e}"))?;
    let [major, minor, patch] = version;
    config.after_includes = Some(format!(
        "{}\n#define OPIK_VERSION_MAJOR {major}\n#define OPIK_VERSION_MINOR {minor}\n\
         #define OPIK_VERSION_PATCH {patch}\n#define OPIK_VERSION_NUMBER \
         ((OPIK_VERSION_MAJOR << 16) | (OPIK_VERSION_MINOR << 8) | OPIK_VERSION_PATCH)\n",
        config.after_includes.unwrap_or_default()
    ));
    let bindings = cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let raw = String::from_utf8(raw).map_err(|e| e.to_string())?;
    regroup(&raw, &definitions(root)?)
}

/// `version = "x.y.z"` of the root package.
fn package_version(root: &Path) -> Result<[u32; 3], String> {
    let toml = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let v = toml
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .ok_or("no package version in Cargo.toml")?;
    let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
    parts
        .try_into()
        .map_err(|_| format!("version {v:?} is not x.y.z"))
}

/// Where each exported name is defined: (section, file order within the section, byte offset).
fn definitions(root: &Path) -> Result<HashMap<String, (usize, usize, usize)>, String> {
    let mut map = HashMap::new();
    for (section, (_, files)) in SECTIONS.iter().enumerate() {
        for (order, file) in files.iter().enumerate() {
            let path = root.join("src/ffi").join(file);
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            for keyword in ["extern \"C\" fn ", "pub type ", "pub const ", "pub struct "] {
                let mut at = 0;
                while let Some(i) = text[at..].find(keyword) {
                    let start = at + i + keyword.len();
                    let name: String = text[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if name.starts_with("opik_") || name.starts_with("OPIK_") {
                        let at = (section, order, start);
                        map.entry(name)
                            .and_modify(|e| *e = at.min(*e))
                            .or_insert(at);
                    }
                    at = start;
                }
            }
        }
    }
    Ok(map)
}

/// The name a block of cbindgen's output declares.
fn declared_name(block: &str) -> Option<String> {
    let code: Vec<&str> = block.lines().filter(|l| !l.starts_with("//")).collect();
    let code = code.join(" ");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    if let Some(rest) = code.strip_prefix("#define ") {
        return Some(ident(rest));
    }
    if let Some(i) = code.find("(*") {
        return Some(ident(&code[i + 2..]));
    }
    if code.starts_with("typedef") {
        let last = code.trim_end_matches(';').split_whitespace().last()?;
        return Some(ident(last));
    }
    let paren = code.find('(')?;
    let before = code[..paren].trim_end();
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    Some(before[start..].to_owned())
}

fn regroup(raw: &str, defs: &HashMap<String, (usize, usize, usize)>) -> Result<String, String> {
    const OPEN: &str = "#ifdef __cplusplus\nextern \"C\" {\n#endif // __cplusplus\n";
    const CLOSE: &str = "#ifdef __cplusplus\n}  // extern \"C\"\n#endif  // __cplusplus\n";
    const GUARD_END: &str = "#endif  /* OPIK_ATTACHMENTS_H */";
    let version_end = raw
        .find("#define OPIK_VERSION_NUMBER")
        .and_then(|i| raw[i..].find('\n').map(|j| i + j + 1))
        .ok_or("no version macros in cbindgen's output")?;
    let end = raw.rfind(GUARD_END).ok_or("no include guard end")?;
    let preamble = &raw[..version_end];
    let body = raw[version_end..end].replace(OPEN, "").replace(CLOSE, "");
    // Within a section, types come first (a prototype may use a type of a later file).
    let mut blocks: Vec<((usize, bool, usize, usize), String)> = Vec::new();
    for block in body.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let name = declared_name(block).ok_or_else(|| format!("cannot read:\n{block}"))?;
        let (section, order, offset) = *defs
            .get(&name)
            .ok_or_else(|| format!("{name} is not defined in a file of SECTIONS"))?;
        let is_type = block.lines().any(|l| l.starts_with("typedef"));
        blocks.push(((section, !is_type, order, offset), block.to_owned()));
    }
    blocks.sort_by_key(|(at, _)| *at);
    let mut out = String::from(preamble);
    out.push('\n');
    out.push_str(OPEN);
    let mut section = usize::MAX;
    for ((s, _, _, _), block) in &blocks {
        if *s != section {
            section = *s;
            let title = SECTIONS[section].0;
            out.push_str(&format!(
                "\n/* {rule}\n * {title}\n * {rule} */\n",
                rule = "=".repeat(92)
            ));
        }
        out.push('\n');
        out.push_str(block);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(CLOSE);
    out.push('\n');
    out.push_str(GUARD_END);
    out.push('\n');
    Ok(out)
}
