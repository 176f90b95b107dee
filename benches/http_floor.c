/* http_floor: the least time any client can take per small attachment at concurrency 1 against a
 * given server: the upload flow is three HTTP exchanges in a row (upload-start, the PUT,
 * upload-complete), each waiting for the previous answer. This program makes 3 x COUNT of the
 * cheapest exchanges the test server has (GET /_test/stats: no auth, no JSON parsing, no storage)
 * over one kept-alive connection, with a hand-written request and nothing else in the way, and
 * reports the time as if they were COUNT attachments.
 *
 *   http_floor HOST PORT COUNT
 *
 * Prints one line: RESULT {"tool": "floor", "seconds": S, "cpu_seconds": C, "bytes": 0, "count": COUNT}
 * Plain HTTP only. Exit status 1 on any error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timing.h"

/* Sends the request and reads one whole response (headers and Content-Length body). */
static int exchange(int fd, const char *req, size_t req_len) {
    static char buf[65536];
    if (write(fd, req, req_len) != (ssize_t)req_len) return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0) return -1;
        got += (size_t)r;
        buf[got] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0) return -1;
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (got >= (size_t)(end - buf) + 4 + body) return 0;
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: http_floor HOST PORT COUNT\n");
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (count <= 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "http_floor: bad HOST or COUNT\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        perror("http_floor: connect");
        return 1;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET /_test/stats HTTP/1.1\r\nHost: %s:%s\r\n\r\n", argv[1], argv[2]);
    if (exchange(fd, req, (size_t)n) != 0) { /* warm-up, untimed */
        fprintf(stderr, "http_floor: the warm-up exchange failed\n");
        return 1;
    }
    double t0 = now_s(), c0 = cpu_s();
    for (long i = 0; i < 3 * count; i++) {
        if (exchange(fd, req, (size_t)n) != 0) {
            fprintf(stderr, "http_floor: exchange %ld failed\n", i);
            return 1;
        }
    }
    double t1 = now_s(), c1 = cpu_s();
    close(fd);
    printf("RESULT {\"tool\": \"floor\", \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"bytes\": 0, \"count\": %ld}\n",
           t1 - t0, c1 - c0, count);
    return 0;
}
