/* Background uploads through the C API. The harness (tests/c_abi.rs) injects faults per scenario.
 * Usage: test_background SCENARIO. Every callback count is kept under a pthread mutex, so the C
 * side is checkable by ThreadSanitizer too. */
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *PROJECT = "c-background";
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* Per-operation record: how often each callback ran, in which order, with which status. */
typedef struct {
    int done_calls, free_calls, free_before_done;
    opik_status status;
    int http;
} op_rec;

static int total_done = 0, total_free = 0;

/* Makes state initialised by this thread visible (to ThreadSanitizer too) to callbacks that take
 * the mutex later: the library's own hand-off is invisible to TSan. */
static void publish(void) {
    pthread_mutex_lock(&mu);
    pthread_mutex_unlock(&mu);
}

static void on_done(void *user_data, opik_status status, const opik_error *err) {
    op_rec *r = (op_rec *)user_data;
    pthread_mutex_lock(&mu);
    r->done_calls++;
    r->status = status;
    r->http = err ? opik_error_http_status(err) : 0;
    if (status != OPIK_OK && (err == NULL || opik_error_status(err) != status)) r->http = -1; /* inconsistent */
    total_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_free(void *user_data) {
    op_rec *r = (op_rec *)user_data;
    pthread_mutex_lock(&mu);
    if (r->done_calls == 0) r->free_before_done++;
    r->free_calls++;
    total_free++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static opik_attachment *small(const char *name) {
    opik_attachment *a = NULL;
    if (opik_attachment_from_bytes((const uint8_t *)name, strlen(name), name, "text/plain", &a, NULL) != OPIK_OK) exit(2);
    return a;
}

static int exactly_once(op_rec *recs, int n) {
    int ok = 1;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++)
        if (recs[i].done_calls != 1 || recs[i].free_calls != 1 || recs[i].free_before_done != 0) {
            fprintf(stderr, "op %d: on_done ran %d times, user_data_free %d times (%d before on_done)\n", i,
                    recs[i].done_calls, recs[i].free_calls, recs[i].free_before_done);
            ok = 0;
        }
    pthread_mutex_unlock(&mu);
    return ok;
}

/* --- many threads, thousands of uploads --- */
enum { THREADS = 4, PER_THREAD = 750 };
typedef struct {
    opik_client *c;
    int index;
    op_rec *recs;
    int refused;
    double worst_us;
} producer;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void *produce(void *p) {
    producer *w = (producer *)p;
    char id[37];
    t_uuid(id);
    for (int i = 0; i < PER_THREAD; i++) {
        char name[48];
        snprintf(name, sizeof name, "t%d-%04d.txt", w->index, i);
        opik_attachment *a = small(name);
        double t0 = now_us();
        opik_status s = opik_upload_async(w->c, PROJECT, i % 2 ? OPIK_ENTITY_SPAN : OPIK_ENTITY_TRACE, id, a, on_done,
                                          &w->recs[i], on_free, NULL, NULL);
        double dt = now_us() - t0;
        if (dt > w->worst_us) w->worst_us = dt;
        if (s != OPIK_OK) w->refused++;
        opik_attachment_free(a); /* the queue keeps what it needs */
    }
    return NULL;
}

static void scenario_many(void) {
    opik_client *c = t_client();
    producer w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t].c = c;
        w[t].index = t;
        w[t].refused = 0;
        w[t].worst_us = 0;
        w[t].recs = (op_rec *)calloc(PER_THREAD, sizeof(op_rec));
        publish();
        pthread_create(&th[t], NULL, produce, &w[t]);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 120000, ERR));
    CHECK(opik_client_pending(c) == 0);
    int ok_status = 1;
    for (int t = 0; t < THREADS; t++) {
        CHECK(w[t].refused == 0);
        CHECK(exactly_once(w[t].recs, PER_THREAD));
        pthread_mutex_lock(&mu);
        for (int i = 0; i < PER_THREAD; i++) ok_status &= w[t].recs[i].status == OPIK_OK;
        pthread_mutex_unlock(&mu);
        printf("producer %d: slowest opik_upload_async call %.0f us\n", t, w[t].worst_us);
    }
    CHECK(ok_status);
    pthread_mutex_lock(&mu);
    CHECK(total_done == THREADS * PER_THREAD && total_free == THREADS * PER_THREAD);
    pthread_mutex_unlock(&mu);
    opik_client_free(c);
    for (int t = 0; t < THREADS; t++) free(w[t].recs);
}

