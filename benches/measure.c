/* Runs a command and reports its peak RSS and CPU time, for benches/run.
 *
 *   measure OUT.json -- COMMAND [ARGS...]
 *
 * The command's stdout and stderr pass through. OUT.json receives
 * {"exit": code, "signal": n, "maxrss_kb": ..., "user_s": ..., "sys_s": ..., "wall_s": ...}
 * from wait4's rusage. Why a separate tiny program: Linux carries the peak RSS of the process that
 * calls execve over into the new image's ru_maxrss, so a child forked from the (large) Python
 * driver would report at least the driver's own peak. Forked from this ~1 MiB process, the figure
 * is the command's own to within that MiB. Exit status: the command's (128 + signal if killed),
 * 127 if it could not be started. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: measure OUT.json -- COMMAND [ARGS...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 127;
    }
    if (pid == 0) {
        execvp(argv[3], &argv[3]);
        fprintf(stderr, "measure: cannot run %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("measure: wait4");
            return 127;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror("measure: cannot write the result file");
        return 127;
    }
    fprintf(out,
            "{\"exit\": %d, \"signal\": %d, \"maxrss_kb\": %ld, \"user_s\": %.6f, \"sys_s\": %.6f, "
            "\"wall_s\": %.6f, \"minflt\": %ld, \"nvcsw\": %ld, \"nivcsw\": %ld}\n",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
            ru.ru_maxrss, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, ru.ru_minflt,
            ru.ru_nvcsw, ru.ru_nivcsw);
    fclose(out);
    return code;
}
