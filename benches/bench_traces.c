/* The library's side of the traces-and-spans benchmark (benches/run --only traces): traces and
 * spans logged through the public C API, timed from inside the process, as in
 * benches/bench_traces_sdk.py.
 *
 *   bench_traces spans --traces T --spans-per-trace S --input-bytes B --project P
 *   bench_traces images FILE --traces T --project P
 *   bench_traces embedded FILE --traces T --project P
 *
 * spans   T traces of S spans each (T * S spans). Per span, on this one thread:
 *         opik_span_start(trace, NULL, "span-<i>", OPIK_SPAN_GENERAL), opik_span_set_input with
 *         a JSON object {"prompt": "<text>"} of exactly B bytes (the text holds the span's number,
 *         so no two inputs are equal), then opik_span_end, the call timed alone with
 *         CLOCK_MONOTONIC (the caller's cost of ending a span: validation happened in the setter;
 *         end queues the span for the background sender). The span's whole cost (start + set
 *         input + end) is timed too. Each trace is started before its spans
 *         (opik_trace_start) and ended after them (opik_trace_end, untimed alone). Then
 *         opik_client_flush. `seconds` runs from the first trace's start to flush's return:
 *         spans per second = T * S / seconds.
 * images  T traces, each with FILE (1 MiB, image/png) attached: opik_trace_start,
 *         opik_trace_attach, opik_trace_end per trace, then opik_client_flush (which returns
 *         when every trace was sent and every attachment uploaded). `seconds` runs from the first
 *         trace's start to flush's return.
 * embedded T traces, each with FILE (~300 KB, a PNG) inside its input as a data URI:
 *         {"messages":[{"role":"user","image_url":"data:image/png;base64,<FILE in base64>"}]}
 *         (the JSON text is built once, untimed). Per trace opik_trace_start,
 *         opik_trace_set_input, opik_trace_end, then opik_client_flush. The client keeps the
 *         library's default embedded-media settings (enabled, runs of at least 256,000
 *         characters): 300 KB is ~400,000 base64 characters, so the background sender takes the
 *         image out of every trace's input, puts the placeholder in its place and uploads it as
 *         the trace's attachment. The counters must show 1 + T attachments sent.
 *
 * Before the clock starts: the client is made and warmed up by one trace with one span (and in
 * `images` one attachment of FILE), flushed; the Python side does the same. The queue limits are
 * raised so that the whole run fits (opik_options_set_queue_limits: T * (S + 1) + 100 entities,
 * 4 GiB): the library's defaults (10,000 queued) would refuse spans ended faster than the
 * sender drains them, which is the documented back-pressure, not what is measured here. Every
 * call must succeed; after the flush the counters must show every entity sent (and every
 * attachment), none failed, else exit 1.
 *
 * Output: one line `RESULT {json}` on stdout: tool, op, seconds, loop_seconds, flush_seconds,
 * cpu_seconds (process user + system over `seconds`), count (spans or traces), bytes (input or
 * attachment bytes), end_us / span_us (p50, p99, p99.9, max, mean in microseconds; spans only),
 * vmhwm_kb (peak RSS from /proc/self/status), counters. Errors go to stderr, exit status 1;
 * bad usage exit 2.
 *
 * Environment: OPIK_URL_OVERRIDE, OPIK_API_KEY, OPIK_WORKSPACE (read by the library). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "opik_attachments.h"
#include "timing.h"

#define FLUSH_TIMEOUT_MS (30ull * 60 * 1000)

static void die_err(const char *what, opik_status st, opik_error *err) {
    fprintf(stderr, "bench_traces: %s failed: %s: %s\n", what, opik_status_str(st),
            err ? opik_error_message(err) : "(no detail)");
    opik_error_free(err);
    exit(1);
}

#define TRY(what, call)                                     \
    do {                                                    \
        opik_error *err_ = NULL;                            \
        opik_status st_ = (call);                           \
        if (st_ != OPIK_OK) die_err((what), st_, err_);     \
    } while (0)
/* The calls take `&err_` through this name. */
#define ERR (&err_)

