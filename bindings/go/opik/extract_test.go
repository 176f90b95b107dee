package opik_test

// The embedded-media extractor: a data-URI PNG taken out of JSON into a borrowed attachment
// that uploads like an owned one, and what Close does to it.

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

var sdkPNGName = regexp.MustCompile(`^input-attachment-[0-9]+-[0-9]+-sdk\.png$`)

func TestExtractEmbedded(t *testing.T) {
	png := append([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, randomBytes(150)...)
	b64 := base64.StdEncoding.EncodeToString(png)
	if len(b64) < 100 {
		t.Fatalf("base64 of %d chars", len(b64))
	}
	json := `{"prompt": "what is this?", "image": "data:image/png;base64,` + b64 + `"}`

	x, err := opik.ExtractEmbedded(json, "input", 100)
	if err != nil {
		t.Fatalf("ExtractEmbedded: %v", err)
	}
	defer x.Close()
	atts := x.Attachments()
	if len(atts) != 1 {
		t.Fatalf("%d attachments, want 1", len(atts))
	}
	a := atts[0]
	if !sdkPNGName.MatchString(a.FileName()) || a.ContentType() != "image/png" || a.Size() != int64(len(png)) {
		t.Errorf("attachment %q %q %d", a.FileName(), a.ContentType(), a.Size())
	}
	if !strings.Contains(x.JSON(), `"[`+a.FileName()+`]"`) || strings.Contains(x.JSON(), b64[:40]) ||
		!strings.Contains(x.JSON(), "what is this?") {
		t.Errorf("rewritten JSON: %s", x.JSON())
	}
	if err := a.Close(); err != nil { // a no-op on a borrowed attachment
		t.Fatal(err)
	}

	// Shorter than minChars: nothing taken, the JSON unchanged.
	kept, err := opik.ExtractEmbedded(json, "input", len(b64)+1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.Attachments()) != 0 || kept.JSON() != json {
		t.Errorf("kept: %d attachments, JSON %q", len(kept.Attachments()), kept.JSON())
	}
	kept.Close()

	// Not JSON, a negative minChars: ErrInvalidArgument.
	if _, err := opik.ExtractEmbedded(`{"a": `, "input", 100); !errors.Is(err, opik.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "line") {
		t.Errorf("not JSON: %v", err)
	}
	if _, err := opik.ExtractEmbedded(json, "input", -1); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("negative minChars: %v", err)
	}

	// The borrowed attachment uploads with Upload and UploadAsync.
	c := newClient(t, direct)
	project := "go-extract"
	trace, span := newID(), newID()
	if err := c.Upload(context.Background(), project, opik.EntityTrace, trace, a); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	op, err := c.UploadAsync(project, opik.EntitySpan, span, a)
	if err != nil {
		t.Fatalf("UploadAsync: %v", err)
	}
	if err := op.Wait(context.Background()); err != nil {
		t.Fatalf("UploadAsync: %v", err)
	}
	op.Close()
	for _, id := range []string{trace, span} {
		got, ok := direct.stored(t, id)[a.FileName()]
		if !ok || got.FileSize != int64(len(png)) || got.SHA256 != sha(png) {
			t.Errorf("stored for %s: %+v (present %v)", id, got, ok)
		}
	}

	// After Close the attachment is closed: uploads fail, nothing crashes.
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x.Close() // again: a no-op
	if err := c.Upload(context.Background(), project, opik.EntityTrace, newID(), a); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("upload after Close: %v", err)
	}
}
