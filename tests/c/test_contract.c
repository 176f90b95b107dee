/* The C API's conventions, without a server: NULLs, bad UTF-8, enums, out-parameters untouched on
 * failure, err untouched on success, status names, version macros, attachments and inference,
 * configuration errors. */
#include "test_util.h"

#include <unistd.h>

static const char *BAD_UTF8 = "\xff\xfe bad";
static const char *UUID = "01a1fd85-70ca-7a3b-9c84-0027fde3f4aa";
static const uint8_t PNG[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};

static void test_version_and_status_names(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", OPIK_VERSION_MAJOR, OPIK_VERSION_MINOR, OPIK_VERSION_PATCH);
    CHECK(strcmp(opik_version(), expected) == 0);
    CHECK(OPIK_VERSION_NUMBER == ((OPIK_VERSION_MAJOR << 16) | (OPIK_VERSION_MINOR << 8) | OPIK_VERSION_PATCH));
    CHECK(strcmp(opik_status_str(OPIK_OK), "OPIK_OK") == 0);
    CHECK(strcmp(opik_status_str(OPIK_ERR_IO), "OPIK_ERR_IO") == 0);
    CHECK(strcmp(opik_status_str(OPIK_ERR_INTERNAL), "OPIK_ERR_INTERNAL") == 0);
    CHECK(strcmp(opik_status_str(OPIK_ERR_FORKED), "OPIK_ERR_FORKED") == 0);
    CHECK(strcmp(opik_status_str(-1), "OPIK_ERR_UNKNOWN") == 0);
    CHECK(strcmp(opik_status_str(1000), "OPIK_ERR_UNKNOWN") == 0);
}

static void test_free_null_and_accessors_on_null(void) {
    opik_options_free(NULL);
    opik_client_free(NULL);
    opik_attachment_free(NULL);
    opik_attachment_list_free(NULL);
    opik_error_free(NULL);
    CHECK(opik_error_status(NULL) == OPIK_ERR_INVALID_ARGUMENT);
    CHECK(opik_error_message(NULL) != NULL);
    CHECK(opik_error_http_status(NULL) == 0);
    CHECK(opik_attachment_file_name(NULL) == NULL);
    CHECK(opik_attachment_content_type(NULL) == NULL);
    CHECK(opik_attachment_size(NULL) == 0);
    CHECK(opik_attachment_list_len(NULL) == 0);
    CHECK(opik_attachment_list_file_name(NULL, 0) == NULL);
    CHECK(opik_attachment_list_mime_type(NULL, 0) == NULL);
    CHECK(opik_attachment_list_link(NULL, 0) == NULL);
    CHECK(opik_attachment_list_file_size(NULL, 0) == 0);
}

