package opik

// The header and library are found through pkg-config (`pkg-config opik_attachments`), as for
// any native dependency:
//
//   - an installed copy: `make install PREFIX=<prefix>` writes <prefix>/lib/pkgconfig/
//     opik_attachments.pc; set PKG_CONFIG_PATH=<prefix>/lib/pkgconfig when pkg-config does not
//     search that prefix, and LD_LIBRARY_PATH (or CGO_LDFLAGS="-Wl,-rpath,<prefix>/lib") when
//     the dynamic loader does not search <prefix>/lib;
//   - this repository's debug build (`cargo build -p opik-attachments`): put
//     <repo>/packaging/uninstalled first on PKG_CONFIG_PATH; its opik_attachments-uninstalled.pc
//     wins over an installed opik_attachments.pc and carries an rpath to target/debug
//     (scripts/test does this for `go test`).
//
// CGO_CFLAGS and CGO_LDFLAGS come before these flags on the command lines, so they can still
// point the build at another copy.

/*
#cgo pkg-config: opik_attachments
*/
import "C"
