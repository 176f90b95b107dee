package prereq

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestNativeArtifactsExist(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	lib := "libopik_attachments.so"
	if runtime.GOOS == "darwin" {
		lib = "libopik_attachments.dylib"
	}
	for _, f := range []string{
		filepath.Join("include", "opik_attachments.h"),
		filepath.Join("target", "debug", lib),
		filepath.Join("target", "debug", "opik-test-server"),
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("%s is missing: run `cargo build --workspace` in %s first", f, root)
		}
	}
}
