// Checks the COpikAttachments module (Sources/COpikAttachments/module.modulemap) the way Swift
// imports it, without a Swift toolchain: clang builds the module from the module map and the
// installed header, and this program uses it through @import only (no #include of the header).
// scripts/test-packaging compiles it with
//   clang -x objective-c -fmodules -fmodule-map-file=.../module.modulemap -I<prefix>/include ...
// and runs it against the test server. module_symbols.h (generated there from the header) takes
// the address of every function the library exports, so each one must be visible in the module.
@import COpikAttachments;

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef OPIK_MODULE_SYMBOLS
#include OPIK_MODULE_SYMBOLS
#endif

static int32_t collect(void *user_data, const uint8_t *chunk, size_t len) {
    (void)chunk;
    size_t *total = (size_t *)user_data;
    *total += len;
    return 0;
}

/* Counts the library's log lines (any library thread). */
static void count_line(void *user_data, opik_log_level level, const char *message) {
    (void)level;
    (void)message;
    __atomic_fetch_add((int *)user_data, 1, __ATOMIC_RELAXED);
}

/* What OpikAttachments.swift's Trace, Span, setLogCallback and counter(_:) call, through the
 * module: a trace with an LLM span and an attachment, sent and counted. */
static int traces_through_the_module(void) {
    static int lines = 0;
    opik_error *err = NULL;
    opik_options *o = opik_options_new();
    opik_status s = opik_options_set_log_callback(o, OPIK_LOG_DEBUG, count_line, &lines, &err);
    opik_client *client = NULL;
    if (s == OPIK_OK) s = opik_client_new(o, &client, &err);
    opik_options_free(o);
    opik_trace *t = NULL;
    opik_span *span = NULL;
    opik_attachment *a = NULL;
    opik_span_type type = OPIK_SPAN_LLM;
    if (s == OPIK_OK) s = opik_trace_start(client, "swift-module", "module trace", &t, &err);
    if (s == OPIK_OK) s = opik_trace_set_input(t, "{\"prompt\": \"hi\"}", &err);
    if (s == OPIK_OK) s = opik_span_start(t, NULL, "llm", type, &span, &err);
    if (s == OPIK_OK) s = opik_span_set_usage(span, 1, 2, -1, &err);
    if (s == OPIK_OK) s = opik_attachment_from_bytes((const uint8_t *)"png", 3, "shot.png", NULL, &a, &err);
    if (s == OPIK_OK) s = opik_span_attach(span, a, &err);
    opik_attachment_free(a);
    if (s == OPIK_OK) { s = opik_span_end(span, &err); span = NULL; } /* consumed */
    if (s == OPIK_OK) { s = opik_trace_end(t, &err); t = NULL; }
    if (s == OPIK_OK) s = opik_client_flush(client, 30000, &err);
    if (s != OPIK_OK) fprintf(stderr, "%s: %s\n", opik_status_str(s), opik_error_message(err));
    opik_error_free(err);
    opik_span_discard(span);
    opik_trace_discard(t);
    uint64_t sent = opik_client_counter(client, OPIK_COUNTER_ENTITIES_SENT);
    uint64_t shots = opik_client_counter(client, OPIK_COUNTER_ATTACHMENTS_SENT);
    opik_client_free(client);
    int ok = s == OPIK_OK && sent == 2 && shots == 1;
    printf("module COpikAttachments: %s (%llu entities, %llu attachments, %d log lines)\n",
           ok ? "a trace, a span and its attachment through the module: ok" : "traces FAILED",
           (unsigned long long)sent, (unsigned long long)shots, __atomic_load_n(&lines, __ATOMIC_RELAXED));
    return ok;
}

int main(void) {
    /* Types, constants and macros come through the module as well as functions. */
    opik_status s = OPIK_OK;
    opik_entity_type kind = OPIK_ENTITY_SPAN;
    if (OPIK_VERSION_NUMBER != ((OPIK_VERSION_MAJOR << 16) | (OPIK_VERSION_MINOR << 8) | OPIK_VERSION_PATCH)) return 1;
    printf("module COpikAttachments: opik-attachments %s, %s\n", opik_version(), opik_status_str(OPIK_ERR_NOT_FOUND));
#ifdef OPIK_MODULE_SYMBOLS
    printf("module COpikAttachments: %zu exported functions visible\n", opik_module_symbol_count());
#endif

    /* 0.2: the option setters take `opik_error **`, as OpikAttachments.swift calls them. */
    opik_options *o = opik_options_new();
    opik_error *refused = NULL;
    if (opik_options_set_upload_concurrency(o, 65, &refused) != OPIK_ERR_INVALID_ARGUMENT || refused == NULL) return 1;
    printf("module COpikAttachments: a refused option says why: %s\n", opik_error_message(refused));
    opik_error_free(refused);
    opik_options_free(o);

    opik_client *client = NULL;
    opik_attachment *a = NULL;
    opik_error *err = NULL;
    size_t total = 0;
    const char *span = "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a99";
    s = opik_client_new(NULL, &client, &err);
    if (s == OPIK_OK) s = opik_attachment_from_bytes((const uint8_t *)"module", 6, "module.txt", NULL, &a, &err);
    if (s == OPIK_OK) s = opik_upload(client, "swift-module", kind, span, a, &err);
    if (s == OPIK_OK) s = opik_download(client, "swift-module", kind, span, "module.txt", NULL, collect, &total, &err);
    if (s != OPIK_OK) fprintf(stderr, "%s: %s\n", opik_status_str(s), opik_error_message(err));
    opik_error_free(err);
    opik_attachment_free(a);
    opik_client_free(client);
    int ok = s == OPIK_OK && total == 6;
    printf("module COpikAttachments: %s\n", ok ? "upload and download through the module: ok" : "FAILED");
    ok &= traces_through_the_module();
    return ok ? 0 : 1;
}
