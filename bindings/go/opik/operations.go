package opik

/*
#include <opik_attachments.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"io"
)

// The blocking operations. Each runs the C call on the calling goroutine (which keeps its OS
// thread meanwhile) and returns when it is done. project "" means the client's project
// (WithProjectName, OPIK_PROJECT_NAME, else "Default Project"); entityID is the trace or span id,
// a UUID.
//
// Contexts: a C call cannot be interrupted half-way, so List, DownloadToFile and Delete only
// check ctx before they start (the client's timeout bounds how long the server may stay silent).
// Download checks it again before handing each chunk to the writer and stops the download when it
// is done; Upload is built on the background queue and cancels the upload when ctx is done.

// AttachmentInfo describes one attachment as the server listed it.
type AttachmentInfo struct {
	FileName string
	MimeType string // "" when the server gave none
	FileSize int64
	// Link is a download link: a presigned storage URL valid for a limited time, or a backend
	// URL that needs the Opik headers. "" when the server gave none.
	Link string
}

// target holds the C strings of an operation's project and entity id.
func target(cs *cstrings, project, entityID string) (proj, id *C.char, err error) {
	if proj, err = cs.optional(project, "project"); err != nil {
		return nil, nil, err
	}
	if id, err = cs.str(entityID, "entityID"); err != nil {
		return nil, nil, err
	}
	return proj, id, nil
}

// wanted converts the arguments that name one attachment to download.
func wanted(cs *cstrings, project, entityID, fileName, mimeType string) (proj, id, name, mime *C.char, err error) {
	if proj, id, err = target(cs, project, entityID); err != nil {
		return nil, nil, nil, nil, err
	}
	if name, err = cs.str(fileName, "fileName"); err != nil {
		return nil, nil, nil, nil, err
	}
	if mime, err = cs.optional(mimeType, "mimeType"); err != nil {
		return nil, nil, nil, nil, err
	}
	return proj, id, name, mime, nil
}

// Upload uploads att to the trace or span entityID and returns once the server has all of it
// (the project is created if needed). The flow follows the server: one streamed PUT to the
// backend, or parts in parallel to presigned storage URLs; transient failures are retried.
//
// Upload runs through the client's background queue (UploadAsync) and waits, so that ctx can
// cancel it: when ctx is done the upload is cancelled and Upload returns ctx.Err() (or nil if
// the upload completed first). It therefore obeys the queue: at most 4 files upload at once
// per client (the others wait their turn), WithQueueLimits applies (ErrTooLarge when full), and
// with WithOutboxDir the upload is recorded durably and, while the server is unreachable,
// retried until ctx is done.
func (c *Client) Upload(ctx context.Context, project string, typ EntityType, entityID string, att *Attachment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op, err := c.UploadAsync(project, typ, entityID, att)
	if err != nil {
		return err
	}
	defer op.Close()
	select {
	case <-op.state.done:
		return op.state.err
	case <-ctx.Done():
		op.Cancel()
		<-op.state.done // cancelling is prompt; afterwards nothing of the upload runs
		if op.state.err == nil {
			return nil
		}
		return ctx.Err()
	}
}

// List returns every attachment of the trace or span (all pages). An unknown project gives
// ErrNotFound.
func (c *Client) List(ctx context.Context, project string, typ EntityType, entityID string) ([]AttachmentInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cs cstrings
	defer cs.free()
	proj, id, err := target(&cs, project, entityID)
	if err != nil {
		return nil, err
	}
	p, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.release()
	var list *C.opik_attachment_list
	var cerr *C.opik_error
	if status := C.opik_list(p, proj, C.opik_entity_type(typ), id, &list, &cerr); status != C.OPIK_OK {
		return nil, takeError(status, cerr)
	}
	defer C.opik_attachment_list_free(list)
	n := int(C.opik_attachment_list_len(list))
	infos := make([]AttachmentInfo, n)
	for i := range infos {
		ci := C.size_t(i)
		infos[i] = AttachmentInfo{
			FileName: C.GoString(C.opik_attachment_list_file_name(list, ci)),
			MimeType: C.GoString(C.opik_attachment_list_mime_type(list, ci)),
			FileSize: int64(C.opik_attachment_list_file_size(list, ci)),
			Link:     C.GoString(C.opik_attachment_list_link(list, ci)), // NULL gives ""
		}
	}
	return infos, nil
}

// Download streams the attachment named fileName (and of MIME type mimeType, unless "") into w,
// on the calling goroutine, in chunks of unspecified size. Unknown attachment: ErrNotFound.
//
// When w returns an error (or writes short: io.ErrShortWrite) the download stops and Download
// returns an *Error with Status StatusAbortedByCallback that wraps it, so errors.Is(err,
// writerErr) works. When ctx is done the download stops before the next chunk and Download
// returns ctx.Err() (a server that sends nothing is bounded by the client's timeout, not by
// ctx). A panic in w stops the download and is re-raised on the calling goroutine once the
// library returned. A failure after some bytes were written is reported, never retried, so w
// never sees a byte twice. w must not retain the chunks, call runtime.Goexit (t.FailNow), or
// close this client.
func (c *Client) Download(ctx context.Context, project string, typ EntityType, entityID, fileName, mimeType string, w io.Writer) error {
	if w == nil {
		return statusError(StatusInvalidArgument, "nil io.Writer")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var cs cstrings
	defer cs.free()
	proj, id, name, mime, err := wanted(&cs, project, entityID, fileName, mimeType)
	if err != nil {
		return err
	}
	p, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.release()

	st := &downloadState{ctx: ctx, done: ctx.Done(), w: w}
	h := newHandle(st)
	var cerr *C.opik_error
	status := C.opikgo_download(p, proj, C.opik_entity_type(typ), id, name, mime, C.uintptr_t(h), &cerr)
	deleteHandle(h)
	err = takeError(status, cerr)
	switch {
	case st.panicked:
		panic(st.panicValue)
	case err == nil:
		return nil
	case st.ctxErr != nil:
		return st.ctxErr
	case st.writeErr != nil:
		return &Error{Status: StatusAbortedByCallback, Message: "download stopped: the writer failed: " + st.writeErr.Error(), Err: st.writeErr}
	}
	return err
}

// DownloadToFile downloads the attachment into destPath: the bytes go to a temporary file in the
// same directory, renamed into place only when the whole body arrived, so an interrupted
// download never leaves a partial file there (an existing file is replaced only on success).
// ctx is checked before the download starts.
func (c *Client) DownloadToFile(ctx context.Context, project string, typ EntityType, entityID, fileName, mimeType, destPath string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var cs cstrings
	defer cs.free()
	proj, id, name, mime, err := wanted(&cs, project, entityID, fileName, mimeType)
	if err != nil {
		return err
	}
	dest, err := cs.str(destPath, "destPath")
	if err != nil {
		return err
	}
	p, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.release()
	var cerr *C.opik_error
	return takeError(C.opik_download_to_file(p, proj, C.opik_entity_type(typ), id, name, mime, dest, &cerr), cerr)
}

// Delete deletes the named attachments of the trace or span; names that do not exist are not
// an error. ctx is checked before the request starts.
func (c *Client) Delete(ctx context.Context, project string, typ EntityType, entityID string, fileNames ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var cs cstrings
	defer cs.free()
	proj, id, err := target(&cs, project, entityID)
	if err != nil {
		return err
	}
	// A Go array of C pointers: Go memory holding no Go pointers, used by C during the call.
	names := make([]*C.char, len(fileNames))
	for i, n := range fileNames {
		if names[i], err = cs.str(n, "fileNames"); err != nil {
			return err
		}
	}
	var namesPtr **C.char
	if len(names) > 0 {
		namesPtr = &names[0]
	}
	p, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.release()
	var cerr *C.opik_error
	return takeError(C.opik_delete(p, proj, C.opik_entity_type(typ), id, namesPtr, C.size_t(len(names)), &cerr), cerr)
}
