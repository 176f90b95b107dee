package opik_test

// Traces and spans, the log callback and the counters, against both test servers. What the
// server received is read back through its test controls (GET /_test/traces, /_test/spans).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

// entityLog is the server's GET /_test/traces or /_test/spans answer (the parts read here).
type entityLog struct {
	Received      []map[string]any `json:"received"`
	UnknownFields []string         `json:"unknown_fields"`
}

func (s *testServer) entities(t testing.TB, kind string) entityLog {
	t.Helper()
	var l entityLog
	s.control(t, http.MethodGet, "_test/"+kind, nil, &l)
	return l
}

// received returns every create of the entity id the server received ("traces" or "spans").
func (s *testServer) received(t testing.TB, kind, id string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, e := range s.entities(t, kind).Received {
		if e["id"] == id {
			got = append(got, e)
		}
	}
	return got
}

// receivedOne returns the one create of id, failing the test when there is not exactly one.
func (s *testServer) receivedOne(t testing.TB, kind, id string) map[string]any {
	t.Helper()
	got := s.received(t, kind, id)
	if len(got) != 1 {
		t.Fatalf("%s %s received %d times, want 1", kind, id, len(got))
	}
	return got[0]
}

// field walks a decoded JSON object: field(e, "usage", "prompt_tokens").
func field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

const traceProject = "go-traces"

func tracedClient(t testing.TB, s *testServer, opts ...opik.Option) *opik.Client {
	return newClient(t, s, append([]opik.Option{opik.WithProjectName(traceProject)}, opts...)...)
}

