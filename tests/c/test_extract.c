/* Embedded media through the C API: opik_extract_embedded and its accessors (tests/extract.rs
 * compiles and runs this plain and under ASan).
 * Usage: test_extract contract   the contract: found blobs, placeholders, borrowed attachments,
 *                                 untouched documents, refusals, NULL handles (no server);
 *        test_extract upload     extracts a PNG and uploads the borrowed attachment to the test
 *                                 server; prints "UPLOADED <trace id> <file name> <sha256>". */
#include "test_util.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 of `len` bytes into `out` (room for 4 * ceil(len / 3) + 1). */
static size_t b64(const uint8_t *in, size_t len, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? B64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

/* `len` bytes starting with `magic`, the rest t_fill content from `seed`. */
static uint8_t *media(const char *magic, size_t magic_len, size_t len, uint64_t seed) {
    uint8_t *p = (uint8_t *)malloc(len);
    t_fill(p, len, &seed);
    memcpy(p, magic, magic_len);
    return p;
}

static char *b64_alloc(const uint8_t *in, size_t len) {
    char *s = (char *)malloc(4 * (len / 3 + 1) + 1);
    b64(in, len, s);
    return s;
}

#define PNG_MAGIC "\x89PNG\r\n\x1a\n"

static void contract(void) {
    const size_t png_len = 3000, gif_len = 2000, noise_len = 2000;
    uint8_t *png = media(PNG_MAGIC, 8, png_len, 1);
    uint8_t *gif = media("GIF89a", 6, gif_len, 2);
    uint8_t *noise = media("", 0, noise_len, 3);
    noise[0] = 0; /* nothing the sniffer knows */
    char *png64 = b64_alloc(png, png_len), *gif64 = b64_alloc(gif, gif_len),
         *noise64 = b64_alloc(noise, noise_len);
    size_t cap = strlen(png64) + strlen(gif64) + strlen(noise64) * 2 + 512;
    char *json = (char *)malloc(cap);
    snprintf(json, cap,
             "{\"messages\": [{\"role\": \"user\", \"image_url\": {\"url\": \"data:image/png;base64,%s\"}}],"
             " \"text\": \"see %s and %s\", \"%s\": 1}",
             png64, gif64, noise64, noise64);

    opik_extraction *x = NULL;
    CHECK_STATUS(OPIK_OK, opik_extract_embedded(json, "input", 1000, &x, ERR));
    CHECK(x != NULL);
    CHECK(opik_extraction_len(x) == 2);
    const opik_attachment *a0 = opik_extraction_attachment(x, 0);
    const opik_attachment *a1 = opik_extraction_attachment(x, 1);
    CHECK(a0 && a1);
    CHECK(opik_extraction_attachment(x, 2) == NULL);
    CHECK(opik_extraction_attachment(x, (size_t)-1) == NULL);
    const char *out = opik_extraction_json(x);
    CHECK(out != NULL);
    if (a0 && a1 && out) {
        const char *n0 = opik_attachment_file_name(a0), *n1 = opik_attachment_file_name(a1);
        CHECK(strncmp(n0, "input-attachment-", 17) == 0);
        CHECK(strlen(n0) > 8 && strcmp(n0 + strlen(n0) - 8, "-sdk.png") == 0);
        CHECK(strcmp(n1 + strlen(n1) - 8, "-sdk.gif") == 0);
        CHECK(strcmp(opik_attachment_content_type(a0), "image/png") == 0);
        CHECK(strcmp(opik_attachment_content_type(a1), "image/gif") == 0);
        CHECK(opik_attachment_size(a0) == png_len);
        CHECK(opik_attachment_size(a1) == gif_len);
        char expect[4096];
        /* The data URI is replaced whole; the GIF in prose; the unknown bytes and the key stay. */
        snprintf(expect, sizeof expect, "{\"url\": \"[%s]\"}}]", n0);
        CHECK(strstr(out, expect) != NULL);
        snprintf(expect, sizeof expect, "\"text\": \"see [%s] and ", n1);
        CHECK(strstr(out, expect) != NULL);
        CHECK(strstr(out, "data:image/png") == NULL);
        CHECK(strstr(out, png64) == NULL && strstr(out, gif64) == NULL);
        const char *first = strstr(out, noise64);
        CHECK(first != NULL && strstr(first + 1, noise64) != NULL); /* value and key kept */
    }
    opik_extraction_free(x);

    /* Nothing found: the same text. Below the threshold: nothing found. */
    x = NULL;
    CHECK_STATUS(OPIK_OK, opik_extract_embedded(json, "output", 100000, &x, ERR));
    CHECK(opik_extraction_len(x) == 0);
    CHECK(x && strcmp(opik_extraction_json(x), json) == 0);
    CHECK(opik_extraction_attachment(x, 0) == NULL);
    opik_extraction_free(x);

    /* The context names the files. */
    x = NULL;
    CHECK_STATUS(OPIK_OK, opik_extract_embedded(json, "metadata", 1000, &x, ERR));
    CHECK(opik_extraction_len(x) == 2);
    CHECK(x && strncmp(opik_attachment_file_name(opik_extraction_attachment(x, 0)), "metadata-attachment-", 20) == 0);
    opik_extraction_free(x);

    /* Refusals: *out untouched. */
    opik_extraction *untouched = (opik_extraction *)&json;
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_extract_embedded(NULL, "input", 1000, &untouched, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_extract_embedded(json, NULL, 1000, &untouched, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_extract_embedded(json, "inputs", 1000, &untouched, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_extract_embedded(json, "input", 1000, NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_extract_embedded("{\"a\": [1,\n 2,]}", "input", 10, &untouched, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_extract_embedded("\"\xff\"", "input", 10, &untouched, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_extract_embedded("", "input", 10, &untouched, ERR));
    CHECK(untouched == (opik_extraction *)&json);
    {
        opik_error *e = NULL;
        opik_extract_embedded("{\"a\": [1,\n 2,]}", "input", 10, &untouched, &e);
        const char *m = e ? opik_error_message(e) : "";
        CHECK(strstr(m, "line 2, column 4") != NULL);
        opik_error_free(e);
    }
    /* Without err: the status alone. */
    CHECK(opik_extract_embedded("nope", "input", 10, &untouched, NULL) == OPIK_ERR_INVALID_ARGUMENT);

    /* NULL handles. */
    CHECK(opik_extraction_json(NULL) == NULL);
    CHECK(opik_extraction_len(NULL) == 0);
    CHECK(opik_extraction_attachment(NULL, 0) == NULL);
    opik_extraction_free(NULL);

    free(json);
    free(png64);
    free(gif64);
    free(noise64);
    free(png);
    free(gif);
    free(noise);
}

/* Extracts a PNG and uploads the attachment borrowed from the extraction. */
static void upload(void) {
    const size_t len = 300000;
    uint8_t *png = media(PNG_MAGIC, 8, len, 7);
    char *png64 = b64_alloc(png, len);
    size_t cap = strlen(png64) + 128;
    char *json = (char *)malloc(cap);
    snprintf(json, cap, "{\"image\": \"data:image/png;base64,%s\"}", png64);
    opik_extraction *x = NULL;
    CHECK_STATUS(OPIK_OK, opik_extract_embedded(json, "input", 256000, &x, ERR));
    CHECK(opik_extraction_len(x) == 1);
    const opik_attachment *a = opik_extraction_attachment(x, 0);
    if (a) {
        opik_client *c = t_client();
        char id[37];
        t_uuid(id);
        CHECK_STATUS(OPIK_OK, opik_upload(c, NULL, OPIK_ENTITY_TRACE, id, a, ERR));
        opik_client_free(c);
        t_sha256 h;
        char hex[65];
        t_sha256_init(&h);
        t_sha256_update(&h, png, len);
        t_sha256_hex(&h, hex);
        printf("UPLOADED %s %s %s\n", id, opik_attachment_file_name(a), hex);
        printf("JSON %s\n", opik_extraction_json(x));
    }
    opik_extraction_free(x);
    free(json);
    free(png64);
    free(png);
}

int main(int argc, char **argv) {
    const char *scenario = argc > 1 ? argv[1] : "contract";
    if (strcmp(scenario, "contract") == 0) {
        contract();
    } else if (strcmp(scenario, "upload") == 0) {
        upload();
    } else {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    return t_finish("test_extract");
}