static long vmhwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double pct_us(const uint64_t *sorted, size_t n, double q) {
    size_t rank = (size_t)((double)n * q + 0.999999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return (double)sorted[rank - 1] / 1e3;
}

/* Sorts `ns` and writes {"p50": .., "p99": .., "p999": .., "max": .., "mean": ..} into out. */
static void stats_json(uint64_t *ns, size_t n, char *out, size_t cap) {
    if (n == 0) {
        snprintf(out, cap, "null");
        return;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)ns[i];
    qsort(ns, n, sizeof *ns, cmp_u64);
    snprintf(out, cap, "{\"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f, \"mean\": %.3f}",
             pct_us(ns, n, 0.50), pct_us(ns, n, 0.99), pct_us(ns, n, 0.999),
             (double)ns[n - 1] / 1e3, sum / (double)n / 1e3);
}

struct args {
    const char *file, *project;
    uint64_t traces, spans, input_bytes;
};

static void parse(int argc, char **argv, struct args *a) {
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (strncmp(k, "--", 2) != 0) {
            a->file = k;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_traces: %s needs a value\n", k);
            exit(2);
        }
        const char *v = argv[++i];
        char *end = NULL;
        if (!strcmp(k, "--project")) {
            a->project = v;
            continue;
        }
        uint64_t n = strtoull(v, &end, 10);
        if (!*v || *end) {
            fprintf(stderr, "bench_traces: %s takes a number, not %s\n", k, v);
            exit(2);
        }
        if (!strcmp(k, "--traces")) a->traces = n;
        else if (!strcmp(k, "--spans-per-trace")) a->spans = n;
        else if (!strcmp(k, "--input-bytes")) a->input_bytes = n;
        else {
            fprintf(stderr, "bench_traces: unknown option %s\n", k);
            exit(2);
        }
    }
    if (!a->project || a->traces == 0) {
        fprintf(stderr, "bench_traces: --project and --traces (> 0) are required\n");
        exit(2);
    }
}

static opik_client *make_client(uint64_t entities) {
    opik_options *o = opik_options_new();
    if (!o) {
        fprintf(stderr, "bench_traces: out of memory\n");
        exit(1);
    }
    uint64_t max_queued = entities + 100;
    if (max_queued > UINT32_MAX) max_queued = UINT32_MAX;
    TRY("set_queue_limits", opik_options_set_queue_limits(o, (uint32_t)max_queued, 4ull << 30, ERR));
    opik_client *c = NULL;
    TRY("opik_client_new", opik_client_new(o, &c, ERR));
    opik_options_free(o);
    return c;
}

static void flush(opik_client *c) {
    TRY("opik_client_flush", opik_client_flush(c, FLUSH_TIMEOUT_MS, ERR));
}

/* Checks that the counters grew by exactly what this run queued. */
static void check_counters(opik_client *c, uint64_t entities, uint64_t attachments) {
    uint64_t sent = opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT);
    uint64_t failed = opik_client_counter(c, OPIK_COUNTER_ENTITIES_FAILED);
    uint64_t att_sent = opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_SENT);
    uint64_t att_failed = opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_FAILED);
    if (sent != entities || failed != 0 || att_sent != attachments || att_failed != 0) {
        fprintf(stderr,
                "bench_traces: counters: %" PRIu64 " entities sent (expected %" PRIu64 "), %" PRIu64
                " failed, %" PRIu64 " attachments sent (expected %" PRIu64 "), %" PRIu64 " failed\n",
                sent, entities, failed, att_sent, attachments, att_failed);
        exit(1);
    }
}

/* The span's input: {"prompt": "span 000042 xxxx..."} of exactly `len` bytes. */
static void fill_input(char *buf, size_t len, uint64_t i) {
    static const char head[] = "{\"prompt\": \"";
    size_t h = sizeof head - 1;
    memcpy(buf, head, h);
    int n = snprintf(buf + h, len - h, "span %09" PRIu64 " ", i);
    for (size_t k = h + (size_t)n; k < len - 2; k++) buf[k] = (char)('a' + (k % 26));
    buf[len - 2] = '"';
    buf[len - 1] = '}';
    buf[len] = 0;
}

