/*
 * async_latency: caller-side latency of opik_upload_async.
 *
 * Times N calls of opik_upload_async (one 64-byte in-memory attachment, reused; NULL out_op and
 * callbacks) from this plain thread, each with clock_gettime(CLOCK_MONOTONIC) around the call
 * only, and prints p50 / p99 / p99.9 / max in microseconds for three phases:
 *
 *   idle         N calls, nothing else queued, then opik_client_flush;
 *   busy         a 1 GiB file attachment queued first (S3 mode: a multi-part upload, parts in
 *                parallel), then, once its first bytes are on the wire, N timed calls, then flush;
 *   outbox-idle  a new client with opik_options_set_outbox_dir (each call writes a durable record
 *                before returning), fewer calls (--outbox-n, default 10,000); reported, no target.
 *
 * Every call must return OPIK_OK (a failure is counted; any failure makes the exit status 1). The
 * queue never refuses: opik_options_set_queue_limits(o, N + 10, 1 << 32). The calls of a phase
 * cycle through --keys span ids (default 100; the file name is the same for all), so each upload
 * replaces an earlier one of the same span on the server and its row table stays small (the test
 * server's upsert scans every row: 100,000 distinct rows take it tens of minutes). One project per
 * phase ("<prefix>-idle", "-busy", "-outbox", "-big", "-warmup"), so the benchmark driver
 * (benches/run-async-latency, with benches/verify_arrivals.py) can count on the test server that
 * every call's upload completed. After each flush this program also lists a sample of the spans
 * through the library (opik_list) and checks the 1 GiB upload's own result.
 *
 * Before the timed phases, --warmup untimed calls (default 1,000; then a flush) warm the client
 * up; the Python counterpart (async_latency_sdk.py) does the same.
 *
 * Configuration as for every client: OPIK_URL_OVERRIDE, OPIK_API_KEY, OPIK_WORKSPACE, ... from
 * the environment.
 *
 * Usage: async_latency [N [BIG]] [--outbox-n M] [--warmup W] [--keys K] [--json FILE]
 *                      [--prefix P] [--verify-sample S] [--diag]
 *   --diag  also read getrusage(RUSAGE_THREAD) just outside each timed window and attribute the
 *           calls over 20 us to preemption, blocking or page faults (changes the pacing of the
 *           calls a little; for analysis, not for the reported figures)
 *   N     timed calls per phase (default 100000)
 *   BIG   path of the big file (default 1G), or a size such as 1G / 64M / 123456 to create a
 *         file of pseudo-random bytes of that size in a temporary directory (deleted at the end)
 *
 * Output: a human-readable table, then one line "JSON {...}" (also written to --json FILE).
 *
 * Build: cc -O2 -std=c11 benches/async_latency.c -Iinclude -Ltarget/release -lopik_attachments
 *        -Wl,-rpath,$PWD/target/release
 */
#define _GNU_SOURCE
#include <opik_attachments.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_LEN 64
#define CLOCK_SAMPLES 10000
#define FLUSH_TIMEOUT_MS (30ull * 60 * 1000)

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("async_latency: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void check(opik_status s, opik_error *err, const char *what) {
    if (s == OPIK_OK) return;
    die("%s failed: %s: %s", what, opik_status_str(s), err ? opik_error_message(err) : "");
}

/* ---- statistics ------------------------------------------------------------------------- */

/* --diag: what happened to the calling thread during slow calls, from getrusage(RUSAGE_THREAD)
 * read just outside the timed window: an involuntary context switch (preempted by another
 * thread), a voluntary one (blocked: a contended lock, I/O), minor page faults. */
#define DIAG_SLOW_NS 20000
typedef struct {
    size_t slow, slow_invol, slow_vol, slow_volflt, slow_fault, slow_none;
    double slow_ns_sum, slow_invol_ns, slow_vol_ns, slow_volflt_ns, slow_fault_ns, slow_none_ns;
    size_t calls_fault, calls_vol, calls_invol;
    uint64_t minflt, nvcsw, nivcsw;
} diag_stats;

