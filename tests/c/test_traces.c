/* Traces and spans through the C API: one scenario per run (tests/traces.rs starts the test server,
 * sets its faults, and checks what it stored). The program checks what the API reports: statuses,
 * ids, messages, counters and log lines.
 * Usage: test_traces SCENARIO. Prints "ID <kind> <id>" lines the harness reads. */
#include "test_util.h"

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Log lines collected by the callback (any library thread). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];
static size_t log_len = 0;
static int log_errors = 0, log_warns = 0;

static void on_log(void *user_data, opik_log_level level, const char *message) {
    (void)user_data;
    pthread_mutex_lock(&log_lock);
    if (level == OPIK_LOG_ERROR) log_errors++;
    if (level == OPIK_LOG_WARN) log_warns++;
    size_t n = strlen(message);
    if (log_len + n + 2 < sizeof log_text) {
        memcpy(log_text + log_len, message, n);
        log_len += n;
        log_text[log_len++] = '\n';
        log_text[log_len] = 0;
    }
    pthread_mutex_unlock(&log_lock);
}

static int log_has(const char *needle) {
    pthread_mutex_lock(&log_lock);
    int found = strstr(log_text, needle) != NULL;
    pthread_mutex_unlock(&log_lock);
    return found;
}

static opik_client *client_with(uint32_t max_queued) {
    opik_options *o = opik_options_new();
    /* A low threshold, so a small picture counts as embedded media (default 256,000). */
    CHECK_STATUS(OPIK_OK, opik_options_set_embedded_media(o, true, 100, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_embedded_media(o, true, 3, ERR));
    CHECK_STATUS(OPIK_OK, opik_options_set_log_callback(o, OPIK_LOG_DEBUG, on_log, NULL, ERR));
    CHECK_STATUS(OPIK_OK, opik_options_set_project_name(o, "c-traces", ERR));
    if (max_queued) CHECK_STATUS(OPIK_OK, opik_options_set_queue_limits(o, max_queued, 1u << 30, ERR));
    opik_client *c = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_new(o, &c, ERR));
    opik_options_free(o);
    return c;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A UUID version 7 in lower-case text form. */
static int is_uuid_v7(const char *id) {
    if (!id || strlen(id) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        char ch = id[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-') return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    return id[14] == '7' && strchr("89ab", id[19]) != NULL;
}

static opik_attachment *bytes_attachment(const char *name, size_t len) {
    uint8_t *data = malloc(len ? len : 1);
    uint64_t seed = len + 7;
    t_fill(data, len, &seed);
    opik_attachment *a = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(data, len, name, "application/octet-stream", &a, ERR));
    free(data);
    return a;
}

/* Arguments, ids, JSON checks, discard: no server needed beyond client creation. */
static void contract(opik_client *c) {
    opik_trace *t = NULL;
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_start(NULL, NULL, "x", &t, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_start(c, NULL, "x", NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_start(c, "", "x", &t, ERR));
    CHECK(t == NULL);
    CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, NULL, &t, ERR));
    CHECK(is_uuid_v7(opik_trace_id(t)));
    CHECK(opik_trace_id(NULL) == NULL && opik_span_id(NULL) == NULL);

    /* JSON: invalid text names line and column; NULL and bad UTF-8 refused. */
    opik_error *e = NULL;
    CHECK(opik_trace_set_input(t, "{\n  \"a\": 1,\n  \"b\": ]\n}", &e) == OPIK_ERR_INVALID_ARGUMENT);
    CHECK(e && strstr(opik_error_message(e), "line 3, column 8") != NULL);
    opik_error_free(e);
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_set_output(t, NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_set_metadata(t, "\xff", ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_set_input(NULL, "{}", ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_add_tag(t, "", ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_set_error(t, NULL, "m", "tb", ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_attach(t, NULL, ERR));

    /* Spans: type checked, parent/trace agreement checked, ids distinct. */
    opik_span *s = NULL, *s2 = NULL;
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_span_start(NULL, NULL, "x", OPIK_SPAN_LLM, &s, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_span_start(t, NULL, "x", 4, &s, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_span_start(t, NULL, "x", -1, &s, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_start(t, NULL, "s", OPIK_SPAN_LLM, &s, ERR));
    CHECK(is_uuid_v7(opik_span_id(s)) && strcmp(opik_span_id(s), opik_trace_id(t)) != 0);
    opik_trace *other = NULL;
    CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, NULL, &other, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_span_start(other, s, "x", OPIK_SPAN_TOOL, &s2, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_start(NULL, s, "child", OPIK_SPAN_TOOL, &s2, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_span_set_usage(s, -2, 1, 1, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_set_usage(s, -1, -1, -1, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_set_model(s, NULL, NULL, ERR));

    /* End consumes; NULL refused; discard frees without sending. */
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_trace_end(NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_span_end(NULL, ERR));
    opik_span_discard(s2);
    opik_span_discard(s);
    opik_trace_discard(other);
    opik_trace_discard(t);
    opik_trace_discard(NULL);
    opik_span_discard(NULL);
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 5000, ERR));
    CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 0);
    CHECK(opik_client_counter(c, 99) == 0 && opik_client_counter(NULL, 0) == 0);
}

/* A trace with spans, every field, attachments; ended trace first. */
static void send_one(opik_client *c) {
    opik_trace *t = NULL;
    opik_span *llm = NULL, *tool = NULL;
    CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "frame 1", &t, ERR));
    CHECK_STATUS(OPIK_OK, opik_trace_set_input(t, "\"a prompt\"", ERR));
    CHECK_STATUS(OPIK_OK, opik_trace_set_output(t, "{\"answer\": 42}", ERR));
    CHECK_STATUS(OPIK_OK, opik_trace_set_metadata(t, "[1, 2]", ERR));
    CHECK_STATUS(OPIK_OK, opik_trace_add_tag(t, "game", ERR));
    CHECK_STATUS(OPIK_OK, opik_trace_add_tag(t, "c", ERR));
    CHECK_STATUS(OPIK_OK, opik_trace_set_thread_id(t, "session-1", ERR));
    CHECK_STATUS(OPIK_OK, opik_span_start(t, NULL, "llm call", OPIK_SPAN_LLM, &llm, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_set_model(llm, "gpt-4o", "openai", ERR));
    CHECK_STATUS(OPIK_OK, opik_span_set_usage(llm, 10, 5, 15, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_set_input(llm, "{\"messages\": []}", ERR));
    CHECK_STATUS(OPIK_OK, opik_span_start(NULL, llm, "tool", OPIK_SPAN_TOOL, &tool, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_set_error(tool, "ValueError", "bad", NULL, ERR));
    opik_attachment *shot = bytes_attachment("shot.bin", 3000);
    opik_attachment *note = bytes_attachment("note.bin", 10);
    CHECK_STATUS(OPIK_OK, opik_trace_attach(t, shot, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_attach(llm, note, ERR));
    opik_attachment_free(shot); /* may be freed right after attach */
    opik_attachment_free(note);
    printf("ID trace %s\nID llm %s\nID tool %s\n", opik_trace_id(t), opik_span_id(llm), opik_span_id(tool));
    fflush(stdout);
    CHECK_STATUS(OPIK_OK, opik_trace_end(t, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_end(tool, ERR));
    CHECK_STATUS(OPIK_OK, opik_span_end(llm, ERR));
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 20000, ERR));
    CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 3);
    CHECK(opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_SENT) == 2);
    CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_FAILED) == 0);
    CHECK(opik_client_counter(c, OPIK_COUNTER_BYTES_SENT) >= 3010);
}

/* The outbox, across a kill -9: "record DIR" ends traces and spans with attachments while the server
 * refuses every batch (503), prints ENDED and waits to be killed; "resume DIR" is the next process on
 * the same directory, which delivers them. */
static int outbox(const char *mode, const char *dir) {
    opik_options *o = opik_options_new();
    CHECK_STATUS(OPIK_OK, opik_options_set_log_callback(o, OPIK_LOG_DEBUG, on_log, NULL, ERR));
    CHECK_STATUS(OPIK_OK, opik_options_set_project_name(o, "c-traces", ERR));
    CHECK_STATUS(OPIK_OK, opik_options_set_outbox_dir(o, dir, ERR));
    opik_client *c = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_new(o, &c, ERR));
    opik_options_free(o);
    if (strcmp(mode, "record") == 0) {
        for (int i = 0; i < 5; i++) {
            opik_trace *t = NULL;
            opik_span *s = NULL;
            CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "kept", &t, ERR));
            CHECK_STATUS(OPIK_OK, opik_span_start(t, NULL, "step", OPIK_SPAN_LLM, &s, ERR));
            opik_attachment *a = bytes_attachment("frame.bin", 1000 + (size_t)i);
            CHECK_STATUS(OPIK_OK, opik_span_attach(s, a, ERR));
            opik_attachment_free(a);
            printf("ID trace %s\nID span %s\n", opik_trace_id(t), opik_span_id(s));
            CHECK_STATUS(OPIK_OK, opik_span_end(s, ERR));
            CHECK_STATUS(OPIK_OK, opik_trace_end(t, ERR));
        }
        printf("ENDED %d\n", t_failed);
        fflush(stdout);
        for (;;) sleep_ms(1000); /* killed here */
    }
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 60000, ERR));
    CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 10);
    CHECK(opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_SENT) == 5);
    CHECK(log_has("resuming 10 traces and spans"));
    opik_client_free(c);
    if (t_failed) fprintf(stderr, "library log:\n%s", log_text);
    return t_finish("outbox resume");
}

