//go:build opik_pkgconfig

package opik

// Installed build (`go build -tags opik_pkgconfig`): flags from `pkg-config opik_attachments`,
// i.e. <prefix>/lib/pkgconfig/opik_attachments.pc after `make install PREFIX=<prefix>`. Set
// PKG_CONFIG_PATH=<prefix>/lib/pkgconfig when the prefix is not one pkg-config searches, and
// LD_LIBRARY_PATH (or an rpath in CGO_LDFLAGS) when the dynamic loader does not search
// <prefix>/lib.

/*
#cgo pkg-config: opik_attachments
*/
import "C"
