/* Every operation against an Opik-compatible server (run once per storage mode): upload from a
 * file, bytes, base64 and zero bytes to a trace and a span; list; download to a callback and to a
 * file; MIME matching; NOT_FOUND cases; a callback abort; delete; re-upload of a name; paging past
 * 100 entries; a multi-part file; several threads sharing one client; wrong credentials. */
#include "test_util.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *PROJECT = "c-roundtrip";
static char tmpdir[64];

static void write_file(const char *path, const uint8_t *data, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

/* Finds entry `name` in a list; -1 when absent. */
static long find(const opik_attachment_list *l, const char *name) {
    for (size_t i = 0; i < opik_attachment_list_len(l); i++)
        if (strcmp(opik_attachment_list_file_name(l, i), name) == 0) return (long)i;
    return -1;
}

/* Records whether every download chunk arrived on the thread that called opik_download. */
struct thread_check {
    pthread_t caller;
    int calls, elsewhere;
};

static int32_t check_thread(void *user, const uint8_t *chunk, size_t len) {
    (void)chunk;
    (void)len;
    struct thread_check *tc = user;
    tc->calls++;
    if (!pthread_equal(pthread_self(), tc->caller)) tc->elsewhere++;
    return 0;
}

/* Calls the library from inside on_data: blocking calls are refused (they would have to run a
 * second call inside the first one's), a background upload is accepted. */
struct nested {
    opik_client *c;
    const char *id;
    opik_entity_type type;
    opik_status list, upload_async;
    char list_message[256];
    opik_op *op;
};

static int32_t call_from_on_data(void *user, const uint8_t *chunk, size_t len) {
    (void)chunk;
    (void)len;
    struct nested *n = user;
    if (n->op) return 0; /* once */
    opik_attachment_list *l = NULL;
    opik_error *err = NULL;
    n->list = opik_list(n->c, PROJECT, n->type, n->id, &l, &err);
    snprintf(n->list_message, sizeof n->list_message, "%s", err ? opik_error_message(err) : "");
    opik_error_free(err);
    opik_attachment_list_free(l);
    opik_attachment *a = NULL;
    if (opik_attachment_from_bytes((const uint8_t *)"nested", 6, "nested.txt", NULL, &a, NULL) == OPIK_OK)
        n->upload_async = opik_upload_async(n->c, PROJECT, n->type, n->id, a, NULL, NULL, NULL, &n->op, NULL);
    opik_attachment_free(a);
    return 0;
}

static int download_equals(opik_client *c, opik_entity_type type, const char *id, const char *name,
                           const uint8_t *want, size_t len) {
    t_buffer b = {0};
    opik_error *err = NULL;
    opik_status s = opik_download(c, PROJECT, type, id, name, NULL, t_buffer_write, &b, &err);
    if (s != OPIK_OK) fprintf(stderr, "download %s: %s\n", name, opik_error_message(err));
    opik_error_free(err);
    int ok = s == OPIK_OK && b.len == len && (len == 0 || memcmp(b.data, want, len) == 0);
    free(b.data);
    return ok;
}

static void test_all_sources_to_trace_and_span(opik_client *c) {
    static const opik_entity_type types[2] = {OPIK_ENTITY_TRACE, OPIK_ENTITY_SPAN};
    uint8_t blob[70000];
    uint64_t seed = 42;
    t_fill(blob, sizeof blob, &seed);
    char path[128];
    snprintf(path, sizeof path, "%s/frame.png", tmpdir);
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3, 4, 5};
    write_file(path, png, sizeof png);

    for (int t = 0; t < 2; t++) {
        char id[37];
        t_uuid(id);
        opik_attachment *from_file = NULL, *from_bytes = NULL, *from_b64 = NULL, *empty = NULL;
        CHECK_STATUS(OPIK_OK, opik_attachment_from_file(path, NULL, NULL, &from_file, ERR));
        CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(blob, sizeof blob, "blob.bin", NULL, &from_bytes, ERR));
        CHECK_STATUS(OPIK_OK, opik_attachment_from_base64("data:text/markdown;base64,IyBIZWxsbw==", "notes", NULL, &from_b64, ERR));
        CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(NULL, 0, "empty.txt", NULL, &empty, ERR));
        opik_attachment *all[4] = {from_file, from_bytes, from_b64, empty};
        for (int i = 0; i < 4; i++) CHECK_STATUS(OPIK_OK, opik_upload(c, PROJECT, types[t], id, all[i], ERR));

        opik_attachment_list *l = NULL;
        CHECK_STATUS(OPIK_OK, opik_list(c, PROJECT, types[t], id, &l, ERR));
        CHECK(opik_attachment_list_len(l) == 4);
        /* The server orders by file name, descending. */
        CHECK(l && strcmp(opik_attachment_list_file_name(l, 0), "notes") == 0);
        long i;
        CHECK((i = find(l, "frame.png")) >= 0 && opik_attachment_list_file_size(l, (size_t)i) == sizeof png &&
              strcmp(opik_attachment_list_mime_type(l, (size_t)i), "image/png") == 0);
        CHECK((i = find(l, "blob.bin")) >= 0 && opik_attachment_list_file_size(l, (size_t)i) == sizeof blob &&
              strcmp(opik_attachment_list_mime_type(l, (size_t)i), "application/octet-stream") == 0);
        CHECK((i = find(l, "notes")) >= 0 && opik_attachment_list_file_size(l, (size_t)i) == 7 &&
              strcmp(opik_attachment_list_mime_type(l, (size_t)i), "text/markdown") == 0);
        CHECK((i = find(l, "empty.txt")) >= 0 && opik_attachment_list_file_size(l, (size_t)i) == 0);
        CHECK(opik_attachment_list_link(l, 0) != NULL);
        CHECK(opik_attachment_list_file_name(l, 4) == NULL); /* out of range */
        CHECK(opik_attachment_list_link(l, 99) == NULL);
        CHECK(opik_attachment_list_file_size(l, 99) == 0);
        opik_attachment_list_free(l);

        CHECK(download_equals(c, types[t], id, "frame.png", png, sizeof png));
        CHECK(download_equals(c, types[t], id, "blob.bin", blob, sizeof blob));
        CHECK(download_equals(c, types[t], id, "notes", (const uint8_t *)"# Hello", 7));
        CHECK(download_equals(c, types[t], id, "empty.txt", NULL, 0));

        /* MIME type is matched when given. */
        t_buffer b = {0};
        CHECK_STATUS(OPIK_OK, opik_download(c, PROJECT, types[t], id, "frame.png", "image/png", t_buffer_write, &b, ERR));
        CHECK_STATUS(OPIK_ERR_NOT_FOUND, opik_download(c, PROJECT, types[t], id, "frame.png", "image/jpeg", t_buffer_write, &b, ERR));
        CHECK_STATUS(OPIK_ERR_NOT_FOUND, opik_download(c, PROJECT, types[t], id, "missing.bin", NULL, t_buffer_write, &b, ERR));
        free(b.data);

        /* To a file: complete content, no temporary file left behind. */
        char dest[160];
        snprintf(dest, sizeof dest, "%s/out-%d.bin", tmpdir, t);
        CHECK_STATUS(OPIK_OK, opik_download_to_file(c, PROJECT, types[t], id, "blob.bin", NULL, dest, ERR));
        FILE *f = fopen(dest, "rb");
        uint8_t back[sizeof blob + 1];
        size_t n = f ? fread(back, 1, sizeof back, f) : 0;
        if (f) fclose(f);
        CHECK(n == sizeof blob && memcmp(back, blob, n) == 0);
        char missing_dest[160];
        snprintf(missing_dest, sizeof missing_dest, "%s/never.bin", tmpdir);
        CHECK_STATUS(OPIK_ERR_NOT_FOUND, opik_download_to_file(c, PROJECT, types[t], id, "missing.bin", NULL, missing_dest, ERR));
        CHECK(access(missing_dest, F_OK) != 0);
        CHECK_STATUS(OPIK_ERR_IO, opik_download_to_file(c, PROJECT, types[t], id, "blob.bin", NULL, "/nonexistent-dir/x.bin", ERR));

        /* The callback runs on the calling thread (documented; the I/O happens elsewhere). */
        struct thread_check tc = {.caller = pthread_self()};
        CHECK_STATUS(OPIK_OK, opik_download(c, PROJECT, types[t], id, "blob.bin", NULL, check_thread, &tc, ERR));
        CHECK(tc.calls >= 1 && tc.elsewhere == 0);

        /* The library called from inside on_data. */
        struct nested nest = {.c = c, .id = id, .type = types[t], .list = OPIK_OK, .upload_async = -1};
        CHECK_STATUS(OPIK_OK, opik_download(c, PROJECT, types[t], id, "blob.bin", NULL, call_from_on_data, &nest, ERR));
        CHECK(nest.list == OPIK_ERR_INVALID_ARGUMENT && strstr(nest.list_message, "on_data") != NULL);
        CHECK(nest.upload_async == OPIK_OK && nest.op != NULL);
        if (nest.op) {
            CHECK_STATUS(OPIK_OK, opik_op_wait(nest.op, 30000));
            CHECK(opik_op_status(nest.op) == OPIK_OK);
            opik_op_free(nest.op);
        }

        /* A callback that stops the download. */
        t_buffer stop = {0};
        stop.abort_after = 1;
        opik_error *err = NULL;
        CHECK(opik_download(c, PROJECT, types[t], id, "blob.bin", NULL, t_buffer_write, &stop, &err) == OPIK_ERR_ABORTED_BY_CALLBACK);
        CHECK(err && opik_error_status(err) == OPIK_ERR_ABORTED_BY_CALLBACK);
        CHECK(stop.calls == 1);
        opik_error_free(err);
        free(stop.data);

        /* Delete three (and one that does not exist): the others remain. */
        const char *gone[] = {"blob.bin", "notes", "never-existed.txt", "nested.txt"};
        CHECK_STATUS(OPIK_OK, opik_delete(c, PROJECT, types[t], id, gone, 4, ERR));
        CHECK_STATUS(OPIK_OK, opik_list(c, PROJECT, types[t], id, &l, ERR));
        CHECK(opik_attachment_list_len(l) == 2 && find(l, "blob.bin") < 0 && find(l, "frame.png") >= 0);
        opik_attachment_list_free(l);
        CHECK_STATUS(OPIK_ERR_NOT_FOUND, opik_download(c, PROJECT, types[t], id, "blob.bin", NULL, t_buffer_write, &b, ERR));

        for (int k = 0; k < 4; k++) opik_attachment_free(all[k]);
    }
}

