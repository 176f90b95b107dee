//! Builds the shared library and one C program of tests/c against it (as tests/c_abi.rs does, for
//! plain builds only: the network matrix measures throughput, so no sanitizer slows it).

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>, where cargo puts libopik_attachments.so.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// `cargo test` builds the crate as an rlib for tests and leaves the cdylib as it was: build it,
/// so the C program never links a stale library.
fn build_shared_library() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--lib",
        "-p",
        "opik-attachments",
        "--manifest-path",
    ])
    .arg(repo().join("Cargo.toml"));
    if lib_dir().file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("cargo");
    assert!(
        out.status.success(),
        "building the shared library:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles tests/c/<name>.c into target/<profile>/c-tests/<name>.
pub fn compile(name: &str) -> PathBuf {
    build_shared_library();
    let out_dir = lib_dir().join("c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let src = repo().join("tests/c").join(format!("{name}.c"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .args([
            "-std=c11",
            "-g",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
        ])
        .arg(format!("-I{}", repo().join("include").display()))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib_dir().display()))
        .arg("-lopik_attachments")
        .arg(format!("-Wl,-rpath,{}", lib_dir().display()))
        .arg("-lpthread")
        .output()
        .expect("a C compiler (cc) is needed for the network tests");
    assert!(
        out.status.success(),
        "compiling {name}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}
