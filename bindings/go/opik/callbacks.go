package opik

// The Go side of the callbacks. C never holds a Go pointer: each callback's Go state is
// registered as a runtime/cgo.Handle, an integer, which the C shim (shim.c) passes as
// user_data; the trampolines below look the state up by that integer. A download's handle is
// deleted when opik_download returns; a background upload's handle by opikgoFree, which the
// library calls exactly once after on_done.

/*
#include <stdint.h>
#include <opik_attachments.h>
*/
import "C"

import (
	"context"
	"io"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// liveHandles counts handles registered and not yet deleted (read by the tests).
var liveHandles atomic.Int64

func newHandle(v any) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

func deleteHandle(h cgo.Handle) {
	h.Delete()
	liveHandles.Add(-1)
}

// downloadState is the Go side of one opik_download: the writer and what stopped it.
type downloadState struct {
	ctx  context.Context
	done <-chan struct{} // ctx.Done(); nil when ctx can never be cancelled
	w    io.Writer

	ctxErr     error // the context ended: the download was stopped
	writeErr   error // the writer failed: the download was stopped
	panicked   bool  // the writer panicked: re-panicked once opik_download returned
	panicValue any
}

// write hands one chunk to the writer. Non-zero stops the download.
func (d *downloadState) write(chunk *C.uint8_t, n C.size_t) (rc C.int32_t) {
	// A panic must not unwind through the library's frames: keep it, stop the download, and
	// re-panic on the caller's side.
	defer func() {
		if r := recover(); r != nil {
			d.panicked, d.panicValue, rc = true, r, 1
		}
	}()
	if d.done != nil {
		select {
		case <-d.done:
			d.ctxErr = d.ctx.Err()
			return 1
		default:
		}
	}
	if n == 0 {
		return 0
	}
	// The chunk is borrowed for this call only; io.Writer implementations must not retain it.
	p := unsafe.Slice((*byte)(unsafe.Pointer(chunk)), int(n))
	written, err := d.w.Write(p)
	if err == nil && written < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		d.writeErr = err
		return 1
	}
	return 0
}

//export opikgoWrite
func opikgoWrite(handle C.uintptr_t, chunk *C.uint8_t, n C.size_t) C.int32_t {
	return cgo.Handle(handle).Value().(*downloadState).write(chunk, n)
}

// opState is the Go side of one background upload: its result, published by closing done.
type opState struct {
	done chan struct{}
	err  error // written once, before done is closed
}

//export opikgoDone
func opikgoDone(handle C.uintptr_t, status C.opik_status, err *C.opik_error) {
	st := cgo.Handle(handle).Value().(*opState)
	st.err = copyError(status, err) // err is borrowed for this call: copied, not freed
	close(st.done)
}

//export opikgoFree
func opikgoFree(handle C.uintptr_t) {
	deleteHandle(cgo.Handle(handle))
}

// logState is the Go side of a log callback: the function and the level it was set for.
type logState struct {
	maxLevel LogLevel
	fn       func(LogLevel, string)
}

//export opikgoLog
func opikgoLog(handle C.uintptr_t, level C.opik_log_level, message *C.char) {
	st := cgo.Handle(handle).Value().(*logState)
	// A panic must not unwind through the library's thread: the line is dropped instead.
	defer func() { _ = recover() }()
	st.fn(LogLevel(level), C.GoString(message)) // borrowed for the call: copied
}
