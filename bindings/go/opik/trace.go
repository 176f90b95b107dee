package opik

/*
#include <stdlib.h>
#include <opik_attachments.h>
*/
import "C"

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"unsafe"
)

// SpanType is what kind of work a span is.
type SpanType int32

const (
	// SpanGeneral is any work.
	SpanGeneral SpanType = C.OPIK_SPAN_GENERAL
	// SpanLLM is a call to a language model (SetModel and SetUsage apply).
	SpanLLM SpanType = C.OPIK_SPAN_LLM
	// SpanTool is a tool call.
	SpanTool SpanType = C.OPIK_SPAN_TOOL
	// SpanGuardrail is a guardrail check.
	SpanGuardrail SpanType = C.OPIK_SPAN_GUARDRAIL
)

// String returns "general", "llm", "tool", "guardrail", or the number.
func (t SpanType) String() string {
	switch t {
	case SpanGeneral:
		return "general"
	case SpanLLM:
		return "llm"
	case SpanTool:
		return "tool"
	case SpanGuardrail:
		return "guardrail"
	}
	return "SpanType(" + strconv.Itoa(int(t)) + ")"
}

// UsageOmitted, given to Span.SetUsage for a count, leaves that count out.
const UsageOmitted int64 = -1

// Trace is a trace being recorded (Client.Trace). Nothing of it is sent until End, which queues
// it for the client's background sender; the calls themselves never touch the network. Its
// methods are safe for concurrent use. End it (usually `defer trace.End()`) or Discard it: a
// Trace that is garbage collected without either is discarded, not sent.
type Trace struct {
	id string
	h  handle
}

// Span is a span being recorded (Trace.Span, Span.Child, StartSpan); like a Trace, sent only
// once ended, safe for concurrent use, discarded if garbage collected un-ended. A span keeps
// its trace's and parent's ids, so spans, their parents and the trace may end in any order.
type Span struct {
	id string
	h  handle
}

// handle guards one C trace or span handle: a C handle is used by one thread at a time, and is
// consumed by end or discard.
type handle struct {
	mu      sync.Mutex
	ptr     unsafe.Pointer // *C.opik_trace or *C.opik_span; nil once ended or discarded
	cleanup runtime.Cleanup
}

var errEnded = statusError(StatusInvalidArgument, "the trace or span was already ended or discarded")

// with runs f on the C handle, or fails when it is gone.
func (h *handle) with(f func(p unsafe.Pointer, cerr **C.opik_error) C.opik_status) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == nil {
		return errEnded
	}
	var cerr *C.opik_error
	return takeError(f(h.ptr, &cerr), cerr)
}

// take gives up the C handle (for end or discard); nil when it is gone.
func (h *handle) take() unsafe.Pointer {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.ptr
	if p != nil {
		h.ptr = nil
		h.cleanup.Stop()
	}
	return p
}

// Trace starts a trace in project ("" : the client's project) named name ("" : none), with a
// new UUIDv7 id and the start time now. It fails with ErrShutdown once the client is closing and
// ErrForked in a forked child. It does not block, so it takes no context; see ContextWithTrace
// and StartSpan to carry the trace through one.
func (c *Client) Trace(project, name string) (*Trace, error) {
	var cs cstrings
	defer cs.free()
	proj, err := cs.optional(project, "project")
	if err != nil {
		return nil, err
	}
	n, err := cs.optional(name, "name")
	if err != nil {
		return nil, err
	}
	p, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer c.release()
	var out *C.opik_trace
	var cerr *C.opik_error
	if status := C.opik_trace_start(p, proj, n, &out, &cerr); status != C.OPIK_OK {
		return nil, takeError(status, cerr)
	}
	t := &Trace{id: C.GoString(C.opik_trace_id(out))}
	t.h.ptr = unsafe.Pointer(out)
	t.h.cleanup = runtime.AddCleanup(t, func(p *C.opik_trace) {
		C.opik_trace_discard(p)
		cleanupsRun.Add(1)
	}, out)
	return t, nil
}