static int cmd_spans(const struct args *a) {
    if (a->spans == 0 || a->input_bytes < 48) {
        fprintf(stderr, "bench_traces: spans needs --spans-per-trace > 0 and --input-bytes >= 48\n");
        return 2;
    }
    uint64_t n = a->traces * a->spans;
    uint64_t *end_ns = malloc(n * sizeof *end_ns), *span_ns = malloc(n * sizeof *span_ns);
    char *input = malloc(a->input_bytes + 1);
    if (!end_ns || !span_ns || !input) {
        fprintf(stderr, "bench_traces: out of memory\n");
        return 1;
    }
    opik_client *c = make_client(n + a->traces + 2);

    /* Warm-up: one trace with one span, flushed (connection, project, lazy set-up). */
    opik_trace *t = NULL;
    opik_span *s = NULL;
    fill_input(input, a->input_bytes, 0);
    TRY("warm-up trace_start", opik_trace_start(c, a->project, "warm-up", &t, ERR));
    TRY("warm-up span_start", opik_span_start(t, NULL, "warm-up", OPIK_SPAN_GENERAL, &s, ERR));
    TRY("warm-up span_set_input", opik_span_set_input(s, input, ERR));
    TRY("warm-up span_end", opik_span_end(s, ERR));
    TRY("warm-up trace_end", opik_trace_end(t, ERR));
    flush(c);
    check_counters(c, 2, 0);

    char name[32];
    double c0 = cpu_s();
    uint64_t t0 = now_ns();
    uint64_t i = 0;
    for (uint64_t tr = 0; tr < a->traces; tr++) {
        snprintf(name, sizeof name, "trace-%" PRIu64, tr);
        TRY("opik_trace_start", opik_trace_start(c, a->project, name, &t, ERR));
        for (uint64_t k = 0; k < a->spans; k++, i++) {
            fill_input(input, a->input_bytes, i + 1);
            snprintf(name, sizeof name, "span-%" PRIu64, i);
            opik_error *err = NULL;
            uint64_t s0 = now_ns();
            opik_status st = opik_span_start(t, NULL, name, OPIK_SPAN_GENERAL, &s, &err);
            if (st != OPIK_OK) die_err("opik_span_start", st, err);
            if ((st = opik_span_set_input(s, input, &err)) != OPIK_OK) die_err("opik_span_set_input", st, err);
            uint64_t e0 = now_ns();
            st = opik_span_end(s, &err);
            uint64_t e1 = now_ns();
            if (st != OPIK_OK) die_err("opik_span_end", st, err);
            end_ns[i] = e1 - e0;
            span_ns[i] = e1 - s0;
        }
        TRY("opik_trace_end", opik_trace_end(t, ERR));
    }
    uint64_t t1 = now_ns();
    flush(c);
    uint64_t t2 = now_ns();
    double c1 = cpu_s();
    long hwm = vmhwm_kb();
    check_counters(c, 2 + n + a->traces, 0);
    uint64_t bytes_sent = opik_client_counter(c, OPIK_COUNTER_BYTES_SENT);

    char end_json[256], span_json[256];
    stats_json(end_ns, n, end_json, sizeof end_json);
    stats_json(span_ns, n, span_json, sizeof span_json);
    printf("RESULT {\"tool\": \"ours\", \"op\": \"spans\", \"seconds\": %.6f, \"loop_seconds\": %.6f, "
           "\"flush_seconds\": %.6f, \"cpu_seconds\": %.6f, \"count\": %" PRIu64 ", \"traces\": %" PRIu64
           ", \"bytes\": %" PRIu64 ", \"end_us\": %s, \"span_us\": %s, \"vmhwm_kb\": %ld, "
           "\"bytes_sent\": %" PRIu64 "}\n",
           (double)(t2 - t0) / 1e9, (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9, c1 - c0, n,
           a->traces, n * a->input_bytes, end_json, span_json, hwm, bytes_sent);
    fflush(stdout);
    opik_client_free(c);
    free(end_ns);
    free(span_ns);
    free(input);
    return 0;
}

/* What a traces-per-iteration run measured (see run_traces). */
struct trace_run {
    double seconds, loop_seconds, flush_seconds, cpu_seconds;
    long vmhwm_kb;
    char call_json[256];
};

/* Adds the content under test to a started trace: an attachment or an input. */
typedef opik_status (*trace_content_fn)(opik_trace *t, const void *arg, opik_error **err);

/* One warm-up trace (flushed and checked), then `a->traces` traces named PREFIX-N, each started,
 * given its content and ended, every call group timed; then flush, timed apart. Exits on error. */
static void run_traces(opik_client *c, const struct args *a, const char *prefix, const char *what,
                       trace_content_fn content, const void *arg, struct trace_run *out) {
    opik_trace *t = NULL;
    TRY("warm-up trace_start", opik_trace_start(c, a->project, "warm-up", &t, ERR));
    TRY(what, content(t, arg, ERR));
    TRY("warm-up trace_end", opik_trace_end(t, ERR));
    flush(c);
    check_counters(c, 1, 1);

    uint64_t *call_ns = malloc(a->traces * sizeof *call_ns);
    if (!call_ns) {
        fprintf(stderr, "bench_traces: out of memory\n");
        exit(1);
    }
    char name[32];
    double c0 = cpu_s();
    uint64_t t0 = now_ns();
    for (uint64_t tr = 0; tr < a->traces; tr++) {
        snprintf(name, sizeof name, "%s-%" PRIu64, prefix, tr);
        uint64_t s0 = now_ns();
        TRY("opik_trace_start", opik_trace_start(c, a->project, name, &t, ERR));
        TRY(what, content(t, arg, ERR));
        TRY("opik_trace_end", opik_trace_end(t, ERR));
        call_ns[tr] = now_ns() - s0;
    }
    uint64_t t1 = now_ns();
    flush(c);
    uint64_t t2 = now_ns();
    out->cpu_seconds = cpu_s() - c0;
    out->vmhwm_kb = vmhwm_kb();
    check_counters(c, 1 + a->traces, 1 + a->traces);
    stats_json(call_ns, a->traces, out->call_json, sizeof out->call_json);
    out->seconds = (double)(t2 - t0) / 1e9;
    out->loop_seconds = (double)(t1 - t0) / 1e9;
    out->flush_seconds = (double)(t2 - t1) / 1e9;
    free(call_ns);
}

static opik_status attach_image(opik_trace *t, const void *img, opik_error **err) {
    return opik_trace_attach(t, img, err);
}

static opik_status set_embedded_input(opik_trace *t, const void *input, opik_error **err) {
    return opik_trace_set_input(t, input, err);
}

static int cmd_images(const struct args *a) {
    if (!a->file) {
        fprintf(stderr, "bench_traces: images needs FILE\n");
        return 2;
    }
    struct stat sb;
    if (stat(a->file, &sb) != 0) {
        fprintf(stderr, "bench_traces: %s: no such file\n", a->file);
        return 1;
    }
    opik_client *c = make_client(a->traces + 1);
    opik_attachment *img = NULL;
    TRY("opik_attachment_from_file", opik_attachment_from_file(a->file, "frame.png", "image/png", &img, ERR));

    struct trace_run r;
    run_traces(c, a, "frame", "opik_trace_attach", attach_image, img, &r);
    printf("RESULT {\"tool\": \"ours\", \"op\": \"images\", \"seconds\": %.6f, \"loop_seconds\": %.6f, "
           "\"flush_seconds\": %.6f, \"cpu_seconds\": %.6f, \"count\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"trace_us\": %s, \"vmhwm_kb\": %ld}\n",
           r.seconds, r.loop_seconds, r.flush_seconds, r.cpu_seconds, a->traces,
           a->traces * (uint64_t)sb.st_size, r.call_json, r.vmhwm_kb);
    fflush(stdout);
    opik_attachment_free(img);
    opik_client_free(c);
    return 0;
}

static char *base64_of(const unsigned char *in, size_t n) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = abc[(v >> 6) & 63];
        *o++ = abc[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}

/* The input JSON of `embedded`: FILE as a data URI in a chat message. NULL on failure. */
static char *embedded_input(const char *file, size_t *file_size) {
    FILE *f = fopen(file, "rb");
    if (!f) return NULL;
    struct stat sb;
    unsigned char *raw = NULL;
    char *b64 = NULL, *json = NULL;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0 && (raw = malloc((size_t)sb.st_size)) &&
        fread(raw, 1, (size_t)sb.st_size, f) == (size_t)sb.st_size &&
        (b64 = base64_of(raw, (size_t)sb.st_size))) {
        static const char head[] = "{\"messages\":[{\"role\":\"user\",\"image_url\":\"data:image/png;base64,";
        static const char tail[] = "\"}]}";
        size_t len = strlen(b64);
        if ((json = malloc(sizeof head + len + sizeof tail))) {
            memcpy(json, head, sizeof head - 1);
            memcpy(json + sizeof head - 1, b64, len);
            memcpy(json + sizeof head - 1 + len, tail, sizeof tail);
        }
        *file_size = (size_t)sb.st_size;
    }
    fclose(f);
    free(raw);
    free(b64);
    return json;
}

