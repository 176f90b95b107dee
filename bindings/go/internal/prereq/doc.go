// Package prereq holds no code: its tests check that the native artifacts the opik package
// builds and tests against exist and that `pkg-config opik_attachments` names this repository's
// build, and say how to fix either when not. They run with `go test ./...` next to the opik
// package, whose own failure would be a bare cgo or linker error ("Package opik_attachments was
// not found in the pkg-config search path", "cannot find -lopik_attachments").
package prereq