// ID returns the trace's id (UUIDv7 text); it stays valid after End.
func (t *Trace) ID() string { return t.id }

func (t *Trace) with(f func(p *C.opik_trace, e **C.opik_error) C.opik_status) error {
	return t.h.with(func(p unsafe.Pointer, e **C.opik_error) C.opik_status { return f((*C.opik_trace)(p), e) })
}

// SetInput sets the trace's input, as JSON text: an object is sent as is, any other JSON value
// v as {"value": v}. Text that is not JSON is ErrInvalidArgument, its message naming the line and
// column. A later call replaces the value. (Marshal a Go value with encoding/json first.)
func (t *Trace) SetInput(json string) error {
	return t.setText(json, "json", func(p *C.opik_trace, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_trace_set_input(p, s, e)
	})
}

// SetOutput sets the trace's output, as JSON text (see SetInput).
func (t *Trace) SetOutput(json string) error {
	return t.setText(json, "json", func(p *C.opik_trace, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_trace_set_output(p, s, e)
	})
}

// SetMetadata sets the trace's metadata, as JSON text (see SetInput).
func (t *Trace) SetMetadata(json string) error {
	return t.setText(json, "json", func(p *C.opik_trace, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_trace_set_metadata(p, s, e)
	})
}

// AddTag adds a tag (tags accumulate; an empty tag is ErrInvalidArgument).
func (t *Trace) AddTag(tag string) error {
	return t.setText(tag, "tag", func(p *C.opik_trace, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_trace_add_tag(p, s, e)
	})
}

// SetThreadID sets the conversation (thread) the trace belongs to.
func (t *Trace) SetThreadID(threadID string) error {
	return t.setText(threadID, "threadID", func(p *C.opik_trace, s *C.char, e **C.opik_error) C.opik_status {
		return C.opik_trace_set_thread_id(p, s, e)
	})
}

// SetError marks the trace as failed: exceptionType is required, message and traceback may be ""
// (without a traceback, the message or else the type is sent in its place, as Opik requires one).
func (t *Trace) SetError(exceptionType, message, traceback string) error {
	var cs cstrings
	defer cs.free()
	et, msg, tb, err := errorArgs(&cs, exceptionType, message, traceback)
	if err != nil {
		return err
	}
	return t.with(func(p *C.opik_trace, e **C.opik_error) C.opik_status {
		return C.opik_trace_set_error(p, et, msg, tb, e)
	})
}

// Attach uploads att to the trace in the background once the trace was sent (same retries,
// limits, outbox and counters as UploadAsync). att may be closed right after.
func (t *Trace) Attach(att *Attachment) error {
	a, err := att.acquire()
	if err != nil {
		return err
	}
	defer att.release()
	return t.with(func(p *C.opik_trace, e **C.opik_error) C.opik_status {
		return C.opik_trace_attach(p, a, e)
	})
}

// Span starts a top-level span of the trace named name ("" : none).
func (t *Trace) Span(name string, typ SpanType) (*Span, error) {
	var cs cstrings
	defer cs.free()
	n, err := cs.optional(name, "name")
	if err != nil {
		return nil, err
	}
	var out *C.opik_span
	if err := t.with(func(p *C.opik_trace, e **C.opik_error) C.opik_status {
		return C.opik_span_start(p, nil, n, C.opik_span_type(typ), &out, e)
	}); err != nil {
		return nil, err
	}
	return newSpan(out), nil
}

// End ends the trace (end time now) and queues it for sending, then its attachments. The trace
// is finished whatever End returns: ErrTooLarge over the queue limits (it is not sent; the
// message says so), ErrShutdown when the client is closing, ErrInvalidArgument when it was
// already ended or discarded. Failures after End returned are counted (Client.Counter) and
// logged (WithLogCallback). Usable as `defer trace.End()`.
func (t *Trace) End() error {
	p := t.h.take()
	if p == nil {
		return errEnded
	}
	var cerr *C.opik_error
	return takeError(C.opik_trace_end((*C.opik_trace)(p), &cerr), cerr)
}