/* --- server errors: every upload-start answers 400 (set by the harness) --- */
static void scenario_server_errors(void) {
    opik_client *c = t_client();
    enum { N = 20 };
    op_rec recs[N] = {{0}};
    opik_op *ops[N];
    publish();
    char id[37];
    t_uuid(id);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "e%d.txt", i);
        opik_attachment *a = small(name);
        CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, on_done, &recs[i], on_free, &ops[i], ERR));
        opik_attachment_free(a);
    }
    for (int i = 0; i < N; i++) {
        CHECK(opik_op_wait(ops[i], 60000) == OPIK_OK);
        CHECK(opik_op_status(ops[i]) == OPIK_ERR_HTTP);
        opik_op_free(ops[i]);
    }
    CHECK(exactly_once(recs, N));
    pthread_mutex_lock(&mu);
    for (int i = 0; i < N; i++) CHECK(recs[i].status == OPIK_ERR_HTTP && recs[i].http == 400);
    pthread_mutex_unlock(&mu);
    opik_client_free(c);
}

/* --- cancel and detach, against a slow server (every upload-start delayed by the harness) --- */
static void scenario_cancel_detach(void) {
    opik_client *c = t_client();
    char id[37];
    t_uuid(id);
    op_rec recs[3] = {{0}};
    publish();
    opik_op *cancelled = NULL, *detached = NULL, *kept = NULL;
    opik_attachment *a = small("slow.txt");
    CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, on_done, &recs[0], on_free, &cancelled, ERR));
    CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, on_done, &recs[1], on_free, &detached, ERR));
    CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, on_done, &recs[2], on_free, &kept, ERR));
    opik_attachment_free(a);
    CHECK(opik_op_status(cancelled) == OPIK_ERR_TIMEOUT); /* still running */
    CHECK(opik_op_wait(cancelled, 50) == OPIK_ERR_TIMEOUT);
    opik_op_cancel(cancelled);
    opik_op_cancel(cancelled); /* idempotent */
    CHECK(opik_op_wait(cancelled, 10000) == OPIK_OK);
    CHECK(opik_op_status(cancelled) == OPIK_ERR_CANCELLED);
    opik_op_free(detached); /* detach: the upload goes on */
    CHECK(opik_op_wait(kept, 30000) == OPIK_OK);
    CHECK(opik_op_status(kept) == OPIK_OK);
    CHECK(opik_op_wait(cancelled, 0) == OPIK_OK);
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 30000, ERR));
    CHECK(opik_client_pending(c) == 0); /* what a returned wait or flush saw is booked */
    opik_op_cancel(kept); /* cancelling a finished operation changes nothing */
    CHECK(opik_op_status(kept) == OPIK_OK);
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 30000, ERR));
    CHECK(exactly_once(recs, 3));
    pthread_mutex_lock(&mu);
    CHECK(recs[0].status == OPIK_ERR_CANCELLED && recs[1].status == OPIK_OK && recs[2].status == OPIK_OK);
    pthread_mutex_unlock(&mu);
    opik_op_free(cancelled);
    opik_op_free(kept);
    opik_op_cancel(NULL);
    opik_op_free(NULL);
    CHECK(opik_op_wait(NULL, 0) == OPIK_ERR_INVALID_ARGUMENT);
    CHECK(opik_op_status(NULL) == OPIK_ERR_INVALID_ARGUMENT);
    opik_client_free(c);
}

/* --- shutdown with work in flight (slow server): every callback ran before free returned --- */
static void scenario_shutdown(void) {
    opik_options *o = opik_options_new();
    CHECK_STATUS(OPIK_OK, opik_options_set_shutdown_timeout_ms(o, 200, ERR));
    opik_client *c = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_new(o, &c, ERR));
    opik_options_free(o);
    enum { N = 12 };
    op_rec recs[N] = {{0}};
    char id[37];
    publish();
    t_uuid(id);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.txt", i);
        opik_attachment *a = small(name);
        CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, on_done, &recs[i], on_free, NULL, ERR));
        opik_attachment_free(a);
    }
    opik_client_free(c);
    /* No lock needed for correctness here, but keep TSan's view simple. */
    CHECK(exactly_once(recs, N));
    int shut = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < N; i++) shut += recs[i].status == OPIK_ERR_SHUTDOWN;
    pthread_mutex_unlock(&mu);
    CHECK(shut > 0);
    printf("shutdown: %d of %d uploads cancelled by the close\n", shut, N);
}

/* --- re-entrant calls from on_done --- */
typedef struct {
    opik_client *c;
    opik_op *self;
    opik_status wait_self, wait_other, flush, list, chained;
    opik_op *other;
    int ran;
} reentry;

