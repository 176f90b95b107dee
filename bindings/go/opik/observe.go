package opik

/*
#include <opik_attachments.h>
*/
import "C"

import "strconv"

// LogLevel is the severity of one of the library's log lines.
type LogLevel int32

const (
	// LogError: final failures of background work (an entity or attachment not sent).
	LogError LogLevel = C.OPIK_LOG_ERROR
	// LogWarn: retries, upload restarts, outbox replays.
	LogWarn LogLevel = C.OPIK_LOG_WARN
	// LogInfo: other notable events (a cancelled upload).
	LogInfo LogLevel = C.OPIK_LOG_INFO
	// LogDebug: detail for debugging.
	LogDebug LogLevel = C.OPIK_LOG_DEBUG
)

// String returns "error", "warn", "info", "debug", or the number.
func (l LogLevel) String() string {
	switch l {
	case LogError:
		return "error"
	case LogWarn:
		return "warn"
	case LogInfo:
		return "info"
	case LogDebug:
		return "debug"
	}
	return "LogLevel(" + strconv.Itoa(int(l)) + ")"
}

// WithLogCallback sends the library's log lines up to maxLevel to fn: one line per call, without
// a trailing newline, never containing the API key or a presigned URL's query. fn runs on the
// library's threads, possibly on several at once, so it must be safe for concurrent use; it may
// call the client (a panic in it is recovered and the line dropped). It is called until Close
// returns (or a forgotten client is garbage collected). Without it, the environment variable
// OPIK_LOG (error, warn, info, debug) makes the library print its lines to standard error. A
// level outside LogError..LogDebug is ErrInvalidArgument from NewClient; a nil fn sets no
// callback.
func WithLogCallback(maxLevel LogLevel, fn func(LogLevel, string)) Option {
	return func(co *clientOptions) {
		if fn == nil {
			co.log = nil
			return
		}
		co.log = &logState{maxLevel: maxLevel, fn: fn}
	}
}

// Counter names a counter of the client's background work (Client.Counter).
type Counter int32

const (
	// CounterEntitiesSent counts traces and spans the server accepted.
	CounterEntitiesSent Counter = C.OPIK_COUNTER_ENTITIES_SENT
	// CounterEntitiesFailed counts traces and spans finally not sent (refused, retries exhausted,
	// client closed, queue full).
	CounterEntitiesFailed Counter = C.OPIK_COUNTER_ENTITIES_FAILED
	// CounterAttachmentsSent counts background uploads that finished (UploadAsync and Attach).
	CounterAttachmentsSent Counter = C.OPIK_COUNTER_ATTACHMENTS_SENT
	// CounterAttachmentsFailed counts background uploads that finally failed or were cancelled.
	CounterAttachmentsFailed Counter = C.OPIK_COUNTER_ATTACHMENTS_FAILED
	// CounterBytesSent counts bytes of background attachments and of trace and span batches
	// delivered.
	CounterBytesSent Counter = C.OPIK_COUNTER_BYTES_SENT
	// CounterRetries counts requests retried after a transient failure.
	CounterRetries Counter = C.OPIK_COUNTER_RETRIES
)

// Counter returns the current value of a counter of the client's background work (monotonic).
// It is 0 for an unknown counter, and after Close.
func (c *Client) Counter(which Counter) uint64 {
	p, err := c.acquire()
	if err != nil {
		return 0
	}
	defer c.release()
	return uint64(C.opik_client_counter(p, C.opik_counter(which)))
}