typedef struct {
    const char *name;
    const char *project;
    size_t n;            /* timed calls */
    size_t failures;     /* calls that did not return OPIK_OK */
    double p50, p99, p999, max, mean; /* microseconds */
    size_t over_100us, over_1ms;
    size_t max_index;    /* position of the slowest call */
    double loop_s;       /* wall time of the timed loop */
    diag_stats diag;
    double flush_s;      /* opik_client_flush after it */
    size_t verified, verify_sample;
    char note[256];
} phase_result;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t pct(const uint64_t *sorted, size_t n, double q) {
    size_t rank = (size_t)((double)n * q + 0.999999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

static void summarize(phase_result *r, uint64_t *ns, size_t n) {
    r->n = n;
    if (n == 0) return;
    uint64_t maxv = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (ns[i] > maxv) { maxv = ns[i]; r->max_index = i; }
        sum += ns[i];
        if (ns[i] > 100000) r->over_100us++;
        if (ns[i] > 1000000) r->over_1ms++;
    }
    qsort(ns, n, sizeof *ns, cmp_u64);
    r->p50 = pct(ns, n, 0.50) / 1e3;
    r->p99 = pct(ns, n, 0.99) / 1e3;
    r->p999 = pct(ns, n, 0.999) / 1e3;
    r->max = maxv / 1e3;
    r->mean = (double)sum / (double)n / 1e3;
}

/* ---- inputs ----------------------------------------------------------------------------- */

/* N distinct span ids (UUID v7 layout, random bits), "xxxxxxxx-xxxx-7xxx-8xxx-xxxxxxxxxxxx". */
static char (*make_ids(size_t n))[37] {
    char (*ids)[37] = malloc(n * sizeof *ids);
    if (!ids) die("out of memory");
    uint64_t x = now_ns() | 1;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char *s = ids[i];
        for (int j = 0; j < 36; j++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            s[j] = hex[x & 15];
        }
        s[8] = s[13] = s[18] = s[23] = '-';
        s[14] = '7';
        s[19] = '8';
        s[36] = 0;
    }
    return ids;
}

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return 0;
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024ull * 1024 * 1024, end++;
    if (*end == 'i' && mul > 1) end++;
    if (*end == 'B') end++;
    if (*end) return 0;
    *out = v * mul;
    return 1;
}