static void reentrant_done(void *user_data, opik_status status, const opik_error *err) {
    (void)status;
    (void)err;
    reentry *r = (reentry *)user_data;
    pthread_mutex_lock(&mu);
    opik_op *self = r->self, *other = r->other;
    opik_client *c = r->c;
    pthread_mutex_unlock(&mu);
    opik_status wait_self = opik_op_wait(self, 1000);
    opik_status wait_other = opik_op_wait(other, 30000);
    opik_op_cancel(self);
    opik_status flush = opik_client_flush(c, 30000, NULL);
    char id[37];
    t_uuid(id);
    opik_attachment_list *l = NULL;
    opik_status list = opik_list(c, PROJECT, OPIK_ENTITY_TRACE, id, &l, NULL); /* blocking call from a callback */
    opik_attachment_list_free(l);
    opik_attachment *a = small("chained.txt");
    opik_status chained = opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, NULL, NULL, NULL, NULL, NULL);
    opik_attachment_free(a);
    pthread_mutex_lock(&mu);
    r->wait_self = wait_self;
    r->wait_other = wait_other;
    r->flush = flush;
    r->list = list;
    r->chained = chained;
    r->ran++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

typedef struct {
    opik_client *c;
    int freed;
} closer;

static void free_client_in_callback(void *user_data, opik_status status, const opik_error *err) {
    (void)status;
    (void)err;
    closer *k = (closer *)user_data;
    pthread_mutex_lock(&mu);
    opik_client *c = k->c;
    pthread_mutex_unlock(&mu);
    opik_client_free(c); /* must not deadlock: returns at once, closing continues elsewhere */
    pthread_mutex_lock(&mu);
    k->freed = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void scenario_reentrant(void) {
    opik_client *c = t_client();
    reentry r;
    memset(&r, 0, sizeof r);
    publish();
    opik_attachment *a = small("first.txt"), *b = small("second.txt");
    char id[37];
    t_uuid(id);
    pthread_mutex_lock(&mu); /* hold on_done back until the handles are stored */
    r.c = c;
    CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, b, NULL, NULL, NULL, &r.other, ERR));
    CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, reentrant_done, &r, NULL, &r.self, ERR));
    pthread_mutex_unlock(&mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&mu);
    while (r.ran == 0 && pthread_cond_timedwait(&cv, &mu, &until) == 0) {}
    CHECK(r.ran == 1);
    CHECK(r.wait_self == OPIK_ERR_INVALID_ARGUMENT);
    CHECK(r.wait_other == OPIK_OK);
    CHECK(r.flush == OPIK_OK);
    CHECK(r.list == OPIK_OK);
    CHECK(r.chained == OPIK_OK);
    pthread_mutex_unlock(&mu);
    CHECK(opik_op_status(r.self) == OPIK_OK);
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 30000, ERR)); /* includes the chained upload */
    opik_op_free(r.self);
    opik_op_free(r.other);
    opik_client_free(c);

    /* opik_client_free from inside a callback of that client. */
    closer k = {0};
    publish();
    opik_client *c2 = t_client();
    pthread_mutex_lock(&mu);
    k.c = c2;
    CHECK_STATUS(OPIK_OK, opik_upload_async(c2, PROJECT, OPIK_ENTITY_TRACE, id, a, free_client_in_callback, &k, NULL, NULL, ERR));
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    while (!k.freed && pthread_cond_timedwait(&cv, &mu, &until) == 0) {}
    CHECK(k.freed == 1);
    pthread_mutex_unlock(&mu);
    opik_attachment_free(a);
    opik_attachment_free(b);
    sleep(1); /* let the closing finish before the process exits (leak checkers look at exit) */
}

/* --- back-pressure (slow server) --- */
static void scenario_backpressure(void) {
    opik_options *o = opik_options_new();
    CHECK_REFUSED(OPIK_ERR_INVALID_ARGUMENT, opik_options_set_queue_limits(o, 0, 10, ERR));
    CHECK_STATUS(OPIK_OK, opik_options_set_queue_limits(o, 5, 1 << 20, ERR));
    opik_client *c = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_new(o, &c, ERR));
    opik_options_free(o);
    char id[37];
    t_uuid(id);
    opik_attachment *a = small("bp.txt");
    int accepted = 0;
    opik_error *err = NULL;
    opik_status s = OPIK_OK;
    for (int i = 0; i < 6 && s == OPIK_OK; i++) {
        s = opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, NULL, NULL, NULL, NULL, &err);
        if (s == OPIK_OK) accepted++;
    }
    CHECK(accepted == 5);
    CHECK(s == OPIK_ERR_TOO_LARGE);
    CHECK(err && strstr(opik_error_message(err), "queue is full") != NULL);
    opik_error_free(err);
    err = NULL;
    CHECK(opik_client_pending(c) == 5);

    /* Flush with a short limit: a timeout that says what is pending. */
    CHECK(opik_client_flush(c, 100, &err) == OPIK_ERR_TIMEOUT);
    CHECK(err && strstr(opik_error_message(err), "pending") != NULL);
    opik_error_free(err);
    err = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_flush(c, 60000, ERR));
    CHECK(opik_client_pending(c) == 0);

    /* Memory: 2 MiB of bytes against a 1 MiB limit. */
    size_t big_len = 2 << 20;
    uint8_t *big = (uint8_t *)calloc(1, big_len);
    opik_attachment *b = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(big, big_len, "big.bin", NULL, &b, ERR));
    CHECK(opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, b, NULL, NULL, NULL, NULL, &err) == OPIK_ERR_TOO_LARGE);
    CHECK(err && strstr(opik_error_message(err), "bytes") != NULL);
    opik_error_free(err);
    opik_attachment_free(b);
    free(big);
    opik_attachment_free(a);
    opik_client_free(c);
}

