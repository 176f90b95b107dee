package opik

/*
#include <opik_attachments.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Attachment is something to upload: a file (streamed at upload time, never loaded whole) or
// bytes held by the library. It is immutable and may be uploaded any number of times, from any
// number of goroutines at once. Close it when done (a cleanup frees a forgotten one when it is
// garbage collected); uploads already accepted keep what they need.
type Attachment struct {
	// mu is held for reading while a C call uses ptr and for writing by Close.
	mu      sync.RWMutex
	ptr     *C.opik_attachment
	cleanup runtime.Cleanup

	fileName    string
	contentType string
	size        int64

	// owner is the extraction a borrowed attachment belongs to (nil for an owned one): it keeps
	// the extraction reachable, and its Close invalidates ptr.
	owner *Extraction
}

// AttachmentFromFile makes an attachment of a local file. It checks now that path is a readable
// regular file and records its size (ErrIO otherwise); the content is read when uploaded.
// fileName "" means the path's base name; contentType "" means inferred from the name's
// extension, then the file's first bytes, then "application/octet-stream".
func AttachmentFromFile(path, fileName, contentType string) (*Attachment, error) {
	var cs cstrings
	defer cs.free()
	p, err := cs.str(path, "path")
	if err != nil {
		return nil, err
	}
	name, err := cs.optional(fileName, "fileName")
	if err != nil {
		return nil, err
	}
	ct, err := cs.optional(contentType, "contentType")
	if err != nil {
		return nil, err
	}
	var out *C.opik_attachment
	var cerr *C.opik_error
	if status := C.opik_attachment_from_file(p, name, ct, &out, &cerr); status != C.OPIK_OK {
		return nil, takeError(status, cerr)
	}
	return newAttachment(out), nil
}

// AttachmentFromBytes makes an attachment of a copy of data (which may be empty). fileName is
// required; contentType "" means inferred as for files.
func AttachmentFromBytes(data []byte, fileName, contentType string) (*Attachment, error) {
	var cs cstrings
	defer cs.free()
	name, err := cs.str(fileName, "fileName")
	if err != nil {
		return nil, err
	}
	ct, err := cs.optional(contentType, "contentType")
	if err != nil {
		return nil, err
	}
	var ptr *C.uint8_t
	if len(data) > 0 {
		// A Go pointer to memory without Go pointers, used by C only during the call (it copies).
		ptr = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	var out *C.opik_attachment
	var cerr *C.opik_error
	if status := C.opik_attachment_from_bytes(ptr, C.size_t(len(data)), name, ct, &out, &cerr); status != C.OPIK_OK {
		return nil, takeError(status, cerr)
	}
	runtime.KeepAlive(data)
	return newAttachment(out), nil
}

// AttachmentFromBase64 makes an attachment of base64 text: the standard or URL-safe alphabet,
// padding optional, line breaks ignored, optionally a "data:<mime>;base64," URI (whose MIME type
// is used when contentType is ""). Malformed base64 gives ErrInvalidArgument. fileName is
// required.
func AttachmentFromBase64(b64, fileName, contentType string) (*Attachment, error) {
	var cs cstrings
	defer cs.free()
	text, err := cs.str(b64, "base64")
	if err != nil {
		return nil, err
	}
	name, err := cs.str(fileName, "fileName")
	if err != nil {
		return nil, err
	}
	ct, err := cs.optional(contentType, "contentType")
	if err != nil {
		return nil, err
	}
	var out *C.opik_attachment
	var cerr *C.opik_error
	if status := C.opik_attachment_from_base64(text, name, ct, &out, &cerr); status != C.OPIK_OK {
		return nil, takeError(status, cerr)
	}
	return newAttachment(out), nil
}

func newAttachment(ptr *C.opik_attachment) *Attachment {
	a := &Attachment{
		ptr:         ptr,
		fileName:    C.GoString(C.opik_attachment_file_name(ptr)),
		contentType: C.GoString(C.opik_attachment_content_type(ptr)),
		size:        int64(C.opik_attachment_size(ptr)),
	}
	a.cleanup = runtime.AddCleanup(a, func(p *C.opik_attachment) {
		C.opik_attachment_free(p)
		cleanupsRun.Add(1)
	}, ptr)
	return a
}

// FileName is the name the attachment is uploaded under.
func (a *Attachment) FileName() string { return a.fileName }

// ContentType is the attachment's MIME type.
func (a *Attachment) ContentType() string { return a.contentType }

// Size is the size in bytes recorded when the attachment was made (a file is measured again
// when an upload starts).
func (a *Attachment) Size() int64 { return a.size }

// Close frees the attachment. Uploads already accepted are unaffected; later ones fail with
// ErrInvalidArgument. Calling it again, or on nil, does nothing. The error is always nil. On an
// attachment of an Extraction it does nothing: it lives as long as its extraction.
func (a *Attachment) Close() error {
	if a == nil || a.owner != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr != nil {
		a.cleanup.Stop()
		C.opik_attachment_free(a.ptr)
		a.ptr = nil
	}
	return nil
}

// acquire returns the C attachment for one call; release must follow.
func (a *Attachment) acquire() (*C.opik_attachment, error) {
	if a == nil {
		return nil, statusError(StatusInvalidArgument, "nil *opik.Attachment")
	}
	a.mu.RLock()
	if a.ptr == nil {
		a.mu.RUnlock()
		return nil, statusError(StatusInvalidArgument, "the attachment is closed")
	}
	return a.ptr, nil
}

func (a *Attachment) release() {
	a.mu.RUnlock()
	runtime.KeepAlive(a)
}
