/* The library's side of the benchmark suite (benches/run): one operation through the public C API,
 * timed from inside the process so that start-up is excluded, as in benches/bench_sdk.py.
 *
 *   bench_opik upload FILE --project P --entity-id UUID --file-name NAME
 *   bench_opik download --project P --entity-id UUID --file-name NAME --size N
 *   bench_opik small FILE --count N --concurrency C --project P
 *
 * upload    one opik_upload of FILE to trace UUID (the library picks the S3 multi-part or the
 *           direct flow from the server's upload-start answer);
 * download  one opik_download into a callback that counts the bytes and discards them; fails if
 *           the count is not --size;
 * small     --count uploads of FILE (1 KiB or 64 KiB) as small-00000.bin, small-00001.bin, ... on
 *           one fresh trace id, from C threads sharing one client (C = 1: the main thread alone),
 *           each doing blocking opik_upload calls; the attachment handle is made once per call.
 *
 * The client is created (and its connection pool warmed by one list call) before the clock
 * starts. Timing: wall clock (CLOCK_MONOTONIC) around the operation; cpu_seconds = the process's
 * user + system time (all threads, getrusage RUSAGE_SELF) over the same window, sys_seconds its
 * system part.
 *
 * Environment: OPIK_URL_OVERRIDE, OPIK_API_KEY, OPIK_WORKSPACE (read by the library);
 * OPIK_BENCH_CA_FILE: a PEM CA to trust (opik_options_set_ca_file), for the HTTPS server;
 * OPIK_BENCH_PARTS: parts in flight (opik_options_set_upload_concurrency; default: the library's).
 *
 * Output: one line `RESULT {json}` on stdout with tool, op, seconds, cpu_seconds, bytes, count,
 * vmhwm_kb (peak RSS, /proc/self/status). Errors go to stderr with exit status 1. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "opik_attachments.h"
#include "timing.h"

static const char *MIME = "application/octet-stream";

static void die_err(const char *what, opik_status st, opik_error *err) {
    fprintf(stderr, "bench_opik: %s failed: %s: %s\n", what, opik_status_str(st),
            err ? opik_error_message(err) : "(no detail)");
    opik_error_free(err);
    exit(1);
}

static long vmhwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

static void new_uuid(char out[37]) {
    /* A v4 UUID from /dev/urandom (only needs to be unique per run). */
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
        fprintf(stderr, "bench_opik: cannot read /dev/urandom\n");
        exit(1);
    }
    fclose(f);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static opik_client *make_client(void) {
    opik_options *o = opik_options_new();
    opik_status st;
    opik_error *err = NULL;
    const char *ca = getenv("OPIK_BENCH_CA_FILE");
    if (ca && *ca && (st = opik_options_set_ca_file(o, ca, &err)) != OPIK_OK) die_err("set_ca_file", st, err);
    const char *parts = getenv("OPIK_BENCH_PARTS");
    if (parts && *parts &&
        (st = opik_options_set_upload_concurrency(o, (uint32_t)strtoul(parts, NULL, 10), &err)) != OPIK_OK)
        die_err("set_upload_concurrency", st, err);
    opik_client *c = NULL;
    if ((st = opik_client_new(o, &c, &err)) != OPIK_OK) die_err("opik_client_new", st, err);
    opik_options_free(o);
    return c;
}

/* One list call on an entity that has nothing, so the timed operation does not pay for the
 * first connection (the SDK side does the same). Unknown project answers NOT_FOUND: fine. */
static void warm_up(opik_client *c, const char *project) {
    char id[37];
    new_uuid(id);
    opik_attachment_list *l = NULL;
    opik_error *err = NULL;
    opik_status st = opik_list(c, project, OPIK_ENTITY_TRACE, id, &l, &err);
    if (st != OPIK_OK && st != OPIK_ERR_NOT_FOUND) die_err("warm-up list", st, err);
    opik_error_free(err);
    opik_attachment_list_free(l);
}

static void report(const char *op, double seconds, double cpu, double sys, uint64_t bytes, uint64_t count) {
    printf("RESULT {\"tool\": \"ours\", \"op\": \"%s\", \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
           "\"sys_seconds\": %.6f, \"bytes\": %" PRIu64 ", \"count\": %" PRIu64 ", \"vmhwm_kb\": %ld}\n",
           op, seconds, cpu, sys, bytes, count, vmhwm_kb());
}

struct args {
    const char *file, *project, *entity_id, *file_name;
    uint64_t size, count, concurrency;
};

static void parse(int argc, char **argv, int from, struct args *a) {
    for (int i = from; i < argc; i++) {
        const char *k = argv[i];
        if (strncmp(k, "--", 2) != 0) {
            a->file = k;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_opik: %s needs a value\n", k);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(k, "--project")) a->project = v;
        else if (!strcmp(k, "--entity-id")) a->entity_id = v;
        else if (!strcmp(k, "--file-name")) a->file_name = v;
        else if (!strcmp(k, "--size")) a->size = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--count")) a->count = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--concurrency")) a->concurrency = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "bench_opik: unknown option %s\n", k);
            exit(2);
        }
    }
}

static void need(const void *v, const char *what) {
    if (!v) {
        fprintf(stderr, "bench_opik: %s is required\n", what);
        exit(2);
    }
}