static void write_random_file(const char *path, uint64_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("cannot create %s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    uint64_t *buf = malloc(CHUNK);
    if (!buf) die("out of memory");
    uint64_t x = 0x9e3779b97f4a7c15ull ^ now_ns();
    for (uint64_t left = size; left > 0;) {
        for (size_t i = 0; i < CHUNK / 8; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            buf[i] = x;
        }
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        for (size_t off = 0; off < n;) {
            ssize_t w = write(fd, (char *)buf + off, n - off);
            if (w < 0) die("write %s: %s", path, strerror(errno));
            off += (size_t)w;
        }
        left -= n;
    }
    free(buf);
    if (close(fd) != 0) die("close %s: %s", path, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- phases ----------------------------------------------------------------------------- */

typedef struct {
    opik_client *client;
    const opik_attachment *small;
    char (*ids)[37];
    size_t keys;
    uint64_t *ns;
    int diag;
} bench;


static void diag_print(const char *name, const diag_stats *d) {
    printf("  diag %-11s calls with: page faults %zu, voluntary switch %zu, involuntary switch %zu; "
           "%zu calls over %d us: %zu preempted (%.0f ms), %zu blocked with page faults (%.0f ms), %zu blocked "
           "without (%.0f ms), %zu page-faulted only (%.0f ms), %zu none of these (%.0f ms)\n",
           name, d->calls_fault, d->calls_vol, d->calls_invol, d->slow, DIAG_SLOW_NS / 1000, d->slow_invol,
           d->slow_invol_ns / 1e6, d->slow_volflt, d->slow_volflt_ns / 1e6, d->slow_vol, d->slow_vol_ns / 1e6,
           d->slow_fault, d->slow_fault_ns / 1e6, d->slow_none, d->slow_none_ns / 1e6);
}

/* `n` timed calls; returns failures (the first few are printed). */
static size_t timed_calls(bench *b, const char *project, size_t n, uint64_t *ns, diag_stats *d) {
    size_t failures = 0;
    struct rusage r0, r1;
    for (size_t i = 0; i < n; i++) {
        opik_error *err = NULL;
        const char *span = b->ids[i % b->keys];
        if (d) getrusage(RUSAGE_THREAD, &r0);
        uint64_t t0 = now_ns();
        opik_status s = opik_upload_async(b->client, project, OPIK_ENTITY_SPAN, span, b->small,
                                          NULL, NULL, NULL, NULL, &err);
        uint64_t t1 = now_ns();
        ns[i] = t1 - t0;
        if (d) {
            getrusage(RUSAGE_THREAD, &r1);
            long flt = r1.ru_minflt - r0.ru_minflt, vol = r1.ru_nvcsw - r0.ru_nvcsw, inv = r1.ru_nivcsw - r0.ru_nivcsw;
            d->minflt += (uint64_t)flt; d->nvcsw += (uint64_t)vol; d->nivcsw += (uint64_t)inv;
            d->calls_fault += flt > 0; d->calls_vol += vol > 0; d->calls_invol += inv > 0;
            if (ns[i] > DIAG_SLOW_NS) {
                double v = (double)ns[i];
                d->slow++; d->slow_ns_sum += v;
                if (inv > 0) { d->slow_invol++; d->slow_invol_ns += v; }
                else if (vol > 0 && flt > 0) { d->slow_volflt++; d->slow_volflt_ns += v; }
                else if (vol > 0) { d->slow_vol++; d->slow_vol_ns += v; }
                else if (flt > 0) { d->slow_fault++; d->slow_fault_ns += v; }
                else { d->slow_none++; d->slow_none_ns += v; }
            }
        }
        if (s != OPIK_OK) {
            if (failures++ < 5)
                fprintf(stderr, "call %zu of %s: %s: %s\n", i, project, opik_status_str(s), opik_error_message(err));
            opik_error_free(err);
        }
    }
    return failures;
}

static double flush(opik_client *c, const char *what) {
    opik_error *err = NULL;
    uint64_t t0 = now_ns();
    check(opik_client_flush(c, FLUSH_TIMEOUT_MS, &err), err, what);
    return (now_ns() - t0) / 1e9;
}

/* Lists `sample` of the phase's span ids: each must hold the one 64-byte attachment. */
static size_t verify_sample(bench *b, const char *project, size_t n, size_t sample) {
    size_t ok = 0;
    if (n > b->keys) n = b->keys;
    if (sample > n) sample = n;
    for (size_t k = 0; k < sample; k++) {
        size_t i = sample == 1 ? 0 : k * (n - 1) / (sample - 1);
        opik_attachment_list *l = NULL;
        opik_error *err = NULL;
        opik_status s = opik_list(b->client, project, OPIK_ENTITY_SPAN, b->ids[i], &l, &err);
        if (s == OPIK_OK && opik_attachment_list_len(l) == 1 && opik_attachment_list_file_size(l, 0) == SMALL_LEN)
            ok++;
        else
            fprintf(stderr, "verify %s span %s: %s %s (entries: %zu)\n", project, b->ids[i], opik_status_str(s),
                    err ? opik_error_message(err) : "", opik_attachment_list_len(l));
        opik_attachment_list_free(l);
        opik_error_free(err);
    }
    return ok;
}

static void run_phase(bench *b, phase_result *r, size_t n, size_t sample) {
    uint64_t t0 = now_ns();
    r->failures = timed_calls(b, r->project, n, b->ns, b->diag ? &r->diag : NULL);
    r->loop_s = (now_ns() - t0) / 1e9;
    r->flush_s = flush(b->client, "opik_client_flush");
    summarize(r, b->ns, n);
    r->verify_sample = sample < n ? sample : n;
    if (r->verify_sample > b->keys) r->verify_sample = b->keys;
    r->verified = verify_sample(b, r->project, n, sample);
}

static opik_client *new_client(size_t max_queued, const char *outbox) {
    opik_options *o = opik_options_new();
    if (!o) die("out of memory");
    opik_error *err = NULL;
    opik_status st = opik_options_set_queue_limits(o, (uint32_t)max_queued, 1ull << 32, &err);
    check(st, err, "opik_options_set_queue_limits");
    if (outbox) {
        st = opik_options_set_outbox_dir(o, outbox, &err);
        check(st, err, "opik_options_set_outbox_dir");
    }
    opik_client *c = NULL;
    check(opik_client_new(o, &c, &err), err, "opik_client_new (set OPIK_URL_OVERRIDE)");
    opik_options_free(o);
    return c;
}

static void print_row(const phase_result *r) {
    printf("  %-12s %8zu %10.2f %10.2f %10.2f %10.2f %10.2f %8zu %8zu %8zu %9.2f %8.2f\n", r->name, r->n, r->p50, r->p99,
           r->p999, r->max, r->mean, r->over_100us, r->over_1ms, r->failures, r->loop_s, r->flush_s);
}

static void json_phase(FILE *f, const phase_result *r, int last) {
    fprintf(f,
            "\"%s\":{\"n\":%zu,\"failures\":%zu,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,"
            "\"mean_us\":%.3f,\"over_100us\":%zu,\"over_1ms\":%zu,\"max_index\":%zu,\"loop_s\":%.3f,\"flush_s\":%.3f,"
            "\"project\":\"%s\",\"verified\":%zu,\"verify_sample\":%zu,\"note\":\"%s\"}%s",
            r->name, r->n, r->failures, r->p50, r->p99, r->p999, r->max, r->mean, r->over_100us, r->over_1ms,
            r->max_index, r->loop_s, r->flush_s, r->project, r->verified, r->verify_sample, r->note, last ? "" : ",");
}

int main(int argc, char **argv) {
    size_t n = 100000, outbox_n = 10000, sample = 100, warmup = 1000, keys = 100;
    const char *big_arg = "1G", *json_path = NULL, *prefix = "bench-c";
    int positional = 0, diag = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--outbox-n") && i + 1 < argc) outbox_n = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--warmup") && i + 1 < argc) warmup = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--keys") && i + 1 < argc) keys = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--diag")) diag = 1;
        else if (!strcmp(a, "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(a, "--prefix") && i + 1 < argc) prefix = argv[++i];
        else if (!strcmp(a, "--verify-sample") && i + 1 < argc) sample = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: %s [N [BIG_FILE|SIZE]] [--outbox-n M] [--warmup W] [--keys K] [--json FILE] [--prefix P] [--verify-sample S] [--diag]\n", argv[0]);
            return 0;
        } else if (a[0] != '-' && positional == 0) { n = strtoull(a, NULL, 10); positional++; }
        else if (a[0] != '-' && positional == 1) { big_arg = a; positional++; }
        else die("unknown argument %s (try --help)", a);
    }
    if (n == 0 || n > 100000000) die("N must be 1..100000000");
    if (keys == 0) die("--keys must be at least 1");

    /* The big file: an existing path, or a size to create. */
    char tmpdir[] = "/tmp/opik-bench-XXXXXX";
    int made_tmp = 0;
    char big_path[4096];
    uint64_t big_size = 0;
    struct stat st;
    if (stat(big_arg, &st) == 0) {
        snprintf(big_path, sizeof big_path, "%s", big_arg);
        big_size = (uint64_t)st.st_size;
    } else if (parse_size(big_arg, &big_size)) {
        if (!mkdtemp(tmpdir)) die("mkdtemp: %s", strerror(errno));
        made_tmp = 1;
        snprintf(big_path, sizeof big_path, "%s/big.bin", tmpdir);
        fprintf(stderr, "creating %" PRIu64 " bytes at %s\n", big_size, big_path);
        write_random_file(big_path, big_size);
    } else {
        die("%s is neither a file nor a size", big_arg);
    }

    char proj_warm[128], proj_idle[128], proj_busy[128], proj_big[128], proj_outbox[128];
    snprintf(proj_warm, sizeof proj_warm, "%s-warmup", prefix);
    snprintf(proj_idle, sizeof proj_idle, "%s-idle", prefix);
    snprintf(proj_busy, sizeof proj_busy, "%s-busy", prefix);
    snprintf(proj_big, sizeof proj_big, "%s-big", prefix);
    snprintf(proj_outbox, sizeof proj_outbox, "%s-outbox", prefix);

    size_t most = n > outbox_n ? n : outbox_n;
    if (most < warmup) most = warmup;
    if (most < CLOCK_SAMPLES) most = CLOCK_SAMPLES;
    bench b = {0};
    b.keys = keys;
    b.diag = diag;
    b.ids = make_ids(keys);
    b.ns = malloc(most * sizeof *b.ns);
    if (!b.ns) die("out of memory");
    /* Touch the arrays so page faults do not land inside timed calls. */
    memset(b.ns, 0, most * sizeof *b.ns);

    opik_error *err = NULL;
    unsigned char bytes[SMALL_LEN];
    for (size_t i = 0; i < SMALL_LEN; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    opik_attachment *small = NULL;
    check(opik_attachment_from_bytes(bytes, SMALL_LEN, "small.bin", "application/octet-stream", &small, &err), err,
          "opik_attachment_from_bytes");
    b.small = small;

    /* Clock overhead: back-to-back clock_gettime pairs. */
    for (size_t i = 0; i < CLOCK_SAMPLES; i++) { uint64_t t0 = now_ns(); b.ns[i] = now_ns() - t0; }
    qsort(b.ns, CLOCK_SAMPLES, sizeof *b.ns, cmp_u64);
    double clock_p50_ns = (double)pct(b.ns, CLOCK_SAMPLES, 0.5), clock_p99_ns = (double)pct(b.ns, CLOCK_SAMPLES, 0.99);

    uint64_t t_start = now_ns();
    b.client = new_client((n > warmup ? n : warmup) + 10, NULL);

    /* Warm-up (untimed figures discarded). */
    size_t warm_fail = timed_calls(&b, proj_warm, warmup, b.ns, NULL);
    flush(b.client, "flush after warm-up");
    if (warm_fail) die("%zu warm-up calls failed", warm_fail);

    phase_result idle = {.name = "idle", .project = proj_idle};
    run_phase(&b, &idle, n, sample);

    /* Busy: the big file first, then the timed calls once its bytes flow. */
    phase_result busy = {.name = "busy", .project = proj_busy};
    opik_attachment *big = NULL;
    check(opik_attachment_from_file(big_path, "big.bin", "application/octet-stream", &big, &err), err,
          "opik_attachment_from_file");
    opik_op *big_op = NULL;
    static const char big_span[] = "0193a7c2-5b1e-7d4f-8a2b-000000000b19";
    check(opik_upload_async(b.client, proj_big, OPIK_ENTITY_SPAN, big_span, big, NULL, NULL, NULL, &big_op, &err), err,
          "opik_upload_async (big file)");
    uint64_t sent0 = 0, total = 0, sent1 = 0;
    uint64_t wait_deadline = now_ns() + 10ull * 1000000000;
    while (now_ns() < wait_deadline) {
        check(opik_op_progress(big_op, &sent0, &total, &err), err, "opik_op_progress");
        if (sent0 > 0) break;
        usleep(1000);
    }
    uint64_t t_busy0 = now_ns();
    busy.failures = timed_calls(&b, proj_busy, n, b.ns, b.diag ? &busy.diag : NULL);
    uint64_t t_busy1 = now_ns();
    busy.loop_s = (t_busy1 - t_busy0) / 1e9;
    check(opik_op_progress(big_op, &sent1, &total, &err), err, "opik_op_progress");
    opik_status big_running = opik_op_status(big_op);
    busy.flush_s = flush(b.client, "opik_client_flush (busy)");
    summarize(&busy, b.ns, n);
    snprintf(busy.note, sizeof busy.note,
             "big upload %.0f MiB -> %.0f MiB of %.0f MiB during the timed calls; %s when they ended",
             sent0 / 1048576.0, sent1 / 1048576.0, total / 1048576.0,
             big_running == OPIK_ERR_TIMEOUT ? "still running" : "already finished");
    opik_status big_status = opik_op_status(big_op);
    opik_op_free(big_op);
    opik_attachment_free(big);
    busy.verify_sample = sample < n ? sample : n;
    if (busy.verify_sample > b.keys) busy.verify_sample = b.keys;
    busy.verified = verify_sample(&b, proj_busy, n, sample);
    int big_ok = big_status == OPIK_OK;
    if (!big_ok) fprintf(stderr, "the big upload ended with %s\n", opik_status_str(big_status));
    opik_client_free(b.client);
    double inproc_s = (now_ns() - t_start) / 1e9;

    /* Outbox: a new client, records written on the calling thread. */
    phase_result outbox = {.name = "outbox-idle", .project = proj_outbox};
    char outdir[] = "/tmp/opik-bench-outbox-XXXXXX";
    if (outbox_n > 0) {
        if (!mkdtemp(outdir)) die("mkdtemp: %s", strerror(errno));
        b.client = new_client(outbox_n + 10, outdir);
        run_phase(&b, &outbox, outbox_n, sample);
        opik_client_free(b.client);
        rm_rf(outdir);
    }

    /* Report. */
    printf("opik_upload_async caller-side latency (microseconds), library %s, %" PRIu64 "-byte big file\n",
           opik_version(), big_size);
    printf("clock_gettime pair overhead: p50 %.0f ns, p99 %.0f ns (included in every figure)\n", clock_p50_ns, clock_p99_ns);
    printf("  %-12s %8s %10s %10s %10s %10s %10s %8s %8s %8s %9s %8s\n", "phase", "calls", "p50", "p99", "p99.9", "max",
           "mean", ">100us", ">1ms", "failed", "loop s", "flush s");
    print_row(&idle);
    print_row(&busy);
    if (outbox_n > 0) print_row(&outbox);
    printf("  busy: %s\n", busy.note);
    printf("  slowest call: idle #%zu, busy #%zu%s", idle.max_index, busy.max_index, outbox_n ? ", " : "\n");
    if (outbox_n) printf("outbox-idle #%zu\n", outbox.max_index);
    if (diag) {
        diag_print("idle", &idle.diag);
        diag_print("busy", &busy.diag);
        if (outbox_n) diag_print("outbox-idle", &outbox.diag);
    }
    printf("  verified by opik_list: idle %zu/%zu, busy %zu/%zu, outbox %zu/%zu spans; big upload %s\n", idle.verified,
           idle.verify_sample, busy.verified, busy.verify_sample, outbox.verified, outbox.verify_sample,
           opik_status_str(big_status));

    size_t failures = idle.failures + busy.failures + outbox.failures;
    int verify_ok = idle.verified == idle.verify_sample && busy.verified == busy.verify_sample &&
                    outbox.verified == outbox.verify_sample;
    for (int k = 0; k < 2; k++) {
        FILE *f = k == 0 ? stdout : (json_path ? fopen(json_path, "w") : NULL);
        if (k == 1 && json_path && !f) die("cannot write %s: %s", json_path, strerror(errno));
        if (!f) continue;
        if (k == 0) fputs("JSON ", f);
        fprintf(f,
                "{\"impl\":\"opik-attachments (C ABI)\",\"version\":\"%s\",\"call\":\"opik_upload_async\",\"n\":%zu,"
                "\"outbox_n\":%zu,\"warmup\":%zu,\"keys\":%zu,\"attachment_bytes\":%d,\"big_bytes\":%" PRIu64 ",\"big_status\":\"%s\","
                "\"big_file\":\"%s\",\"clock_pair_p50_ns\":%.0f,\"failures\":%zu,\"verify_ok\":%s,\"phases\":{",
                opik_version(), n, outbox_n, warmup, keys, SMALL_LEN, big_size, opik_status_str(big_status),
                big_path, clock_p50_ns, failures, verify_ok ? "true" : "false");
        json_phase(f, &idle, 0);
        json_phase(f, &busy, outbox_n == 0);
        if (outbox_n) json_phase(f, &outbox, 1);
        fprintf(f, "},\"projects\":{\"warmup\":\"%s\",\"idle\":\"%s\",\"busy\":\"%s\",\"big\":\"%s\",\"outbox\":\"%s\"},"
                   "\"in_process_s\":%.2f}\n",
                proj_warm, proj_idle, proj_busy, proj_big, proj_outbox, inproc_s);
        if (k == 1) fclose(f);
    }

    opik_attachment_free(small);
    free(b.ids);
    free(b.ns);
    if (made_tmp) {
        unlink(big_path);
        rmdir(tmpdir);
    }
    if (failures) fprintf(stderr, "async_latency: %zu calls did not return OPIK_OK\n", failures);
    if (!verify_ok) fprintf(stderr, "async_latency: some sampled spans lack their attachment\n");
    return failures || !big_ok || !verify_ok ? 1 : 0;
}
