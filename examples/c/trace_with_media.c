/*
 * A game loop that logs what it does to Opik: for each of 5 frames, a trace with an LLM span
 * (the prompt as input JSON, model, provider, token usage, and a "screenshot" of the frame as a
 * PNG attachment) and a tool span under it. Nothing here waits on the network: the calls record
 * into handles and the library's background sender batches the traces and spans, then uploads
 * their attachments. At the end it flushes, prints the counters and exits non-zero if anything
 * failed. Uses the C API only.
 *
 * Configuration comes from the environment, as in the Opik SDKs: OPIK_URL_OVERRIDE (for example
 * http://localhost:5173/api/), OPIK_API_KEY, OPIK_WORKSPACE, OPIK_PROJECT_NAME.
 * Usage: trace_with_media [FRAMES]   (5 by default)
 *
 * Build against an installed library (make install PREFIX=...):
 *   cc -std=c11 trace_with_media.c $(pkg-config --cflags --libs opik_attachments) -o trace_with_media
 * or with CMake (CMakeLists.txt here).
 */
#include <opik_attachments.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROJECT "c-trace-with-media"
#define WIDTH 64
#define HEIGHT 48

/* Prints a failed call's status and message, frees the error, and says so. */
static int failed(opik_status status, opik_error *err, const char *what) {
    if (status == OPIK_OK) return 0;
    fprintf(stderr, "%s failed: %s: %s\n", what, opik_status_str(status), opik_error_message(err));
    opik_error_free(err);
    return 1;
}

/* --- a tiny PNG encoder (stored deflate blocks), enough for a generated screenshot ------------ */

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc(const uint8_t *p, size_t n, uint32_t c) {
    c ^= 0xffffffffu;
    while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

/* Writes one chunk at `p`: length, type, data, CRC. Returns the end. */
static uint8_t *chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t len) {
    p = put32(p, len);
    uint8_t *typed = p;
    memcpy(p, type, 4);
    if (len) memcpy(p + 4, data, len);
    p += 4 + len;
    return put32(p, crc(typed, len + 4, 0));
}

/* An RGB image of the frame (a gradient that moves with `frame`) as PNG bytes; `*len` gets the
 * size. The caller frees the result. */
static uint8_t *screenshot_png(int frame, size_t *len) {
    enum { ROW = 1 + WIDTH * 3, RAW = ROW * HEIGHT };
    uint8_t raw[RAW];
    for (int y = 0; y < HEIGHT; y++) {
        uint8_t *row = raw + y * ROW;
        row[0] = 0; /* filter: none */
        for (int x = 0; x < WIDTH; x++) {
            row[1 + x * 3] = (uint8_t)(x * 4 + frame * 20);
            row[2 + x * 3] = (uint8_t)(y * 5);
            row[3 + x * 3] = (uint8_t)((x ^ y) * 3 + frame);
        }
    }
    /* zlib stream: header, stored blocks of at most 65,535 bytes, Adler-32. */
    size_t blocks = (RAW + 65534) / 65535;
    size_t zlen = 2 + blocks * 5 + RAW + 4;
    uint8_t *z = malloc(zlen);
    uint8_t *out = malloc(8 + 25 + 12 + zlen + 12);
    if (!z || !out) {
        free(z);
        free(out);
        return NULL;
    }
    uint8_t *q = z;
    *q++ = 0x78, *q++ = 0x01;
    uint32_t a = 1, b = 0;
    for (size_t off = 0; off < RAW;) {
        size_t n = RAW - off > 65535 ? 65535 : RAW - off;
        *q++ = off + n == RAW ? 1 : 0;
        *q++ = (uint8_t)n, *q++ = (uint8_t)(n >> 8), *q++ = (uint8_t)~n, *q++ = (uint8_t)(~n >> 8);
        memcpy(q, raw + off, n);
        for (size_t i = 0; i < n; i++) a = (a + raw[off + i]) % 65521, b = (b + a) % 65521;
        q += n, off += n;
    }
    q = put32(q, (b << 16) | a);

    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13], *h = ihdr;
    h = put32(h, WIDTH);
    h = put32(h, HEIGHT);
    h[0] = 8, h[1] = 2, h[2] = 0, h[3] = 0, h[4] = 0; /* 8-bit RGB, deflate, no filter, no interlace */
    uint8_t *p = out;
    memcpy(p, signature, 8);
    p = chunk(p + 8, "IHDR", ihdr, sizeof ihdr);
    p = chunk(p, "IDAT", z, (uint32_t)(q - z));
    p = chunk(p, "IEND", NULL, 0);
    free(z);
    *len = (size_t)(p - out);
    return out;
}

/* --- one frame: a trace, an LLM span with the screenshot, a tool span ------------------------- */

