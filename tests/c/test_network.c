/* One upload and one download through the C API, for the network-conditions matrix of
 * tests/network.rs (Toxiproxy between this program and the test server, and between it and storage).
 *
 * Usage: test_network FILE_NAME BYTES TIMEOUT_MS EXPECT_UPLOAD EXPECT_DOWNLOAD
 *   EXPECT_*: a status name (OPIK_OK, OPIK_ERR_NETWORK, ...); EXPECT_DOWNLOAD "-" skips the download.
 * Environment: OPIK_URL_OVERRIDE, OPIK_API_KEY (as the test server wants them).
 *
 * The harness sets the proxies' toxics between the steps, so each step waits for a line on stdin:
 *   prints "READY sha256=<hex of the file>", reads a line, uploads, prints
 *   "UPLOAD status=<name> seconds=<s> http=<n>"; then (unless skipped) prints "WAIT", reads a line,
 *   downloads into a SHA-256 and prints
 *   "DOWNLOAD status=<name> seconds=<s> bytes=<n> identical=yes|no".
 * Error messages go to stderr. Exits 0 when every status is the expected one and every successful
 * download is byte-identical to the file (SHA-256 and length). */
#include "test_util.h"

#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The status whose name is `name`, or -1. */
static int status_named(const char *name) {
    for (int s = 0; s <= 64; s++)
        if (strcmp(opik_status_str(s), name) == 0) return s;
    return -1;
}

/* Waits for the harness: one line on stdin. EOF means the harness is gone: stop. */
static void wait_for_go(const char *what) {
    char line[64];
    printf("%s\n", what);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) {
        fprintf(stderr, "test_network: stdin closed while waiting after %s\n", what);
        exit(3);
    }
}

typedef struct {
    t_sha256 sha;
    uint64_t bytes;
} sink;

static int32_t hash_chunk(void *user_data, const uint8_t *chunk, size_t len) {
    sink *s = (sink *)user_data;
    t_sha256_update(&s->sha, chunk, len);
    s->bytes += len;
    return 0;
}

static void report_error(const char *step, opik_status got, const opik_error *err) {
    if (got != OPIK_OK)
        fprintf(stderr, "test_network: %s: %s (http %d): %s\n", step, opik_status_str(got),
                (int)opik_error_http_status(err), err ? opik_error_message(err) : "(no error object)");
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: test_network FILE_NAME BYTES TIMEOUT_MS EXPECT_UPLOAD EXPECT_DOWNLOAD\n");
        return 2;
    }
    const char *file_name = argv[1];
    char *end = NULL;
    unsigned long long size = strtoull(argv[2], &end, 10);
    if (!end || *end || size == 0 || size > (1ull << 30)) return 2;
    unsigned long long timeout_ms = strtoull(argv[3], &end, 10);
    if (!end || *end || timeout_ms == 0) return 2;
    int want_up = status_named(argv[4]);
    int skip_down = strcmp(argv[5], "-") == 0;
    int want_down = skip_down ? OPIK_OK : status_named(argv[5]);
    if (want_up < 0 || want_down < 0) {
        fprintf(stderr, "test_network: unknown status name\n");
        return 2;
    }

    /* The file: pseudo-random bytes (not compressible), written and hashed in 1 MiB pieces. The
     * seed is the size, so the harness can compute the same content on its side. */
    char path[512];
    snprintf(path, sizeof path, "%s/opik-network-%d-%s", t_env("TMPDIR", "/tmp"), (int)getpid(), file_name);
    FILE *f = fopen(path, "wb");
    if (!f) return 2;
    uint8_t *buf = (uint8_t *)malloc(1 << 20);
    if (!buf) return 2;
    uint64_t seed = size;
    t_sha256 want;
    t_sha256_init(&want);
    for (unsigned long long left = size; left > 0;) {
        size_t n = left < (1u << 20) ? (size_t)left : (size_t)1 << 20;
        t_fill(buf, n, &seed);
        t_sha256_update(&want, buf, n);
        if (fwrite(buf, 1, n, f) != n) return 2;
        left -= n;
    }
    fclose(f);
    free(buf);
    char want_hex[65];
    t_sha256_hex(&want, want_hex);

    opik_options *o = opik_options_new();
    CHECK(o != NULL);
    CHECK(opik_options_set_url(o, t_env("OPIK_URL_OVERRIDE", ""), NULL) == OPIK_OK);
    CHECK(opik_options_set_api_key(o, t_env("OPIK_API_KEY", ""), NULL) == OPIK_OK);
    CHECK(opik_options_set_timeout_ms(o, timeout_ms, NULL) == OPIK_OK);
    opik_client *c = NULL;
    opik_error *err = NULL;
    if (opik_client_new(o, &c, &err) != OPIK_OK) {
        fprintf(stderr, "test_network: cannot create a client: %s\n", opik_error_message(err));
        return 2;
    }
    opik_options_free(o);
    opik_attachment *a = NULL;
    if (opik_attachment_from_file(path, file_name, "application/octet-stream", &a, &err) != OPIK_OK) {
        fprintf(stderr, "test_network: attachment: %s\n", opik_error_message(err));
        return 2;
    }
    char id[37];
    t_uuid(id);

    printf("READY sha256=%s\n", want_hex);
    wait_for_go("GO?");
    double t0 = now_s();
    opik_status up = opik_upload(c, "network-matrix", OPIK_ENTITY_SPAN, id, a, &err);
    double up_s = now_s() - t0;
    report_error("upload", up, err);
    printf("UPLOAD status=%s seconds=%.3f http=%d\n", opik_status_str(up), up_s,
           (int)opik_error_http_status(err));
    fflush(stdout);
    opik_error_free(err);
    err = NULL;
    CHECK(up == want_up);

    if (!skip_down && up == OPIK_OK) {
        wait_for_go("WAIT");
        sink got = {.bytes = 0};
        t_sha256_init(&got.sha);
        t0 = now_s();
        opik_status down = opik_download(c, "network-matrix", OPIK_ENTITY_SPAN, id, file_name, NULL, hash_chunk, &got,
                                         &err);
        double down_s = now_s() - t0;
        report_error("download", down, err);
        char got_hex[65];
        t_sha256_hex(&got.sha, got_hex);
        int identical = down == OPIK_OK && got.bytes == size && strcmp(got_hex, want_hex) == 0;
        printf("DOWNLOAD status=%s seconds=%.3f bytes=%llu identical=%s\n", opik_status_str(down), down_s,
               (unsigned long long)got.bytes, identical ? "yes" : "no");
        fflush(stdout);
        opik_error_free(err);
        err = NULL;
        CHECK(down == want_down);
        if (down == OPIK_OK) CHECK(identical);
    }

    opik_attachment_free(a);
    opik_client_free(c);
    unlink(path);
    return t_finish("test_network");
}
