/* http_floor: the least time any client can take per small attachment at concurrency 1 against a
 * given server: the upload flow is three HTTP exchanges in a row (upload-start, the PUT,
 * upload-complete), each waiting for the previous answer.
 *
 *   http_floor HOST PORT COUNT                     the floor
 *   http_floor HOST PORT COUNT --protocol SIZE     the protocol floor
 *
 * The floor makes 3 x COUNT of the cheapest exchanges the test server has (GET /_test/stats: no
 * auth, no JSON parsing, no storage) over one kept-alive connection, with a hand-written request
 * and nothing else in the way, and reports the time as if they were COUNT attachments.
 *
 * The protocol floor makes the real S3-mode upload of COUNT attachments of SIZE bytes (at most
 * 64 KiB, held in memory): upload-start, the PUT of the whole content to the presigned URL the
 * answer names (a second kept-alive connection), upload-complete with the part's ETag, each a
 * hand-written request read with blocking sockets, answers found with strstr and nothing parsed
 * beyond what the next request needs. Its difference to the floor is what the protocol itself
 * costs a client (bigger requests and answers, the server's own work); the difference between it
 * and the library is the library's. Needs OPIK_API_KEY and OPIK_WORKSPACE (bench-key, default in
 * benches/run) and an S3-mode server.
 *
 * Prints one line: RESULT {"tool": "floor" | "floor_protocol", "seconds": S, "cpu_seconds": C,
 * "sys_seconds": K, "bytes": B, "count": COUNT}. Plain HTTP only. Exit status 1 on any error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "timing.h"

static char buf[65536];

/* Sends the request (head, then body if any, in one system call) and reads one whole 2xx
 * response (headers and Content-Length body) into buf. */
static int exchange(int fd, const char *head, size_t head_len, const char *body, size_t body_len) {
    struct iovec iov[2] = {{(void *)head, head_len}, {(void *)body, body_len}};
    int parts = body_len ? 2 : 1;
    if (writev(fd, iov, parts) != (ssize_t)(head_len + body_len)) return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0) return -1;
        got += (size_t)r;
        buf[got] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        if (strncmp(buf, "HTTP/1.1 2", 10) != 0) return -1;
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        size_t len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (got >= (size_t)(end - buf) + 4 + len) return 0;
    }
}

static int dial(const struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        perror("http_floor: connect");
        exit(1);
    }
    return fd;
}

/* Copies the text between `after` and the next `until` in buf into out (NUL-terminated). */
static int between(const char *after, const char *until, char *out, size_t cap) {
    char *from = strstr(buf, after);
    if (!from) return -1;
    from += strlen(after);
    char *to = strstr(from, until);
    if (!to || (size_t)(to - from) >= cap) return -1;
    memcpy(out, from, (size_t)(to - from));
    out[to - from] = 0;
    return 0;
}

/* Standard base64 of the NUL-terminated `in` into out (for the upload's `path`, the base URL). */
static void base64(const char *in, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(in), o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < len) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < len) v |= (unsigned char)in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < len ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    out[o] = 0;
}

