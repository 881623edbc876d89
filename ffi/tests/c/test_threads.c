/* Several threads on one detector handle at once (pthreads): detecting on two projects, reading
 * status/health/listings and polling verdicts concurrently, then closing the handle while threads
 * are still detecting (they must see LS_STATUS_OK or LS_STATUS_CLOSED, nothing else).
 * Usage: test_threads STORAGE_DIR HDFS_LOG */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */

#include <pthread.h>
#include <time.h>

#include "test_util.h"

#define DETECT_THREADS 4
#define SINGLE 120
#define BATCHES 3
#define BATCH 20
#define PER_THREAD (SINGLE + BATCHES * BATCH)
#define N_LINES (DETECT_THREADS * PER_THREAD)

static ls_detector *det;
static char *keys[2];
static char *lines[N_LINES];
static size_t callback_verdicts;
static size_t polled_verdicts;

static void on_verdict(const char *json, void *user_data) {
    (void)user_data;
    CHECK(strstr(json, "\"session_id\":") != NULL);
    __atomic_fetch_add(&callback_verdicts, 1, __ATOMIC_SEQ_CST);
}

static void *detect_worker(void *arg) {
    size_t t = (size_t)arg;
    const char *key = keys[t % 2];
    char **mine = &lines[t * PER_THREAD];
    for (size_t i = 0; i < SINGLE; i++) {
        ls_detection d;
        CHECK_OK(ls_detect(det, key, mine[i], NULL, &d));
        CHECK(d.phase == LS_PHASE_WARMUP && d.log_count >= 1);
    }
    for (size_t b = 0; b < BATCHES; b++) {
        ls_detection out[BATCH];
        size_t anomalies = 0;
        CHECK_OK(ls_detect_batch(det, key, (const char *const *)&mine[SINGLE + b * BATCH], NULL,
                                 BATCH, out, &anomalies));
        CHECK(anomalies <= BATCH);
        for (size_t i = 1; i < BATCH; i++) {
            CHECK(out[i].log_count == out[i - 1].log_count + 1); /* a batch is atomic */
        }
    }
    return NULL;
}

static void *reader_worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 40; i++) {
        char *s = NULL;
        CHECK_OK(ls_project_status(det, keys[i % 2], &s));
        ls_string_free(s);
        CHECK_OK(ls_health(det, &s));
        ls_string_free(s);
        CHECK_OK(ls_list_projects(det, &s));
        ls_string_free(s);
        CHECK_OK(ls_poll_session_verdicts(det, keys[i % 2], 1000, &s));
        __atomic_fetch_add(&polled_verdicts, ls_test_count(s, "\"end_score\":"), __ATOMIC_SEQ_CST);
        ls_string_free(s);
    }
    return NULL;
}

static int stop_seen[DETECT_THREADS];

static void *until_closed_worker(void *arg) {
    size_t t = (size_t)arg;
    for (size_t i = 0;; i++) {
        ls_detection d;
        ls_status s = ls_detect(det, keys[t % 2], lines[(t * 37 + i) % N_LINES], NULL, &d);
        if (s == LS_STATUS_CLOSED) {
            stop_seen[t] = 1;
            return NULL;
        }
        CHECK_OK(s);
    }
}

static uint64_t log_count(const char *key) {
    char *s = NULL;
    CHECK_OK(ls_project_status(det, key, &s));
    const char *p = strstr(s, "\"log_count\":");
    CHECK(p != NULL);
    uint64_t n = strtoull(p + strlen("\"log_count\":"), NULL, 10);
    ls_string_free(s);
    return n;
}

int main(int argc, char **argv) {
    CHECK(argc == 3);
    size_t n = ls_test_read_lines(argv[2], lines, N_LINES);
    CHECK(n == N_LINES);
    char config[1024];
    ls_test_tiny_config(config, sizeof config, argv[1], 100000);
    CHECK_OK(ls_detector_open(config, &det));
    CHECK_OK(ls_set_verdict_callback(det, on_verdict, NULL));
    ls_created_project *a = NULL, *b = NULL;
    CHECK_OK(ls_create_project(det, "{\"name\": \"alpha\", \"format\": \"hdfs\"}", &a));
    CHECK_OK(ls_create_project(det, "{\"name\": \"beta\", \"format\": \"hdfs\"}", &b));
    keys[0] = a->api_key;
    keys[1] = b->api_key;

    pthread_t threads[DETECT_THREADS + 1];
    for (size_t t = 0; t < DETECT_THREADS; t++) {
        CHECK(pthread_create(&threads[t], NULL, detect_worker, (void *)t) == 0);
    }
    CHECK(pthread_create(&threads[DETECT_THREADS], NULL, reader_worker, NULL) == 0);
    for (size_t t = 0; t <= DETECT_THREADS; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
    }
    /* Nothing lost, nothing counted twice, tenants kept apart. */
    CHECK(log_count(keys[0]) == (DETECT_THREADS / 2) * PER_THREAD);
    CHECK(log_count(keys[1]) == (DETECT_THREADS / 2) * PER_THREAD);
    for (size_t k = 0; k < 2; k++) {
        char *all = NULL;
        CHECK_OK(ls_close_all_sessions(det, keys[k], &all));
        ls_string_free(all);
        char *rest = NULL;
        CHECK_OK(ls_poll_session_verdicts(det, keys[k], 100000, &rest));
        polled_verdicts += ls_test_count(rest, "\"end_score\":");
        ls_string_free(rest);
    }
    CHECK(callback_verdicts > 0);
    CHECK(callback_verdicts == polled_verdicts);

    /* Close while threads are detecting. */
    for (size_t t = 0; t < DETECT_THREADS; t++) {
        CHECK(pthread_create(&threads[t], NULL, until_closed_worker, (void *)t) == 0);
    }
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_OK(ls_detector_close(det));
    for (size_t t = 0; t < DETECT_THREADS; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
        CHECK(stop_seen[t]);
    }
    ls_detector_free(det);
    ls_created_project_free(a);
    ls_created_project_free(b);
    ls_test_free_lines(lines, n);
    printf("test_threads: ok (%zu verdicts)\n", callback_verdicts);
    return 0;
}
