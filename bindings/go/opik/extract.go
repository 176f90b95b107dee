package opik

/*
#include <opik_attachments.h>
*/
import "C"

import (
	"runtime"
	"sync"
)

// Extraction is what ExtractEmbedded found: the rewritten JSON and the attachments taken out of
// it. It is immutable and safe for concurrent use. Close it once the uploads of its attachments
// were accepted (a cleanup frees a forgotten one when it and all its attachments are garbage
// collected); afterwards its attachments are closed.
type Extraction struct {
	mu      sync.Mutex
	ptr     *C.opik_extraction
	cleanup runtime.Cleanup

	json        string
	attachments []*Attachment
}

// ExtractEmbedded moves the base64 media in the string values of json (optionally "data:<mime>;
// base64," URIs) of at least minChars characters whose bytes are a known type (PNG, JPEG, GIF,
// WebP, PDF, SVG, MP4, JSON) into attachments named "<context>-attachment-<n>-<unix-ms>-sdk.<ext>",
// leaving "[<that name>]" in their place, as the Opik SDKs do. context is "input", "output" or
// "metadata"; 256000 is the SDKs' minChars. Text that is not JSON gives ErrInvalidArgument naming
// the line and column.
func ExtractEmbedded(json, context string, minChars int) (*Extraction, error) {
	if minChars < 0 {
		return nil, statusError(StatusInvalidArgument, "minChars is negative")
	}
	var cs cstrings
	defer cs.free()
	text, err := cs.str(json, "json")
	if err != nil {
		return nil, err
	}
	ctx, err := cs.str(context, "context")
	if err != nil {
		return nil, err
	}
	var out *C.opik_extraction
	var cerr *C.opik_error
	if status := C.opik_extract_embedded(text, ctx, C.size_t(minChars), &out, &cerr); status != C.OPIK_OK {
		return nil, takeError(status, cerr)
	}
	x := &Extraction{ptr: out, json: C.GoString(C.opik_extraction_json(out))}
	n := int(C.opik_extraction_len(out))
	x.attachments = make([]*Attachment, 0, n)
	for i := 0; i < n; i++ {
		p := C.opik_extraction_attachment(out, C.size_t(i))
		// Borrowed: the C functions take a const attachment; the pointer is never freed here.
		ap := (*C.opik_attachment)(p)
		x.attachments = append(x.attachments, &Attachment{
			ptr:         ap,
			fileName:    C.GoString(C.opik_attachment_file_name(ap)),
			contentType: C.GoString(C.opik_attachment_content_type(ap)),
			size:        int64(C.opik_attachment_size(ap)),
			owner:       x,
		})
	}
	x.cleanup = runtime.AddCleanup(x, func(p *C.opik_extraction) {
		C.opik_extraction_free(p)
		cleanupsRun.Add(1)
	}, out)
	return x, nil
}

// JSON is the rewritten JSON (json unchanged when nothing was found).
func (x *Extraction) JSON() string { return x.json }

// Attachments are the attachments taken out, in the order of their placeholders. They may be
// passed to Upload, UploadAsync, Trace.Attach and Span.Attach until the extraction is closed;
// their own Close does nothing.
func (x *Extraction) Attachments() []*Attachment {
	return append([]*Attachment(nil), x.attachments...)
}

// Close frees the extraction and closes its attachments: uploads already accepted are
// unaffected, later ones fail with ErrInvalidArgument. Calling it again, or on nil, does nothing.
// The error is always nil.
func (x *Extraction) Close() error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ptr == nil {
		return nil
	}
	// Wait for every C call using an attachment to return, and stop later ones.
	for _, a := range x.attachments {
		a.mu.Lock()
		a.ptr = nil
		a.mu.Unlock()
	}
	x.cleanup.Stop()
	C.opik_extraction_free(x.ptr)
	x.ptr = nil
	return nil
}
