// A game loop that logs what it does to Opik, in Go: for each of 5 frames, a trace with an LLM
// span (the prompt as input JSON, model, provider, token usage, and a "screenshot" of the frame
// as a PNG attachment) and a tool span under it, the spans started from a context that carries
// the trace. Nothing waits on the network: the library's background sender batches the traces
// and spans, then uploads their attachments. At the end it flushes, prints the counters and
// exits non-zero if anything failed.
//
// Configuration comes from the environment like in the Opik SDKs: OPIK_URL_OVERRIDE (e.g.
// http://localhost:5173/api/), OPIK_API_KEY, OPIK_WORKSPACE. From the repository root,
// `scripts/with-test-server sh -c 'cd examples/go && go run ./trace_with_media'` runs it against
// the bundled test server.
//
// Usage: trace_with_media [-frames N]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"time"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

const project = "go-trace-with-media"

func main() {
	frames := flag.Int("frames", 5, "how many frames to log (1-10000)")
	flag.Parse()
	if *frames < 1 || *frames > 10000 {
		fmt.Fprintln(os.Stderr, "go trace_with_media: -frames must be 1-10000")
		os.Exit(2)
	}
	if err := run(*frames); err != nil {
		fmt.Fprintln(os.Stderr, "go trace_with_media:", err)
		os.Exit(1)
	}
	fmt.Printf("go trace_with_media: %d frames logged, every trace, span and screenshot delivered\n", *frames)
}

func run(frames int) error {
	// Background failures (after End returned) are reported here, on the library's threads.
	logger := opik.WithLogCallback(opik.LogWarn, func(level opik.LogLevel, line string) {
		fmt.Fprintf(os.Stderr, "opik %s: %s\n", level, line)
	})
	client, err := opik.NewClient(opik.WithProjectName(project), logger)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer client.Close()

	var errs []error
	for frame := 1; frame <= frames; frame++ {
		if err := logFrame(context.Background(), client, frame); err != nil {
			errs = append(errs, fmt.Errorf("frame %d: %w", frame, err))
		}
	}

	// Before exiting: wait until every trace, span and screenshot was delivered (or failed).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := client.Flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush: %w", err))
	}
	sent, failed := client.Counter(opik.CounterEntitiesSent), client.Counter(opik.CounterEntitiesFailed)
	shots, shotsFailed := client.Counter(opik.CounterAttachmentsSent), client.Counter(opik.CounterAttachmentsFailed)
	fmt.Printf("frames %d: entities sent %d, failed %d; screenshots sent %d, failed %d; %d bytes; %d retries\n",
		frames, sent, failed, shots, shotsFailed, client.Counter(opik.CounterBytesSent), client.Counter(opik.CounterRetries))
	if failed != 0 || shotsFailed != 0 || sent != uint64(frames)*3 || shots != uint64(frames) {
		errs = append(errs, errors.New("something was not delivered"))
	}
	return errors.Join(errs...)
}

// logFrame logs one frame: a trace, an LLM span with the screenshot, a tool span under it.
func logFrame(ctx context.Context, client *opik.Client, frame int) (err error) {
	trace, err := client.Trace("", fmt.Sprintf("frame %d", frame))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, trace.End()) }()
	ctx = opik.ContextWithTrace(ctx, trace)
	input, _ := json.Marshal(map[string]any{"frame": frame, "scene": "castle gate"})
	if err := errors.Join(trace.SetInput(string(input)), trace.AddTag("game-loop"), trace.SetThreadID("play-session-1")); err != nil {
		return err
	}

	llm, ctx, err := opik.StartSpan(ctx, "describe the screen", opik.SpanLLM)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, llm.End()) }()
	prompt, _ := json.Marshal(map[string]any{"messages": []map[string]string{
		{"role": "user", "content": fmt.Sprintf("What is on screen in frame %d?", frame)},
	}})
	shot, err := screenshot(frame)
	if err != nil {
		return err
	}
	att, err := opik.AttachmentFromBytes(shot, fmt.Sprintf("frame-%04d.png", frame), "image/png")
	if err != nil {
		return err
	}
	defer att.Close() // the span keeps what it needs
	if err := errors.Join(llm.SetInput(string(prompt)), llm.SetModel("gpt-4o-mini", "openai"),
		llm.SetUsage(42, 12, 54), llm.Attach(att)); err != nil {
		return err
	}

	if err := openGate(ctx); err != nil {
		return err
	}
	return errors.Join(llm.SetOutput(`{"text": "A castle gate; the north gate opens."}`),
		trace.SetOutput(`{"action": "open_gate"}`))
}

// openGate is the tool call; its span goes under the current span of ctx.
func openGate(ctx context.Context) (err error) {
	tool, _, err := opik.StartSpan(ctx, "open_gate", opik.SpanTool)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, tool.End()) }()
	return errors.Join(tool.SetInput(`{"gate": "north"}`), tool.SetOutput(`{"opened": true}`))
}

// screenshot renders the frame (a gradient that moves with it) as PNG bytes.
func screenshot(frame int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x*4 + frame*20), uint8(y * 5), uint8((x^y)*3 + frame), 255})
		}
	}
	var buf bytes.Buffer
	err := png.Encode(&buf, img)
	return buf.Bytes(), err
}
