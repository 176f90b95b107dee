package opik_test

// The S3-mode subset: the test server hands out SigV4-presigned part and download URLs to its
// built-in S3 emulator, which verifies every signature, expiry, part size and ETag.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

// A multi-part upload from a file (three parts, two in flight), a background upload from bytes,
// list with presigned links, download into a hashing writer and to a file, delete.
func TestS3RoundTrip(t *testing.T) {
	c := newClient(t, s3, opik.WithUploadConcurrency(2))
	project, trace := "go-s3", newID()

	big := randomBytes(12<<20 + 12345) // 5 MiB + 5 MiB + the rest
	path := filepath.Join(t.TempDir(), "video.mp4")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := opik.AttachmentFromFile(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if err := c.Upload(bg, project, opik.EntityTrace, trace, file); err != nil {
		t.Fatalf("multi-part Upload: %v", err)
	}

	small := randomBytes(70 << 10)
	op, err := c.UploadAsync(project, opik.EntityTrace, trace, mustBytes(t, small, "thumb.webp", "image/webp"))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if err := op.Wait(bg); err != nil {
		t.Fatalf("UploadAsync: %v", err)
	}
	if sent, total := op.Progress(); sent != total || total != int64(len(small)) {
		t.Errorf("Progress = %d/%d", sent, total)
	}

	list, err := c.List(bg, project, opik.EntityTrace, trace)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %v %+v", err, list)
	}
	for _, info := range list {
		if !strings.Contains(info.Link, "X-Amz-Signature=") {
			t.Errorf("%s: link %q is not presigned", info.FileName, info.Link)
		}
		switch info.FileName {
		case "video.mp4":
			if info.FileSize != int64(len(big)) || info.MimeType != "video/mp4" {
				t.Errorf("entry %+v", info)
			}
		case "thumb.webp":
			if info.FileSize != int64(len(small)) || info.MimeType != "image/webp" {
				t.Errorf("entry %+v", info)
			}
		default:
			t.Errorf("unexpected entry %+v", info)
		}
	}
	if got := s3.stored(t, trace)["video.mp4"]; got.SHA256 != sha(big) {
		t.Errorf("server copy %+v", got)
	}

	// Streamed into a writer that hashes (never held whole).
	h := sha256.New()
	if err := c.Download(bg, project, opik.EntityTrace, trace, "video.mp4", "", h); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha(big) {
		t.Error("the streamed download differs")
	}
	dest := filepath.Join(t.TempDir(), "thumb.webp")
	if err := c.DownloadToFile(bg, project, opik.EntityTrace, trace, "thumb.webp", "image/webp", dest); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, small) {
		t.Error("DownloadToFile differs")
	}

	if err := c.Delete(bg, project, opik.EntityTrace, trace, "video.mp4", "thumb.webp"); err != nil {
		t.Fatal(err)
	}
	if list, err := c.List(bg, project, opik.EntityTrace, trace); err != nil || len(list) != 0 {
		t.Errorf("List after Delete: %v %+v", err, list)
	}
}

// Presigned URL failures surface through the Go error types: an expired part URL is recovered
// (fresh URLs), a tampered one is refused by storage with 403 SignatureDoesNotMatch.
func TestS3PresignedFailures(t *testing.T) {
	c := newClient(t, s3)
	id := newID()
	data := randomBytes(6 << 20) // two parts

	s3.fault(t, `{"path_contains": "upload-start", "expire_urls": true}`)
	if err := c.Upload(bg, "go-s3", opik.EntitySpan, id, mustBytes(t, data, "expired.bin", "")); err != nil {
		t.Fatalf("Upload with expired part URLs: %v", err)
	}
	if s3.stored(t, id)["expired.bin"].SHA256 != sha(data) {
		t.Error("the upload restarted after expired URLs differs")
	}

	s3.fault(t, `{"path_contains": "upload-start", "tamper_urls": true}`)
	err := c.Upload(bg, "go-s3", opik.EntitySpan, id, mustBytes(t, data, "tampered.bin", ""))
	var oe *opik.Error
	if !errors.As(err, &oe) || !errors.Is(err, opik.ErrHTTP) || oe.HTTPStatus != 403 || !strings.Contains(oe.Message, "SignatureDoesNotMatch") {
		t.Errorf("Upload with tampered URLs: %v", err)
	}
}

// Goroutines sharing one client in S3 mode.
func TestS3ConcurrentGoroutines(t *testing.T) {
	c := newClient(t, s3)
	span := newID()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randomBytes(256<<10 + i)
			name := fmt.Sprintf("s3-g%d.bin", i)
			a, err := opik.AttachmentFromBytes(data, name, "")
			if err != nil {
				t.Error(err)
				return
			}
			defer a.Close()
			if err := c.Upload(bg, "go-s3", opik.EntitySpan, span, a); err != nil {
				t.Errorf("Upload %s: %v", name, err)
				return
			}
			var buf bytes.Buffer
			if err := c.Download(bg, "go-s3", opik.EntitySpan, span, name, "", &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
				t.Errorf("Download %s: %v", name, err)
			}
		}()
	}
	wg.Wait()
	if list, err := c.List(bg, "go-s3", opik.EntitySpan, span); err != nil || len(list) != 8 {
		t.Errorf("List: %v, %d entries", err, len(list))
	}
}
