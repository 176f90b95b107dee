/* Embedded media, our side: one opik_extract_embedded call on a document read from a file.
 * Usage: extract_bench DOC.json [MIN_CHARS]
 * Prints one JSON line: {"seconds": wall time of the call, "doc_bytes", "attachments",
 * "attachment_bytes", "json_bytes" (the rewritten text), "rss_before_kb" (VmRSS with the document
 * loaded and touched, before the call), "vmhwm_kb" (peak RSS of the process)}.
 * benches/extract runs it next to benches/extract_bench_sdk.py. */
#define _POSIX_C_SOURCE 200809L
#include "opik_attachments.h"
#include "timing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    if (f) fclose(f);
    return kb;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: extract_bench DOC.json [MIN_CHARS]\n");
        return 2;
    }
    size_t min_chars = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 256000;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *doc = (char *)malloc((size_t)len + 1);
    if (!doc || fread(doc, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    doc[len] = 0;
    fclose(f);
    long rss_before = status_kb("VmRSS");

    opik_extraction *x = NULL;
    opik_error *err = NULL;
    double t0 = now_s();
    opik_status s = opik_extract_embedded(doc, "input", min_chars, &x, &err);
    double seconds = now_s() - t0;
    if (s != OPIK_OK) {
        fprintf(stderr, "opik_extract_embedded: %s\n", opik_error_message(err));
        return 1;
    }
    unsigned long long att_bytes = 0;
    for (size_t i = 0; i < opik_extraction_len(x); i++)
        att_bytes += opik_attachment_size(opik_extraction_attachment(x, i));
    printf("{\"seconds\": %.6f, \"doc_bytes\": %ld, \"attachments\": %zu, \"attachment_bytes\": %llu, "
           "\"json_bytes\": %zu, \"rss_before_kb\": %ld, \"vmhwm_kb\": %ld}\n",
           seconds, len, opik_extraction_len(x), att_bytes, strlen(opik_extraction_json(x)), rss_before,
           status_kb("VmHWM"));
    opik_extraction_free(x);
    free(doc);
    return 0;
}