static void test_reupload_replaces(opik_client *c) {
    char id[37];
    t_uuid(id);
    opik_attachment *v1 = NULL, *v2 = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes((const uint8_t *)"first", 5, "state.json", NULL, &v1, ERR));
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes((const uint8_t *)"second!", 7, "state.json", NULL, &v2, ERR));
    CHECK_STATUS(OPIK_OK, opik_upload(c, PROJECT, OPIK_ENTITY_TRACE, id, v1, ERR));
    CHECK_STATUS(OPIK_OK, opik_upload(c, PROJECT, OPIK_ENTITY_TRACE, id, v2, ERR));
    opik_attachment_list *l = NULL;
    CHECK_STATUS(OPIK_OK, opik_list(c, PROJECT, OPIK_ENTITY_TRACE, id, &l, ERR));
    CHECK(opik_attachment_list_len(l) == 1 && opik_attachment_list_file_size(l, 0) == 7);
    opik_attachment_list_free(l);
    CHECK(download_equals(c, OPIK_ENTITY_TRACE, id, "state.json", (const uint8_t *)"second!", 7));
    opik_attachment_free(v1);
    opik_attachment_free(v2);
}

static void test_list_follows_every_page(opik_client *c) {
    char id[37];
    t_uuid(id);
    enum { N = 130 };
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "frame-%03d.txt", i);
        opik_attachment *a = NULL;
        CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes((const uint8_t *)name, strlen(name), name, NULL, &a, ERR));
        CHECK_STATUS(OPIK_OK, opik_upload(c, PROJECT, OPIK_ENTITY_SPAN, id, a, ERR));
        opik_attachment_free(a);
    }
    opik_attachment_list *l = NULL;
    CHECK_STATUS(OPIK_OK, opik_list(c, PROJECT, OPIK_ENTITY_SPAN, id, &l, ERR));
    CHECK(opik_attachment_list_len(l) == N);
    CHECK(find(l, "frame-000.txt") >= 0 && find(l, "frame-129.txt") >= 0);
    opik_attachment_list_free(l);
}

