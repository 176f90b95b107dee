/* Minimal test helpers for the C ABI tests: checks that count, a SHA-256, UUIDs, temp files. */
#ifndef OPIK_TEST_UTIL_H
#define OPIK_TEST_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include "opik_attachments.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int t_passed = 0, t_failed = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            t_passed++;                                                               \
        } else {                                                                      \
            t_failed++;                                                               \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                             \
    } while (0)

/* Checks a status and prints the error message when it differs. Frees the error. */
#define CHECK_STATUS(expected, call_with_err)                                          \
    do {                                                                               \
        opik_error *err_ = NULL;                                                       \
        opik_error **errp_ = &err_;                                                    \
        (void)errp_;                                                                   \
        opik_status got_ = (call_with_err);                                            \
        if (got_ == (expected)) {                                                      \
            t_passed++;                                                                \
        } else {                                                                       \
            t_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d: %s\n  expected %s, got %s: %s\n", __FILE__, __LINE__, \
                    #call_with_err, opik_status_str(expected), opik_status_str(got_),  \
                    err_ ? opik_error_message(err_) : "(no error object)");            \
        }                                                                              \
        opik_error_free(err_);                                                         \
    } while (0)

/* Use ERR inside CHECK_STATUS and CHECK_REFUSED calls to pass the error out-parameter. */
#define ERR errp_

/* Checks that a call failed with `expected` and gave its reason: an error object of the same
 * status with a non-empty message (which must not be just the status name). Frees the error. */
#define CHECK_REFUSED(expected, call_with_err)                                         \
    do {                                                                               \
        opik_error *err_ = NULL;                                                       \
        opik_error **errp_ = &err_;                                                    \
        opik_status got_ = (call_with_err);                                            \
        const char *msg_ = err_ ? opik_error_message(err_) : NULL;                     \
        if (got_ == (expected) && err_ && opik_error_status(err_) == (expected) &&     \
            msg_ && *msg_ && strcmp(msg_, opik_status_str(expected)) != 0) {           \
            t_passed++;                                                                \
        } else {                                                                       \
            t_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d: %s\n  expected %s with a reason, got %s: %s\n", \
                    __FILE__, __LINE__, #call_with_err, opik_status_str(expected),     \
                    opik_status_str(got_), msg_ ? msg_ : "(no error object)");         \
        }                                                                              \
        opik_error_free(err_);                                                         \
    } while (0)

static inline int t_finish(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, t_passed, t_failed);
    return t_failed == 0 ? 0 : 1;
}

static inline const char *t_env(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return (v && *v) ? v : fallback;
}

/* A random version-4 UUID, as trace and span ids are. */
static inline void t_uuid(char out[37]) {
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, 16, f) != 16) {
        fprintf(stderr, "cannot read /dev/urandom\n");
        exit(2);
    }
    fclose(f);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* Deterministic pseudo-random bytes (xorshift), so content is not trivially compressible. */
static inline void t_fill(uint8_t *buf, size_t len, uint64_t *state) {
    for (size_t i = 0; i < len; i++) {
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        buf[i] = (uint8_t)(x >> 24);
    }
}

/* --- SHA-256 (FIPS 180-4), small and streaming --- */
typedef struct {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t used;
} t_sha256;

static inline uint32_t t_ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline void t_sha256_block(t_sha256 *s, const uint8_t *p) {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = t_ror(w[i - 15], 7) ^ t_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = t_ror(w[i - 2], 17) ^ t_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (t_ror(e, 6) ^ t_ror(e, 11) ^ t_ror(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
        uint32_t t2 = (t_ror(a, 2) ^ t_ror(a, 13) ^ t_ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static inline void t_sha256_init(t_sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->used = 0;
}

static inline void t_sha256_update(t_sha256 *s, const uint8_t *p, size_t n) {
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->buf + s->used, p, take);
        s->used += take;
        p += take;
        n -= take;
        if (s->used == 64) {
            t_sha256_block(s, s->buf);
            s->used = 0;
        }
    }
}

static inline void t_sha256_hex(t_sha256 *s, char out[65]) {
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80, zero = 0, lenbuf[8];
    t_sha256_update(s, &pad, 1);
    while (s->used != 56) t_sha256_update(s, &zero, 1);
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)(bits >> (56 - 8 * i));
    t_sha256_update(s, lenbuf, 8);
    for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* Collects downloaded bytes in memory (for small attachments). */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    size_t calls;
    size_t abort_after; /* stop (return 1) once this many bytes arrived; 0 = never */
} t_buffer;

static inline int32_t t_buffer_write(void *user_data, const uint8_t *chunk, size_t len) {
    t_buffer *b = (t_buffer *)user_data;
    b->calls++;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + len) cap *= 2;
        b->data = (uint8_t *)realloc(b->data, cap);
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, chunk, len);
    b->len += len;
    if (b->abort_after && b->len >= b->abort_after) return 1;
    return 0;
}

/* A client with options `o` (NULL: the defaults) for the test server named by the environment
 * (OPIK_URL_OVERRIDE, OPIK_API_KEY); frees `o`. Ends the program (exit 2) when it cannot. */
static inline opik_client *t_client_with(opik_options *o) {
    opik_client *c = NULL;
    opik_error *err = NULL;
    if (opik_client_new(o, &c, &err) != OPIK_OK) {
        fprintf(stderr, "cannot create a client: %s\n", opik_error_message(err));
        opik_error_free(err);
        exit(2);
    }
    opik_options_free(o);
    return c;
}

/* A client for the test server named by the environment, with the default options. */
static inline opik_client *t_client(void) { return t_client_with(NULL); }

/* Uploads `len` bytes of t_fill content (seeded with `len`) as `name` to trace `id`. */
static inline opik_status t_upload_filled(opik_client *c, const char *project, const char *id,
                                          const char *name, size_t len, opik_error **err) {
    uint8_t *data = (uint8_t *)malloc(len ? len : 1);
    uint64_t seed = len;
    t_fill(data, len, &seed);
    opik_attachment *a = NULL;
    opik_status s = opik_attachment_from_bytes(data, len, name, NULL, &a, err);
    if (s == OPIK_OK) s = opik_upload(c, project, OPIK_ENTITY_TRACE, id, a, err);
    opik_attachment_free(a);
    free(data);
    return s;
}

/* --- a background completion: on_done fills the box, the test waits for it --- */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done; /* 1 once on_done ran (a caller may use other values for its own states) */
    opik_status status;
    char message[4096]; /* the error message on_done got ("" without an error) */
} t_done;

#define T_DONE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {0}}

/* The on_done callback of opik_upload_async, with a t_done as its user_data. */
static inline void t_on_done(void *user_data, opik_status status, const opik_error *e) {
    t_done *b = (t_done *)user_data;
    pthread_mutex_lock(&b->mu);
    b->status = status;
    snprintf(b->message, sizeof b->message, "%s", e ? opik_error_message(e) : "");
    b->done = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Waits up to `ms` for the completion; 1 when it came. */
static inline int t_wait_done(t_done *b, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    while (!b->done && pthread_cond_timedwait(&b->cv, &b->mu, &until) != ETIMEDOUT) {
    }
    int done = b->done;
    pthread_mutex_unlock(&b->mu);
    return done;
}

#endif