/* --- progress on a 12 MB upload (parts slowed down by the harness) --- */
static void scenario_progress(void) {
    opik_options *o = opik_options_new();
    CHECK_STATUS(OPIK_OK, opik_options_set_upload_concurrency(o, 1, ERR)); /* parts one after another: progress has steps */
    opik_client *c = NULL;
    CHECK_STATUS(OPIK_OK, opik_client_new(o, &c, ERR));
    opik_options_free(o);
    size_t len = 12000000;
    uint8_t *data = (uint8_t *)malloc(len);
    uint64_t seed = 3;
    t_fill(data, len, &seed);
    opik_attachment *a = NULL;
    CHECK_STATUS(OPIK_OK, opik_attachment_from_bytes(data, len, "progress.bin", NULL, &a, ERR));
    free(data);
    char id[37];
    t_uuid(id);
    opik_op *op = NULL;
    CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_SPAN, id, a, NULL, NULL, NULL, &op, ERR));
    uint64_t sent = 0, total = 0, last = 0;
    int samples = 0, moved = 0;
    CHECK_STATUS(OPIK_ERR_INVALID_ARGUMENT, opik_op_progress(op, NULL, &total, ERR));
    while (opik_op_status(op) == OPIK_ERR_TIMEOUT) {
        CHECK_STATUS(OPIK_OK, opik_op_progress(op, &sent, &total, ERR));
        CHECK(total == len && sent <= total);
        if (sent > last && sent < total) moved++;
        last = sent;
        samples++;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(opik_op_status(op) == OPIK_OK);
    CHECK(opik_op_wait(op, 30000) == OPIK_OK);
    CHECK(opik_client_pending(c) == 0); /* a returned wait means the count is already down */
    CHECK_STATUS(OPIK_OK, opik_op_progress(op, &sent, &total, ERR));
    CHECK(sent == total && total == len);
    CHECK(moved > 0); /* seen somewhere between 0 and the end */
    printf("progress: %d samples, %d in between\n", samples, moved);
    opik_op_free(op);
    opik_attachment_free(a);
    opik_client_free(c);
}

/* --- fork: the child gets OPIK_ERR_FORKED, never a hang --- */
static void scenario_fork(void) {
    opik_client *c = t_client();
    char id[37];
    t_uuid(id);
    opik_attachment *a = small("fork.txt");
    opik_op *op = NULL;
    CHECK_STATUS(OPIK_OK, opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, NULL, NULL, NULL, &op, ERR));
    pid_t child = fork();
    if (child == 0) {
        alarm(20); /* a hang would be killed and fail the parent's check */
        int bad = 0;
        bad += opik_upload_async(c, PROJECT, OPIK_ENTITY_TRACE, id, a, NULL, NULL, NULL, NULL, NULL) != OPIK_ERR_FORKED;
        bad += opik_upload(c, PROJECT, OPIK_ENTITY_TRACE, id, a, NULL) != OPIK_ERR_FORKED;
        bad += opik_op_wait(op, 1000) != OPIK_ERR_FORKED;
        bad += opik_client_flush(c, 1000, NULL) != OPIK_ERR_FORKED;
        opik_client_free(c); /* must not hang */
        _exit(bad ? 10 + bad : 0);
    }
    int st = 0;
    CHECK(waitpid(child, &st, 0) == child);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fprintf(stderr, "child status %d\n", st);
    CHECK(opik_op_wait(op, 30000) == OPIK_OK);
    CHECK(opik_op_status(op) == OPIK_OK);
    opik_op_free(op);
    opik_attachment_free(a);
    opik_client_free(c);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *s = argv[1];
    if (strcmp(s, "many") == 0) scenario_many();
    else if (strcmp(s, "server_errors") == 0) scenario_server_errors();
    else if (strcmp(s, "cancel_detach") == 0) scenario_cancel_detach();
    else if (strcmp(s, "shutdown") == 0) scenario_shutdown();
    else if (strcmp(s, "reentrant") == 0) scenario_reentrant();
    else if (strcmp(s, "backpressure") == 0) scenario_backpressure();
    else if (strcmp(s, "progress") == 0) scenario_progress();
    else if (strcmp(s, "fork") == 0) scenario_fork();
    else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    return t_finish(s);
}
