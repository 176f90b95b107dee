package opik_test

// The test harness: TestMain starts the repository's Opik-compatible test server
// (target/debug/opik-test-server) twice, in direct mode and in S3 mode (built-in SigV4-checking
// emulator), on free loopback ports with an API key and a non-default workspace, and stops both by
// PID at the end. Nothing is skipped: a missing server binary fails the run with instructions (a
// missing library already fails the build, at link time).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

const (
	apiKey    = "go-test-key"
	workspace = "go-workspace"
)

// testServer is one running opik-test-server.
type testServer struct {
	mode string
	url  string // API base URL, e.g. http://127.0.0.1:PORT/
	cmd  *exec.Cmd
	dir  string
}

var direct, s3 *testServer

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lib := "target/debug/libopik_attachments.so"
	if runtime.GOOS == "darwin" {
		lib = "target/debug/libopik_attachments.dylib"
	}
	for _, f := range []string{"target/debug/opik-test-server", lib, "include/opik_attachments.h"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %s is missing: run `cargo build --workspace` in %s first\n", f, root)
			return 1
		}
	}

	// The tests own the configuration: nothing from the caller's environment or ~/.opik.config.
	for _, v := range []string{"OPIK_URL_OVERRIDE", "OPIK_API_KEY", "OPIK_WORKSPACE", "OPIK_PROJECT_NAME"} {
		os.Unsetenv(v)
	}
	tmp, err := os.MkdirTemp("", "opik-go-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	emptyConfig := filepath.Join(tmp, "empty.config")
	if err := os.WriteFile(emptyConfig, []byte("[opik]\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("OPIK_CONFIG_PATH", emptyConfig)

	server := filepath.Join(root, "target", "debug", "opik-test-server")
	if direct, err = startServer(server, "direct", tmp); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer direct.stop()
	if s3, err = startServer(server, "s3", tmp); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer s3.stop()

	code := m.Run()
	if code == 0 {
		// Every cgo.Handle made for a callback must have been deleted by now: a background
		// upload's by user_data_free (exactly once), a download's when it returned.
		if n := opik.LiveHandles(); n != 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d cgo handles were never released\n", n)
			code = 1
		}
	}
	return code
}

func startServer(bin, mode, tmp string) (*testServer, error) {
	dir, err := os.MkdirTemp(tmp, mode+"-")
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	portFile := filepath.Join(dir, "port")
	cmd := exec.Command(bin, "--mode", mode, "--port", "0", "--port-file", portFile, "--api-key", apiKey, "--workspace", workspace)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = serverProcAttr() // the server dies with the test binary, even on a crash
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %v", bin, err)
	}
	s := &testServer{mode: mode, cmd: cmd, dir: dir}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(portFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			port, err := strconv.Atoi(string(bytes.TrimSpace(b)))
			if err != nil {
				break
			}
			s.url = fmt.Sprintf("http://127.0.0.1:%d/", port)
			return s, nil
		}
	}
	s.stop()
	out, _ := os.ReadFile(filepath.Join(dir, "log"))
	return nil, fmt.Errorf("the %s test server did not start:\n%s", mode, out)
}

// stop ends the server by its PID and reaps it.
func (s *testServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// newClient makes a client for s, closed when the test ends.
func newClient(t testing.TB, s *testServer, opts ...opik.Option) *opik.Client {
	t.Helper()
	all := append([]opik.Option{opik.WithURL(s.url), opik.WithAPIKey(apiKey), opik.WithWorkspace(workspace)}, opts...)
	c, err := opik.NewClient(all...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newID returns a random UUID (version 4), a fresh trace or span id.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// storedAttachment is one entry of the server's GET /_test/attachments.
type storedAttachment struct {
	ProjectName string `json:"project_name"`
	EntityType  string `json:"entity_type"`
	EntityID    string `json:"entity_id"`
	FileName    string `json:"file_name"`
	FileSize    int64  `json:"file_size"`
	MimeType    string `json:"mime_type"`
	SHA256      string `json:"sha256"`
}

// stored returns what the server holds for one entity, by file name.
func (s *testServer) stored(t testing.TB, entityID string) map[string]storedAttachment {
	t.Helper()
	var all []storedAttachment
	s.control(t, http.MethodGet, "_test/attachments", nil, &all)
	got := map[string]storedAttachment{}
	for _, a := range all {
		if a.EntityID == entityID {
			got[a.FileName] = a
		}
	}
	return got
}

// fault installs a fault rule (JSON object) on s; every rule is removed when the test ends.
func (s *testServer) fault(t testing.TB, rule string) {
	t.Helper()
	s.control(t, http.MethodPost, "_test/faults", strings.NewReader(rule), nil)
	t.Cleanup(func() { s.control(t, http.MethodDelete, "_test/faults", nil, nil) })
}

// control sends a request to the server's test controls and decodes the JSON answer into out.
func (s *testServer) control(t testing.TB, method, path string, body io.Reader, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}