/* One attachment the protocol's way (see the header). */
static int upload(int backend, int storage, const char *host, const char *port, const char *key,
                  const char *workspace, long i, const char *data, size_t size) {
    static const char entity[] = "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b";
    char json[1024], head[1024], path[2048], upload_id[256], etag[256], base[128], base_b64[200];
    snprintf(base, sizeof base, "http://%s:%s/", host, port);
    base64(base, base_b64);
    int n = snprintf(json, sizeof json,
                     "{\"file_name\":\"floor-%05ld.bin\",\"num_of_file_parts\":1,\"mime_type\":"
                     "\"application/octet-stream\",\"project_name\":\"bench-small\",\"entity_type\":"
                     "\"trace\",\"entity_id\":\"%s\",\"path\":\"%s\"}",
                     i, entity, base_b64);
    int h = snprintf(head, sizeof head,
                     "POST /v1/private/attachment/upload-start HTTP/1.1\r\nauthorization: %s\r\n"
                     "comet-workspace: %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                     "host: %s:%s\r\n\r\n",
                     key, workspace, n, host, port);
    if (exchange(backend, head, (size_t)h, json, (size_t)n) != 0) return -1;
    /* The presigned URL's path and query (the test server presigns URLs to itself). */
    char *url = strstr(buf, "\"pre_sign_urls\":[\"http://");
    if (!url || !(url = strchr(url + 25, '/'))) return -1;
    char *url_end = strchr(url, '"');
    if (!url_end || (size_t)(url_end - url) >= sizeof path) return -1;
    memcpy(path, url, (size_t)(url_end - url));
    path[url_end - url] = 0;
    if (between("\"upload_id\":\"", "\"", upload_id, sizeof upload_id) != 0) return -1;
    char put[4096];
    h = snprintf(put, sizeof put, "PUT %s HTTP/1.1\r\ncontent-length: %zu\r\nhost: %s:%s\r\n\r\n", path,
                 size, host, port);
    if (h <= 0 || (size_t)h >= sizeof put) return -1;
    if (exchange(storage, put, (size_t)h, data, size) != 0) return -1;
    if (between("etag: \"", "\"", etag, sizeof etag) != 0) return -1;
    n = snprintf(json, sizeof json,
                 "{\"file_name\":\"floor-%05ld.bin\",\"project_name\":\"bench-small\",\"entity_type\":"
                 "\"trace\",\"entity_id\":\"%s\",\"file_size\":%zu,\"mime_type\":"
                 "\"application/octet-stream\",\"upload_id\":\"%s\",\"uploaded_file_parts\":"
                 "[{\"e_tag\":\"\\\"%s\\\"\",\"part_number\":1}]}",
                 i, entity, size, upload_id, etag);
    h = snprintf(head, sizeof head,
                 "POST /v1/private/attachment/upload-complete HTTP/1.1\r\nauthorization: %s\r\n"
                 "comet-workspace: %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                 "host: %s:%s\r\n\r\n",
                 key, workspace, n, host, port);
    return exchange(backend, head, (size_t)h, json, (size_t)n);
}

int main(int argc, char **argv) {
    int protocol = argc == 6 && !strcmp(argv[4], "--protocol");
    if (argc != 4 && !protocol) {
        fprintf(stderr, "usage: http_floor HOST PORT COUNT [--protocol SIZE]\n");
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    size_t size = protocol ? strtoul(argv[5], NULL, 10) : 0;
    const char *key = getenv("OPIK_API_KEY"), *workspace = getenv("OPIK_WORKSPACE");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (count <= 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        (protocol && (size == 0 || size > 65536 || !key || !workspace))) {
        fprintf(stderr, "http_floor: bad HOST, COUNT or SIZE, or no OPIK_API_KEY/OPIK_WORKSPACE\n");
        return 2;
    }
    int fd = dial(&addr), storage = protocol ? dial(&addr) : -1;
    char *data = protocol ? malloc(size) : NULL;
    if (data) memset(data, 'x', size);
    char req[256];
    int n = snprintf(req, sizeof req, "GET /_test/stats HTTP/1.1\r\nHost: %s:%s\r\n\r\n", argv[1], argv[2]);
    double t0 = 0, c0 = 0, s0 = 0;
    /* Round 0 is the warm-up, untimed. */
    for (long i = 0; i <= count; i++) {
        if (i == 1) t0 = now_s(), c0 = cpu_s(), s0 = sys_s();
        int failed = 0;
        if (protocol)
            failed = upload(fd, storage, argv[1], argv[2], key, workspace, i, data, size) != 0;
        else
            for (int k = 0; k < 3 && !failed; k++) failed = exchange(fd, req, (size_t)n, NULL, 0) != 0;
        if (failed) {
            fprintf(stderr, "http_floor: attachment %ld failed; last answer: %.300s\n", i, buf);
            return 1;
        }
    }
    double t1 = now_s(), c1 = cpu_s(), s1 = sys_s();
    close(fd);
    if (storage >= 0) close(storage);
    free(data);
    printf("RESULT {\"tool\": \"%s\", \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"sys_seconds\": %.6f, "
           "\"bytes\": %zu, \"count\": %ld}\n",
           protocol ? "floor_protocol" : "floor", t1 - t0, c1 - c0, s1 - s0, size * (size_t)count, count);
    return 0;
}
