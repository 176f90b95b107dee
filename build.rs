//! Sets the shared library's SONAME. The header is not generated here: `make header` does that
//! with the pinned cbindgen (tools/gen-header), so a normal build never writes into the source tree.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let v = |name: &str| std::env::var(name).unwrap().parse::<u32>().unwrap();
    set_soname(v("CARGO_PKG_VERSION_MAJOR"), v("CARGO_PKG_VERSION_MINOR"));
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
