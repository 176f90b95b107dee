package prereq

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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

// The opik package finds the library through `pkg-config opik_attachments`. Inside this
// repository that must be the tree's build (packaging/uninstalled first on PKG_CONFIG_PATH), or
// the tests would run against whatever copy happens to be installed.
func TestPkgConfigFindsTheLibrary(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	hint := "export PKG_CONFIG_PATH=" + filepath.Join(root, "packaging", "uninstalled") + "${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
	out, err := exec.Command("pkg-config", "--cflags", "opik_attachments").Output()
	if err != nil {
		t.Fatalf("pkg-config does not find opik_attachments (%v): %s", err, hint)
	}
	include, err := filepath.EvalSymlinks(filepath.Join(root, "include"))
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range strings.Fields(string(out)) {
		if dir, ok := strings.CutPrefix(flag, "-I"); ok {
			if real, err := filepath.EvalSymlinks(dir); err == nil && real == include {
				return
			}
		}
	}
	t.Errorf("pkg-config opik_attachments gives %q, not this repository's include/ (%s): %s", strings.TrimSpace(string(out)), include, hint)
}
