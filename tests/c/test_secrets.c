/* The secrets sweep (issue 11): every operation of the C API against a server that echoes the
 * request's headers (and so the API key) in its error answers, under the fault rules the harness
 * (tests/secrets.rs) set. No error message may contain the key: blocking upload, list, download,
 * delete, the on_done message of opik_upload_async, and of an upload through the durable outbox.
 * Prints one line per operation: MSG <op> <status> <message>. The harness checks what the server
 * and its recorder saw.
 * Every log line of the library (the log callback at DEBUG, so every line is made) is checked the
 * same way, and must not carry a presigned URL's query (X-Amz-Signature) either.
 * Usage: test_secrets OUTBOX_DIR, with OPIK_TEST_ENTITY_ID naming the trace to use. */
#include "test_util.h"

#include <pthread.h>
#include <time.h>

static const char *g_key;

static void check_message(const char *op, opik_status s, const char *message) {
    printf("MSG %s %s %s\n", op, opik_status_str(s), message ? message : "");
    fflush(stdout);
    CHECK(message == NULL || strstr(message, g_key) == NULL);
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_lines = 0;

/* Any library thread: count the line and check it (CHECK's counters are guarded here). */
static void on_log(void *user_data, opik_log_level level, const char *line) {
    (void)user_data;
    (void)level;
    pthread_mutex_lock(&log_mu);
    log_lines++;
    printf("LOG %s\n", line);
    fflush(stdout);
    CHECK(strstr(line, g_key) == NULL);
    CHECK(strstr(line, "X-Amz-Signature") == NULL);
    pthread_mutex_unlock(&log_mu);
}

static opik_client *client(const char *outbox) {
    opik_options *o = opik_options_new();
    opik_options_set_log_callback(o, OPIK_LOG_DEBUG, on_log, NULL, NULL);
    opik_options_set_timeout_ms(o, 3000, NULL);
    opik_options_set_shutdown_timeout_ms(o, 300, NULL);
    if (outbox) opik_options_set_outbox_dir(o, outbox, NULL);
    return t_client_with(o);
}

/* Starts one background upload (through the outbox when the client has one) and waits a bounded
 * time for it. The caller frees the client (which runs a pending on_done, with OPIK_ERR_SHUTDOWN)
 * and then checks the message with finish_background. */
static void background(opik_client *c, const char *op, const char *id, const opik_attachment *a, t_done *box) {
    opik_error *err = NULL;
    opik_status s = opik_upload_async(c, "c-secrets", OPIK_ENTITY_TRACE, id, a, t_on_done, box, NULL, NULL, &err);
    if (s != OPIK_OK) {
        check_message(op, s, opik_error_message(err));
        opik_error_free(err);
        box->done = -1;
        return;
    }
    s = opik_client_flush(c, 1500, &err);
    if (s != OPIK_OK) check_message("flush", s, opik_error_message(err));
    opik_error_free(err);
}

static void finish_background(const char *op, t_done *box) {
    if (box->done < 0) return;
    t_wait_done(box, 1000);
    CHECK(box->done == 1);
    check_message(op, box->status, box->message);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *outbox = argv[1];
    const char *id = t_env("OPIK_TEST_ENTITY_ID", "");
    g_key = t_env("OPIK_API_KEY", "?");
    opik_client *c = client(NULL);
    opik_error *err = NULL;
    opik_status s;

    /* 3 MiB: one direct PUT, or one part. */
    size_t len = 3u << 20;
    uint8_t *data = (uint8_t *)malloc(len);
    uint64_t seed = 5;
    t_fill(data, len, &seed);
    opik_attachment *a = NULL;
    s = opik_attachment_from_bytes(data, len, "sec.bin", NULL, &a, &err);
    CHECK(s == OPIK_OK);
    free(data);

    s = opik_upload(c, "c-secrets", OPIK_ENTITY_TRACE, id, a, &err);
    check_message("upload", s, s == OPIK_OK ? NULL : opik_error_message(err));
    opik_error_free(err);
    err = NULL;

    opik_attachment_list *l = NULL;
    s = opik_list(c, "c-secrets", OPIK_ENTITY_TRACE, id, &l, &err);
    check_message("list", s, s == OPIK_OK ? NULL : opik_error_message(err));
    for (size_t i = 0; l && i < opik_attachment_list_len(l); i++) {
        const char *link = opik_attachment_list_link(l, i);
        CHECK(link == NULL || strstr(link, g_key) == NULL);
    }
    opik_attachment_list_free(l);
    opik_error_free(err);
    err = NULL;

    t_buffer b = {0};
    s = opik_download(c, "c-secrets", OPIK_ENTITY_TRACE, id, "sec.bin", NULL, t_buffer_write, &b, &err);
    check_message("download", s, s == OPIK_OK ? NULL : opik_error_message(err));
    free(b.data);
    opik_error_free(err);
    err = NULL;

    const char *names[] = {"sec.bin"};
    s = opik_delete(c, "c-secrets", OPIK_ENTITY_TRACE, id, names, 1, &err);
    check_message("delete", s, s == OPIK_OK ? NULL : opik_error_message(err));
    opik_error_free(err);
    err = NULL;

    t_done bg = T_DONE_INIT;
    background(c, "upload_async", id, a, &bg);
    opik_client_free(c);
    finish_background("upload_async", &bg);

    t_done ob = T_DONE_INIT;
    opik_client *oc = client(outbox);
    background(oc, "outbox_upload", id, a, &ob);
    opik_client_free(oc);
    finish_background("outbox_upload", &ob);

    opik_attachment_free(a);
    pthread_mutex_lock(&log_mu);
    printf("RESULT log_lines=%d\n", log_lines);
    pthread_mutex_unlock(&log_mu);
    return t_finish("secrets");
}
