//! Generates include/opik_attachments.h with a pinned cbindgen. The header is checked in; the file
//! is rewritten only when its content changes, so CI can fail on drift (`git diff --exit-code`).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let v = |name: &str| std::env::var(name).unwrap().parse::<u32>().unwrap();
    let (major, minor, patch) = (
        v("CARGO_PKG_VERSION_MAJOR"),
        v("CARGO_PKG_VERSION_MINOR"),
        v("CARGO_PKG_VERSION_PATCH"),
    );
    set_soname(major, minor);
    if std::env::var_os("OPIK_SKIP_HEADER").is_some() {
        return;
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let version = format!(
        "\n#define OPIK_VERSION_MAJOR {major}\n#define OPIK_VERSION_MINOR {minor}\n#define OPIK_VERSION_PATCH {patch}\n\
         #define OPIK_VERSION_NUMBER ((OPIK_VERSION_MAJOR << 16) | (OPIK_VERSION_MINOR << 8) | OPIK_VERSION_PATCH)\n"
    );
    config.after_includes = Some(format!(
        "{}{}",
        config.after_includes.unwrap_or_default(),
        version
    ));
    let bindings = match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => {
            // A broken header must not go unnoticed, but rust-analyzer-style partial builds should
            // not fail on it either: fail the build.
            panic!("cbindgen failed: {e}");
        }
    };
    let path = dir.join("include/opik_attachments.h");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    if std::fs::read(&path).ok().as_deref() != Some(&fresh[..]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, fresh).unwrap();
    }
}

/// The shared library's SONAME on Linux: `libopik_attachments.so.<major>.<minor>` while the version
/// is 0.x (a minor bump may break the ABI), `libopik_attachments.so.<major>` from 1.0 on. Programs
/// record the SONAME, not the file name, so the loader looks for that name at run time: a symlink
/// of that name to `libopik_attachments.so` is made in `target/<profile>/`, so that programs linked
/// in the tree (`-Ltarget/debug -lopik_attachments`) run as before. `make install` installs the
/// real file as `.so.<full version>` with both symlinks.
fn set_soname(major: u32, minor: u32) {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let soname = if major == 0 {
        format!("libopik_attachments.so.{major}.{minor}")
    } else {
        format!("libopik_attachments.so.{major}")
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    // OUT_DIR is target/[<triple>/]<profile>/build/<pkg>-<hash>/out.
    #[cfg(unix)]
    if let Some(profile_dir) = std::env::var_os("OUT_DIR")
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|p| p.ancestors().nth(3))
    {
        let link = profile_dir.join(&soname);
        if std::fs::symlink_metadata(&link).is_err() {
            // Best effort: a failure only matters to in-tree programs, which then fail loudly.
            let _ = std::os::unix::fs::symlink("libopik_attachments.so", &link);
        }
    }
}
