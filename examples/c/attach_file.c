/*
 * Attach a file to an Opik trace, list the trace's attachments, download the file back into
 * another file and check that every byte came back. Uses the C API only.
 *
 * Configuration comes from the environment, as in the Opik SDKs: OPIK_URL_OVERRIDE (for example
 * http://localhost:5173/api/), OPIK_API_KEY, OPIK_WORKSPACE, OPIK_PROJECT_NAME.
 * Usage: attach_file [TRACE_ID]   (a UUID; an example id otherwise)
 *
 * Build against an installed library (make install PREFIX=...):
 *   cc -std=c11 attach_file.c $(pkg-config --cflags --libs opik_attachments) -o attach_file
 * or with CMake: find_package(opik_attachments) and link opik_attachments::opik_attachments
 * (CMakeLists.txt here).
 */
#define _POSIX_C_SOURCE 200809L
#include <opik_attachments.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Prints a failed call's status and message, frees the error, and says so. */
static int failed(opik_status status, opik_error *err, const char *what) {
    if (status == OPIK_OK) return 0;
    fprintf(stderr, "%s failed: %s: %s\n", what, opik_status_str(status), opik_error_message(err));
    opik_error_free(err);
    return 1;
}

/* Writes `len` bytes of a recognisable pattern to a new temporary file; its name goes to `path`. */
static int write_sample(char *path, size_t len) {
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "wb");
    if (!f) return -1;
    for (size_t i = 0; i < len; i++) fputc((int)((i * 31 + i / 251) & 0xff), f);
    return fclose(f) == 0 ? 0 : -1;
}

/* 1 when the two files hold the same bytes. */
static int same_content(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

int main(int argc, char **argv) {
    const char *trace_id = argc > 1 ? argv[1] : "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a90";
    const char *project = "examples";
    const char *name = "sensor-log.bin";
    const size_t size = 300 * 1024;
    char src[] = "/tmp/opik-example-src-XXXXXX";
    char dst[] = "/tmp/opik-example-dst-XXXXXX";
    opik_client *client = NULL;
    opik_attachment *file = NULL;
    opik_attachment_list *list = NULL;
    opik_error *err = NULL;
    int fd, listed = 0, same = 0, ok = 0;

    printf("opik-attachments %s\n", opik_version());
    if (write_sample(src, size) != 0 || (fd = mkstemp(dst)) < 0) {
        perror("temporary file");
        return 1;
    }
    close(fd); /* only the name is needed: the download replaces the file */

    /* A client configured from the environment, and the file to attach (streamed at upload). */
    if (failed(opik_client_new(NULL, &client, &err), err, "opik_client_new")) goto out;
    if (failed(opik_attachment_from_file(src, name, NULL, &file, &err), err, "opik_attachment_from_file")) goto out;

    if (failed(opik_upload(client, project, OPIK_ENTITY_TRACE, trace_id, file, &err), err, "opik_upload")) goto out;
    printf("uploaded %s (%llu bytes, %s) to trace %s\n", opik_attachment_file_name(file),
           (unsigned long long)opik_attachment_size(file), opik_attachment_content_type(file), trace_id);

    if (failed(opik_list(client, project, OPIK_ENTITY_TRACE, trace_id, &list, &err), err, "opik_list")) goto out;
    for (size_t i = 0; i < opik_attachment_list_len(list); i++) {
        printf("listed: %s, %llu bytes, %s\n", opik_attachment_list_file_name(list, i),
               (unsigned long long)opik_attachment_list_file_size(list, i), opik_attachment_list_mime_type(list, i));
        if (strcmp(opik_attachment_list_file_name(list, i), name) == 0 && opik_attachment_list_file_size(list, i) == size)
            listed = 1;
    }

    if (failed(opik_download_to_file(client, project, OPIK_ENTITY_TRACE, trace_id, name, NULL, dst, &err), err,
               "opik_download_to_file"))
        goto out;
    same = same_content(src, dst);
    printf("downloaded to %s: %s\n", dst, same ? "identical" : "DIFFERENT");

    const char *names[] = {name};
    if (failed(opik_delete(client, project, OPIK_ENTITY_TRACE, trace_id, names, 1, &err), err, "opik_delete")) goto out;
    ok = listed && same;

out:
    opik_attachment_list_free(list);
    opik_attachment_free(file);
    opik_client_free(client);
    remove(src);
    remove(dst);
    printf("%s\n", ok ? "attach_file (C): uploaded, listed, downloaded and verified" : "attach_file (C): FAILED");
    return ok ? 0 : 1;
}