// Discard drops the trace: nothing of it is sent. A no-op after End or Discard, so
// `defer trace.Discard()` is a safe guard for paths that never reach End.
func (t *Trace) Discard() {
	if p := t.h.take(); p != nil {
		C.opik_trace_discard((*C.opik_trace)(p))
	}
}

func (t *Trace) setText(text, what string, set func(*C.opik_trace, *C.char, **C.opik_error) C.opik_status) error {
	var cs cstrings
	defer cs.free()
	s, err := cs.str(text, what)
	if err != nil {
		return err
	}
	return t.with(func(p *C.opik_trace, e **C.opik_error) C.opik_status { return set(p, s, e) })
}

func errorArgs(cs *cstrings, exceptionType, message, traceback string) (et, msg, tb *C.char, err error) {
	if et, err = cs.str(exceptionType, "exceptionType"); err != nil {
		return
	}
	if msg, err = cs.optional(message, "message"); err != nil {
		return
	}
	tb, err = cs.optional(traceback, "traceback")
	return
}

func newSpan(out *C.opik_span) *Span {
	s := &Span{id: C.GoString(C.opik_span_id(out))}
	s.h.ptr = unsafe.Pointer(out)
	s.h.cleanup = runtime.AddCleanup(s, func(p *C.opik_span) {
		C.opik_span_discard(p)
		cleanupsRun.Add(1)
	}, out)
	return s
}

// ID returns the span's id (UUIDv7 text); it stays valid after End.
func (s *Span) ID() string { return s.id }

func (s *Span) with(f func(p *C.opik_span, e **C.opik_error) C.opik_status) error {
	return s.h.with(func(p unsafe.Pointer, e **C.opik_error) C.opik_status { return f((*C.opik_span)(p), e) })
}

// SetInput sets the span's input, as JSON text (see Trace.SetInput).
func (s *Span) SetInput(json string) error {
	return s.setText(json, "json", func(p *C.opik_span, v *C.char, e **C.opik_error) C.opik_status {
		return C.opik_span_set_input(p, v, e)
	})
}

// SetOutput sets the span's output, as JSON text (see Trace.SetInput).
func (s *Span) SetOutput(json string) error {
	return s.setText(json, "json", func(p *C.opik_span, v *C.char, e **C.opik_error) C.opik_status {
		return C.opik_span_set_output(p, v, e)
	})
}

// SetMetadata sets the span's metadata, as JSON text (see Trace.SetInput).
func (s *Span) SetMetadata(json string) error {
	return s.setText(json, "json", func(p *C.opik_span, v *C.char, e **C.opik_error) C.opik_status {
		return C.opik_span_set_metadata(p, v, e)
	})
}

// AddTag adds a tag (tags accumulate).
func (s *Span) AddTag(tag string) error {
	return s.setText(tag, "tag", func(p *C.opik_span, v *C.char, e **C.opik_error) C.opik_status {
		return C.opik_span_add_tag(p, v, e)
	})
}

// SetError marks the span as failed (see Trace.SetError).
func (s *Span) SetError(exceptionType, message, traceback string) error {
	var cs cstrings
	defer cs.free()
	et, msg, tb, err := errorArgs(&cs, exceptionType, message, traceback)
	if err != nil {
		return err
	}
	return s.with(func(p *C.opik_span, e **C.opik_error) C.opik_status {
		return C.opik_span_set_error(p, et, msg, tb, e)
	})
}

// SetModel sets the model and its provider ("" leaves either out).
func (s *Span) SetModel(model, provider string) error {
	var cs cstrings
	defer cs.free()
	m, err := cs.optional(model, "model")
	if err != nil {
		return err
	}
	pr, err := cs.optional(provider, "provider")
	if err != nil {
		return err
	}
	return s.with(func(p *C.opik_span, e **C.opik_error) C.opik_status {
		return C.opik_span_set_model(p, m, pr, e)
	})
}