func flushOK(t testing.TB, c *opik.Client) {
	t.Helper()
	if err := c.FlushTimeout(30 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Every field set through the Go API arrives on the server as set; attachments follow their
// entity; the counters count it all. Both storage modes.
func TestTraceFieldsArrive(t *testing.T) {
	for _, s := range []*testServer{direct, s3} {
		t.Run(s.mode, func(t *testing.T) {
			c := tracedClient(t, s)
			tr, err := c.Trace("", "frame 1")
			must(t, err)
			if !uuidV7.MatchString(tr.ID()) {
				t.Fatalf("trace id %q is not a UUIDv7", tr.ID())
			}
			must(t, tr.SetInput(`"a prompt"`))
			must(t, tr.SetOutput(`{"answer": 42}`))
			must(t, tr.SetMetadata(`{"engine": "go"}`))
			must(t, tr.AddTag("game"))
			must(t, tr.AddTag("go"))
			must(t, tr.SetThreadID("session-3"))

			llm, err := tr.Span("describe the frame", opik.SpanLLM)
			must(t, err)
			if !uuidV7.MatchString(llm.ID()) || llm.ID() == tr.ID() {
				t.Fatalf("span id %q", llm.ID())
			}
			must(t, llm.SetInput(`{"prompt": "what is on screen?"}`))
			must(t, llm.SetModel("gpt-4o", "openai"))
			must(t, llm.SetUsage(120, 8, 128))
			must(t, llm.AddTag("vision"))
			shot := randomBytes(70_000)
			must(t, llm.Attach(mustBytes(t, shot, "shot.png", "image/png")))
			tool, err := llm.Child("lookup", opik.SpanTool)
			must(t, err)
			must(t, tool.SetError("KeyError", "no such item", ""))
			must(t, tool.SetUsage(opik.UsageOmitted, 5, opik.UsageOmitted))

			// Any order: the trace before its spans, the parent before its child.
			must(t, tr.End())
			must(t, llm.End())
			must(t, tool.End())
			flushOK(t, c)
			if got := c.Counter(opik.CounterEntitiesSent); got != 3 {
				t.Errorf("entities sent %d, want 3", got)
			}
			if got := c.Counter(opik.CounterAttachmentsSent); got != 1 {
				t.Errorf("attachments sent %d, want 1", got)
			}
			if got := c.Counter(opik.CounterEntitiesFailed) + c.Counter(opik.CounterAttachmentsFailed); got != 0 {
				t.Errorf("%d failures", got)
			}
			if got := c.Counter(opik.CounterBytesSent); got < uint64(len(shot)) {
				t.Errorf("bytes sent %d < %d", got, len(shot))
			}

			e := s.receivedOne(t, "traces", tr.ID())
			for _, check := range []struct {
				got, want any
				what      string
			}{
				{e["name"], "frame 1", "name"},
				{e["project_name"], traceProject, "project_name"},
				{field(e, "input", "value"), "a prompt", "wrapped input"},
				{field(e, "output", "answer"), 42.0, "output"},
				{field(e, "metadata", "engine"), "go", "metadata"},
				{fmt.Sprint(e["tags"]), "[game go]", "tags"},
				{e["thread_id"], "session-3", "thread_id"},
			} {
				if check.got != check.want {
					t.Errorf("trace %s: %v, want %v", check.what, check.got, check.want)
				}
			}
			if e["end_time"] == nil || e["start_time"] == nil {
				t.Errorf("trace times: %v .. %v", e["start_time"], e["end_time"])
			}
			sp := s.receivedOne(t, "spans", llm.ID())
			for _, check := range []struct {
				got, want any
				what      string
			}{
				{sp["trace_id"], tr.ID(), "trace_id"},
				{sp["parent_span_id"], nil, "parent_span_id"},
				{sp["type"], "llm", "type"},
				{sp["model"], "gpt-4o", "model"},
				{sp["provider"], "openai", "provider"},
				{field(sp, "usage", "prompt_tokens"), 120.0, "prompt_tokens"},
				{field(sp, "usage", "completion_tokens"), 8.0, "completion_tokens"},
				{field(sp, "usage", "total_tokens"), 128.0, "total_tokens"},
				{field(sp, "input", "prompt"), "what is on screen?", "input"},
			} {
				if check.got != check.want {
					t.Errorf("llm span %s: %v, want %v", check.what, check.got, check.want)
				}
			}
			tl := s.receivedOne(t, "spans", tool.ID())
			if tl["parent_span_id"] != llm.ID() || tl["trace_id"] != tr.ID() || tl["type"] != "tool" {
				t.Errorf("tool span links: %v", tl)
			}
			if field(tl, "error_info", "exception_type") != "KeyError" || field(tl, "error_info", "message") != "no such item" {
				t.Errorf("tool span error_info: %v", tl["error_info"])
			}
			if u := field(tl, "usage").(map[string]any); len(u) != 1 || u["completion_tokens"] != 5.0 {
				t.Errorf("tool span usage: %v (omitted counts must be left out)", u)
			}
			if got := s.stored(t, llm.ID()); got["shot.png"].FileSize != int64(len(shot)) {
				t.Errorf("the span's attachment: %+v", got)
			}
			if !bytesEqual(download(t, c, traceProject, opik.EntitySpan, llm.ID(), "shot.png"), shot) {
				t.Error("the attachment came back different")
			}
			for _, kind := range []string{"traces", "spans"} {
				if u := s.entities(t, kind).UnknownFields; len(u) != 0 {
					t.Errorf("%s: fields outside the documented models: %v", kind, u)
				}
			}
		})
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// The idiomatic shape: defer End, spans started from a context carrying the trace.
func TestDeferEndAndContext(t *testing.T) {
	c := tracedClient(t, direct)
	var traceID, outerID, innerID string
	handle := func(ctx context.Context) error {
		tr, err := c.Trace("", "request")
		if err != nil {
			return err
		}
		defer tr.End()
		traceID = tr.ID()
		ctx = opik.ContextWithTrace(ctx, tr)
		if opik.TraceFromContext(ctx) != tr || opik.SpanFromContext(ctx) != nil {
			t.Error("ContextWithTrace")
		}
		outer, ctx, err := opik.StartSpan(ctx, "outer", opik.SpanGeneral)
		if err != nil {
			return err
		}
		defer outer.End()
		outerID = outer.ID()
		inner, _, err := opik.StartSpan(ctx, "inner", opik.SpanTool)
		if err != nil {
			return err
		}
		defer inner.End()
		innerID = inner.ID()
		return inner.SetOutput(`{"ok": true}`)
	}
	must(t, handle(bg))
	if _, _, err := opik.StartSpan(bg, "orphan", opik.SpanTool); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("StartSpan without a trace: %v", err)
	}
	flushOK(t, c)
	if got := c.Counter(opik.CounterEntitiesSent); got != 3 {
		t.Fatalf("entities sent %d, want 3", got)
	}
	s := direct.receivedOne(t, "spans", outerID)
	if s["trace_id"] != traceID || s["parent_span_id"] != nil {
		t.Errorf("outer span: %v", s)
	}
	s = direct.receivedOne(t, "spans", innerID)
	if s["parent_span_id"] != outerID || field(s, "output", "ok") != true {
		t.Errorf("inner span: %v", s)
	}
	if direct.receivedOne(t, "traces", traceID)["end_time"] == nil {
		t.Error("the trace has no end time")
	}
}

// Discard drops an entity and its attachments; End and Discard after End or Discard are handled.
func TestDiscardSendsNothing(t *testing.T) {
	c := tracedClient(t, direct)
	tr, err := c.Trace("", "dropped")
	must(t, err)
	sp, err := tr.Span("dropped", opik.SpanLLM)
	must(t, err)
	must(t, sp.Attach(mustBytes(t, []byte("never"), "never.txt", "")))
	must(t, tr.Attach(mustBytes(t, []byte("never"), "never.txt", "")))
	sp.Discard()
	tr.Discard()
	tr.Discard() // a no-op
	if err := sp.End(); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("End after Discard: %v", err)
	}
	if err := tr.SetInput(`{}`); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("a setter after Discard: %v", err)
	}
	if _, err := tr.Span("late", opik.SpanGeneral); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("Span after Discard: %v", err)
	}
	flushOK(t, c)
	if n := c.Counter(opik.CounterEntitiesSent) + c.Counter(opik.CounterAttachmentsSent); n != 0 {
		t.Errorf("%d things sent", n)
	}
	if n := len(direct.received(t, "traces", tr.ID())) + len(direct.received(t, "spans", sp.ID())); n != 0 {
		t.Errorf("the server received %d discarded entities", n)
	}
	if len(direct.stored(t, tr.ID()))+len(direct.stored(t, sp.ID())) != 0 {
		t.Error("an attachment of a discarded entity was uploaded")
	}

	// End twice: the second is refused, nothing is sent twice.
	tr2, err := c.Trace("", "twice")
	must(t, err)
	must(t, tr2.End())
	if err := tr2.End(); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("second End: %v", err)
	}
	tr2.Discard()
	flushOK(t, c)
	if n := len(direct.received(t, "traces", tr2.ID())); n != 1 {
		t.Errorf("received %d times", n)
	}
}

