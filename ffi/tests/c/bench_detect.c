/* Times ls_detect from C: the same scenario as the "warmup, full-size teacher" line of
 * `cargo run --release -p logsentinel-ffi --example overhead` (default models, one HDFS project in
 * warmup), so the two can be read side by side. Usage: bench_detect STORAGE_DIR HDFS_LOG [LINES] */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */

#include <time.h>

#include "test_util.h"

#define BLOCK 250

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    CHECK(argc >= 3);
    size_t n = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 6000;
    char **lines = calloc(n, sizeof *lines);
    CHECK(lines != NULL);
    CHECK(ls_test_read_lines(argv[2], lines, n) == n);
    char config[1024];
    snprintf(config, sizeof config,
             "{\"storage_dir\": \"%s\", \"warmup_threshold\": 1000000, \"training_threads\": 1}",
             argv[1]);
    ls_detector *det = NULL;
    CHECK_OK(ls_detector_open(config, &det));
    ls_created_project *p = NULL;
    CHECK_OK(ls_create_project(
        det, "{\"name\": \"bench\", \"warmup_threshold\": 1000000, \"format\": \"hdfs\"}", &p));
    size_t blocks = n / BLOCK;
    double *per_call = calloc(blocks, sizeof *per_call);
    CHECK(per_call != NULL);
    for (size_t b = 0; b < blocks; b++) {
        double t0 = now_ns();
        for (size_t i = b * BLOCK; i < (b + 1) * BLOCK; i++) {
            ls_detection d;
            CHECK_OK(ls_detect(det, p->api_key, lines[i], NULL, &d));
        }
        per_call[b] = (now_ns() - t0) / BLOCK;
    }
    qsort(per_call, blocks, sizeof *per_call, cmp);
    printf("C program, warmup, full-size teacher: ls_detect %.0f ns/detect (median of %zu blocks of %d)\n",
           per_call[blocks / 2], blocks, BLOCK);
    free(per_call);
    ls_created_project_free(p);
    CHECK_OK(ls_detector_close(det));
    ls_detector_free(det);
    ls_test_free_lines(lines, n);
    free(lines);
    return 0;
}
