/* A 200 MiB upload and download through the C API: SHA-256 equality, and the peak memory of this
 * process (getrusage) stays under 64 MiB, so memory does not grow with the file size.
 * Usage: test_large [MiB] (default 200). Prints the upload and download throughput. */
#include "test_util.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* getrusage's ru_maxrss, in KiB on Linux. It survives execve: a program started by a large
 * process (the cargo test harness with its in-process server) inherits that process's peak. */
static long rusage_peak_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* The peak of this program's own address space (VmHWM, reset by execve); getrusage elsewhere. */
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib >= 0 ? kib : rusage_peak_kib();
}

static int32_t count_chunk(void *user_data, const uint8_t *chunk, size_t len) {
    (void)chunk;
    *(uint64_t *)user_data += len;
    return 0;
}

static int32_t hash_chunk(void *user_data, const uint8_t *chunk, size_t len) {
    t_sha256_update((t_sha256 *)user_data, chunk, len);
    return 0;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 200;
    const char *dir = t_env("TMPDIR", "/tmp");
    char path[256];
    snprintf(path, sizeof path, "%s/opik-large-%d.bin", dir, (int)getpid());

    /* Write the file in 1 MiB pieces, hashing as we go: the file is never in memory whole. */
    t_sha256 want;
    t_sha256_init(&want);
    FILE *f = fopen(path, "wb");
    if (!f) return 2;
    uint8_t *buf = (uint8_t *)malloc(1 << 20);
    uint64_t seed = 12345;
    for (size_t i = 0; i < mib; i++) {
        t_fill(buf, 1 << 20, &seed);
        t_sha256_update(&want, buf, 1 << 20);
        if (fwrite(buf, 1, 1 << 20, f) != 1 << 20) return 2;
    }
    fclose(f);
    free(buf);
    char want_hex[65], got_hex[65];
    t_sha256_hex(&want, want_hex);
    long rss_before = peak_rss_kib();

    opik_client *c = t_client();
    char id[37];
    t_uuid(id);
    opik_attachment *a = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_file(path, "large.bin", NULL, &a, ERR));
    CHECK(opik_attachment_size(a) == (uint64_t)mib << 20);
    double t0 = now_s();
    CHECK_STATUS(OPIK_OK, opik_upload(c, "c-large", OPIK_ENTITY_TRACE, id, a, ERR));
    double up = now_s() - t0;

    /* Timed: into a callback that discards (the test's own SHA-256 below is slower than the network). */
    uint64_t counted = 0;
    t0 = now_s();
    CHECK_STATUS(OPIK_OK, opik_download(c, "c-large", OPIK_ENTITY_TRACE, id, "large.bin", NULL, count_chunk, &counted, ERR));
    double down = now_s() - t0;
    CHECK(counted == (uint64_t)mib << 20);

    t_sha256 got;
    t_sha256_init(&got);
    CHECK_STATUS(OPIK_OK, opik_download(c, "c-large", OPIK_ENTITY_TRACE, id, "large.bin", NULL, hash_chunk, &got, ERR));
    t_sha256_hex(&got, got_hex);
    CHECK(strcmp(want_hex, got_hex) == 0);

    opik_attachment_free(a);
    opik_client_free(c);
    unlink(path);

    long peak = peak_rss_kib();
    printf("size %zu MiB: upload %.2f s (%.0f MiB/s), download %.2f s (%.0f MiB/s)\n", mib, up, (double)mib / up, down,
           (double)mib / down);
    printf("peak RSS %ld KiB (%.1f MiB; %.1f MiB before the client existed; getrusage ru_maxrss %ld KiB, "
           "which includes the parent's peak before exec)\n",
           peak, peak / 1024.0, rss_before / 1024.0, rusage_peak_kib());
    printf("sha256 %s\n", got_hex);
    CHECK(peak < 64 * 1024);
    return t_finish("test_large");
}