// Refused values are *Errors with the library's reason; invalid JSON names line and column.
func TestTraceRefusals(t *testing.T) {
	c := tracedClient(t, direct)
	tr, err := c.Trace("", "")
	must(t, err)
	defer tr.Discard()
	err = tr.SetInput("{\n  \"a\": 1,\n  \"b\": ]\n}")
	var e *opik.Error
	if !errors.As(err, &e) || e.Status != opik.StatusInvalidArgument || !strings.Contains(e.Message, "line 3, column 8") {
		t.Errorf("invalid JSON: %v", err)
	}
	sp, err := tr.Span("s", opik.SpanLLM)
	must(t, err)
	defer sp.Discard()
	for what, err := range map[string]error{
		"span metadata":  sp.SetMetadata(`{"open": `),
		"usage -2":       sp.SetUsage(-2, opik.UsageOmitted, opik.UsageOmitted),
		"empty tag":      sp.AddTag(""),
		"empty type":     tr.SetError("", "m", "tb"),
		"NUL in input":   tr.SetInput("\"a\x00b\""),
		"empty thread":   tr.SetThreadID(""),
		"invalid UTF-8":  sp.SetOutput("\"\xff\""),
		"NUL in project": func() error { _, err := c.Trace("a\x00b", ""); return err }(),
	} {
		if !errors.Is(err, opik.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", what, err)
		} else if errors.As(err, &e) && e.Message == "" {
			t.Errorf("%s: no reason given", what)
		}
	}
	if _, err := tr.Span("x", opik.SpanType(7)); !errors.Is(err, opik.ErrInvalidArgument) || !strings.Contains(err.Error(), "7") {
		t.Errorf("span type 7: %v", err)
	}
	if err := sp.SetMetadata(`{"open": `); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("the metadata error names no line: %v", err)
	}
	if opik.SpanLLM.String() != "llm" || opik.SpanType(9).String() != "SpanType(9)" || opik.LogWarn.String() != "warn" {
		t.Error("String methods")
	}
}