static void test_multipart_file(opik_client *c) {
    /* 12,000,000 bytes: three parts in S3 mode (5 MiB, 5 MiB, 1,514,240). */
    size_t len = 12000000;
    uint8_t *data = (uint8_t *)malloc(len);
    uint64_t seed = 7;
    t_fill(data, len, &seed);
    char path[128];
    snprintf(path, sizeof path, "%s/video.mp4", tmpdir);
    write_file(path, data, len);
    char id[37];
    t_uuid(id);
    opik_attachment *a = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_file(path, NULL, NULL, &a, ERR));
    CHECK(strcmp(opik_attachment_content_type(a), "video/mp4") == 0);
    CHECK_STATUS(OPIK_OK, opik_upload(c, PROJECT, OPIK_ENTITY_SPAN, id, a, ERR));
    CHECK(download_equals(c, OPIK_ENTITY_SPAN, id, "video.mp4", data, len));
    opik_attachment_free(a);
    free(data);
}

typedef struct {
    opik_client *c;
    const opik_attachment *a;
    char id[37];
    int failures;
} worker_arg;

static void *worker(void *p) {
    worker_arg *w = (worker_arg *)p;
    for (int i = 0; i < 5; i++) {
        if (opik_upload(w->c, PROJECT, OPIK_ENTITY_TRACE, w->id, w->a, NULL) != OPIK_OK) w->failures++;
        opik_attachment_list *l = NULL;
        if (opik_list(w->c, PROJECT, OPIK_ENTITY_TRACE, w->id, &l, NULL) != OPIK_OK || opik_attachment_list_len(l) != 1)
            w->failures++;
        opik_attachment_list_free(l);
    }
    return NULL;
}

