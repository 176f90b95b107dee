package opik

/*
#include <stdlib.h>
#include <opik_attachments.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"math"
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Version returns the version of the loaded C library, e.g. "0.2.0".
func Version() string { return C.GoString(C.opik_version()) }

// EntityType says what an attachment belongs to.
type EntityType int32

const (
	// EntityTrace is a trace.
	EntityTrace EntityType = C.OPIK_ENTITY_TRACE
	// EntitySpan is a span.
	EntitySpan EntityType = C.OPIK_ENTITY_SPAN
)

// String returns "trace", "span", or the number.
func (t EntityType) String() string {
	switch t {
	case EntityTrace:
		return "trace"
	case EntitySpan:
		return "span"
	}
	return "EntityType(" + strconv.Itoa(int(t)) + ")"
}

// An Option configures NewClient. Options set here win over the environment (OPIK_URL_OVERRIDE,
// OPIK_API_KEY, OPIK_WORKSPACE, OPIK_PROJECT_NAME), which wins over ~/.opik.config (or the file
// named by OPIK_CONFIG_PATH), which wins over the defaults.
type Option func(*clientOptions)

// A setter applies one option to the C options. The C setter writes its reason to *cerr when it
// refuses the value; the Go error is for values this binding cannot hand to C at all.
type setter func(o *C.opik_options, cs *cstrings, cerr **C.opik_error) (C.opik_status, error)

type clientOptions struct {
	setters []setter
	log     *logState // WithLogCallback's, if any (the last one wins)
}

func (co *clientOptions) add(set setter) { co.setters = append(co.setters, set) }

func stringOption(name string, value string, set func(*C.opik_options, *C.char, **C.opik_error) C.opik_status) Option {
	return func(co *clientOptions) {
		co.add(func(o *C.opik_options, cs *cstrings, cerr **C.opik_error) (C.opik_status, error) {
			s, err := cs.str(value, name)
			if err != nil {
				return 0, err
			}
			return set(o, s, cerr), nil
		})
	}
}

// WithURL sets the Opik API base URL, e.g. "http://localhost:5173/api/" or
// "https://www.comet.com/opik/api/" (http and https only). With no URL anywhere, NewClient fails
// with ErrConfig: the library never silently talks to a cloud service.
func WithURL(url string) Option {
	return stringOption("WithURL", url, func(o *C.opik_options, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_options_set_url(o, s, e)
	})
}

// WithAPIKey sets the API key (sent only to the Opik backend, never to presigned storage URLs).
func WithAPIKey(key string) Option {
	return stringOption("WithAPIKey", key, func(o *C.opik_options, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_options_set_api_key(o, s, e)
	})
}

// WithWorkspace sets the workspace (default "default").
func WithWorkspace(workspace string) Option {
	return stringOption("WithWorkspace", workspace, func(o *C.opik_options, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_options_set_workspace(o, s, e)
	})
}

// WithProjectName sets the project used when an operation's project is "" (default
// "Default Project").
func WithProjectName(project string) Option {
	return stringOption("WithProjectName", project, func(o *C.opik_options, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_options_set_project_name(o, s, e)
	})
}

// WithCAFile adds the CA certificates of a PEM file (a self-hosted Opik with a private CA).
func WithCAFile(pemPath string) Option {
	return stringOption("WithCAFile", pemPath, func(o *C.opik_options, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_options_set_ca_file(o, s, e)
	})
}

// WithOutboxDir turns on the durable outbox in dir (created if needed; one client at a time):
// every background upload (UploadAsync, and Upload, which is built on it) is recorded there
// before it is accepted and removed once the server confirmed it, so a new client on the same
// directory resumes what a killed process left. While the server is unreachable, uploads wait
// and retry (until cancelled).
func WithOutboxDir(dir string) Option {
	return stringOption("WithOutboxDir", dir, func(o *C.opik_options, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_options_set_outbox_dir(o, s, e)
	})
}

// WithTimeout sets the limit for connecting and for each wait on the server (silence, not total
// time; default 60 s). It must be positive; it is rounded up to whole milliseconds.
func WithTimeout(d time.Duration) Option {
	return func(co *clientOptions) {
		co.add(func(o *C.opik_options, _ *cstrings, e **C.opik_error) (C.opik_status, error) {
			ms, err := millis(d, "WithTimeout")
			if err != nil {
				return 0, err
			}
			return C.opik_options_set_timeout_ms(o, ms, e), nil
		})
	}
}

// WithShutdownTimeout sets how long Close lets background uploads finish before cancelling the
// rest with ErrShutdown (default 5 s; 0 cancels at once).
func WithShutdownTimeout(d time.Duration) Option {
	return func(co *clientOptions) {
		co.add(func(o *C.opik_options, _ *cstrings, e **C.opik_error) (C.opik_status, error) {
			ms, err := millis(d, "WithShutdownTimeout")
			if err != nil {
				return 0, err
			}
			return C.opik_options_set_shutdown_timeout_ms(o, ms, e), nil
		})
	}
}

// WithUploadConcurrency sets how many parts of one multi-part (S3) upload are sent at once
// (1 to 64, default 4).
func WithUploadConcurrency(partsInFlight int) Option {
	return func(co *clientOptions) {
		co.add(func(o *C.opik_options, _ *cstrings, e **C.opik_error) (C.opik_status, error) {
			n, err := uint32Arg(int64(partsInFlight), "WithUploadConcurrency")
			if err != nil {
				return 0, err
			}
			return C.opik_options_set_upload_concurrency(o, n, e), nil
		})
	}
}

// WithTLSVerify turns TLS certificate verification off (false) or on (true, the default). Off
// makes every connection open to interception: for local testing only.
func WithTLSVerify(verify bool) Option {
	return func(co *clientOptions) {
		co.add(func(o *C.opik_options, _ *cstrings, e **C.opik_error) (C.opik_status, error) {
			return C.opik_options_set_tls_verify(o, C.bool(verify), e), nil
		})
	}
}

// WithQueueLimits sets the back-pressure of background uploads: at most maxQueued uploads not yet
// completed (default 10,000) holding at most maxMemoryBytes of attachments made from bytes or
// base64 (default 256 MiB; files count 0). Past either, UploadAsync and Upload fail at once with
// ErrTooLarge. Both must be positive.
func WithQueueLimits(maxQueued int, maxMemoryBytes int64) Option {
	return func(co *clientOptions) {
		co.add(func(o *C.opik_options, _ *cstrings, e **C.opik_error) (C.opik_status, error) {
			n, err := uint32Arg(int64(maxQueued), "WithQueueLimits: maxQueued")
			if err != nil {
				return 0, err
			}
			if maxMemoryBytes < 0 {
				return 0, statusError(StatusInvalidArgument, "WithQueueLimits: maxMemoryBytes is negative ("+strconv.FormatInt(maxMemoryBytes, 10)+")")
			}
			return C.opik_options_set_queue_limits(o, n, C.uint64_t(maxMemoryBytes), e), nil
		})
	}
}

// uint32Arg converts a count for C. Only what C cannot represent is refused here; the library
// checks the range and says why it refuses a value.
func uint32Arg(v int64, what string) (C.uint32_t, error) {
	if v < 0 || v > int64(^uint32(0)) {
		return 0, statusError(StatusInvalidArgument, what+": "+strconv.FormatInt(v, 10)+" is out of range")
	}
	return C.uint32_t(v), nil
}

// millis converts a duration to whole milliseconds, rounding up.
func millis(d time.Duration, what string) (C.uint64_t, error) {
	if d < 0 {
		return 0, statusError(StatusInvalidArgument, what+": negative duration")
	}
	return C.uint64_t((d + time.Millisecond - 1) / time.Millisecond), nil
}

// Client is a connection to one Opik installation, with its own worker threads and connection
// pool. It is safe for concurrent use by any number of goroutines; share one per process. Close
// it when done (a cleanup closes a forgotten client when it is garbage collected, but only
// Close says when the background uploads are finished or cancelled).
type Client struct {
	// mu guards ptr, inflight and closing; done is signalled when inflight drops to 0 while
	// closing, and when the close finished. Every C call on ptr runs between acquire and
	// release, so Close never frees the client while a call uses it.
	mu       sync.Mutex
	done     sync.Cond
	ptr      *C.opik_client
	inflight int
	closing  bool
	cleanup  runtime.Cleanup
	// logHandle is WithLogCallback's state (0: none), deleted once the C client is freed.
	logHandle cgo.Handle
}

// NewClient creates a client. Anything the options do not set comes from the environment, then
// the config file, then the defaults. Fails with ErrConfig when no URL is configured anywhere,
// the URL is not http(s), or the CA file cannot be read; with ErrInvalidArgument for a bad
// option value, whose message is the library's reason (e.g. the accepted range).
func NewClient(opts ...Option) (*Client, error) {
	var co clientOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&co)
		}
	}
	o := C.opik_options_new()
	if o == nil {
		return nil, statusError(StatusInternal, "opik_options_new: out of memory")
	}
	defer C.opik_options_free(o)
	var cs cstrings
	defer cs.free()
	var cerr *C.opik_error
	for _, set := range co.setters {
		status, err := set(o, &cs, &cerr)
		if err != nil {
			return nil, err
		}
		if status != C.OPIK_OK {
			return nil, takeError(status, cerr) // the library's reason, e.g. the accepted range
		}
	}
	// The log callback's state is registered as a handle that lives as long as the C client:
	// deleted after opik_client_free, which joins the threads that call it.
	var logHandle cgo.Handle
	if co.log != nil {
		logHandle = newHandle(co.log)
		if status := C.opikgo_options_set_log_callback(o, C.opik_log_level(co.log.maxLevel), C.uintptr_t(logHandle), &cerr); status != C.OPIK_OK {
			deleteHandle(logHandle)
			return nil, takeError(status, cerr)
		}
	}
	var ptr *C.opik_client
	if status := C.opik_client_new(o, &ptr, &cerr); status != C.OPIK_OK {
		if logHandle != 0 {
			deleteHandle(logHandle)
		}
		return nil, takeError(status, cerr)
	}
	c := &Client{ptr: ptr, logHandle: logHandle}
	c.done.L = &c.mu
	c.cleanup = runtime.AddCleanup(c, func(r clientResources) {
		// Freeing joins the client's threads and may wait for uploads: not on the cleanup goroutine.
		go func() {
			r.free()
			cleanupsRun.Add(1)
		}()
	}, clientResources{ptr, logHandle})
	return c, nil
}

// clientResources is what freeing a client releases: the C client, then the log handle.
type clientResources struct {
	ptr       *C.opik_client
	logHandle cgo.Handle
}

func (r clientResources) free() {
	C.opik_client_free(r.ptr)
	if r.logHandle != 0 {
		deleteHandle(r.logHandle)
	}
}

// cleanupsRun counts safety-net cleanups that freed a C object (read by the tests).
var cleanupsRun atomic.Int64

// Close stops intake, lets background uploads finish for the shutdown timeout
// (WithShutdownTimeout, default 5 s), cancels the rest (their operations end with ErrShutdown)
// and joins the client's threads. It first waits for the blocking calls running on other
// goroutines (Download, List, Flush, ...) to return, and calls that start meanwhile return
// ErrShutdown; so do not call Close from a Download's writer (it would wait for itself).
// Calling it again, or on a nil client, does nothing (a concurrent second call waits until the
// client is closed). The error is always nil: Close implements io.Closer.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if c.closing || c.ptr == nil {
		for c.ptr != nil {
			c.done.Wait()
		}
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	for c.inflight > 0 {
		c.done.Wait()
	}
	p := c.ptr
	c.mu.Unlock()

	c.cleanup.Stop()
	clientResources{p, c.logHandle}.free()

	c.mu.Lock()
	c.ptr = nil
	c.done.Broadcast()
	c.mu.Unlock()
	return nil
}

// acquire returns the C client for one call; release must follow.
func (c *Client) acquire() (*C.opik_client, error) {
	if c == nil {
		return nil, statusError(StatusInvalidArgument, "nil *opik.Client")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.ptr == nil {
		return nil, statusError(StatusShutdown, "the client is closed")
	}
	c.inflight++
	return c.ptr, nil
}

func (c *Client) release() {
	c.mu.Lock()
	c.inflight--
	if c.inflight == 0 && c.closing {
		c.done.Broadcast()
	}
	c.mu.Unlock()
	runtime.KeepAlive(c)
}

// Pending returns the number of background uploads accepted and not yet completed (0 once
// closed). An upload counts until the library's completion callback returned, which may be a
// moment after its Op.Wait returned; Flush waits for that too.
func (c *Client) Pending() int {
	p, err := c.acquire()
	if err != nil {
		return 0
	}
	defer c.release()
	return int(C.opik_client_pending(p))
}

// Flush blocks until every background upload accepted so far has finished, or ctx is done
// (then it returns ctx.Err(); the uploads go on). It does not stop intake: uploads started
// meanwhile are waited for too.
//
// It is one blocking C call (opik_client_flush, limited to ctx's deadline when it has one) on a
// goroutine of its own, so a cancelled ctx returns at once. That call still counts as a call in
// progress for Close: Close waits until it returns, at ctx's deadline or when the uploads are
// done, so give a Flush you may abandon a deadline.
func (c *Client) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	limit := C.uint64_t(math.MaxUint64) // no limit
	if deadline, ok := ctx.Deadline(); ok {
		ms, err := millis(max(time.Until(deadline), 0), "Flush")
		if err != nil {
			return err
		}
		limit = ms
	}
	if ctx.Done() == nil { // never cancelled: no goroutine needed
		return c.flush(limit)
	}
	done := make(chan error, 1)
	go func() { done <- c.flush(limit) }()
	select {
	case err := <-done:
		if err != nil && isStatus(err, StatusTimeout) {
			// The C limit is ctx's deadline rounded up to whole milliseconds: ctx ends with it.
			<-ctx.Done()
			return ctx.Err()
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FlushTimeout is Flush with a time limit instead of a context: ErrTimeout when uploads are still
// pending after d (the message says how many).
func (c *Client) FlushTimeout(d time.Duration) error {
	ms, err := millis(max(d, 0), "FlushTimeout")
	if err != nil {
		return err
	}
	return c.flush(ms)
}

// flush is one opik_client_flush call with a limit in milliseconds (UINT64_MAX: none).
func (c *Client) flush(ms C.uint64_t) error {
	p, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.release()
	var cerr *C.opik_error
	return takeError(C.opik_client_flush(p, ms, &cerr), cerr)
}

func isStatus(err error, s Status) bool {
	e, ok := err.(*Error)
	return ok && e.Status == s
}