// Over the queue limits End reports ErrTooLarge and the entity is not sent.
func TestTraceQueueLimits(t *testing.T) {
	c := tracedClient(t, direct, opik.WithQueueLimits(2, 1<<30))
	var ts []*opik.Trace
	for range 3 {
		tr, err := c.Trace("", "q")
		must(t, err)
		ts = append(ts, tr)
	}
	must(t, ts[0].End())
	must(t, ts[1].End())
	err := ts[2].End() // the sender waits up to 1 s to batch: the first two are still queued
	if !errors.Is(err, opik.ErrTooLarge) || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("third End: %v", err)
	}
	flushOK(t, c)
	if got := c.Counter(opik.CounterEntitiesSent); got != 2 {
		t.Errorf("entities sent %d, want 2", got)
	}
}

// Many goroutines on one trace and its spans at once (run with -race): every call is safe.
func TestTraceConcurrentGoroutines(t *testing.T) {
	c := tracedClient(t, s3)
	tr, err := c.Trace("", "concurrent")
	must(t, err)
	parent, err := tr.Span("parent", opik.SpanGeneral)
	must(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				var sp *opik.Span
				var err error
				if i%2 == 0 {
					sp, err = tr.Span(fmt.Sprintf("g%d-%d", g, i), opik.SpanTool)
				} else {
					sp, err = parent.Child(fmt.Sprintf("g%d-%d", g, i), opik.SpanTool)
				}
				if err == nil {
					err = sp.SetMetadata(fmt.Sprintf(`{"g": %d, "i": %d}`, g, i))
				}
				if err == nil {
					err = tr.AddTag(fmt.Sprintf("g%d", g)) // the shared trace, from every goroutine
				}
				if err == nil {
					err = sp.End()
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	must(t, parent.End())
	must(t, tr.End())
	flushOK(t, c)
	if got := c.Counter(opik.CounterEntitiesSent); got != 202 {
		t.Errorf("entities sent %d, want 202", got)
	}
	if tags := s3.receivedOne(t, "traces", tr.ID())["tags"].([]any); len(tags) != 8 {
		t.Errorf("trace tags %v, want g0..g7 once each", tags)
	}
}

// The log callback: retries at Warn, final failures at Error with the entity id and file name,
// never the API key; it is called on library threads until Close returns and its handle is
// released then (TestMain checks that no handle is left).
func TestLogCallback(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	closed := false
	var lateCalls int
	c := tracedClient(t, direct, opik.WithLogCallback(opik.LogDebug, func(level opik.LogLevel, line string) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			lateCalls++
		}
		lines = append(lines, level.String()+" "+line)
	}))
	has := func(prefix, needle string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if strings.HasPrefix(l, prefix+" ") && strings.Contains(l, needle) {
				return true
			}
		}
		return false
	}
	direct.fault(t, `{"path_contains": "/traces/batch", "status": 400, "times": 0}`)
	direct.fault(t, `{"path_contains": "/spans/batch", "status": 503, "retry_after": "0", "times": 1}`)
	tr, err := c.Trace("", "refused")
	must(t, err)
	must(t, tr.Attach(mustBytes(t, []byte("lost"), "lost.bin", "")))
	sp, err := tr.Span("retried", opik.SpanGeneral)
	must(t, err)
	must(t, sp.End())
	must(t, tr.End())
	flushOK(t, c)
	if c.Counter(opik.CounterEntitiesSent) != 1 || c.Counter(opik.CounterEntitiesFailed) != 1 ||
		c.Counter(opik.CounterAttachmentsFailed) != 1 || c.Counter(opik.CounterRetries) < 1 {
		t.Errorf("counters: sent %d failed %d attachments failed %d retries %d", c.Counter(opik.CounterEntitiesSent),
			c.Counter(opik.CounterEntitiesFailed), c.Counter(opik.CounterAttachmentsFailed), c.Counter(opik.CounterRetries))
	}
	mu.Lock()
	all := strings.Join(lines, "\n")
	mu.Unlock()
	if !has("error", tr.ID()) || !has("error", "lost.bin") || !has("warn", "HTTP 503") {
		t.Errorf("log lines:\n%s", all)
	}
	if strings.Contains(all, apiKey) {
		t.Error("a log line contains the API key")
	}
	c.Close()
	mu.Lock()
	closed = true
	mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if lateCalls != 0 {
		t.Errorf("%d log calls after Close returned", lateCalls)
	}
	if c.Counter(opik.CounterEntitiesSent) != 0 {
		t.Error("Counter after Close is not 0")
	}
}

