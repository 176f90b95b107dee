// Quickstart in Go: attach a file to an Opik trace (blocking upload) and bytes to a span (in the
// background), list the trace's attachments, download the file back into a file and into memory,
// check every byte, and clean up.
//
// Configuration comes from the environment like in the Opik SDKs: OPIK_URL_OVERRIDE (e.g.
// http://localhost:5173/api/), OPIK_API_KEY, OPIK_WORKSPACE. From the repository root,
// `scripts/with-test-server sh -c 'cd examples/go && go run .'` runs it against the bundled test
// server.
//
// Build against this repository's library (cargo build first):   go build .
// Build against an installed copy (make install PREFIX=<prefix>):
//
//	PKG_CONFIG_PATH=<prefix>/lib/pkgconfig go build -tags opik_pkgconfig .
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "go quickstart:", err)
		os.Exit(1)
	}
	fmt.Println("go quickstart: uploaded, listed, downloaded and verified")
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 1. A client. No options: everything from the environment and ~/.opik.config.
	client, err := opik.NewClient()
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer client.Close()
	fmt.Println("opik-attachments", opik.Version())

	// Trace and span ids come from your tracing code; fresh UUIDs here.
	const project = "go-quickstart"
	traceID, spanID := newUUID(), newUUID()

	// 2. A file on disk: streamed when uploaded, never loaded whole.
	dir, err := os.MkdirTemp("", "opik-go-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	report := []byte("# Run report\n\nAll good.\n")
	reportPath := filepath.Join(dir, "report.md")
	if err := os.WriteFile(reportPath, report, 0o644); err != nil {
		return err
	}
	file, err := opik.AttachmentFromFile(reportPath, "", "")
	if err != nil {
		return fmt.Errorf("attachment from file: %w", err)
	}
	defer file.Close()
	fmt.Printf("attachment: %s (%s, %d bytes)\n", file.FileName(), file.ContentType(), file.Size())

	// 3. Upload it to the trace and wait (ctx can cancel it).
	if err := client.Upload(ctx, project, opik.EntityTrace, traceID, file); err != nil {
		return fmt.Errorf("upload: %w", err)
	}

	// 4. Bytes to the span, in the background: UploadAsync returns at once.
	metrics := []byte(`{"score": 0.97}`)
	att, err := opik.AttachmentFromBytes(metrics, "metrics.json", "")
	if err != nil {
		return err
	}
	op, err := client.UploadAsync(project, opik.EntitySpan, spanID, att)
	att.Close() // the queue keeps what it needs
	if err != nil {
		return fmt.Errorf("upload async: %w", err)
	}
	defer op.Close()
	if err := client.Flush(ctx); err != nil { // before exit: wait for every background upload
		return fmt.Errorf("flush: %w", err)
	}
	if err := op.Wait(ctx); err != nil {
		return fmt.Errorf("background upload: %w", err)
	}

	// 5. List the trace's attachments.
	list, err := client.List(ctx, project, opik.EntityTrace, traceID)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	for _, a := range list {
		fmt.Printf("trace attachment: %s, %d bytes, %s\n", a.FileName, a.FileSize, a.MimeType)
	}
	if len(list) != 1 || list[0].FileName != "report.md" || list[0].FileSize != int64(len(report)) {
		return fmt.Errorf("listed %+v, want report.md of %d bytes", list, len(report))
	}

	// 6. Download the file back into a file (atomically) and the JSON into memory; verify.
	copyPath := filepath.Join(dir, "report-copy.md")
	if err := client.DownloadToFile(ctx, project, opik.EntityTrace, traceID, "report.md", "", copyPath); err != nil {
		return fmt.Errorf("download to file: %w", err)
	}
	got, err := os.ReadFile(copyPath)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, report) {
		return fmt.Errorf("downloaded %q, want %q", got, report)
	}
	var buf bytes.Buffer
	if err := client.Download(ctx, project, opik.EntitySpan, spanID, "metrics.json", "", &buf); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if !bytes.Equal(buf.Bytes(), metrics) {
		return fmt.Errorf("downloaded %q, want %q", buf.Bytes(), metrics)
	}
	fmt.Println("verified: report.md and metrics.json are byte for byte what was uploaded")

	// 7. Errors carry the status: test them with errors.Is.
	err = client.Download(ctx, project, opik.EntityTrace, traceID, "no-such-file.txt", "", &buf)
	if !errors.Is(err, opik.ErrNotFound) {
		return fmt.Errorf("download of a missing attachment: %v, want ErrNotFound", err)
	}

	// 8. Clean up.
	if err := client.Delete(ctx, project, opik.EntityTrace, traceID, "report.md"); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return client.Delete(ctx, project, opik.EntitySpan, spanID, "metrics.json")
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
