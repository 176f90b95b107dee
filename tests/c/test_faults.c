/* One fault scenario per run, injected into the test server by the harness before this program
 * starts (tests/c_abi.rs). The program checks what the C API reports; the harness then checks what
 * the server saw (how many attempts, what was stored).
 * Usage: test_faults SCENARIO, with OPIK_TEST_ENTITY_ID naming the trace to use. */
#include "test_util.h"

#include <unistd.h>

static opik_status upload_bytes(opik_client *c, const char *id, size_t len, opik_error **err) {
    return t_upload_filled(c, "c-faults", id, "fault.bin", len, err);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *scenario = argv[1];
    const char *id = t_env("OPIK_TEST_ENTITY_ID", "");
    opik_client *c = t_client();
    opik_error *err = NULL;

    if (strcmp(scenario, "recovers") == 0) {
        /* Transient faults (503 with Retry-After, dropped connections, expired URLs) are
         * recovered: the upload succeeds. 12,000,000 bytes = 3 parts in S3 mode. */
        CHECK_STATUS(OPIK_OK, upload_bytes(c, id, 12000000, ERR));
        /* The download recovers too (a 503 is retried; an expired presigned link is re-listed). */
        uint8_t *want = (uint8_t *)malloc(12000000);
        uint64_t seed = 12000000;
        t_fill(want, 12000000, &seed);
        t_buffer got = {0};
        CHECK_STATUS(OPIK_OK, opik_download(c, "c-faults", OPIK_ENTITY_TRACE, id, "fault.bin", NULL, t_buffer_write, &got, ERR));
        CHECK(got.len == 12000000 && memcmp(got.data, want, got.len) == 0);
        free(got.data);
        free(want);
    } else if (strcmp(scenario, "persistent_500") == 0) {
        CHECK(upload_bytes(c, id, 10, &err) == OPIK_ERR_HTTP);
        CHECK(err && opik_error_http_status(err) == 500);
        CHECK(err && strstr(opik_error_message(err), "upload-start") != NULL);
    } else if (strcmp(scenario, "too_large") == 0) {
        CHECK(upload_bytes(c, id, 10, &err) == OPIK_ERR_TOO_LARGE);
        CHECK(err && opik_error_http_status(err) == 413);
    } else if (strcmp(scenario, "bad_request_echoing_key") == 0) {
        /* A server that echoes the key in its error body: the message must not contain it. */
        CHECK(upload_bytes(c, id, 10, &err) == OPIK_ERR_HTTP);
        CHECK(err && opik_error_http_status(err) == 400);
        CHECK(err && strstr(opik_error_message(err), t_env("OPIK_API_KEY", "?")) == NULL);
        CHECK(err && strstr(opik_error_message(err), "[REDACTED]") != NULL);
    } else if (strcmp(scenario, "storage_forbidden") == 0) {
        /* Every part PUT refused by storage: reported (after restarts) as an HTTP error from storage. */
        CHECK(upload_bytes(c, id, 10, &err) == OPIK_ERR_HTTP);
        CHECK(err && opik_error_http_status(err) == 403);
        CHECK(err && strstr(opik_error_message(err), "storage") != NULL);
    } else if (strcmp(scenario, "protocol") == 0) {
        /* A 200 whose body is not the JSON Opik specifies. */
        CHECK(upload_bytes(c, id, 10, &err) == OPIK_ERR_PROTOCOL);
        CHECK(err && strstr(opik_error_message(err), "upload-start") != NULL);
    } else if (strcmp(scenario, "timeout") == 0) {
        opik_options *o = opik_options_new();
        CHECK_STATUS(OPIK_OK, opik_options_set_timeout_ms(o, 300, ERR));
        opik_client *slow = NULL;
        CHECK_STATUS(OPIK_OK, opik_client_new(o, &slow, ERR));
        opik_options_free(o);
        CHECK(upload_bytes(slow, id, 10, &err) == OPIK_ERR_TIMEOUT);
        opik_client_free(slow);
    } else if (strcmp(scenario, "download_interrupted") == 0) {
        /* The upload works; the download's connection drops mid-body: an error, and no file at
         * dest_path (the temporary file is removed too). */
        CHECK_STATUS(OPIK_OK, upload_bytes(c, id, 3000000, ERR));
        const char *dest = "/tmp/opik-faults-interrupted.bin";
        unlink(dest);
        opik_status s = opik_download_to_file(c, "c-faults", OPIK_ENTITY_TRACE, id, "fault.bin", NULL, dest, &err);
        CHECK(s == OPIK_ERR_NETWORK || s == OPIK_ERR_PROTOCOL);
        CHECK(access(dest, F_OK) != 0);
        CHECK(system("ls -a /tmp | grep -q 'opik-faults-interrupted.bin.opik-part'") != 0);
    } else {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    if (err) opik_error_free(err);
    opik_client_free(c);
    return t_finish(scenario);
}