static char *base64(const uint8_t *data, size_t len) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) |
                     (i + 2 < len ? data[i + 2] : 0);
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* A trace whose input holds a base64 PNG (as a data: URI): the picture becomes an attachment named
 * as the placeholder that replaced it, and downloads byte-identical. */
static void embedded(opik_client *c) {
    uint8_t png[3000];
    uint64_t seed = 99;
    t_fill(png, sizeof png, &seed);
    memcpy(png, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    char *b64 = base64(png, sizeof png);
    size_t cap = strlen(b64) + 200;
    char *json = malloc(cap);
    snprintf(json, cap, "{\"messages\": [{\"role\": \"user\", \"image_url\": \"data:image/png;base64,%s\"}]}", b64);
    opik_trace *t = NULL;
    CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "vision", &t, ERR));
    CHECK_STATUS(OPIK_OK, opik_trace_set_input(t, json, ERR));
    char id[37];
    snprintf(id, sizeof id, "%s", opik_trace_id(t));
    printf("ID trace %s\n", id);
    CHECK_STATUS(OPIK_OK, opik_trace_end(t, ERR));
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 20000, ERR));
    CHECK(opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_SENT) == 1);
    opik_attachment_list *l = NULL;
    CHECK_STATUS(OPIK_OK, opik_list(c, NULL, OPIK_ENTITY_TRACE, id, &l, ERR));
    CHECK(l && opik_attachment_list_len(l) == 1);
    const char *name = l ? opik_attachment_list_file_name(l, 0) : NULL;
    CHECK(name && strncmp(name, "input-attachment-", 17) == 0 && strstr(name, "-sdk.png") != NULL);
    if (name) {
        printf("NAME %s\n", name);
        t_buffer got = {0};
        CHECK_STATUS(OPIK_OK, opik_download(c, NULL, OPIK_ENTITY_TRACE, id, name, NULL, t_buffer_write, &got, ERR));
        CHECK(got.len == sizeof png && memcmp(got.data, png, sizeof png) == 0);
        free(got.data);
    }
    opik_attachment_list_free(l);
    free(json);
    free(b64);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *scenario = argv[1];
    if (strcmp(scenario, "outbox") == 0 && argc == 4) return outbox(argv[2], argv[3]);
    opik_client *c = client_with(strcmp(scenario, "queue_limits") == 0 ? 3 : 0);
    if (strcmp(scenario, "contract") == 0) {
        contract(c);
    } else if (strcmp(scenario, "send") == 0) {
        send_one(c);
    } else if (strcmp(scenario, "embedded") == 0) {
        embedded(c);
    } else if (strcmp(scenario, "batching") == 0) {
        /* 2,500 spans ended at once go out in batches of at most 1,000 (the harness counts). */
        opik_trace *t = NULL;
        CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "many", &t, ERR));
        for (int i = 0; i < 2500; i++) {
            opik_span *s = NULL;
            CHECK_STATUS(OPIK_OK, opik_span_start(t, NULL, "s", OPIK_SPAN_GENERAL, &s, ERR));
            CHECK_STATUS(OPIK_OK, opik_span_set_input(s, "{\"i\": 1}", ERR));
            CHECK_STATUS(OPIK_OK, opik_span_end(s, ERR));
        }
        CHECK_STATUS(OPIK_OK, opik_trace_end(t, ERR));
        CHECK_STATUS(OPIK_OK, opik_client_flush(c, 30000, ERR));
        CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 2501);
    } else if (strcmp(scenario, "age") == 0) {
        /* Without a flush, an entity leaves within about 1 s, not at once. */
        opik_trace *t = NULL;
        CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "aged", &t, ERR));
        double t0 = now_s();
        CHECK_STATUS(OPIK_OK, opik_trace_end(t, ERR));
        sleep_ms(300);
        CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 0);
        while (opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 0 && now_s() - t0 < 5.0) sleep_ms(10);
        double waited = now_s() - t0;
        printf("RESULT age seconds=%.3f\n", waited);
        CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 1);
        CHECK(waited >= 0.9 && waited < 2.5);
    } else if (strcmp(scenario, "refused") == 0) {
        /* The harness makes the server refuse trace batches (400): counted, logged, flush returns. */
        opik_trace *t = NULL;
        opik_attachment *a = bytes_attachment("lost.bin", 10);
        CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "refused", &t, ERR));
        CHECK_STATUS(OPIK_OK, opik_trace_attach(t, a, ERR));
        opik_attachment_free(a);
        char id[37];
        snprintf(id, sizeof id, "%s", opik_trace_id(t));
        CHECK_STATUS(OPIK_OK, opik_trace_end(t, ERR));
        CHECK_STATUS(OPIK_OK, opik_client_flush(c, 20000, ERR));
        CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_FAILED) == 1);
        CHECK(opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_FAILED) == 1);
        CHECK(log_errors >= 2 && log_has(id) && log_has("lost.bin"));
        CHECK(!log_has(t_env("OPIK_API_KEY", "no key set")));
    } else if (strcmp(scenario, "retried") == 0) {
        /* The harness answers the first span batch with 503: retried, counted, logged at WARN with
         * the batch's context, then delivered. */
        opik_trace *t = NULL;
        opik_span *s = NULL;
        CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "retried", &t, ERR));
        CHECK_STATUS(OPIK_OK, opik_span_start(t, NULL, "s", OPIK_SPAN_GENERAL, &s, ERR));
        CHECK_STATUS(OPIK_OK, opik_span_end(s, ERR));
        CHECK_STATUS(OPIK_OK, opik_trace_end(t, ERR));
        CHECK_STATUS(OPIK_OK, opik_client_flush(c, 20000, ERR));
        CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 2);
        CHECK(opik_client_counter(c, OPIK_COUNTER_RETRIES) >= 1);
        CHECK(log_warns >= 1 && log_has("span batch") && log_has("HTTP 503"));
    } else if (strcmp(scenario, "queue_limits") == 0) {
        /* Queue limit 3 entities: ending a 4th while nothing went out yet is refused. */
        opik_trace *ts[4];
        for (int i = 0; i < 4; i++) CHECK_STATUS(OPIK_OK, opik_trace_start(c, NULL, "q", &ts[i], ERR));
        for (int i = 0; i < 3; i++) CHECK_STATUS(OPIK_OK, opik_trace_end(ts[i], ERR));
        opik_error *e = NULL;
        CHECK(opik_trace_end(ts[3], &e) == OPIK_ERR_TOO_LARGE); /* consumed anyway */
        CHECK(e && strstr(opik_error_message(e), "not sent") != NULL);
        opik_error_free(e);
        CHECK_STATUS(OPIK_OK, opik_client_flush(c, 20000, ERR));
        CHECK(opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT) == 3);
    } else if (strcmp(scenario, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            opik_trace *t = NULL;
            int ok = opik_trace_start(c, NULL, "child", &t, NULL) == OPIK_ERR_FORKED && t == NULL;
            _exit(ok ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        send_one(c);
    } else {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    opik_client_free(c);
    if (t_failed) fprintf(stderr, "library log:\n%s", log_text);
    return t_finish(scenario);
}
