// Package prereq holds no code: its test checks that the native artifacts the opik package
// builds and tests against exist, and says how to build them when they do not. It runs with
// `go test ./...` next to the opik package, whose own failure would be a bare linker error
// ("cannot find -lopik_attachments") when the library is missing.
package prereq
