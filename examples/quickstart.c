/*
 * Quickstart: attach a file, bytes and base64 to an Opik trace and span, list them, download them
 * back and check every byte.
 *
 * Configuration comes from the environment like in the Opik SDKs: OPIK_URL_OVERRIDE (e.g.
 * http://localhost:5173/api/), OPIK_API_KEY, OPIK_WORKSPACE, OPIK_PROJECT_NAME.
 * `make quickstart` starts the bundled test server and sets OPIK_URL_OVERRIDE for you.
 *
 * Build: cc -std=c11 quickstart.c -Iinclude -Ltarget/debug -lopik_attachments
 */
#define _POSIX_C_SOURCE 200809L
#include <opik_attachments.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the error, frees it, and exits. */
static void check(opik_status status, opik_error *err, const char *what) {
    if (status == OPIK_OK) return;
    fprintf(stderr, "%s failed: %s: %s\n", what, opik_status_str(status), err ? opik_error_message(err) : "");
    opik_error_free(err);
    exit(1);
}

/* Download callback: appends each chunk to a growing buffer. Return non-zero to stop. */
typedef struct {
    unsigned char *data;
    size_t len;
} buffer;

static int32_t collect(void *user_data, const uint8_t *chunk, size_t len) {
    buffer *b = (buffer *)user_data;
    unsigned char *grown = (unsigned char *)realloc(b->data, b->len + len + 1);
    if (!grown) return 1; /* out of memory: abort the download */
    memcpy(grown + b->len, chunk, len);
    b->data = grown;
    b->len += len;
    return 0;
}

int main(void) {
    opik_error *err = NULL;

    /* 1. A client. NULL options: everything from the environment and ~/.opik.config. */
    opik_client *client = NULL;
    check(opik_client_new(NULL, &client, &err), err, "opik_client_new");

    /* Trace and span ids are UUIDs created by your tracing code; these are examples. */
    const char *trace_id = "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8b";
    const char *span_id = "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8c";
    const char *project = "quickstart";

    /* 2. Three attachments: a file on disk (streamed when uploaded), bytes, and base64. */
    const char *path = "quickstart-report.md";
    const char *report = "# Run report\n\nAll good.\n";
    FILE *f = fopen(path, "w");
    if (!f || fputs(report, f) < 0 || fclose(f) != 0) return 1;

    static const unsigned char pixel_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0};
    const char *json_b64 = "data:application/json;base64,eyJzY29yZSI6IDAuOTd9"; /* {"score": 0.97} */

    opik_attachment *file = NULL, *bytes = NULL, *b64 = NULL;
    check(opik_attachment_from_file(path, NULL, NULL, &file, &err), err, "from_file");
    check(opik_attachment_from_bytes(pixel_png, sizeof pixel_png, "pixel.png", NULL, &bytes, &err), err, "from_bytes");
    check(opik_attachment_from_base64(json_b64, "metrics.json", NULL, &b64, &err), err, "from_base64");
    printf("attachments: %s (%s), %s (%s), %s (%s)\n", opik_attachment_file_name(file), opik_attachment_content_type(file),
           opik_attachment_file_name(bytes), opik_attachment_content_type(bytes), opik_attachment_file_name(b64),
           opik_attachment_content_type(b64));

    /* 3. Upload: the file and the image to the trace, the JSON to the span. */
    check(opik_upload(client, project, OPIK_ENTITY_TRACE, trace_id, file, &err), err, "upload file");
    check(opik_upload(client, project, OPIK_ENTITY_TRACE, trace_id, bytes, &err), err, "upload bytes");
    check(opik_upload(client, project, OPIK_ENTITY_SPAN, span_id, b64, &err), err, "upload base64");

    /* 4. List the trace's attachments. */
    opik_attachment_list *list = NULL;
    check(opik_list(client, project, OPIK_ENTITY_TRACE, trace_id, &list, &err), err, "list");
    for (size_t i = 0; i < opik_attachment_list_len(list); i++)
        printf("trace attachment %zu: %s, %llu bytes, %s\n", i, opik_attachment_list_file_name(list, i),
               (unsigned long long)opik_attachment_list_file_size(list, i), opik_attachment_list_mime_type(list, i));
    int listed = opik_attachment_list_len(list) == 2;
    opik_attachment_list_free(list);

    /* 5. Download: into memory with a callback, and atomically into a file. */
    buffer got = {0};
    check(opik_download(client, project, OPIK_ENTITY_TRACE, trace_id, "pixel.png", NULL, collect, &got, &err), err,
          "download");
    int image_ok = got.len == sizeof pixel_png && memcmp(got.data, pixel_png, got.len) == 0;
    free(got.data);

    check(opik_download_to_file(client, project, OPIK_ENTITY_SPAN, span_id, "metrics.json", NULL,
                                "quickstart-metrics.json", &err),
          err, "download_to_file");
    char text[64] = {0};
    f = fopen("quickstart-metrics.json", "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    int json_ok = n == 15 && strcmp(text, "{\"score\": 0.97}") == 0;

    buffer back = {0};
    check(opik_download(client, project, OPIK_ENTITY_TRACE, trace_id, "quickstart-report.md", NULL, collect, &back, &err),
          err, "download report");
    int report_ok = back.len == strlen(report) && memcmp(back.data, report, back.len) == 0;
    free(back.data);

    /* 6. Clean up: delete what we attached, free every handle. */
    const char *names[] = {"quickstart-report.md", "pixel.png"};
    check(opik_delete(client, project, OPIK_ENTITY_TRACE, trace_id, names, 2, &err), err, "delete");
    opik_attachment_free(file);
    opik_attachment_free(bytes);
    opik_attachment_free(b64);
    opik_client_free(client);
    remove(path);
    remove("quickstart-metrics.json");

    int ok = listed && image_ok && json_ok && report_ok;
    printf("verified: listed %s, image %s, json %s, report %s\n", listed ? "ok" : "WRONG", image_ok ? "ok" : "WRONG",
           json_ok ? "ok" : "WRONG", report_ok ? "ok" : "WRONG");
    printf(ok ? "quickstart: all attachments uploaded, listed, downloaded and verified\n" : "quickstart: FAILED\n");
    return ok ? 0 : 1;
}
