/* Helpers shared by the C tests of the logsentinel C API (header-only, C11). */
#ifndef LS_TEST_UTIL_H
#define LS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logsentinel.h"

static inline const char *ls_test_last_error(void) {
    static _Thread_local char buf[2048];
    buf[0] = '\0';
    ls_last_error_message(buf, sizeof buf, NULL);
    return buf;
}

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,     \
                    __LINE__, #cond, ls_test_last_error());                              \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_STATUS(call, expected)                                                     \
    do {                                                                                 \
        ls_status s_ = (call);                                                           \
        if (s_ != (expected)) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",     \
                    __FILE__, __LINE__, #call, ls_status_name((int)s_),                  \
                    ls_status_name((int)(expected)), ls_test_last_error());              \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, LS_STATUS_OK)

/* Whether the last error message contains `needle`. */
static inline int ls_test_error_mentions(const char *needle) {
    return strstr(ls_test_last_error(), needle) != NULL;
}

/* The tiny-model configuration of the tests, storing under `storage_dir`. */
static inline void ls_test_tiny_config(char *buf, size_t n, const char *storage_dir,
                                unsigned warmup_threshold) {
    snprintf(buf, n,
             "{\"storage_dir\": \"%s\", \"warmup_threshold\": %u, \"training_threads\": 1,"
             " \"teacher\": {\"n_layers\": 1, \"d_model\": 32, \"n_heads\": 2, \"d_ff\": 64},"
             " \"student\": {\"n_layers\": 1, \"d_model\": 32, \"n_heads\": 2, \"d_ff\": 64},"
             " \"teacher_epochs\": 2}",
             storage_dir, warmup_threshold);
}

/* Reads up to `max` lines of `path` (each malloc'ed, newline stripped); returns how many. */
static inline size_t ls_test_read_lines(const char *path, char **lines, size_t max) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char buf[8192];
    size_t n = 0;
    while (n < max && fgets(buf, sizeof buf, f)) {
        size_t len = strlen(buf);
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
            buf[--len] = '\0';
        }
        lines[n] = malloc(len + 1);
        CHECK(lines[n] != NULL);
        memcpy(lines[n], buf, len + 1);
        n++;
    }
    fclose(f);
    return n;
}

static inline void ls_test_free_lines(char **lines, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(lines[i]);
    }
}

/* Occurrences of `needle` in `hay`. */
static inline size_t ls_test_count(const char *hay, const char *needle) {
    size_t n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle)) {
        n++;
    }
    return n;
}

#endif