static void test_options(void) {
    opik_options *o = opik_options_new();
    CHECK(o != NULL);
    /* Every refused value comes with its reason (0.2: the setters take `err`). */
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_url(NULL, "http://x/", ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_url(o, NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_url(o, BAD_UTF8, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_api_key(o, NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_workspace(o, "", ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_project_name(o, BAD_UTF8, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_timeout_ms(o, 0, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_timeout_ms(NULL, 10, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_upload_concurrency(o, 0, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_upload_concurrency(o, 65, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_ca_file(o, NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_tls_verify(NULL, true, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_queue_limits(o, 0, 1, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_queue_limits(o, 1, 0, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_outbox_dir(o, NULL, ERR));
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_shutdown_timeout_ms(NULL, 1, ERR));
    /* The reason names what was refused. */
    opik_error *why = NULL;
    CHECK(opik_options_set_upload_concurrency(o, 65, &why) == OPIK_ERR_INVALID_ARGUMENT);
    CHECK(why != NULL && strstr(opik_error_message(why), "65") != NULL);
    opik_error_free(why);
    /* err may be NULL: the status alone. */
    CHECK(opik_options_set_timeout_ms(o, 0, NULL) == OPIK_ERR_INVALID_ARGUMENT);
    CHECK(opik_options_set_url(o, NULL, NULL) == OPIK_ERR_INVALID_ARGUMENT);
    /* err stays untouched on success. */
    opik_error *untouched = (opik_error *)(uintptr_t)0x3;
    CHECK(opik_options_set_url(o, "http://127.0.0.1:9/api", &untouched) == OPIK_OK);
    CHECK(opik_options_set_api_key(o, "k", &untouched) == OPIK_OK);
    CHECK(opik_options_set_workspace(o, "ws", &untouched) == OPIK_OK);
    CHECK(opik_options_set_project_name(o, "p", &untouched) == OPIK_OK);
    CHECK(opik_options_set_timeout_ms(o, 1000, &untouched) == OPIK_OK);
    CHECK(opik_options_set_upload_concurrency(o, 8, &untouched) == OPIK_OK);
    CHECK(opik_options_set_tls_verify(o, false, &untouched) == OPIK_OK);
    CHECK(opik_options_set_queue_limits(o, 100, 1 << 20, &untouched) == OPIK_OK);
    CHECK(opik_options_set_shutdown_timeout_ms(o, 0, &untouched) == OPIK_OK);
    CHECK(untouched == (opik_error *)(uintptr_t)0x3);

    /* out must not be NULL; *out stays untouched on failure; err stays untouched on success. */
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_client_new(o, NULL, ERR));
    opik_client *c = (opik_client *)(uintptr_t)0x1;
    CHECK_STATUS(OPIK_OK, opik_options_set_url(o, "ftp://host/", ERR));
    CHECK_STATUS(OPIK_ERR_CONFIG, opik_client_new(o, &c, ERR));
    CHECK(c == (opik_client *)(uintptr_t)0x1);
    CHECK_STATUS(OPIK_OK, opik_options_set_url(o, "http://127.0.0.1:9/api", ERR));
    CHECK_STATUS(OPIK_OK, opik_options_set_ca_file(o, "/nonexistent/ca.pem", ERR));
    CHECK_STATUS(OPIK_ERR_CONFIG, opik_client_new(o, &c, ERR));
    opik_options_free(o);

    o = opik_options_new();
    CHECK_STATUS(OPIK_OK, opik_options_set_url(o, "http://127.0.0.1:9/api", ERR));
    opik_error *sentinel = (opik_error *)(uintptr_t)0x2;
    c = NULL;
    CHECK(opik_client_new(o, &c, &sentinel) == OPIK_OK);
    CHECK(sentinel == (opik_error *)(uintptr_t)0x2);
    CHECK(c != NULL);
    opik_options_free(o); /* the client copied what it needs */
    opik_client_free(c);
}

static void test_no_url_anywhere(void) {
    /* No option, no env var, and a config file without a URL. */
    char path[] = "/tmp/opik-contract-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *ini = "[opik]\nworkspace = w\n";
    CHECK(write(fd, ini, strlen(ini)) == (ssize_t)strlen(ini));
    close(fd);
    unsetenv("OPIK_URL_OVERRIDE");
    unsetenv("OPIK_API_KEY");
    setenv("OPIK_CONFIG_PATH", path, 1);
    opik_client *c = NULL;
    opik_error *err = NULL;
    CHECK(opik_client_new(NULL, &c, &err) == OPIK_ERR_CONFIG);
    CHECK(c == NULL);
    CHECK(err != NULL && opik_error_status(err) == OPIK_ERR_CONFIG);
    CHECK(err != NULL && strstr(opik_error_message(err), "OPIK_URL_OVERRIDE") != NULL);
    CHECK(err != NULL && strstr(opik_error_message(err), "url option") != NULL); /* binding-neutral */
    opik_error_free(err);

    /* The same file with a URL gives a client; the env var beats the file. */
    FILE *f = fopen(path, "w");
    fputs("[opik]\nurl_override = http://127.0.0.1:9/\n", f);
    fclose(f);
    CHECK_STATUS(OPIK_OK, opik_client_new(NULL, &c, ERR));
    opik_client_free(c);
    c = NULL;
    setenv("OPIK_URL_OVERRIDE", "gopher://nope/", 1);
    CHECK_STATUS(OPIK_ERR_CONFIG, opik_client_new(NULL, &c, ERR));
    unsetenv("OPIK_URL_OVERRIDE");
    setenv("OPIK_CONFIG_PATH", "/nonexistent/opik.config", 1);
    CHECK_STATUS(OPIK_ERR_CONFIG, opik_client_new(NULL, &c, ERR));
    unsetenv("OPIK_CONFIG_PATH");
    unlink(path);
}

static void test_attachments(void) {
    opik_attachment *a = (opik_attachment *)(uintptr_t)0x3;
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_file(NULL, NULL, NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_file(BAD_UTF8, NULL, NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_IO, opik_attachment_from_file("/nonexistent/file.png", NULL, NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_IO, opik_attachment_from_file("/tmp", NULL, NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_bytes(PNG, sizeof PNG, NULL, NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_bytes(NULL, 5, "x", NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_bytes(PNG, sizeof PNG, "x", BAD_UTF8, &a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_bytes(PNG, sizeof PNG, "x", NULL, NULL, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_base64("@@not base64@@", "x", NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_base64(NULL, "x", NULL, &a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_attachment_from_base64("QUJD", NULL, NULL, &a, ERR));
    CHECK(a == (opik_attachment *)(uintptr_t)0x3);

    /* The error object carries status and message. */
    opik_error *err = NULL;
    CHECK(opik_attachment_from_file("/nonexistent/x.bin", NULL, NULL, &a, &err) == OPIK_ERR_IO);
    CHECK(err && opik_error_status(err) == OPIK_ERR_IO);
    CHECK(err && strstr(opik_error_message(err), "/nonexistent/x.bin") != NULL);
    CHECK(err && opik_error_http_status(err) == 0);
    opik_error_free(err);

    /* Zero bytes with a NULL pointer are fine. */
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(NULL, 0, "empty.txt", NULL, &a, ERR));
    CHECK(opik_attachment_size(a) == 0);
    CHECK(strcmp(opik_attachment_content_type(a), "text/plain") == 0);
    opik_attachment_free(a);

    /* Inference: extension, then magic bytes, then octet-stream; explicit wins. */
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(PNG, sizeof PNG, "frame", NULL, &a, ERR));
    CHECK(strcmp(opik_attachment_content_type(a), "image/png") == 0);
    CHECK(strcmp(opik_attachment_file_name(a), "frame") == 0);
    CHECK(opik_attachment_size(a) == sizeof PNG);
    opik_attachment_free(a);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(PNG, sizeof PNG, "frame.pdf", NULL, &a, ERR));
    CHECK(strcmp(opik_attachment_content_type(a), "application/pdf") == 0);
    opik_attachment_free(a);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes((const uint8_t *)"\x01\x02\x03\x04", 4, "blob", NULL, &a, ERR));
    CHECK(strcmp(opik_attachment_content_type(a), "application/octet-stream") == 0);
    opik_attachment_free(a);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(PNG, sizeof PNG, "frame.png", "image/x-mine", &a, ERR));
    CHECK(strcmp(opik_attachment_content_type(a), "image/x-mine") == 0);
    opik_attachment_free(a);

    /* Base64: standard, URL-safe, unpadded, data: URI. "+/8=" vs "-_8" encode 0xfb 0xff. */
    CHECK_STATUS(OPIK_OK, opik_attachment_from_base64("+/8=", "a.bin", NULL, &a, ERR));
    CHECK(opik_attachment_size(a) == 2);
    opik_attachment_free(a);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_base64("-_8", "a.bin", NULL, &a, ERR));
    CHECK(opik_attachment_size(a) == 2);
    opik_attachment_free(a);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_base64("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "pixel", NULL, &a, ERR));
    CHECK(strcmp(opik_attachment_content_type(a), "image/gif") == 0);
    opik_attachment_free(a);

    /* From a file: base name, size, extension. */
    char path[] = "/tmp/opik-contract-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, PNG, sizeof PNG) == (ssize_t)sizeof PNG);
    close(fd);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_file(path, NULL, NULL, &a, ERR));
    CHECK(strcmp(opik_attachment_file_name(a), strrchr(path, '/') + 1) == 0);
    CHECK(strcmp(opik_attachment_content_type(a), "image/png") == 0);
    CHECK(opik_attachment_size(a) == sizeof PNG);
    opik_attachment_free(a);
    CHECK_STATUS(OPIK_OK, opik_attachment_from_file(path, "shown.webp", NULL, &a, ERR));
    CHECK(strcmp(opik_attachment_file_name(a), "shown.webp") == 0);
    CHECK(strcmp(opik_attachment_content_type(a), "image/webp") == 0);
    opik_attachment_free(a);
    unlink(path);
}

static int32_t never_called(void *user_data, const uint8_t *chunk, size_t len) {
    (void)chunk;
    (void)len;
    *(int *)user_data = 1;
    return 0;
}

static void test_operation_arguments(void) {
    opik_options *o = opik_options_new();
    CHECK_STATUS(OPIK_OK, opik_options_set_url(o, "http://127.0.0.1:9/", ERR));
    opik_client *c = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_new(o, &c, ERR));
    opik_options_free(o);
    opik_attachment *a = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(PNG, sizeof PNG, "x.png", NULL, &a, ERR));

    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(NULL, NULL, OPIK_ENTITY_TRACE, UUID, a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, NULL, OPIK_ENTITY_TRACE, UUID, NULL, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, NULL, OPIK_ENTITY_TRACE, NULL, a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, NULL, OPIK_ENTITY_TRACE, "", a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, NULL, OPIK_ENTITY_TRACE, "not-a-uuid", a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, NULL, 2, UUID, a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, NULL, -1, UUID, a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, BAD_UTF8, OPIK_ENTITY_SPAN, UUID, a, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_upload(c, "", OPIK_ENTITY_SPAN, UUID, a, ERR));
    CHECK(opik_upload(c, NULL, 7, UUID, a, NULL) == OPIK_ERR_INVALID_ARGUMENT); /* err may be NULL */

    opik_attachment_list *l = (opik_attachment_list *)(uintptr_t)0x4;
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_list(c, NULL, OPIK_ENTITY_TRACE, UUID, NULL, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_list(NULL, NULL, OPIK_ENTITY_TRACE, UUID, &l, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_list(c, NULL, 5, UUID, &l, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_list(c, NULL, OPIK_ENTITY_TRACE, BAD_UTF8, &l, ERR));
    CHECK(l == (opik_attachment_list *)(uintptr_t)0x4);

    int called = 0;
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_download(c, NULL, OPIK_ENTITY_TRACE, UUID, "x.png", NULL, NULL, NULL, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_download(c, NULL, OPIK_ENTITY_TRACE, UUID, NULL, NULL, never_called, &called, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_download(c, NULL, OPIK_ENTITY_TRACE, UUID, "x", BAD_UTF8, never_called, &called, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_download(NULL, NULL, OPIK_ENTITY_TRACE, UUID, "x", NULL, never_called, &called, ERR));
    CHECK(called == 0);
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_download_to_file(c, NULL, OPIK_ENTITY_TRACE, UUID, "x", NULL, NULL, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_download_to_file(c, NULL, 9, UUID, "x", NULL, "/tmp/x", ERR));

    const char *names[] = {"a", NULL};
    const char *bad[] = {BAD_UTF8};
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_delete(c, NULL, OPIK_ENTITY_TRACE, UUID, NULL, 2, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_delete(c, NULL, OPIK_ENTITY_TRACE, UUID, names, 2, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_delete(c, NULL, OPIK_ENTITY_TRACE, UUID, bad, 1, ERR));
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_delete(c, NULL, 3, UUID, names, 1, ERR));
    /* An empty list deletes nothing and needs no server. */
    CHECK_STATUS(OPIK_OK, opik_delete(c, NULL, OPIK_ENTITY_TRACE, UUID, NULL, 0, ERR));

    /* Nothing listens on port 9: a network error, after retries, with a message. */
    opik_error *err = NULL;
    CHECK(opik_upload(c, NULL, OPIK_ENTITY_TRACE, UUID, a, &err) == OPIK_ERR_NETWORK);
    CHECK(err && strstr(opik_error_message(err), "upload-start") != NULL);
    opik_error_free(err);

    opik_attachment_free(a);
    opik_client_free(c);
}

int main(void) {
    test_version_and_status_names();
    test_free_null_and_accessors_on_null();
    test_options();
    test_no_url_anywhere();
    test_attachments();
    test_operation_arguments();
    return t_finish("test_contract");
}
