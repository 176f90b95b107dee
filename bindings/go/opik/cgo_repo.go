//go:build !opik_pkgconfig

package opik

// Default build: the header and library of this repository (run `cargo build -p
// opik-attachments` first). The rpath lets programs find the library without LD_LIBRARY_PATH.
// CGO_CFLAGS and CGO_LDFLAGS come before these flags, so `CGO_LDFLAGS="-L/x -Wl,-rpath,/x"`
// points the build at another copy (e.g. target/release). Build with `-tags opik_pkgconfig` to
// use an installed copy found through pkg-config instead (see cgo_pkgconfig.go).

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: -L${SRCDIR}/../../../target/debug -lopik_attachments -Wl,-rpath,${SRCDIR}/../../../target/debug
*/
import "C"