// SetUsage sets the token usage of an LLM span. UsageOmitted (-1) leaves a count out; another
// negative count is ErrInvalidArgument.
func (s *Span) SetUsage(promptTokens, completionTokens, totalTokens int64) error {
	return s.with(func(p *C.opik_span, e **C.opik_error) C.opik_status {
		return C.opik_span_set_usage(p, C.int64_t(promptTokens), C.int64_t(completionTokens), C.int64_t(totalTokens), e)
	})
}

// Attach uploads att to the span in the background once the span was sent (see Trace.Attach).
func (s *Span) Attach(att *Attachment) error {
	a, err := att.acquire()
	if err != nil {
		return err
	}
	defer att.release()
	return s.with(func(p *C.opik_span, e **C.opik_error) C.opik_status {
		return C.opik_span_attach(p, a, e)
	})
}

// Child starts a span under this one, in the same trace.
func (s *Span) Child(name string, typ SpanType) (*Span, error) {
	var cs cstrings
	defer cs.free()
	n, err := cs.optional(name, "name")
	if err != nil {
		return nil, err
	}
	var out *C.opik_span
	if err := s.with(func(p *C.opik_span, e **C.opik_error) C.opik_status {
		return C.opik_span_start(nil, p, n, C.opik_span_type(typ), &out, e)
	}); err != nil {
		return nil, err
	}
	return newSpan(out), nil
}

// End ends the span and queues it for sending, then its attachments (see Trace.End). Usable as
// `defer span.End()`.
func (s *Span) End() error {
	p := s.h.take()
	if p == nil {
		return errEnded
	}
	var cerr *C.opik_error
	return takeError(C.opik_span_end((*C.opik_span)(p), &cerr), cerr)
}

// Discard drops the span: nothing of it is sent. A no-op after End or Discard.
func (s *Span) Discard() {
	if p := s.h.take(); p != nil {
		C.opik_span_discard((*C.opik_span)(p))
	}
}

func (s *Span) setText(text, what string, set func(*C.opik_span, *C.char, **C.opik_error) C.opik_status) error {
	var cs cstrings
	defer cs.free()
	v, err := cs.str(text, what)
	if err != nil {
		return err
	}
	return s.with(func(p *C.opik_span, e **C.opik_error) C.opik_status { return set(p, v, e) })
}

// Context: a trace and the current span travel through a context.Context, so code deep in a
// call tree can start its spans under the right parent.

type traceKey struct{}
type spanKey struct{}

// ContextWithTrace returns a copy of ctx carrying t (and no current span).
func ContextWithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(context.WithValue(ctx, traceKey{}, t), spanKey{}, (*Span)(nil))
}

// ContextWithSpan returns a copy of ctx whose current span is s.
func ContextWithSpan(ctx context.Context, s *Span) context.Context {
	return context.WithValue(ctx, spanKey{}, s)
}

// TraceFromContext returns the trace ctx carries, or nil.
func TraceFromContext(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// SpanFromContext returns the current span ctx carries, or nil.
func SpanFromContext(ctx context.Context) *Span {
	s, _ := ctx.Value(spanKey{}).(*Span)
	return s
}

// StartSpan starts a span under ctx's current span, or else as a top-level span of ctx's trace,
// and returns it with a context whose current span it is:
//
//	span, ctx, err := opik.StartSpan(ctx, "retrieve", opik.SpanTool)
//	if err != nil { ... }
//	defer span.End()
//
// ErrInvalidArgument when ctx carries neither.
func StartSpan(ctx context.Context, name string, typ SpanType) (*Span, context.Context, error) {
	var s *Span
	var err error
	if parent := SpanFromContext(ctx); parent != nil {
		s, err = parent.Child(name, typ)
	} else if t := TraceFromContext(ctx); t != nil {
		s, err = t.Span(name, typ)
	} else {
		return nil, ctx, statusError(StatusInvalidArgument, "StartSpan: the context carries no trace (ContextWithTrace)")
	}
	if err != nil {
		return nil, ctx, err
	}
	return s, ContextWithSpan(ctx, s), nil
}
