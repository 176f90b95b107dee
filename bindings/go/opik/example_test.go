package opik_test

// Examples for the package documentation. They are compiled by `go test` and `go vet` but not
// run (they have no Output comment): they need an Opik server.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/opik-attachments/opik-attachments/bindings/go/opik"
)

func Example() {
	ctx := context.Background()
	client, err := opik.NewClient(opik.WithURL("http://localhost:5173/api/"), opik.WithProjectName("my-game"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	shot, err := opik.AttachmentFromFile("frame-0042.png", "", "")
	if err != nil {
		log.Fatal(err)
	}
	defer shot.Close()
	spanID := "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8c"
	if err := client.Upload(ctx, "", opik.EntitySpan, spanID, shot); err != nil {
		log.Fatal(err)
	}
	list, err := client.List(ctx, "", opik.EntitySpan, spanID)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range list {
		fmt.Println(a.FileName, a.FileSize, a.MimeType)
	}
	// Stream it back into any io.Writer.
	if err := client.Download(ctx, "", opik.EntitySpan, spanID, "frame-0042.png", "", os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_UploadAsync() {
	client, err := opik.NewClient() // configured by OPIK_URL_OVERRIDE, OPIK_API_KEY, ...
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	frame, err := opik.AttachmentFromBytes([]byte("...png bytes..."), "frame.png", "image/png")
	if err != nil {
		log.Fatal(err)
	}
	op, err := client.UploadAsync("my-game", opik.EntitySpan, "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8c", frame)
	frame.Close() // the queue keeps what it needs
	if err != nil {
		log.Fatal(err) // e.g. ErrTooLarge when the queue is full
	}
	defer op.Close()

	// In a game loop: poll without blocking.
	if finished, err := op.Status(); finished && err != nil {
		log.Print(err)
	}
	sent, total := op.Progress()
	fmt.Printf("%d/%d bytes\n", sent, total)

	// Before exit: wait a bounded time for every background upload.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Flush(ctx); err != nil {
		log.Printf("%d uploads still pending: %v", client.Pending(), err)
	}
}

func ExampleError() {
	client, err := opik.NewClient()
	if errors.Is(err, opik.ErrConfig) {
		log.Fatal("set OPIK_URL_OVERRIDE: ", err)
	}
	defer client.Close()
	err = client.Download(context.Background(), "my-game", opik.EntityTrace, "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8b", "missing.png", "", os.Stdout)
	var oe *opik.Error
	switch {
	case errors.Is(err, opik.ErrNotFound):
		fmt.Println("no such attachment")
	case errors.As(err, &oe) && oe.HTTPStatus != 0:
		fmt.Println("the server answered", oe.HTTPStatus, oe.Message)
	}
}