static void test_threads_share_one_client(opik_client *c) {
    enum { T = 6 };
    opik_attachment *a = NULL;
    uint8_t data[5000];
    uint64_t seed = 9;
    t_fill(data, sizeof data, &seed);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(data, sizeof data, "shared.bin", NULL, &a, ERR));
    pthread_t th[T];
    worker_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i].c = c;
        args[i].a = a;
        args[i].failures = 0;
        t_uuid(args[i].id);
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].failures == 0);
        CHECK(download_equals(c, OPIK_ENTITY_TRACE, args[i].id, "shared.bin", data, sizeof data));
    }
    opik_attachment_free(a);
}

static void test_not_found_and_auth(opik_client *c) {
    char id[37];
    t_uuid(id);
    opik_attachment_list *l = NULL;
    CHECK_STATUS(OPIK_ERR_NOT_FOUND, opik_list(c, "no-such-project-anywhere", OPIK_ENTITY_TRACE, id, &l, ERR));
    CHECK(l == NULL);
    /* A known project, an entity without attachments: an empty list. */
    CHECK_STATUS(OPIK_OK, opik_list(c, PROJECT, OPIK_ENTITY_TRACE, id, &l, ERR));
    CHECK(opik_attachment_list_len(l) == 0);
    opik_attachment_list_free(l);

    opik_options *o = opik_options_new();
    CHECK_STATUS(OPIK_OK, opik_options_set_api_key(o, "wrong-key-123", ERR));
    opik_client *bad = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_new(o, &bad, ERR));
    opik_options_free(o);
    opik_attachment *a = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes((const uint8_t *)"x", 1, "x.txt", NULL, &a, ERR));
    opik_error *err = NULL;
    CHECK(opik_upload(bad, PROJECT, OPIK_ENTITY_TRACE, id, a, &err) == OPIK_ERR_AUTH);
    CHECK(err && opik_error_http_status(err) == 401);
    CHECK(err && strstr(opik_error_message(err), "wrong-key-123") == NULL); /* the key never shows */
    opik_error_free(err);
    CHECK_STATUS(OPIK_ERR_AUTH, opik_list(bad, PROJECT, OPIK_ENTITY_TRACE, id, &l, ERR));
    opik_attachment_free(a);
    opik_client_free(bad);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/opik-rt-XXXXXX");
    if (!mkdtemp(tmpdir)) return 2;
    opik_client *c = t_client();
    test_all_sources_to_trace_and_span(c);
    test_reupload_replaces(c);
    test_list_follows_every_page(c);
    test_multipart_file(c);
    test_threads_share_one_client(c);
    test_not_found_and_auth(c);
    opik_client_free(c);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_finish(getenv("OPIK_TEST_MODE") ? getenv("OPIK_TEST_MODE") : "test_roundtrip");
}