static int cmd_embedded(const struct args *a) {
    if (!a->file) {
        fprintf(stderr, "bench_traces: embedded needs FILE\n");
        return 2;
    }
    size_t size = 0;
    char *input = embedded_input(a->file, &size);
    if (!input) {
        fprintf(stderr, "bench_traces: %s: cannot read it\n", a->file);
        return 1;
    }
    opik_client *c = make_client(a->traces + 1);

    struct trace_run r;
    run_traces(c, a, "chat", "opik_trace_set_input", set_embedded_input, input, &r);
    printf("RESULT {\"tool\": \"ours\", \"op\": \"embedded\", \"seconds\": %.6f, \"loop_seconds\": %.6f, "
           "\"flush_seconds\": %.6f, \"cpu_seconds\": %.6f, \"count\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"input_chars\": %zu, \"trace_us\": %s, \"vmhwm_kb\": %ld}\n",
           r.seconds, r.loop_seconds, r.flush_seconds, r.cpu_seconds, a->traces,
           a->traces * (uint64_t)size, strlen(input), r.call_json, r.vmhwm_kb);
    fflush(stdout);
    opik_client_free(c);
    free(input);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_traces spans|images|embedded ... (see the comment at the top)\n");
        return 2;
    }
    struct args a = {0};
    parse(argc, argv, &a);
    if (!strcmp(argv[1], "spans")) return cmd_spans(&a);
    if (!strcmp(argv[1], "images")) return cmd_images(&a);
    if (!strcmp(argv[1], "embedded")) return cmd_embedded(&a);
    fprintf(stderr, "bench_traces: unknown command %s\n", argv[1]);
    return 2;
}
