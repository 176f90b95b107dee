/* Issue 11: one scenario per run against a hostile test server (the harness, tests/hostile.rs,
 * sets the fault rules before the program starts and checks afterwards what the server and its
 * recorder saw). Each scenario checks the status, a bound on time (clock_gettime) and a bound on
 * peak memory (VmHWM), and prints one line for the report:
 *   RESULT <scenario> status=<name> seconds=<s> vmhwm_mib=<m>
 * A watchdog thread ends the process (exit 3) if its resident memory passes OPIK_TEST_RSS_KILL_MIB
 * (default 1024) or (exit 4) if the scenario runs longer than OPIK_TEST_TIME_KILL_S (default 60),
 * so a library that misbehaves cannot take the machine or the test run down with it.
 * Usage: test_hostile SCENARIO [ARG], with OPIK_TEST_ENTITY_ID naming the trace to use and
 * OPIK_TEST_HWM_MIB the peak-memory bound (64 plain; the harness raises it under ASan). */
#include "test_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *g_scenario = "";
static double g_start;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A field of /proc/self/status in KiB (VmHWM, VmRSS), 0 if unreadable. */
static long proc_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long v = 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static void *watchdog(void *arg) {
    (void)arg;
    long rss_kill = atol(t_env("OPIK_TEST_RSS_KILL_MIB", "1024")) * 1024;
    double time_kill = atof(t_env("OPIK_TEST_TIME_KILL_S", "60"));
    for (;;) {
        long rss = proc_kib("VmRSS");
        double t = now_s() - g_start;
        if (rss > rss_kill) {
            printf("RESULT %s status=KILLED_RSS seconds=%.2f vmhwm_mib=%ld\n", g_scenario, t, rss / 1024);
            fflush(stdout);
            _exit(3);
        }
        if (t > time_kill) {
            printf("RESULT %s status=KILLED_TIME seconds=%.2f vmhwm_mib=%ld\n", g_scenario, t,
                   proc_kib("VmHWM") / 1024);
            fflush(stdout);
            _exit(4);
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static opik_client *client_with(uint64_t timeout_ms, uint64_t shutdown_ms) {
    opik_options *o = opik_options_new();
    if (timeout_ms) opik_options_set_timeout_ms(o, timeout_ms, NULL);
    if (shutdown_ms) opik_options_set_shutdown_timeout_ms(o, shutdown_ms, NULL);
    return t_client_with(o);
}

/* The report line, and the time and memory bounds. */
static void report(const char *what, opik_status s, double seconds, double max_seconds) {
    long hwm = proc_kib("VmHWM");
    long hwm_bound = atol(t_env("OPIK_TEST_HWM_MIB", "64")) * 1024;
    printf("RESULT %s status=%s seconds=%.2f vmhwm_mib=%.1f\n", what, opik_status_str(s), seconds,
           (double)hwm / 1024.0);
    fflush(stdout);
    if (seconds > max_seconds) fprintf(stderr, "FAIL %s: %.2f s > %.2f s\n", what, seconds, max_seconds);
    CHECK(seconds <= max_seconds);
    if (hwm > hwm_bound) fprintf(stderr, "FAIL %s: VmHWM %ld KiB > %ld KiB\n", what, hwm, hwm_bound);
    CHECK(hwm <= hwm_bound);
}

#define EXPECT(what, s, expected)                                                              \
    do {                                                                                       \
        if ((s) != (expected))                                                                 \
            fprintf(stderr, "FAIL %s: expected %s, got %s: %s\n", what, opik_status_str(expected), \
                    opik_status_str(s), err ? opik_error_message(err) : "");                   \
        CHECK((s) == (expected));                                                              \
    } while (0)

/* Writes `len` pseudo-random bytes (seed `seed`, the generator of test_util.h) to `path`. */
static void write_file(const char *path, size_t len, uint64_t seed) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    uint8_t *buf = (uint8_t *)malloc(1 << 20);
    while (len > 0) {
        size_t n = len < (1u << 20) ? len : (1u << 20);
        t_fill(buf, n, &seed);
        fwrite(buf, 1, n, f);
        len -= n;
    }
    free(buf);
    fclose(f);
}

static opik_status upload_file(opik_client *c, const char *id, const char *path, const char *name,
                               opik_error **err) {
    opik_attachment *a = NULL;
    opik_status s = opik_attachment_from_file(path, name, NULL, &a, err);
    if (s == OPIK_OK) s = opik_upload(c, "c-hostile", OPIK_ENTITY_TRACE, id, a, err);
    opik_attachment_free(a);
    return s;
}

static opik_status upload_small(opik_client *c, const char *id, size_t len, opik_error **err) {
    return t_upload_filled(c, "c-hostile", id, "small.bin", len, err);
}

static char g_path[256];

static const char *tmp_path(const char *name) {
    snprintf(g_path, sizeof g_path, "%s/opik-hostile-%d-%s", t_env("TMPDIR", "/tmp"), (int)getpid(), name);
    return g_path;
}

/* ---- scenario 6: truncate the file while its upload is in flight ---- */
typedef struct {
    const char *path;
    int delay_ms;
} truncate_job;

static void *truncate_later(void *arg) {
    truncate_job *j = (truncate_job *)arg;
    struct timespec ts = {j->delay_ms / 1000, (long)(j->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    if (truncate(j->path, 0) != 0) perror("truncate");
    return NULL;
}

/* ---- scenario 7: a blocking upload on another thread ---- */
typedef struct {
    opik_client *c;
    const char *id;
    opik_attachment *a;
    opik_status status;
    volatile int done;
} upload_job;

static void *upload_thread(void *arg) {
    upload_job *j = (upload_job *)arg;
    opik_error *err = NULL;
    j->status = opik_upload(j->c, "c-hostile", OPIK_ENTITY_TRACE, j->id, j->a, &err);
    opik_error_free(err);
    __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* ---- scenario 8: opik_client_free inside on_data ---- */
typedef struct {
    opik_client *c;
    size_t calls_after_free;
    size_t bytes;
    int freed;
} free_job;

static int32_t free_on_data(void *user_data, const uint8_t *chunk, size_t len) {
    (void)chunk;
    free_job *j = (free_job *)user_data;
    if (j->freed) {
        j->calls_after_free++;
        return 0;
    }
    j->bytes += len;
    opik_client_free(j->c);
    j->freed = 1;
    return 0;
}

static int32_t sha_on_data(void *user_data, const uint8_t *chunk, size_t len) {
    t_sha256_update((t_sha256 *)user_data, chunk, len);
    return 0;
}

/* SHA-256 of the content write_file(path, len, seed) writes. */
static void expected_sha(size_t len, uint64_t seed, char out[65]) {
    t_sha256 s;
    t_sha256_init(&s);
    uint8_t *buf = (uint8_t *)malloc(1 << 20);
    while (len > 0) {
        size_t n = len < (1u << 20) ? len : (1u << 20);
        t_fill(buf, n, &seed);
        t_sha256_update(&s, buf, n);
        len -= n;
    }
    free(buf);
    t_sha256_hex(&s, out);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    g_scenario = argv[1];
    const char *sc = argv[1];
    const char *arg = argc > 2 ? argv[2] : "";
    const char *id = t_env("OPIK_TEST_ENTITY_ID", "");
    const char *key = t_env("OPIK_API_KEY", "?");
    g_start = now_s();
    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    pthread_detach(dog);
    opik_error *err = NULL;
    opik_status s;
    double t0;

    if (strcmp(sc, "slow_upload") == 0) {
        /* 1: a slow link that never stalls. ARG = "SIZE_MIB TIMEOUT_MS" (the harness throttles the
         * server's reading). Must succeed, within the time the rate needs plus a margin. */
        int mib = 16, timeout_ms = 2000;
        sscanf(arg, "%d %d", &mib, &timeout_ms);
        const char *path = tmp_path("slow.bin");
        write_file(path, (size_t)mib << 20, 11);
        opik_client *c = client_with((uint64_t)timeout_ms, 0);
        t0 = now_s();
        s = upload_file(c, id, path, "slow.bin", &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_OK);
        report(sc, s, took, 15.0);
        unlink(path);
        opik_client_free(c);
    } else if (strcmp(sc, "stalled_upload") == 0) {
        /* 1: the server stops reading for longer than the timeout: OPIK_ERR_TIMEOUT within
         * attempts x (timeout + backoff). */
        const char *path = tmp_path("stall.bin");
        write_file(path, 16u << 20, 12);
        opik_client *c = client_with(1000, 0);
        t0 = now_s();
        s = upload_file(c, id, path, "stall.bin", &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_ERR_TIMEOUT);
        report(sc, s, took, 5 * (1.0 + 1.6) + 3.0);
        unlink(path);
        opik_client_free(c);
    } else if (strcmp(sc, "slow_download") == 0) {
        /* 1: a slow download (the server's sending is throttled) with a short timeout. */
        const char *path = tmp_path("down.bin");
        size_t len = 8u << 20;
        write_file(path, len, 13);
        opik_client *c = client_with(1000, 0);
        s = upload_file(c, id, path, "down.bin", &err);
        EXPECT("slow_download upload", s, OPIK_OK);
        t_sha256 got;
        t_sha256_init(&got);
        t0 = now_s();
        s = opik_download(c, "c-hostile", OPIK_ENTITY_TRACE, id, "down.bin", NULL, sha_on_data, &got, &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_OK);
        char want[65], have[65];
        expected_sha(len, 13, want);
        t_sha256_hex(&got, have);
        CHECK(strcmp(want, have) == 0);
        report(sc, s, took, 15.0);
        unlink(path);
        opik_client_free(c);
    } else if (strcmp(sc, "huge_start") == 0) {
        /* 2: a huge or endless 200 answer to upload-start. */
        opik_client *c = client_with(5000, 0);
        t0 = now_s();
        s = upload_small(c, id, 10, &err);
        double took = now_s() - t0;
        CHECK(s == OPIK_ERR_PROTOCOL || s == OPIK_ERR_TOO_LARGE);
        if (s != OPIK_ERR_PROTOCOL && s != OPIK_ERR_TOO_LARGE)
            fprintf(stderr, "FAIL %s: got %s: %s\n", sc, opik_status_str(s), opik_error_message(err));
        report(sc, s, took, 10.0);
        opik_client_free(c);
    } else if (strcmp(sc, "huge_list") == 0 || strcmp(sc, "endless_pages") == 0) {
        /* 2, 3: a huge or endless answer to list, or pages that never end: an error, never
         * OPIK_OK with a truncated list. The upload first makes the project exist. */
        opik_client *c = client_with(5000, 0);
        s = upload_small(c, id, 10, &err);
        EXPECT("list setup upload", s, OPIK_OK);
        opik_attachment_list *l = NULL;
        t0 = now_s();
        s = opik_list(c, "c-hostile", OPIK_ENTITY_TRACE, id, &l, &err);
        double took = now_s() - t0;
        if (s == OPIK_OK) printf("listed %zu entries\n", opik_attachment_list_len(l));
        if (strcmp(sc, "endless_pages") == 0) {
            EXPECT(sc, s, OPIK_ERR_PROTOCOL);
        } else {
            CHECK(s == OPIK_ERR_PROTOCOL || s == OPIK_ERR_TOO_LARGE);
        }
        report(sc, s, took, 10.0);
        opik_attachment_list_free(l);
        opik_client_free(c);
    } else if (strcmp(sc, "echo_key") == 0) {
        /* 4: error bodies that echo the key: the blocking message, and the on_done message of a
         * background upload, say [REDACTED] and never the key. */
        opik_client *c = client_with(5000, 0);
        t0 = now_s();
        s = upload_small(c, id, 10, &err);
        CHECK(s != OPIK_OK);
        const char *m = err ? opik_error_message(err) : "";
        printf("blocking message: %s\n", m);
        CHECK(strstr(m, key) == NULL);
        CHECK(strstr(m, "[REDACTED]") != NULL);
        opik_error_free(err);
        err = NULL;

        t_done box = T_DONE_INIT;
        uint8_t data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        opik_attachment *a = NULL;
        CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(data, sizeof data, "bg.bin", NULL, &a, ERR));
        opik_op *op = NULL;
        CHECK_STATUS(OPIK_OK, opik_upload_async(c, "c-hostile", OPIK_ENTITY_TRACE, id, a, t_on_done, &box, NULL, &op, ERR));
        CHECK(opik_op_wait(op, 30000) == OPIK_OK);
        CHECK(t_wait_done(&box, 1000));
        CHECK(opik_op_status(op) == box.status);
        CHECK(box.status != OPIK_OK);
        printf("on_done message: %s\n", box.message);
        CHECK(strstr(box.message, key) == NULL);
        CHECK(strstr(box.message, "[REDACTED]") != NULL);
        report(sc, box.status, now_s() - t0, 30.0);
        opik_op_free(op);
        opik_attachment_free(a);
        opik_client_free(c);
    } else if (strcmp(sc, "redirect") == 0) {
        /* 5: a redirect (of upload-start, of the direct PUT, or of list; the harness chooses)
         * to another port: the call fails with OPIK_ERR_PROTOCOL. ARG = size of the upload. */
        size_t len = (size_t)atol(arg[0] ? arg : "10");
        opik_client *c = client_with(5000, 0);
        t0 = now_s();
        s = upload_small(c, id, len, &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_ERR_PROTOCOL);
        report(sc, s, took, 10.0);
        opik_client_free(c);
    } else if (strcmp(sc, "redirect_list") == 0) {
        opik_client *c = client_with(5000, 0);
        s = upload_small(c, id, 10, &err);
        EXPECT("redirect_list setup", s, OPIK_OK);
        opik_attachment_list *l = NULL;
        t0 = now_s();
        s = opik_list(c, "c-hostile", OPIK_ENTITY_TRACE, id, &l, &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_ERR_PROTOCOL);
        report(sc, s, took, 10.0);
        opik_attachment_list_free(l);
        opik_client_free(c);
    } else if (strcmp(sc, "truncated") == 0) {
        /* 6: the file shrinks to 0 bytes while its (slowly read) upload is in flight: a local
         * read failure, OPIK_ERR_IO, not retried (the harness counts the attempts). */
        const char *path = tmp_path("trunc.bin");
        write_file(path, 16u << 20, 14);
        opik_client *c = client_with(5000, 0);
        truncate_job j = {path, 1000};
        pthread_t th;
        pthread_create(&th, NULL, truncate_later, &j);
        t0 = now_s();
        s = upload_file(c, id, path, "trunc.bin", &err);
        double took = now_s() - t0;
        pthread_join(th, NULL);
        EXPECT(sc, s, OPIK_ERR_IO);
        report(sc, s, took, 10.0);
        unlink(path);
        opik_client_free(c);
    } else if (strcmp(sc, "fifo") == 0) {
        /* 7: the file is replaced by a FIFO after the attachment was made: opik_upload fails with
         * OPIK_ERR_IO within 2 s (no hang), a background upload too, and opik_client_free
         * returns within its shutdown timeout + 1 s. */
        const char *path = tmp_path("fifo.bin");
        char fifo[256];
        snprintf(fifo, sizeof fifo, "%s", path);
        write_file(fifo, 1000, 15);
        opik_attachment *a = NULL;
        CHECK_STATUS(OPIK_OK, opik_attachment_from_file(fifo, "fifo.bin", NULL, &a, ERR));
        unlink(fifo);
        CHECK(mkfifo(fifo, 0600) == 0);
        opik_client *c = client_with(5000, 1000);
        upload_job job = {c, id, a, OPIK_OK, 0};
        pthread_t th;
        t0 = now_s();
        pthread_create(&th, NULL, upload_thread, &job);
        while (!__atomic_load_n(&job.done, __ATOMIC_SEQ_CST) && now_s() - t0 < 2.0) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        int returned = __atomic_load_n(&job.done, __ATOMIC_SEQ_CST);
        double took = now_s() - t0;
        if (!returned) {
            /* Unblock the reader stuck in open() (a writer appears, then goes: end of file). */
            fprintf(stderr, "FAIL fifo: opik_upload still blocked after %.1f s\n", took);
            int w = open(fifo, O_WRONLY | O_NONBLOCK);
            if (w >= 0) close(w);
        }
        pthread_join(th, NULL);
        CHECK(returned);
        if (returned) {
            s = job.status;
            EXPECT("fifo blocking", s, OPIK_ERR_IO);
        }
        report("fifo_blocking", returned ? job.status : OPIK_ERR_TIMEOUT, took, 2.0);

        t_done box = T_DONE_INIT;
        t0 = now_s();
        CHECK_STATUS(OPIK_OK, opik_upload_async(c, "c-hostile", OPIK_ENTITY_TRACE, id, a, t_on_done, &box, NULL, NULL, ERR));
        int done = t_wait_done(&box, 2000);
        CHECK(done);
        if (done) CHECK(box.status == OPIK_ERR_IO);
        if (done && box.status != OPIK_ERR_IO)
            fprintf(stderr, "FAIL fifo async: %s: %s\n", opik_status_str(box.status), box.message);
        report("fifo_async", done ? box.status : OPIK_ERR_TIMEOUT, now_s() - t0, 2.0);
        t0 = now_s();
        opik_client_free(c);
        double free_took = now_s() - t0;
        report("fifo_client_free", OPIK_OK, free_took, 1.0 + 1.0);
        if (!done) {
            int w = open(fifo, O_WRONLY | O_NONBLOCK);
            if (w >= 0) close(w);
        }
        opik_attachment_free(a);
        unlink(fifo);
    } else if (strcmp(sc, "free_in_on_data") == 0) {
        /* 8: opik_client_free inside a download's on_data: the download stops with
         * OPIK_ERR_SHUTDOWN at the next chunk, on_data is not called again, no memory error. */
        opik_client *c = client_with(5000, 0);
        s = upload_small(c, id, 4u << 20, &err);
        EXPECT("free_in_on_data setup", s, OPIK_OK);
        free_job j = {c, 0, 0, 0};
        t0 = now_s();
        s = opik_download(c, "c-hostile", OPIK_ENTITY_TRACE, id, "small.bin", NULL, free_on_data, &j, &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_ERR_SHUTDOWN);
        CHECK(j.freed == 1);
        CHECK(j.calls_after_free == 0);
        if (j.calls_after_free) fprintf(stderr, "FAIL: on_data ran %zu times after the free\n", j.calls_after_free);
        report(sc, s, took, 10.0);
        /* c is gone: nothing else touches it. */
    } else if (strcmp(sc, "bad_link") == 0) {
        /* 9: upload URLs that cannot be requested: OPIK_ERR_PROTOCOL, at once (no retries). */
        opik_client *c = client_with(5000, 0);
        t0 = now_s();
        s = upload_small(c, id, 10, &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_ERR_PROTOCOL);
        report(sc, s, took, 5.0);
        opik_client_free(c);
    } else if (strcmp(sc, "bad_list_link") == 0) {
        /* 9: a list link that cannot be requested, for a download. */
        opik_client *c = client_with(5000, 0);
        s = upload_small(c, id, 10, &err);
        EXPECT("bad_list_link setup", s, OPIK_OK);
        t_buffer b = {0};
        t0 = now_s();
        s = opik_download(c, "c-hostile", OPIK_ENTITY_TRACE, id, "small.bin", NULL, t_buffer_write, &b, &err);
        double took = now_s() - t0;
        EXPECT(sc, s, OPIK_ERR_PROTOCOL);
        CHECK(b.len == 0);
        free(b.data);
        report(sc, s, took, 5.0);
        opik_client_free(c);
    } else {
        fprintf(stderr, "unknown scenario %s\n", sc);
        return 2;
    }
    opik_error_free(err);
    return t_finish(sc);
}
