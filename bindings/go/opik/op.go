package opik

/*
#include <opik_attachments.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
)

// UploadAsync queues an upload of att and returns at once: on the calling goroutine it only
// validates the arguments, checks the queue limits (ErrTooLarge when full) and starts the work
// (with an outbox, it also writes the durable record); no network I/O, no file reads. att may be
// closed right after. The returned Op reports the result; its upload runs whether or not anyone
// waits for it, and Client.Flush waits for all of them.
func (c *Client) UploadAsync(project string, typ EntityType, entityID string, att *Attachment) (*Op, error) {
	var cs cstrings
	defer cs.free()
	proj, id, err := target(&cs, project, entityID)
	if err != nil {
		return nil, err
	}
	a, err := att.acquire()
	if err != nil {
		return nil, err
	}
	defer att.release()
	p, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.release()

	st := &opState{done: make(chan struct{})}
	h := newHandle(st)
	var op *C.opik_op
	var cerr *C.opik_error
	if status := C.opikgo_upload_async(p, proj, C.opik_entity_type(typ), id, a, C.uintptr_t(h), &op, &cerr); status != C.OPIK_OK {
		deleteHandle(h) // not accepted: neither callback runs, the handle is still ours
		return nil, takeError(status, cerr)
	}
	o := &Op{ptr: op, state: st}
	o.cleanup = runtime.AddCleanup(o, func(p *C.opik_op) {
		C.opik_op_free(p)
		cleanupsRun.Add(1)
	}, op)
	return o, nil
}

// Op is a background upload made by UploadAsync. Its methods are safe for concurrent use.
// Close releases the handle (a cleanup does it for a forgotten Op); the upload itself goes on
// until it finishes or is cancelled.
type Op struct {
	state *opState

	mu        sync.Mutex // guards ptr and the progress kept at Close
	ptr       *C.opik_op
	sent, tot int64
	cleanup   runtime.Cleanup
}

// Done returns a channel closed when the upload has finished (success, failure, cancel or
// client shutdown).
func (o *Op) Done() <-chan struct{} { return o.state.done }

// Wait blocks until the upload finished and returns its result: nil on success, else an *Error
// (ErrCancelled after Cancel, ErrShutdown when the client closed first...). When ctx is done
// first it returns ctx.Err() and the upload goes on: call Cancel to stop it.
func (o *Op) Wait(ctx context.Context) error {
	select {
	case <-o.state.done:
		return o.state.err
	default:
	}
	select {
	case <-o.state.done:
		return o.state.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status never blocks: finished is false while the upload runs; once it is true, err is the
// result (nil on success).
func (o *Op) Status() (finished bool, err error) {
	select {
	case <-o.state.done:
		return true, o.state.err
	default:
		return false, nil
	}
}

// Progress returns the bytes handed to the network so far and the total size. A retried part
// counts again from its start, so sent may go down. After Close it returns the values at Close.
func (o *Op) Progress() (sent, total int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.readProgress()
	return o.sent, o.tot
}

func (o *Op) readProgress() {
	if o.ptr == nil {
		return
	}
	var s, t C.uint64_t
	if C.opik_op_progress(o.ptr, &s, &t, nil) == C.OPIK_OK {
		o.sent, o.tot = int64(s), int64(t)
	}
	runtime.KeepAlive(o)
}

// Cancel asks the upload to stop: a running upload finishes with ErrCancelled, a finished one is
// unaffected. Idempotent; a no-op after Close.
func (o *Op) Cancel() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ptr != nil {
		C.opik_op_cancel(o.ptr)
	}
	runtime.KeepAlive(o)
}

// Close releases the handle. Before the upload finished this detaches it: the upload goes on,
// and Done, Wait and Status still report it, but Cancel no longer reaches it. Calling it again
// does nothing. The error is always nil.
func (o *Op) Close() error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ptr != nil {
		o.readProgress()
		o.cleanup.Stop()
		C.opik_op_free(o.ptr)
		o.ptr = nil
	}
	return nil
}
