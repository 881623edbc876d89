/* Incidents and operator feedback through the C API, with tiny models on a real storage: one
 * client's errors form one incident (polled, listed, delivered by callback); a "normal" mark on it
 * lets the very next error pass, survives a restart and is undone; bad feedback is refused with
 * nothing stored.
 * Usage: test_incidents STORAGE_DIR */
#include <inttypes.h>
#include <pthread.h>

#include "test_util.h"

#define N_LINES 2000
#define CHUNK 100
#define FAILING_CLIENT "10.9.9.9"

struct incidents {
    pthread_mutex_t lock;
    size_t count;
    size_t bad;
    ls_detector *det;
    ls_status reentry; /* what ls_set_incident_callback returned from inside the callback */
};

static void on_incident(const char *json, void *user_data) {
    struct incidents *s = user_data;
    int ok = json != NULL && strstr(json, "\"title\":") && strstr(json, "\"state\":\"open\"");
    ls_status reentry = ls_set_incident_callback(s->det, NULL, NULL);
    pthread_mutex_lock(&s->lock);
    s->count++;
    s->reentry = reentry;
    if (!ok) {
        s->bad++;
    }
    pthread_mutex_unlock(&s->lock);
}

/* The unsigned number after the first `"field":` in `json`, or -1 when absent or null. */
static int64_t json_number(const char *json, const char *field) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", field);
    const char *p = strstr(json, needle);
    if (p == NULL) {
        return -1;
    }
    uint64_t v = 0;
    if (sscanf(p + strlen(needle), "%" SCNu64, &v) != 1) {
        return -1;
    }
    return (int64_t)v;
}

/* Line `i` of the traffic and its session: every tenth line the failing client's error, the rest
 * ordinary requests of 300 clients. */
static void traffic_line(size_t i, char *line, size_t line_n, char *session, size_t session_n) {
    if (i % 10 == 0) {
        snprintf(line, line_n, "ERROR db connection refused after %zu ms", i % 97);
        snprintf(session, session_n, FAILING_CLIENT);
    } else {
        snprintf(line, line_n, "INFO GET /item/%zu served in %zu ms", i % 50, i % 13);
        size_t c = i % 300;
        snprintf(session, session_n, "10.0.%zu.%zu", c / 250, c % 250 + 1);
    }
}

static void feed(ls_detector *det, const char *key) {
    static char line_buf[CHUNK][128];
    static char session_buf[CHUNK][32];
    const char *lines[CHUNK];
    const char *sessions[CHUNK];
    for (size_t start = 0; start < N_LINES; start += CHUNK) {
        for (size_t j = 0; j < CHUNK; j++) {
            traffic_line(start + j, line_buf[j], sizeof line_buf[j], session_buf[j],
                         sizeof session_buf[j]);
            lines[j] = line_buf[j];
            sessions[j] = session_buf[j];
        }
        char *json = NULL;
        CHECK_OK(ls_detect_batch_json(det, key, lines, sessions, CHUNK, &json));
        ls_string_free(json);
    }
}

/* The verdict of one more error of the failing client, as JSON (caller frees). */
static char *one_error(ls_detector *det, const char *key) {
    char *json = NULL;
    CHECK_OK(ls_detect_json(det, key, "ERROR db connection refused after 5 ms", FAILING_CLIENT,
                            &json));
    return json;
}