static int log_frame(opik_client *c, int frame) {
    opik_error *err = NULL;
    opik_trace *t = NULL;
    opik_span *llm = NULL, *tool = NULL;
    char name[32], json[256];
    snprintf(name, sizeof name, "frame %d", frame);
    if (failed(opik_trace_start(c, NULL, name, &t, &err), err, "opik_trace_start")) return 1;
    int bad = 0;
    snprintf(json, sizeof json, "{\"frame\": %d, \"scene\": \"castle gate\"}", frame);
    bad |= failed(opik_trace_set_input(t, json, &err), err, "opik_trace_set_input");
    bad |= failed(opik_trace_add_tag(t, "game-loop", &err), err, "opik_trace_add_tag");
    bad |= failed(opik_trace_set_thread_id(t, "play-session-1", &err), err, "opik_trace_set_thread_id");

    /* The LLM span: prompt in, answer out, model, usage, the screenshot attached. */
    bad |= failed(opik_span_start(t, NULL, "describe the screen", OPIK_SPAN_LLM, &llm, &err), err, "opik_span_start");
    if (!llm) {
        opik_trace_discard(t);
        return 1;
    }
    snprintf(json, sizeof json,
             "{\"messages\": [{\"role\": \"user\", \"content\": \"What is on screen in frame %d?\"}]}", frame);
    bad |= failed(opik_span_set_input(llm, json, &err), err, "opik_span_set_input");
    bad |= failed(opik_span_set_model(llm, "gpt-4o-mini", "openai", &err), err, "opik_span_set_model");
    bad |= failed(opik_span_set_usage(llm, 42, 12, 54, &err), err, "opik_span_set_usage");
    size_t png_len = 0;
    uint8_t *png = screenshot_png(frame, &png_len);
    opik_attachment *shot = NULL;
    char file_name[40];
    snprintf(file_name, sizeof file_name, "frame-%04d.png", frame);
    if (!png) {
        bad = 1;
    } else if (!failed(opik_attachment_from_bytes(png, png_len, file_name, "image/png", &shot, &err), err,
                       "opik_attachment_from_bytes")) {
        bad |= failed(opik_span_attach(llm, shot, &err), err, "opik_span_attach");
        opik_attachment_free(shot); /* the span keeps what it needs */
    } else {
        bad = 1;
    }
    free(png);

    /* The tool span the model's answer triggered, under the LLM span. */
    if (!failed(opik_span_start(NULL, llm, "open_gate", OPIK_SPAN_TOOL, &tool, &err), err, "opik_span_start")) {
        bad |= failed(opik_span_set_input(tool, "{\"gate\": \"north\"}", &err), err, "opik_span_set_input");
        bad |= failed(opik_span_set_output(tool, "{\"opened\": true}", &err), err, "opik_span_set_output");
        bad |= failed(opik_span_end(tool, &err), err, "opik_span_end");
    } else {
        bad = 1;
    }
    snprintf(json, sizeof json, "{\"text\": \"A castle gate; the north gate opens (frame %d).\"}", frame);
    bad |= failed(opik_span_set_output(llm, json, &err), err, "opik_span_set_output");
    bad |= failed(opik_span_end(llm, &err), err, "opik_span_end");
    bad |= failed(opik_trace_set_output(t, "{\"action\": \"open_gate\"}", &err), err, "opik_trace_set_output");
    bad |= failed(opik_trace_end(t, &err), err, "opik_trace_end"); /* handles end in any order */
    return bad;
}

int main(int argc, char **argv) {
    int frames = argc > 1 ? atoi(argv[1]) : 5;
    if (frames < 1 || frames > 10000) {
        fprintf(stderr, "usage: %s [FRAMES (1-10000)]\n", argv[0]);
        return 2;
    }
    crc_init();
    opik_error *err = NULL;
    opik_options *o = opik_options_new();
    if (!o || failed(opik_options_set_project_name(o, PROJECT, &err), err, "opik_options_set_project_name")) return 1;
    opik_client *c = NULL;
    opik_status s = opik_client_new(o, &c, &err); /* the rest from OPIK_* and ~/.opik.config */
    opik_options_free(o);
    if (failed(s, err, "opik_client_new")) return 1;

    int bad = 0;
    for (int frame = 1; frame <= frames; frame++) bad |= log_frame(c, frame);

    /* Before exiting: wait until every trace, span and screenshot was delivered (or failed). */
    bad |= failed(opik_client_flush(c, 60000, &err), err, "opik_client_flush");
    uint64_t sent = opik_client_counter(c, OPIK_COUNTER_ENTITIES_SENT);
    uint64_t entities_failed = opik_client_counter(c, OPIK_COUNTER_ENTITIES_FAILED);
    uint64_t shots = opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_SENT);
    uint64_t shots_failed = opik_client_counter(c, OPIK_COUNTER_ATTACHMENTS_FAILED);
    uint64_t bytes = opik_client_counter(c, OPIK_COUNTER_BYTES_SENT);
    uint64_t retries = opik_client_counter(c, OPIK_COUNTER_RETRIES);
    opik_client_free(c);

    printf("frames %d: entities sent %llu, failed %llu; screenshots sent %llu, failed %llu; %llu bytes; %llu retries\n",
           frames, (unsigned long long)sent, (unsigned long long)entities_failed, (unsigned long long)shots,
           (unsigned long long)shots_failed, (unsigned long long)bytes, (unsigned long long)retries);
    if (bad || entities_failed || shots_failed || sent != (uint64_t)frames * 3 || shots != (uint64_t)frames) {
        fprintf(stderr, "trace_with_media: something was not delivered\n");
        return 1;
    }
    printf("c trace_with_media: %d frames logged, every trace, span and screenshot delivered\n", frames);
    return 0;
}
