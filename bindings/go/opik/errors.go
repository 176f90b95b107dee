package opik

/*
#include <opik_attachments.h>
*/
import "C"

import "strconv"

// Status is a result code of the C API (opik_status). Values never change; new ones may be
// appended.
type Status int32

// The statuses of the C API, with the same values.
const (
	StatusOK                Status = C.OPIK_OK
	StatusInvalidArgument   Status = C.OPIK_ERR_INVALID_ARGUMENT
	StatusIO                Status = C.OPIK_ERR_IO
	StatusNotFound          Status = C.OPIK_ERR_NOT_FOUND
	StatusAuth              Status = C.OPIK_ERR_AUTH
	StatusHTTP              Status = C.OPIK_ERR_HTTP
	StatusNetwork           Status = C.OPIK_ERR_NETWORK
	StatusTimeout           Status = C.OPIK_ERR_TIMEOUT
	StatusCancelled         Status = C.OPIK_ERR_CANCELLED
	StatusAbortedByCallback Status = C.OPIK_ERR_ABORTED_BY_CALLBACK
	StatusProtocol          Status = C.OPIK_ERR_PROTOCOL
	StatusTooLarge          Status = C.OPIK_ERR_TOO_LARGE
	StatusConfig            Status = C.OPIK_ERR_CONFIG
	StatusShutdown          Status = C.OPIK_ERR_SHUTDOWN
	StatusForked            Status = C.OPIK_ERR_FORKED
	StatusInternal          Status = C.OPIK_ERR_INTERNAL
)

// String returns the C name of the status, e.g. "OPIK_ERR_NOT_FOUND" ("OPIK_ERR_UNKNOWN" for a
// value this library version does not know).
func (s Status) String() string {
	return C.GoString(C.opik_status_str(C.int32_t(s)))
}

// Error is a failure reported by the library (or by this binding, for misuse such as a closed
// handle). Use errors.Is with the Err* sentinels to test the status, and errors.As to read the
// fields.
type Error struct {
	// Status is never StatusOK.
	Status Status
	// Message is human-readable; it never contains the API key.
	Message string
	// HTTPStatus is the HTTP status the server answered with, or 0 when none applies.
	HTTPStatus int
	// Err is the Go error behind the failure, when there is one: the io.Writer's error for a
	// download the writer stopped. Unwrap returns it.
	Err error
}

// Error formats the status name, the message and the HTTP status.
func (e *Error) Error() string {
	s := "opik: " + e.Status.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.HTTPStatus != 0 {
		s += " (HTTP " + strconv.Itoa(e.HTTPStatus) + ")"
	}
	return s
}

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, opik.ErrNotFound) tests the status whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Unwrap returns Err (nil for most errors).
func (e *Error) Unwrap() error { return e.Err }

// Sentinels, one per status, for errors.Is. They compare by Status only.
var (
	ErrInvalidArgument   = &Error{Status: StatusInvalidArgument}
	ErrIO                = &Error{Status: StatusIO}
	ErrNotFound          = &Error{Status: StatusNotFound}
	ErrAuth              = &Error{Status: StatusAuth}
	ErrHTTP              = &Error{Status: StatusHTTP}
	ErrNetwork           = &Error{Status: StatusNetwork}
	ErrTimeout           = &Error{Status: StatusTimeout}
	ErrCancelled         = &Error{Status: StatusCancelled}
	ErrAbortedByCallback = &Error{Status: StatusAbortedByCallback}
	ErrProtocol          = &Error{Status: StatusProtocol}
	ErrTooLarge          = &Error{Status: StatusTooLarge}
	ErrConfig            = &Error{Status: StatusConfig}
	ErrShutdown          = &Error{Status: StatusShutdown}
	ErrForked            = &Error{Status: StatusForked}
	ErrInternal          = &Error{Status: StatusInternal}
)

// copyError converts a borrowed C error into a Go one (nil for OPIK_OK).
func copyError(status C.opik_status, e *C.opik_error) error {
	if status == C.OPIK_OK {
		return nil
	}
	err := &Error{Status: Status(status)}
	if e != nil {
		err.Message = C.GoString(C.opik_error_message(e))
		err.HTTPStatus = int(C.opik_error_http_status(e))
	}
	return err
}

// takeError converts an owned C error into a Go one and frees it (nil for OPIK_OK).
func takeError(status C.opik_status, e *C.opik_error) error {
	err := copyError(status, e)
	C.opik_error_free(e)
	return err
}

// statusError is an error of this binding, without a C error object.
func statusError(status Status, message string) error {
	return &Error{Status: status, Message: message}
}