static ls_detector *open_detector(const char *config) {
    ls_detector *det = NULL;
    CHECK_OK(ls_detector_open(config, &det));
    return det;
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    char config[1024];
    ls_test_tiny_config(config, sizeof config, argv[1], 100000);
    ls_detector *det = open_detector(config);
    struct incidents cb = {PTHREAD_MUTEX_INITIALIZER, 0, 0, det, LS_STATUS_OK};
    CHECK_OK(ls_set_incident_callback(det, on_incident, &cb));

    ls_created_project *p = NULL;
    CHECK_OK(ls_create_project(det, "{\"name\": \"shop\", \"warmup_threshold\": 100000}", &p));
    char key[256];
    snprintf(key, sizeof key, "%s", p->api_key);
    ls_created_project_free(p);
    feed(det, key);

    /* One open incident holds the failing client's errors. */
    char *open = NULL;
    CHECK_OK(ls_incidents(det, key, "open", &open));
    CHECK(ls_test_count(open, "\"title\":") == 1);
    CHECK(strstr(open, "\"session_ids\":[\"" FAILING_CLIENT "\"]") != NULL);
    CHECK(json_number(open, "lines") == N_LINES / 10);
    int64_t incident_id = json_number(open, "id");
    CHECK(incident_id >= 0);
    ls_string_free(open);
    char *resolved = NULL;
    CHECK_OK(ls_incidents(det, key, "resolved", &resolved));
    CHECK(strcmp(resolved, "[]") == 0);
    ls_string_free(resolved);
    char *all = NULL;
    CHECK_OK(ls_incidents(det, key, NULL, &all));
    CHECK(ls_test_count(all, "\"title\":") == 1);
    ls_string_free(all);

    /* Raised once: to the poll queue and to the callback, which may not re-register itself. */
    char *polled = NULL;
    CHECK_OK(ls_poll_incidents(det, key, 10, &polled));
    CHECK(json_number(polled, "id") == incident_id);
    CHECK(ls_test_count(polled, "\"title\":") == 1);
    ls_string_free(polled);
    CHECK_OK(ls_poll_incidents(det, key, 10, &polled));
    CHECK(strcmp(polled, "[]") == 0);
    ls_string_free(polled);
    pthread_mutex_lock(&cb.lock);
    CHECK(cb.count == 1 && cb.bad == 0 && cb.reentry == LS_STATUS_INVALID_INPUT);
    pthread_mutex_unlock(&cb.lock);

    char *one = NULL;
    CHECK_OK(ls_incident(det, key, (uint64_t)incident_id, &one));
    CHECK(json_number(one, "id") == incident_id && strstr(one, "\"feedback\":null"));
    ls_string_free(one);
    CHECK_STATUS(ls_incident(det, key, 999999, &one), LS_STATUS_INVALID_INPUT);
    CHECK(one == NULL);
    CHECK_STATUS(ls_incidents(det, key, "closed", &one), LS_STATUS_INVALID_INPUT);
    CHECK(ls_test_error_mentions("\"resolved\"") && one == NULL);

    /* The error still alerts, in its incident. */
    char *before = one_error(det, key);
    CHECK(strstr(before, "\"is_anomaly\":true") && json_number(before, "incident_id") == incident_id);
    ls_string_free(before);

    /* Bad feedback: a clear error, nothing stored. */
    const char *bad[] = {
        "not json",
        "{\"target\": {\"incident_id\": 1}, \"label\": \"maybe\"}",
        "{\"target\": {\"incident_id\": 1}, \"label\": \"normal\", \"scope\": \"everything\"}",
        "{\"target\": {\"incident_id\": 1}, \"label\": \"normal\", \"severity\": 3}",
        "{\"label\": \"normal\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        CHECK_STATUS(ls_feedback(det, key, bad[i], &out), LS_STATUS_INVALID_INPUT);
        CHECK(out == NULL && ls_test_error_mentions("feedback_json"));
    }
    char *none = NULL;
    CHECK_STATUS(ls_feedback(det, key, "{\"target\": {\"incident_id\": 999999}, \"label\": \"normal\"}", &none),
                 LS_STATUS_INVALID_INPUT);
    CHECK_OK(ls_list_feedback(det, key, &none));
    CHECK(strcmp(none, "[]") == 0);
    ls_string_free(none);

    /* "Normal here": the very next error passes, naming the mark. */
    char body[128];
    snprintf(body, sizeof body, "{\"target\": {\"incident_id\": %" PRId64 "}, \"label\": \"normal\"}",
             incident_id);
    char *mark = NULL;
    CHECK_OK(ls_feedback(det, key, body, &mark));
    CHECK(strstr(mark, "\"label\":\"normal\"") && strstr(mark, "\"scope\":\"pattern\""));
    CHECK(json_number(mark, "incident_id") == incident_id);
    int64_t feedback_id = json_number(mark, "id");
    CHECK(feedback_id >= 0);
    ls_string_free(mark);
    char *after = one_error(det, key);
    CHECK(strstr(after, "\"is_anomaly\":false") && json_number(after, "feedback_id") == feedback_id);
    ls_string_free(after);
    CHECK_OK(ls_incident(det, key, (uint64_t)incident_id, &one));
    CHECK(strstr(one, "\"feedback\":\"normal\"") != NULL);
    ls_string_free(one);

    /* It survives a restart. */
    CHECK_OK(ls_set_incident_callback(det, NULL, NULL));
    CHECK_OK(ls_detector_close(det));
    ls_detector_free(det);
    det = open_detector(config);
    char *listed = NULL;
    CHECK_OK(ls_list_feedback(det, key, &listed));
    CHECK(ls_test_count(listed, "\"label\":") == 1 && json_number(listed, "id") == feedback_id);
    ls_string_free(listed);
    after = one_error(det, key);
    CHECK(strstr(after, "\"is_anomaly\":false") != NULL);
    ls_string_free(after);

    /* Undone: the error alerts again; undoing twice is refused. */
    char *removed = NULL;
    CHECK_OK(ls_undo_feedback(det, key, (uint64_t)feedback_id, &removed));
    CHECK(json_number(removed, "id") == feedback_id);
    ls_string_free(removed);
    CHECK_STATUS(ls_undo_feedback(det, key, (uint64_t)feedback_id, &removed),
                 LS_STATUS_INVALID_INPUT);
    CHECK(removed == NULL);
    char *again = one_error(det, key);
    CHECK(strstr(again, "\"is_anomaly\":true") && strstr(again, "\"feedback_id\":null"));
    ls_string_free(again);
    CHECK_OK(ls_list_feedback(det, key, &listed));
    CHECK(strcmp(listed, "[]") == 0);
    ls_string_free(listed);

    /* A wrong key is refused. */
    CHECK_STATUS(ls_poll_incidents(det, "ls_wrong", 10, &polled), LS_STATUS_INVALID_API_KEY);

    CHECK_OK(ls_detector_close(det));
    ls_detector_free(det);
    printf("test_incidents: ok (incident %" PRId64 ", feedback %" PRId64 ")\n", incident_id,
           feedback_id);
    return 0;
}
