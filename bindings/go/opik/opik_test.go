package opik_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

var bg = context.Background()

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func mustBytes(t testing.TB, data []byte, name, contentType string) *opik.Attachment {
	t.Helper()
	a, err := opik.AttachmentFromBytes(data, name, contentType)
	if err != nil {
		t.Fatalf("AttachmentFromBytes(%s): %v", name, err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func download(t testing.TB, c *opik.Client, project string, typ opik.EntityType, id, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Download(bg, project, typ, id, name, "", &buf); err != nil {
		t.Fatalf("Download(%s): %v", name, err)
	}
	return buf.Bytes()
}

func TestVersion(t *testing.T) {
	if v := opik.Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
		t.Fatalf("Version() = %q", v)
	}
}

// Every operation in direct mode: upload from a file, bytes and base64 (trace and span), list,
// download into a bytes.Buffer and to a file, delete.
func TestRoundTrip(t *testing.T) {
	c := newClient(t, direct)
	project := "go-roundtrip"
	trace, span := newID(), newID()

	dir := t.TempDir()
	report := []byte("# Run report\n\nAll good.\n")
	path := filepath.Join(dir, "report.md")
	if err := os.WriteFile(path, report, 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := opik.AttachmentFromFile(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if file.FileName() != "report.md" || file.Size() != int64(len(report)) || file.ContentType() != "text/markdown" {
		t.Errorf("file attachment: %q %q %d", file.FileName(), file.ContentType(), file.Size())
	}

	png := append([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, randomBytes(300)...)
	image := mustBytes(t, png, "pixel", "") // no extension: the magic bytes say PNG
	if image.ContentType() != "image/png" {
		t.Errorf("bytes content type = %q, want image/png", image.ContentType())
	}

	metrics := []byte(`{"score": 0.97}`)
	b64, err := opik.AttachmentFromBase64("data:application/json;base64,"+base64.StdEncoding.EncodeToString(metrics), "metrics.json", "")
	if err != nil {
		t.Fatal(err)
	}
	defer b64.Close()
	if b64.ContentType() != "application/json" || b64.Size() != int64(len(metrics)) {
		t.Errorf("base64 attachment: %q %d", b64.ContentType(), b64.Size())
	}
	urlSafe, err := opik.AttachmentFromBase64(base64.RawURLEncoding.EncodeToString(png), "pixel-urlsafe.png", "")
	if err != nil {
		t.Fatal(err)
	}
	defer urlSafe.Close()

	empty := mustBytes(t, nil, "empty.txt", "")

	for _, a := range []*opik.Attachment{file, image, empty} {
		if err := c.Upload(bg, project, opik.EntityTrace, trace, a); err != nil {
			t.Fatalf("Upload(%s): %v", a.FileName(), err)
		}
	}
	for _, a := range []*opik.Attachment{b64, urlSafe} {
		if err := c.Upload(bg, project, opik.EntitySpan, span, a); err != nil {
			t.Fatalf("Upload(%s): %v", a.FileName(), err)
		}
	}

	// List.
	list, err := c.List(bg, project, opik.EntityTrace, trace)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		size int64
		mime string
	}{"report.md": {int64(len(report)), "text/markdown"}, "pixel": {int64(len(png)), "image/png"}, "empty.txt": {0, "text/plain"}}
	if len(list) != len(want) {
		t.Fatalf("List: %d entries, want %d: %+v", len(list), len(want), list)
	}
	for _, info := range list {
		w, ok := want[info.FileName]
		if !ok || info.FileSize != w.size || info.MimeType != w.mime || info.Link == "" {
			t.Errorf("List entry %+v, want %+v", info, w)
		}
	}

	// The server holds exactly the bytes.
	stored := direct.stored(t, trace)
	if got := stored["pixel"]; got.SHA256 != sha(png) || got.ProjectName != project || got.EntityType != "trace" {
		t.Errorf("server copy of pixel: %+v", got)
	}

	// Download into a bytes.Buffer and to a file.
	if got := download(t, c, project, opik.EntityTrace, trace, "report.md"); !bytes.Equal(got, report) {
		t.Errorf("downloaded report = %q", got)
	}
	if got := download(t, c, project, opik.EntityTrace, trace, "pixel"); !bytes.Equal(got, png) {
		t.Error("downloaded image differs")
	}
	if got := download(t, c, project, opik.EntityTrace, trace, "empty.txt"); len(got) != 0 {
		t.Errorf("downloaded %d bytes of an empty attachment", len(got))
	}
	if got := download(t, c, project, opik.EntitySpan, span, "pixel-urlsafe.png"); !bytes.Equal(got, png) {
		t.Error("downloaded URL-safe base64 image differs")
	}
	var buf bytes.Buffer
	if err := c.Download(bg, project, opik.EntitySpan, span, "metrics.json", "application/json", &buf); err != nil || buf.String() != string(metrics) {
		t.Errorf("Download with MIME type: %v, %q", err, buf.String())
	}
	if err := c.Download(bg, project, opik.EntitySpan, span, "metrics.json", "image/png", &buf); !errors.Is(err, opik.ErrNotFound) {
		t.Errorf("Download with the wrong MIME type: %v, want ErrNotFound", err)
	}
	dest := filepath.Join(dir, "metrics-copy.json")
	if err := c.DownloadToFile(bg, project, opik.EntitySpan, span, "metrics.json", "", dest); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, metrics) {
		t.Errorf("DownloadToFile wrote %q, %v", got, err)
	}

	// Delete (an unknown name is not an error), then the entity lists empty and downloads fail.
	if err := c.Delete(bg, project, opik.EntityTrace, trace, "report.md", "pixel", "empty.txt", "never-uploaded.bin"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(bg, project, opik.EntityTrace, trace); err != nil {
		t.Fatalf("Delete with no names: %v", err)
	}
	if list, err := c.List(bg, project, opik.EntityTrace, trace); err != nil || len(list) != 0 {
		t.Errorf("List after Delete: %v, %+v", err, list)
	}
	if err := c.Download(bg, project, opik.EntityTrace, trace, "report.md", "", &buf); !errors.Is(err, opik.ErrNotFound) {
		t.Errorf("Download after Delete: %v, want ErrNotFound", err)
	}
	missing := filepath.Join(dir, "never.bin")
	if err := c.DownloadToFile(bg, project, opik.EntityTrace, trace, "report.md", "", missing); !errors.Is(err, opik.ErrNotFound) {
		t.Errorf("DownloadToFile after Delete: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed DownloadToFile left %s", missing)
	}
	if n := len(direct.stored(t, trace)); n != 0 {
		t.Errorf("the server still holds %d attachments of the trace", n)
	}
}

// The client's project is used when project is "".
func TestDefaultProject(t *testing.T) {
	c := newClient(t, direct, opik.WithProjectName("go-default-project"))
	id := newID()
	if err := c.Upload(bg, "", opik.EntitySpan, id, mustBytes(t, []byte("hello"), "hello.txt", "")); err != nil {
		t.Fatal(err)
	}
	if got := direct.stored(t, id)["hello.txt"]; got.ProjectName != "go-default-project" {
		t.Errorf("uploaded to project %q", got.ProjectName)
	}
	if list, err := c.List(bg, "go-default-project", opik.EntitySpan, id); err != nil || len(list) != 1 {
		t.Errorf("List: %v %+v", err, list)
	}
}

// errWriter fails on its first write.
type errWriter struct {
	err   error
	calls int
}

func (w *errWriter) Write(p []byte) (int, error) {
	w.calls++
	return 0, w.err
}

// A writer's error stops the download at once and comes back wrapped: errors.Is finds both the
// writer's error and ErrAbortedByCallback.
func TestDownloadWriterError(t *testing.T) {
	c := newClient(t, direct)
	id := newID()
	data := randomBytes(4 << 20) // many chunks
	if err := c.Upload(bg, "go-writer", opik.EntityTrace, id, mustBytes(t, data, "big.bin", "")); err != nil {
		t.Fatal(err)
	}
	errDiskFull := errors.New("disk full")
	w := &errWriter{err: errDiskFull}
	err := c.Download(bg, "go-writer", opik.EntityTrace, id, "big.bin", "", w)
	if !errors.Is(err, errDiskFull) || !errors.Is(err, opik.ErrAbortedByCallback) {
		t.Fatalf("Download into a failing writer: %v", err)
	}
	var oe *opik.Error
	if !errors.As(err, &oe) || oe.Status != opik.StatusAbortedByCallback || oe.Err != errDiskFull || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error fields: %#v", oe)
	}
	if w.calls != 1 {
		t.Errorf("the writer was called %d times after failing, want 1", w.calls)
	}

	// A short write without an error is io.ErrShortWrite.
	short := writerFunc(func(p []byte) (int, error) { return len(p) / 2, nil })
	if err := c.Download(bg, "go-writer", opik.EntityTrace, id, "big.bin", "", short); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short write: %v", err)
	}

	// The client is fine afterwards.
	if got := download(t, c, "go-writer", opik.EntityTrace, id, "big.bin"); !bytes.Equal(got, data) {
		t.Error("download after an aborted one differs")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A panic in the writer stops the download and is re-raised on the caller's goroutine, without
// unwinding through the library; the client keeps working.
func TestDownloadWriterPanic(t *testing.T) {
	c := newClient(t, direct)
	id := newID()
	data := randomBytes(1 << 20)
	if err := c.Upload(bg, "go-writer", opik.EntitySpan, id, mustBytes(t, data, "p.bin", "")); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != "writer exploded" {
				t.Errorf("recovered %v", r)
			}
		}()
		_ = c.Download(bg, "go-writer", opik.EntitySpan, id, "p.bin", "", writerFunc(func([]byte) (int, error) { panic("writer exploded") }))
		t.Error("Download returned instead of panicking")
	}()
	if got := download(t, c, "go-writer", opik.EntitySpan, id, "p.bin"); !bytes.Equal(got, data) {
		t.Error("download after a panicking writer differs")
	}
}

// Download stops when its context is done: before it starts, and between chunks.
func TestDownloadContext(t *testing.T) {
	c := newClient(t, direct)
	id := newID()
	if err := c.Upload(bg, "go-ctx", opik.EntityTrace, id, mustBytes(t, randomBytes(4<<20), "big.bin", "")); err != nil {
		t.Fatal(err)
	}

	cancelled, cancel := context.WithCancel(bg)
	cancel()
	calls := 0
	count := writerFunc(func(p []byte) (int, error) { calls++; return len(p), nil })
	if err := c.Download(cancelled, "go-ctx", opik.EntityTrace, id, "big.bin", "", count); err != context.Canceled || calls != 0 {
		t.Errorf("Download with a cancelled context: %v after %d writes", err, calls)
	}
	expired, cancel2 := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel2()
	if err := c.Download(expired, "go-ctx", opik.EntityTrace, id, "big.bin", "", count); err != context.DeadlineExceeded {
		t.Errorf("Download with an expired context: %v", err)
	}
	if err := c.DownloadToFile(cancelled, "go-ctx", opik.EntityTrace, id, "big.bin", "", filepath.Join(t.TempDir(), "x")); err != context.Canceled {
		t.Errorf("DownloadToFile with a cancelled context: %v", err)
	}
	if _, err := c.List(cancelled, "go-ctx", opik.EntityTrace, id); err != context.Canceled {
		t.Errorf("List with a cancelled context: %v", err)
	}
	if err := c.Delete(cancelled, "go-ctx", opik.EntityTrace, id, "big.bin"); err != context.Canceled {
		t.Errorf("Delete with a cancelled context: %v", err)
	}

	// Cancelled during the download: the first chunk is the last one the writer sees.
	ctx, cancel3 := context.WithCancel(bg)
	defer cancel3()
	calls = 0
	stopper := writerFunc(func(p []byte) (int, error) { calls++; cancel3(); return len(p), nil })
	err := c.Download(ctx, "go-ctx", opik.EntityTrace, id, "big.bin", "", stopper)
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("Download cancelled by the writer: %v after %d writes", err, calls)
	}
	// Nothing was deleted by the cancelled Delete.
	if list, err := c.List(bg, "go-ctx", opik.EntityTrace, id); err != nil || len(list) != 1 {
		t.Errorf("List: %v %+v", err, list)
	}
}

// UploadAsync: operations report their result through Wait, Done and Status, progress reaches
// the total, Flush waits for the rest.
func TestUploadAsync(t *testing.T) {
	c := newClient(t, direct)
	id := newID()
	var ops []*opik.Op
	contents := map[string][]byte{}
	for i := range 6 {
		name := fmt.Sprintf("frame-%d.bin", i)
		contents[name] = randomBytes(64<<10 + i)
		a, err := opik.AttachmentFromBytes(contents[name], name, "")
		if err != nil {
			t.Fatal(err)
		}
		op, err := c.UploadAsync("go-async", opik.EntitySpan, id, a)
		if err != nil {
			t.Fatal(err)
		}
		a.Close() // the queue keeps what it needs
		ops = append(ops, op)
	}
	if err := ops[0].Wait(bg); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	<-ops[1].Done()
	if finished, err := ops[1].Status(); !finished || err != nil {
		t.Errorf("Status after Done: %v %v", finished, err)
	}
	if sent, total := ops[0].Progress(); sent != total || total != int64(len(contents["frame-0.bin"])) {
		t.Errorf("Progress = %d/%d", sent, total)
	}
	if err := c.Flush(bg); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n := c.Pending(); n != 0 {
		t.Errorf("Pending after Flush = %d", n)
	}
	for _, op := range ops {
		if finished, err := op.Status(); !finished || err != nil {
			t.Errorf("Status after Flush: %v %v", finished, err)
		}
		op.Close()
		op.Close()
		if err := op.Wait(bg); err != nil { // still answers after Close
			t.Errorf("Wait after Close: %v", err)
		}
		if sent, total := op.Progress(); sent != total || total == 0 {
			t.Errorf("Progress after Close = %d/%d", sent, total)
		}
		op.Cancel() // a no-op now
	}
	stored := direct.stored(t, id)
	for name, data := range contents {
		if stored[name].SHA256 != sha(data) {
			t.Errorf("%s: server copy %+v", name, stored[name])
		}
	}
	if err := c.FlushTimeout(time.Second); err != nil {
		t.Errorf("FlushTimeout with nothing pending: %v", err)
	}
}

// serverDelay is how long slowUploads holds every upload-start. The context tests check that
// calls return before it elapsed, i.e. that they did not wait for the server.
const serverDelay = 4 * time.Second

// slowUploads delays every upload-start on s for the rest of the test.
func slowUploads(t *testing.T, s *testServer) {
	s.fault(t, fmt.Sprintf(`{"path_contains": "upload-start", "delay_ms": %d, "times": 0}`, serverDelay.Milliseconds()))
}

// Op.Wait returns ctx.Err() when its context ends first, and the upload goes on until cancelled.
func TestOpWaitContext(t *testing.T) {
	c := newClient(t, direct)
	slowUploads(t, direct)
	data := randomBytes(1000)
	op, err := c.UploadAsync("go-async", opik.EntityTrace, newID(), mustBytes(t, data, "slow.bin", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	if err := op.Wait(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Wait with a short deadline: %v", err)
	}
	if finished, _ := op.Status(); finished {
		t.Fatal("the operation finished although the server delays it")
	}
	if _, total := op.Progress(); total != int64(len(data)) {
		t.Errorf("Progress total = %d", total)
	}
	start := time.Now()
	op.Cancel()
	op.Cancel()
	if err := op.Wait(bg); !errors.Is(err, opik.ErrCancelled) {
		t.Fatalf("Wait after Cancel: %v", err)
	}
	if d := time.Since(start); d >= serverDelay {
		t.Errorf("cancel took %v: it waited for the server", d)
	}
	if finished, err := op.Status(); !finished || !errors.Is(err, opik.ErrCancelled) {
		t.Errorf("Status after Cancel: %v %v", finished, err)
	}
}

// Upload cancels the upload when its context ends.
func TestUploadContext(t *testing.T) {
	c := newClient(t, direct)
	id := newID()
	a := mustBytes(t, []byte("never arrives"), "cancelled.txt", "")
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	if err := c.Upload(cancelled, "go-ctx", opik.EntityTrace, id, a); err != context.Canceled {
		t.Errorf("Upload with a cancelled context: %v", err)
	}

	slowUploads(t, direct)
	ctx, cancel2 := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if err := c.Upload(ctx, "go-ctx", opik.EntityTrace, id, a); err != context.DeadlineExceeded {
		t.Errorf("Upload past its deadline: %v", err)
	}
	if d := time.Since(start); d >= serverDelay {
		t.Errorf("Upload returned after %v: it waited for the server", d)
	}
	// Nothing is left running (Pending may count the operation until its on_done returned).
	if err := c.FlushTimeout(time.Second); err != nil {
		t.Errorf("after a cancelled Upload: %v", err)
	}
	if n := len(direct.stored(t, id)); n != 0 {
		t.Errorf("the server holds %d attachments after a cancelled Upload", n)
	}
}

// Flush returns ctx.Err() when its context ends first; FlushTimeout returns ErrTimeout.
func TestFlushContext(t *testing.T) {
	c := newClient(t, direct)
	slowUploads(t, direct)
	op, err := c.UploadAsync("go-async", opik.EntityTrace, newID(), mustBytes(t, []byte("slow"), "slow.txt", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	ctx, cancel := context.WithTimeout(bg, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Flush(ctx); err != context.DeadlineExceeded {
		t.Errorf("Flush past its deadline: %v", err)
	}
	if d := time.Since(start); d >= serverDelay {
		t.Errorf("Flush returned after %v: it waited for the upload", d)
	}
	err = c.FlushTimeout(20 * time.Millisecond)
	if !errors.Is(err, opik.ErrTimeout) || !strings.Contains(err.Error(), "1 uploads still pending") {
		t.Errorf("FlushTimeout: %v", err)
	}
	if c.Pending() != 1 {
		t.Errorf("Pending = %d", c.Pending())
	}
	op.Cancel()
	if err := c.Flush(bg); err != nil {
		t.Errorf("Flush after Cancel: %v", err)
	}
}

// A Flush whose context is cancelled (no deadline) returns at once with context.Canceled; the
// uploads go on, and a later Flush sees them finish.
func TestFlushCancelledContext(t *testing.T) {
	c := newClient(t, direct)
	slowUploads(t, direct)
	op, err := c.UploadAsync("go-async", opik.EntityTrace, newID(), mustBytes(t, []byte("slow"), "slow.txt", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if err := c.Flush(ctx); err != context.Canceled {
		t.Errorf("Flush with a cancelled context: %v", err)
	}
	if d := time.Since(start); d >= serverDelay {
		t.Errorf("Flush returned after %v: it waited for the upload", d)
	}
	if err := c.Flush(bg); err != nil {
		t.Errorf("Flush: %v", err)
	}
	if finished, err := op.Status(); !finished || err != nil {
		t.Errorf("Status after Flush: %v %v", finished, err)
	}
}

// A refused option value comes with the library's reason (the C setters take an opik_error **),
// not a message made up by the binding.
func TestOptionErrorsCarryTheLibrarysReason(t *testing.T) {
	for name, tc := range map[string]struct {
		opt  opik.Option
		want string // a piece of the library's message
	}{
		"65 parts in flight": {opik.WithUploadConcurrency(65), "not 65"},
		"zero timeout":       {opik.WithTimeout(0), "timeout"},
		"zero queue limit":   {opik.WithQueueLimits(0, 1), "queue limits"},
		"URL not UTF-8":      {opik.WithURL("http://\xff/"), "UTF-8"},
	} {
		_, err := opik.NewClient(opik.WithURL(direct.url), tc.opt)
		var oe *opik.Error
		if !errors.As(err, &oe) || oe.Status != opik.StatusInvalidArgument {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
			continue
		}
		if !strings.Contains(oe.Message, tc.want) || strings.Contains(oe.Message, "invalid value") {
			t.Errorf("%s: message %q, want the library's reason (containing %q)", name, oe.Message, tc.want)
		}
	}
	// What C cannot represent is refused by the binding, naming the option.
	if _, err := opik.NewClient(opik.WithURL(direct.url), opik.WithUploadConcurrency(-1)); !errors.Is(err, opik.ErrInvalidArgument) || !strings.Contains(err.Error(), "WithUploadConcurrency") {
		t.Errorf("WithUploadConcurrency(-1): %v", err)
	}
}

// Closing the client cancels what its shutdown timeout did not let finish: ErrShutdown.
func TestCloseCancelsPendingUploads(t *testing.T) {
	c := newClient(t, direct, opik.WithShutdownTimeout(0))
	slowUploads(t, direct)
	var ops []*opik.Op
	for i := range 3 {
		op, err := c.UploadAsync("go-async", opik.EntityTrace, newID(), mustBytes(t, []byte("x"), fmt.Sprintf("s%d.txt", i), ""))
		if err != nil {
			t.Fatal(err)
		}
		defer op.Close()
		ops = append(ops, op)
	}
	c.Close()
	for _, op := range ops {
		select {
		case <-op.Done(): // Close returns only after every on_done ran
		default:
			t.Fatal("an operation is not finished after Close returned")
		}
		if err := op.Wait(bg); !errors.Is(err, opik.ErrShutdown) {
			t.Errorf("Wait after Close: %v", err)
		}
	}
}

// Back-pressure: past the queue limits UploadAsync (and Upload) fail at once with ErrTooLarge.
func TestQueueLimits(t *testing.T) {
	c := newClient(t, direct, opik.WithQueueLimits(1, 1<<20))
	if _, err := c.UploadAsync("go-async", opik.EntityTrace, newID(), mustBytes(t, make([]byte, 2<<20), "big.bin", "")); !errors.Is(err, opik.ErrTooLarge) {
		t.Errorf("UploadAsync over the memory limit: %v", err)
	}
	slowUploads(t, direct)
	op, err := c.UploadAsync("go-async", opik.EntityTrace, newID(), mustBytes(t, []byte("1"), "one.txt", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if _, err := c.UploadAsync("go-async", opik.EntityTrace, newID(), mustBytes(t, []byte("2"), "two.txt", "")); !errors.Is(err, opik.ErrTooLarge) {
		t.Errorf("UploadAsync over the queue limit: %v", err)
	}
	if err := c.Upload(bg, "go-async", opik.EntityTrace, newID(), mustBytes(t, []byte("3"), "three.txt", "")); !errors.Is(err, opik.ErrTooLarge) {
		t.Errorf("Upload over the queue limit: %v", err)
	}
	op.Cancel()
	if err := op.Wait(bg); !errors.Is(err, opik.ErrCancelled) {
		t.Errorf("Wait: %v", err)
	}
}

// With an outbox, an accepted upload is on disk until the server confirmed it.
func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	c := newClient(t, direct, opik.WithOutboxDir(dir))
	records := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		return m
	}
	direct.fault(t, `{"path_contains": "upload-start", "delay_ms": 700}`)
	id := newID()
	data := randomBytes(10 << 10)
	op, err := c.UploadAsync("go-outbox", opik.EntitySpan, id, mustBytes(t, data, "durable.bin", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if n := len(records()); n != 1 {
		t.Errorf("%d outbox records while the upload runs, want 1", n)
	}
	if err := op.Wait(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(records()); n != 0 {
		t.Errorf("%d outbox records after the upload, want 0", n)
	}
	if direct.stored(t, id)["durable.bin"].SHA256 != sha(data) {
		t.Error("the server copy differs")
	}
}

// Errors map to the sentinels, with their fields.
func TestErrors(t *testing.T) {
	c := newClient(t, direct)
	id := newID()
	var buf bytes.Buffer

	// ErrNotFound: an unknown project, an unknown attachment.
	if _, err := c.List(bg, "go-no-such-project-"+newID(), opik.EntityTrace, id); !errors.Is(err, opik.ErrNotFound) {
		t.Errorf("List of an unknown project: %v", err)
	}
	if err := c.Upload(bg, "go-errors", opik.EntityTrace, id, mustBytes(t, []byte("x"), "x.txt", "")); err != nil {
		t.Fatal(err)
	}
	err := c.Download(bg, "go-errors", opik.EntityTrace, id, "nope.txt", "", &buf)
	if !errors.Is(err, opik.ErrNotFound) || errors.Is(err, opik.ErrIO) {
		t.Errorf("Download of an unknown attachment: %v", err)
	}
	var oe *opik.Error
	if !errors.As(err, &oe) || oe.Status != opik.StatusNotFound || oe.Message == "" || !strings.HasPrefix(err.Error(), "opik: OPIK_ERR_NOT_FOUND: ") {
		t.Errorf("error fields: %#v / %q", oe, err)
	}

	// ErrAuth: a wrong key (401), a wrong workspace (403).
	for _, tc := range []struct {
		opts []opik.Option
		http int
	}{
		{[]opik.Option{opik.WithAPIKey("wrong-key"), opik.WithWorkspace(workspace)}, 401},
		{[]opik.Option{opik.WithAPIKey(apiKey), opik.WithWorkspace("someone-else")}, 403},
	} {
		bad, err := opik.NewClient(append([]opik.Option{opik.WithURL(direct.url)}, tc.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.List(bg, "go-errors", opik.EntityTrace, id)
		if !errors.As(err, &oe) || !errors.Is(err, opik.ErrAuth) || oe.HTTPStatus != tc.http {
			t.Errorf("List with bad credentials: %v, want ErrAuth (HTTP %d)", err, tc.http)
		}
		if strings.Contains(err.Error(), "wrong-key") {
			t.Errorf("the message shows the API key: %v", err)
		}
		if err := bad.Upload(bg, "go-errors", opik.EntityTrace, id, mustBytes(t, []byte("y"), "y.txt", "")); !errors.Is(err, opik.ErrAuth) {
			t.Errorf("Upload with bad credentials: %v", err)
		}
		bad.Close()
	}

	// ErrHTTP with the server's status.
	direct.fault(t, `{"path_contains": "attachment/list", "status": 418}`)
	if _, err := c.List(bg, "go-errors", opik.EntityTrace, id); !errors.As(err, &oe) || !errors.Is(err, opik.ErrHTTP) || oe.HTTPStatus != 418 || !strings.Contains(err.Error(), "(HTTP 418)") {
		t.Errorf("List answered 418: %v", err)
	}

	// ErrInvalidArgument: from the library and from the binding.
	for name, err := range map[string]error{
		"entity id not a UUID": c.Upload(bg, "go-errors", opik.EntityTrace, "not-a-uuid", mustBytes(t, []byte("z"), "z.txt", "")),
		"unknown entity type":  c.Download(bg, "go-errors", opik.EntityType(7), id, "x.txt", "", &buf),
		"empty entity id":      c.Delete(bg, "go-errors", opik.EntityTrace, "", "x.txt"),
		"NUL in a string":      c.Download(bg, "go-errors", opik.EntityTrace, id, "x.txt\x00.exe", "", &buf),
		"nil writer":           c.Download(bg, "go-errors", opik.EntityTrace, id, "x.txt", "", nil),
		"nil attachment":       c.Upload(bg, "go-errors", opik.EntityTrace, id, nil),
		"nil client":           (*opik.Client)(nil).Delete(bg, "", opik.EntityTrace, id),
		"bad base64":           second(opik.AttachmentFromBase64("@@not base64@@", "b.bin", "")),
		"bytes without a name": second(opik.AttachmentFromBytes([]byte("x"), "", "")),
		"zero timeout":         second(opik.NewClient(opik.WithURL(direct.url), opik.WithTimeout(0))),
		"negative timeout":     second(opik.NewClient(opik.WithURL(direct.url), opik.WithTimeout(-time.Second))),
		"0 parts in flight":    second(opik.NewClient(opik.WithURL(direct.url), opik.WithUploadConcurrency(0))),
		"zero queue limit":     second(opik.NewClient(opik.WithURL(direct.url), opik.WithQueueLimits(0, 1))),
	} {
		if !errors.Is(err, opik.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := c.UploadAsync("go-errors", opik.EntityTrace, "not-a-uuid", mustBytes(t, []byte("z"), "z.txt", "")); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("UploadAsync with a bad id: %v", err)
	}

	// ErrIO: a missing file, an unwritable destination.
	if _, err := opik.AttachmentFromFile(filepath.Join(t.TempDir(), "missing.png"), "", ""); !errors.Is(err, opik.ErrIO) {
		t.Errorf("AttachmentFromFile of a missing file: %v", err)
	}
	if err := c.DownloadToFile(bg, "go-errors", opik.EntityTrace, id, "x.txt", "", filepath.Join(t.TempDir(), "no", "such", "dir", "x.txt")); !errors.Is(err, opik.ErrIO) {
		t.Errorf("DownloadToFile into a missing directory: %v", err)
	}

	// ErrConfig: no URL anywhere (TestMain points OPIK_CONFIG_PATH at an empty file), a bad scheme.
	if _, err := opik.NewClient(); !errors.Is(err, opik.ErrConfig) || !strings.Contains(err.Error(), "OPIK_URL_OVERRIDE") {
		t.Errorf("NewClient without a URL: %v", err)
	}
	if _, err := opik.NewClient(opik.WithURL("ftp://127.0.0.1/")); !errors.Is(err, opik.ErrConfig) {
		t.Errorf("NewClient with an ftp URL: %v", err)
	}

	// Sentinels compare by status only; every status has a C name.
	if errors.Is(opik.ErrNotFound, opik.ErrAuth) || !errors.Is(&opik.Error{Status: opik.StatusAuth, Message: "m"}, opik.ErrAuth) {
		t.Error("Is compares statuses")
	}
	sentinels := []*opik.Error{opik.ErrInvalidArgument, opik.ErrIO, opik.ErrNotFound, opik.ErrAuth, opik.ErrHTTP, opik.ErrNetwork,
		opik.ErrTimeout, opik.ErrCancelled, opik.ErrAbortedByCallback, opik.ErrProtocol, opik.ErrTooLarge, opik.ErrConfig,
		opik.ErrShutdown, opik.ErrForked, opik.ErrInternal}
	for i, s := range sentinels {
		if int(s.Status) != i+1 || !strings.HasPrefix(s.Status.String(), "OPIK_ERR_") || s.Status.String() == "OPIK_ERR_UNKNOWN" {
			t.Errorf("sentinel %d: %v", i, s)
		}
	}
	if opik.StatusOK.String() != "OPIK_OK" || opik.Status(99).String() != "OPIK_ERR_UNKNOWN" {
		t.Error("Status.String")
	}
}

func second[T any](_ T, err error) error { return err }

// 32 goroutines share one client (and one attachment): blocking and background uploads, lists
// and downloads at once. Run with -race.
func TestConcurrentGoroutines(t *testing.T) {
	c := newClient(t, direct)
	shared := mustBytes(t, randomBytes(32<<10), "shared.bin", "")
	trace := newID()
	const n = 32
	var wg sync.WaitGroup
	var failures atomic.Int32
	fail := func(format string, args ...any) {
		failures.Add(1)
		t.Errorf(format, args...)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randomBytes(16<<10 + i)
			name := fmt.Sprintf("g%02d.bin", i)
			a, err := opik.AttachmentFromBytes(data, name, "")
			if err != nil {
				fail("AttachmentFromBytes: %v", err)
				return
			}
			defer a.Close()
			if i%2 == 0 {
				err = c.Upload(bg, "go-concurrent", opik.EntityTrace, trace, a)
			} else {
				var op *opik.Op
				if op, err = c.UploadAsync("go-concurrent", opik.EntityTrace, trace, a); err == nil {
					err = op.Wait(bg)
					op.Close()
				}
			}
			if err != nil {
				fail("upload %s: %v", name, err)
				return
			}
			own := newID() // the shared attachment, to an entity of its own
			if err := c.Upload(bg, "go-concurrent", opik.EntitySpan, own, shared); err != nil {
				fail("upload shared: %v", err)
			}
			if list, err := c.List(bg, "go-concurrent", opik.EntityTrace, trace); err != nil || len(list) == 0 {
				fail("List: %v (%d entries)", err, len(list))
			}
			var buf bytes.Buffer
			if err := c.Download(bg, "go-concurrent", opik.EntityTrace, trace, name, "", &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
				fail("Download %s: %v (%d bytes)", name, err, buf.Len())
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		return
	}
	if err := c.Flush(bg); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(bg, "go-concurrent", opik.EntityTrace, trace)
	if err != nil || len(list) != n {
		t.Errorf("List after all goroutines: %v, %d entries, want %d", err, len(list), n)
	}
}

// Close while other goroutines use the client: each call either completes or returns
// ErrShutdown; nothing touches a freed client.
func TestCloseWhileInUse(t *testing.T) {
	c := newClient(t, direct)
	id := newID()
	if err := c.Upload(bg, "go-close", opik.EntityTrace, id, mustBytes(t, randomBytes(256<<10), "a.bin", "")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var calls atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var err error
				if calls.Add(1)%2 == 0 {
					_, err = c.List(bg, "go-close", opik.EntityTrace, id)
				} else {
					err = c.Download(bg, "go-close", opik.EntityTrace, id, "a.bin", "", io.Discard)
				}
				if errors.Is(err, opik.ErrShutdown) {
					return
				}
				if err != nil {
					t.Errorf("call during Close: %v", err)
					return
				}
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); calls.Load() < 40 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	wg.Wait()
	if err := c.Upload(bg, "go-close", opik.EntityTrace, id, mustBytes(t, []byte("late"), "late.txt", "")); !errors.Is(err, opik.ErrShutdown) {
		t.Errorf("Upload after Close: %v", err)
	}
	if c.Pending() != 0 {
		t.Error("Pending after Close")
	}
}

// Close is idempotent; closed objects fail cleanly; the garbage-collection safety net frees
// forgotten objects and never frees a closed one again.
func TestCloseAndCleanups(t *testing.T) {
	before := opik.CleanupsRun()
	c, err := opik.NewClient(opik.WithURL(direct.url), opik.WithAPIKey(apiKey), opik.WithWorkspace(workspace))
	if err != nil {
		t.Fatal(err)
	}
	a, err := opik.AttachmentFromBytes([]byte("closing"), "closing.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	op, err := c.UploadAsync("go-close", opik.EntityTrace, newID(), a)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(bg); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		op.Close()
		a.Close()
		c.Close()
	}
	if a.FileName() != "closing.txt" {
		t.Error("the file name is gone after Close")
	}
	if err := c.Upload(bg, "go-close", opik.EntityTrace, newID(), mustBytes(t, []byte("x"), "x.txt", "")); !errors.Is(err, opik.ErrShutdown) {
		t.Errorf("Upload on a closed client: %v", err)
	}
	other := newClient(t, direct)
	if err := other.Upload(bg, "go-close", opik.EntityTrace, newID(), a); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("Upload of a closed attachment: %v", err)
	}
	var nilClient *opik.Client
	var nilAttachment *opik.Attachment
	var nilOp *opik.Op
	nilClient.Close()
	nilAttachment.Close()
	nilOp.Close()

	// Closed objects are garbage: their cleanups were stopped, so nothing is freed twice.
	c, a, op = nil, nil, nil
	for range 3 {
		runtime.GC()
	}
	time.Sleep(100 * time.Millisecond)
	if n := opik.CleanupsRun() - before; n != 0 {
		t.Fatalf("%d cleanups ran for closed objects", n)
	}

	// Forgotten objects are freed by the safety net.
	func() {
		c, err := opik.NewClient(opik.WithURL(direct.url), opik.WithAPIKey(apiKey), opik.WithWorkspace(workspace))
		if err != nil {
			t.Fatal(err)
		}
		a, err := opik.AttachmentFromBytes([]byte("forgotten"), "forgotten.txt", "")
		if err != nil {
			t.Fatal(err)
		}
		op, err := c.UploadAsync("go-close", opik.EntityTrace, newID(), a)
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Wait(bg); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for opik.CleanupsRun()-before < 3 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if n := opik.CleanupsRun() - before; n != 3 {
		t.Errorf("%d cleanups ran for 3 forgotten objects (client, attachment, op)", n)
	}
}
