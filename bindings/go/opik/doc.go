// Package opik attaches files to Opik traces and spans: upload (blocking or in the background),
// list, download (streamed into an io.Writer or atomically into a file) and delete. It is a thin
// cgo wrapper over the C library opik-attachments (include/opik_attachments.h,
// libopik_attachments), which speaks Opik's REST protocol in both storage modes.
//
//	client, err := opik.NewClient(opik.WithURL("http://localhost:5173/api/"))
//	if err != nil { ... }
//	defer client.Close()
//	att, err := opik.AttachmentFromFile("frame-0042.png", "", "")
//	if err != nil { ... }
//	defer att.Close()
//	err = client.Upload(ctx, "my-project", opik.EntitySpan, spanID, att)
//	if errors.Is(err, opik.ErrAuth) { ... }
//
// It also logs the traces and spans the attachments belong to. Nothing is sent until End, and
// nothing touches the network on the calling goroutine; the client's background sender batches
// them, then uploads their attachments:
//
//	trace, err := client.Trace("my-game", "frame 42")
//	if err != nil { ... }
//	defer trace.End()
//	span, err := trace.Span("describe the frame", opik.SpanLLM)
//	if err != nil { ... }
//	defer span.End()
//	err = span.SetInput(`{"prompt": "what is on screen?"}`) // JSON text; line and column on error
//	err = span.Attach(att)                                  // uploaded after the span was sent
//
// Failures after End returned are counted (Client.Counter) and logged (WithLogCallback).
//
// Configuration not given as options comes from the environment (OPIK_URL_OVERRIDE,
// OPIK_API_KEY, OPIK_WORKSPACE, OPIK_PROJECT_NAME), then ~/.opik.config, then defaults.
//
// Concurrency: a Client is safe for any number of goroutines; share one. An Attachment is
// immutable and may be uploaded from several goroutines at once. Blocking calls (List, Download,
// DownloadToFile, Delete) occupy an OS thread while the C library works; Upload and UploadAsync
// run on the library's own threads and only park the goroutine.
//
// Resources: Client, Attachment and Op wrap C objects. Close them when done; a cleanup
// (runtime.AddCleanup) frees forgotten ones when they are garbage collected, and Close after
// Close is a no-op. A Trace or Span is finished by End or Discard; one garbage collected without
// either is discarded (not sent).
//
// Errors are *Error values carrying the C status, message and HTTP status; test them with
// errors.Is(err, opik.ErrNotFound) and friends, or errors.As for the fields.
package opik