// A panicking log callback does not take the library down; a bad level is refused by NewClient
// (and its handle released).
func TestLogCallbackPanicsAndBadLevel(t *testing.T) {
	if _, err := opik.NewClient(opik.WithURL(direct.url), opik.WithLogCallback(opik.LogLevel(9), func(opik.LogLevel, string) {})); !errors.Is(err, opik.ErrInvalidArgument) {
		t.Errorf("log level 9: %v", err)
	}
	var calls sync.WaitGroup
	calls.Add(1)
	var once sync.Once
	c := tracedClient(t, direct, opik.WithLogCallback(opik.LogWarn, func(opik.LogLevel, string) {
		once.Do(calls.Done)
		panic("a broken logger")
	}))
	direct.fault(t, `{"path_contains": "/traces/batch", "status": 503, "retry_after": "0", "times": 1}`)
	tr, err := c.Trace("", "panicky logger")
	must(t, err)
	must(t, tr.End())
	flushOK(t, c)
	calls.Wait()
	if got := c.Counter(opik.CounterEntitiesSent); got != 1 {
		t.Errorf("entities sent %d, want 1", got)
	}
}

// A trace or span that is garbage collected un-ended is discarded by the safety net, never sent.
func TestForgottenTraceIsDiscarded(t *testing.T) {
	c := tracedClient(t, direct)
	before := opik.CleanupsRun()
	var id string
	func() {
		tr, err := c.Trace("", "forgotten")
		must(t, err)
		id = tr.ID()
		_, err = tr.Span("forgotten span", opik.SpanGeneral)
		must(t, err)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for opik.CleanupsRun()-before < 2 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := opik.CleanupsRun() - before; n != 2 {
		t.Fatalf("%d cleanups ran, want 2", n)
	}
	flushOK(t, c)
	if len(direct.received(t, "traces", id)) != 0 || c.Counter(opik.CounterEntitiesSent) != 0 {
		t.Error("a forgotten trace was sent")
	}
}