static int cmd_upload(const struct args *a) {
    need(a->file, "FILE");
    need(a->project, "--project");
    need(a->entity_id, "--entity-id");
    need(a->file_name, "--file-name");
    opik_client *c = make_client();
    warm_up(c, a->project);
    opik_error *err = NULL;
    opik_attachment *att = NULL;
    double t0 = now_s(), c0 = cpu_s(), s0 = sys_s();
    opik_status st = opik_attachment_from_file(a->file, a->file_name, MIME, &att, &err);
    if (st != OPIK_OK) die_err("opik_attachment_from_file", st, err);
    st = opik_upload(c, a->project, OPIK_ENTITY_TRACE, a->entity_id, att, &err);
    if (st != OPIK_OK) die_err("opik_upload", st, err);
    double t1 = now_s(), c1 = cpu_s(), s1 = sys_s();
    uint64_t size = opik_attachment_size(att);
    opik_attachment_free(att);
    opik_client_free(c);
    report("upload", t1 - t0, c1 - c0, s1 - s0, size, 1);
    return 0;
}

static int32_t discard(void *user, const uint8_t *chunk, size_t len) {
    (void)chunk;
    *(uint64_t *)user += len;
    return 0;
}

static int cmd_download(const struct args *a) {
    need(a->project, "--project");
    need(a->entity_id, "--entity-id");
    need(a->file_name, "--file-name");
    opik_client *c = make_client();
    warm_up(c, a->project);
    opik_error *err = NULL;
    uint64_t got = 0;
    double t0 = now_s(), c0 = cpu_s(), s0 = sys_s();
    opik_status st = opik_download(c, a->project, OPIK_ENTITY_TRACE, a->entity_id, a->file_name,
                                   MIME, discard, &got, &err);
    if (st != OPIK_OK) die_err("opik_download", st, err);
    double t1 = now_s(), c1 = cpu_s(), s1 = sys_s();
    opik_client_free(c);
    if (got != a->size) {
        fprintf(stderr, "bench_opik: downloaded %" PRIu64 " bytes, expected %" PRIu64 "\n", got,
                a->size);
        return 1;
    }
    report("download", t1 - t0, c1 - c0, s1 - s0, got, 1);
    return 0;
}

struct small_run {
    opik_client *client;
    const struct args *a;
    char entity_id[37];
    atomic_uint_fast64_t next;
    atomic_int failed;
};

static void *small_worker(void *p) {
    struct small_run *r = p;
    char name[64];
    for (;;) {
        uint64_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->a->count || atomic_load(&r->failed)) return NULL;
        snprintf(name, sizeof name, "small-%05" PRIu64 ".bin", i);
        opik_error *err = NULL;
        opik_attachment *att = NULL;
        opik_status st = opik_attachment_from_file(r->a->file, name, MIME, &att, &err);
        if (st == OPIK_OK)
            st = opik_upload(r->client, r->a->project, OPIK_ENTITY_TRACE, r->entity_id, att, &err);
        opik_attachment_free(att);
        if (st != OPIK_OK) {
            if (!atomic_exchange(&r->failed, 1))
                fprintf(stderr, "bench_opik: upload of %s failed: %s: %s\n", name,
                        opik_status_str(st), err ? opik_error_message(err) : "");
            opik_error_free(err);
            return NULL;
        }
    }
}

static int cmd_small(const struct args *a) {
    need(a->file, "FILE");
    need(a->project, "--project");
    if (a->count == 0 || a->concurrency == 0 || a->concurrency > 256) {
        fprintf(stderr, "bench_opik: --count and --concurrency (1..256) are required\n");
        return 2;
    }
    struct stat sb;
    if (stat(a->file, &sb) != 0) {
        fprintf(stderr, "bench_opik: cannot stat %s\n", a->file);
        return 1;
    }
    struct small_run r = {.client = make_client(), .a = a};
    new_uuid(r.entity_id);
    warm_up(r.client, a->project);
    pthread_t threads[256];
    double t0 = now_s(), c0 = cpu_s(), s0 = sys_s();
    if (a->concurrency == 1) {
        small_worker(&r);
    } else {
        for (uint64_t t = 0; t < a->concurrency; t++)
            if (pthread_create(&threads[t], NULL, small_worker, &r) != 0) {
                fprintf(stderr, "bench_opik: pthread_create failed\n");
                exit(1);
            }
        for (uint64_t t = 0; t < a->concurrency; t++) pthread_join(threads[t], NULL);
    }
    double t1 = now_s(), c1 = cpu_s(), s1 = sys_s();
    opik_client_free(r.client);
    if (atomic_load(&r.failed)) return 1;
    report("small", t1 - t0, c1 - c0, s1 - s0, a->count * (uint64_t)sb.st_size, a->count);
    return 0;
}

int main(int argc, char **argv) {
    struct args a = {0};
    if (argc < 2) {
        fprintf(stderr, "usage: bench_opik upload|download|small ... (see the source's header)\n");
        return 2;
    }
    parse(argc, argv, 2, &a);
    if (!strcmp(argv[1], "upload")) return cmd_upload(&a);
    if (!strcmp(argv[1], "download")) return cmd_download(&a);
    if (!strcmp(argv[1], "small")) return cmd_small(&a);
    fprintf(stderr, "bench_opik: unknown command %s\n", argv[1]);
    return 2;
}
