/* The durable outbox. Usage:
 *   test_outbox enqueue DIR   queue 3 files of 12,000,000 bytes (multi-part in S3 mode) and 20
 *                             small attachments, delete the original files, print ENQUEUED, then
 *                             wait to be killed (the harness sends SIGKILL mid-upload)
 *   test_outbox resume DIR    a new client on DIR finishes everything (flush), leaving DIR empty
 *   test_outbox down_up DIR   queue uploads while the server is down; flush succeeds once the
 *                             harness has started it */
#include "test_util.h"

#include <dirent.h>
#include <unistd.h>

static const char *PROJECT = "c-outbox";
static const char *ENTITY = "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8d";

static opik_client *outbox_client(const char *dir) {
    opik_options *o = opik_options_new();
    opik_client *c = NULL;
    opik_error *err = NULL;
    if (opik_options_set_outbox_dir(o, dir, &err) != OPIK_OK ||
        opik_options_set_shutdown_timeout_ms(o, 0, &err) != OPIK_OK || opik_client_new(o, &c, &err) != OPIK_OK) {
        fprintf(stderr, "client: %s\n", opik_error_message(err));
        exit(2);
    }
    opik_options_free(o);
    return c;
}

/* Files left in DIR other than the lock. */
static int records_left(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void enqueue(opik_client *c, int big_files, int small) {
    for (int i = 0; i < big_files; i++) {
        char path[256], name[32];
        snprintf(name, sizeof name, "big-%d.bin", i);
        snprintf(path, sizeof path, "%s/opik-outbox-src-%d-%s", t_env("TMPDIR", "/tmp"), (int)getpid(), name);
        size_t len = 12000000;
        uint8_t *data = (uint8_t *)malloc(len);
        uint64_t seed = 1000 + (uint64_t)i;
        t_fill(data, len, &seed);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(data, 1, len, f) != len) exit(2);
        fclose(f);
        free(data);
        opik_attachment *a = NULL;
        CHECK_STATUS(OPIK_OK, opik_attachment_from_file(path, name, NULL, &a, ERR));
        CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_SPAN, ENTITY, a, NULL, NULL, NULL, NULL, ERR));
        opik_attachment_free(a);
        unlink(path); /* the outbox holds its own link or copy */
    }
    for (int i = 0; i < small; i++) {
        char name[32];
        snprintf(name, sizeof name, "small-%02d.txt", i);
        opik_attachment *a = NULL;
        CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes((const uint8_t *)name, strlen(name), name, NULL, &a, ERR));
        CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_SPAN, ENTITY, a, NULL, NULL, NULL, NULL, ERR));
        opik_attachment_free(a);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1], *dir = argv[2];
    if (strcmp(mode, "enqueue") == 0) {
        opik_client *c = outbox_client(dir);
        enqueue(c, 3, 20);
        CHECK(records_left(dir) == 2 * 23);
        printf("ENQUEUED %d passed, %d failed\n", t_passed, t_failed);
        fflush(stdout);
        sleep(120); /* killed before this ends */
        return 3;
    }
    if (strcmp(mode, "resume") == 0) {
        opik_client *c = outbox_client(dir);
        CHECK(opik_client_pending(c) > 0); /* picked up what the killed process left */
        printf("resumed %zu uploads\n", opik_client_pending(c));
        CHECK_STATUS(OPIK_OK, opik_client_flush(c, 120000, ERR));
        CHECK(opik_client_pending(c) == 0);
        opik_client_free(c);
        CHECK(records_left(dir) == 0);
        return t_finish("outbox resume");
    }
    if (strcmp(mode, "down_up") == 0) {
        opik_client *c = outbox_client(dir);
        enqueue(c, 1, 5);
        printf("ENQUEUED\n");
        fflush(stdout);
        opik_error *err = NULL;
        /* The harness starts the server a little later; until then uploads wait and retry. */
        CHECK(opik_client_flush(c, 500, &err) == OPIK_ERR_TIMEOUT);
        CHECK(err && strstr(opik_error_message(err), "6 uploads still pending") != NULL);
        opik_error_free(err);
        CHECK_STATUS(OPIK_OK, opik_client_flush(c, 120000, ERR));
        opik_client_free(c);
        CHECK(records_left(dir) == 0);
        return t_finish("outbox down_up");
    }
    return 2;
}
