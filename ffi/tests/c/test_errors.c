/* Every error path of the C API: NULL pointers, invalid UTF-8, bad keys and ids, bad config and
 * project JSON, the last-error buffer protocol, _free(NULL), re-entrant calls from a verdict
 * callback, and use after close. Usage: test_errors STORAGE_DIR */
#include <stdint.h>

#include "test_util.h"

static const char BAD_UTF8[] = {'a', (char)0xff, (char)0xfe, 'b', '\0'};

static double fixed_clock(void *user_data) {
    int *calls = user_data;
    __atomic_fetch_add(calls, 1, __ATOMIC_SEQ_CST);
    return 1700000000.0;
}

struct reentry {
    ls_detector *det;
    ls_status set_status;
    ls_status close_status;
    ls_status status_status;
    const char *api_key;
    int calls;
};

static void reentrant_callback(const char *json, void *user_data) {
    struct reentry *r = user_data;
    CHECK(json != NULL && strstr(json, "\"session_id\":\"s-1\"") != NULL);
    r->calls++;
    r->set_status = ls_set_verdict_callback(r->det, NULL, NULL);
    r->close_status = ls_detector_close(r->det);
    char *status = NULL;
    /* Other calls into the detector are allowed from inside the callback. */
    r->status_status = ls_project_status(r->det, r->api_key, &status);
    ls_string_free(status);
}

static void check_every_call_rejects_null_detector(void) {
    char *s = (char *)1;
    ls_job *job = (ls_job *)1;
    ls_created_project *p = (ls_created_project *)1;
    ls_detection d;
    size_t n = 0;
    bool closed = false;
    const char *lines[1] = {"x"};
    CHECK_STATUS(ls_detector_close(NULL), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detector_is_closed(NULL, &closed), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_create_project(NULL, "{\"name\":\"x\"}", &p), LS_STATUS_NULL_POINTER);
    CHECK(p == NULL);
    CHECK_STATUS(ls_list_projects(NULL, &s), LS_STATUS_NULL_POINTER);
    CHECK(s == NULL);
    CHECK_STATUS(ls_delete_project(NULL, "id"), LS_STATUS_NULL_POINTER);
    s = (char *)1;
    CHECK_STATUS(ls_rotate_key(NULL, "k", &s), LS_STATUS_NULL_POINTER);
    CHECK(s == NULL);
    CHECK_STATUS(ls_rotate_key_by_id(NULL, "id", &s), LS_STATUS_NULL_POINTER);
    p = (ls_created_project *)1;
    CHECK_STATUS(ls_fork_project(NULL, "id", "copy", &p), LS_STATUS_NULL_POINTER);
    CHECK(p == NULL);
    CHECK_STATUS(ls_detect(NULL, "k", "x", NULL, &d), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detect_json(NULL, "k", "x", NULL, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detect_batch(NULL, "k", lines, NULL, 1, &d, &n), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detect_batch_json(NULL, "k", lines, NULL, 1, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_close_session(NULL, "k", "s", &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_close_all_sessions(NULL, "k", &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_poll_session_verdicts(NULL, "k", 10, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_set_verdict_callback(NULL, NULL, NULL), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_reset_sessions(NULL, "k", &n), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_project_status(NULL, "k", &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_project_status_by_id(NULL, "id", &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_training_job(NULL, "k", &job), LS_STATUS_NULL_POINTER);
    CHECK(job == NULL);
    CHECK_STATUS(ls_wait_for_training(NULL, "k", 0, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_health(NULL, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_teacher_info(NULL, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_force_teacher_update(NULL, &job), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_update_history(NULL, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_flush(NULL), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_job_status(NULL, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_job_wait(NULL, 0, &s), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_job_cancel(NULL), LS_STATUS_NULL_POINTER);
    CHECK(s == NULL);
    CHECK(ls_test_error_mentions("job must not be NULL"));
}

static void check_last_error_protocol(void) {
    /* Fresh thread state: empty message. */
    char buf[64];
    size_t needed = 0;
    CHECK_OK(ls_last_error_message(buf, sizeof buf, &needed));
    CHECK(strcmp(buf, "") == 0 && needed == 1);

    ls_detector *det = NULL;
    CHECK_STATUS(ls_detector_open("{not json", &det), LS_STATUS_INVALID_CONFIG);
    CHECK(det == NULL);
    /* Size query. */
    CHECK_STATUS(ls_last_error_message(NULL, 0, &needed), LS_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed > 20);
    /* A buffer of exactly the needed size. */
    char *full = malloc(needed);
    CHECK(full != NULL);
    CHECK_OK(ls_last_error_message(full, needed, NULL));
    CHECK(strlen(full) == needed - 1);
    CHECK(strstr(full, "config_json") != NULL);
    /* Too small: truncated, NUL-terminated, and the message itself is unchanged. */
    char small[8];
    CHECK_STATUS(ls_last_error_message(small, sizeof small, NULL), LS_STATUS_BUFFER_TOO_SMALL);
    CHECK(strlen(small) == 7 && strncmp(small, full, 7) == 0);
    CHECK_OK(ls_last_error_message(full, needed, NULL));
    CHECK(strlen(full) == needed - 1);
    /* NULL buffer with a length. */
    CHECK_STATUS(ls_last_error_message(NULL, 10, NULL), LS_STATUS_NULL_POINTER);
    free(full);
    /* Successful calls do not clear it. */
    CHECK(ls_version() != NULL);
    CHECK(ls_test_error_mentions("config_json"));
}

static void check_open_errors(const char *storage) {
    char config[1024];
    ls_detector *det = (ls_detector *)1;
    CHECK_STATUS(ls_detector_open("{}", NULL), LS_STATUS_NULL_POINTER);
    CHECK(ls_test_error_mentions("detector_out"));
    CHECK_STATUS(ls_detector_open("[1, 2", &det), LS_STATUS_INVALID_CONFIG);
    CHECK(det == NULL);
    CHECK_STATUS(ls_detector_open("{\"warmup_treshold\": 300}", &det), LS_STATUS_INVALID_CONFIG);
    CHECK(ls_test_error_mentions("warmup_treshold"));
    snprintf(config, sizeof config, "{\"storage_dir\": \"%s\", \"warmup_threshold\": 5}", storage);
    CHECK_STATUS(ls_detector_open(config, &det), LS_STATUS_INVALID_CONFIG);
    CHECK(ls_test_error_mentions("WARMUP_THRESHOLD"));
    CHECK_STATUS(ls_detector_open(BAD_UTF8, &det), LS_STATUS_INVALID_UTF8);
    CHECK(ls_test_error_mentions("config_json"));
    CHECK_STATUS(ls_detector_open_with_clock("{}", NULL, NULL, &det), LS_STATUS_NULL_POINTER);
    CHECK(ls_test_error_mentions("now"));
    CHECK(det == NULL);
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *storage = argv[1];
    char config[1024];

    /* Static strings. */
    CHECK(strlen(ls_version()) > 0);
    CHECK(strcmp(ls_status_name(LS_STATUS_OK), "OK") == 0);
    CHECK(strcmp(ls_status_name(LS_STATUS_INVALID_API_KEY), "INVALID_API_KEY") == 0);
    CHECK(strcmp(ls_status_name(LS_STATUS_STORAGE_ERROR), "STORAGE_ERROR") == 0);
    CHECK(strcmp(ls_status_name(LS_STATUS_BUFFER_TOO_SMALL), "BUFFER_TOO_SMALL") == 0);
    CHECK(strcmp(ls_status_name(LS_STATUS_LEASE_HELD), "LEASE_HELD") == 0);
    CHECK(strcmp(ls_status_name(-1), "UNKNOWN") == 0);
    CHECK(strcmp(ls_status_name(1000), "UNKNOWN") == 0);

    /* _free(NULL) is a no-op everywhere. */
    ls_string_free(NULL);
    ls_detector_free(NULL);
    ls_job_free(NULL);
    ls_created_project_free(NULL);

    check_last_error_protocol();
    check_every_call_rejects_null_detector();
    check_open_errors(storage);

    /* A detector with a host clock. */
    int clock_calls = 0;
    ls_detector *det = NULL;
    ls_test_tiny_config(config, sizeof config, storage, 1000);
    CHECK_OK(ls_detector_open_with_clock(config, fixed_clock, &clock_calls, &det));
    CHECK(det != NULL);

    /* Projects: bad JSON, bad values, invalid UTF-8, NULLs. */
    ls_created_project *p = (ls_created_project *)1;
    CHECK_STATUS(ls_create_project(det, NULL, &p), LS_STATUS_NULL_POINTER);
    CHECK(p == NULL);
    CHECK_STATUS(ls_create_project(det, "{\"name\": \"x\"}", NULL), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_create_project(det, "{\"name\": ", &p), LS_STATUS_INVALID_INPUT);
    CHECK(ls_test_error_mentions("new_project_json"));
    CHECK_STATUS(ls_create_project(det, "{\"name\": \"   \"}", &p), LS_STATUS_INVALID_INPUT);
    CHECK_STATUS(ls_create_project(det, "{\"name\": \"x\", \"colour\": 1}", &p),
                 LS_STATUS_INVALID_INPUT);
    CHECK_STATUS(ls_create_project(det, "{\"name\": \"x\", \"format\": \"nope\"}", &p),
                 LS_STATUS_INVALID_INPUT);
    CHECK_STATUS(ls_create_project(det, "{\"name\": \"x\", \"warmup_threshold\": 3}", &p),
                 LS_STATUS_INVALID_INPUT);
    CHECK_STATUS(ls_create_project(det, BAD_UTF8, &p), LS_STATUS_INVALID_UTF8);
    CHECK(p == NULL);
    CHECK_OK(ls_create_project(det, "{\"name\": \"errors\", \"format\": \"hdfs\"}", &p));
    CHECK(p != NULL && strncmp(p->api_key, "sk-", 3) == 0);
    CHECK(strcmp(p->project_name, "errors") == 0);
    CHECK(p->warmup_threshold == 1000);
    CHECK(strncmp(p->es_index_pattern, "logs-", 5) == 0);
    CHECK(strcmp(p->es_index_pattern + 5, p->project_id) == 0);
    const char *key = p->api_key;

    /* Keys and ids. */
    ls_detection d;
    memset(&d, 0, sizeof d);
    const char *line = "081109 203518 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 "
                       "for block blk_1 terminating";
    CHECK_STATUS(ls_detect(det, "sk-nope", line, NULL, &d), LS_STATUS_INVALID_API_KEY);
    CHECK(ls_test_error_mentions("invalid API key"));
    CHECK_STATUS(ls_detect(det, "", line, NULL, &d), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_detect(det, NULL, line, NULL, &d), LS_STATUS_NULL_POINTER);
    CHECK(ls_test_error_mentions("api_key"));
    CHECK_STATUS(ls_detect(det, key, NULL, NULL, &d), LS_STATUS_NULL_POINTER);
    CHECK(ls_test_error_mentions("log_line"));
    CHECK_STATUS(ls_detect(det, key, line, NULL, NULL), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detect(det, key, BAD_UTF8, NULL, &d), LS_STATUS_INVALID_UTF8);
    CHECK(ls_test_error_mentions("log_line"));
    CHECK_STATUS(ls_detect(det, key, line, BAD_UTF8, &d), LS_STATUS_INVALID_UTF8);
    CHECK(ls_test_error_mentions("session_id"));
    CHECK_STATUS(ls_detect(det, BAD_UTF8, line, NULL, &d), LS_STATUS_INVALID_UTF8);
    CHECK(d.log_count == 0); /* untouched by the failures */
    CHECK_OK(ls_detect(det, key, line, "s-1", &d));
    CHECK(d.log_count == 1 && d.phase == LS_PHASE_WARMUP && d.model_type == LS_MODEL_TYPE_TEACHER);
    CHECK(d.anomaly_score >= 0.0f && d.anomaly_score <= 1.0f && d.threshold > 0.0f);
    CHECK(clock_calls > 0);

    /* Batches. */
    const char *lines[2] = {line, line};
    const char *with_null[2] = {line, NULL};
    const char *with_bad[2] = {line, BAD_UTF8};
    ls_detection results[2];
    size_t anomalies = 99;
    char *json = (char *)1;
    CHECK_STATUS(ls_detect_batch(det, key, lines, NULL, 0, results, &anomalies),
                 LS_STATUS_INVALID_INPUT);
    CHECK(ls_test_error_mentions("batch is empty"));
    CHECK_STATUS(ls_detect_batch(det, key, NULL, NULL, 2, results, &anomalies),
                 LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detect_batch(det, key, with_null, NULL, 2, results, &anomalies),
                 LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detect_batch(det, key, with_bad, NULL, 2, results, &anomalies),
                 LS_STATUS_INVALID_UTF8);
    CHECK_STATUS(ls_detect_batch(det, key, lines, with_bad, 2, results, &anomalies),
                 LS_STATUS_INVALID_UTF8);
    CHECK_STATUS(ls_detect_batch(det, key, lines, NULL, 2, NULL, &anomalies),
                 LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_detect_batch_json(det, "sk-bad", lines, NULL, 2, &json),
                 LS_STATUS_INVALID_API_KEY);
    CHECK(json == NULL);
    CHECK(anomalies == 99);
    /* A NULL session entry means "no session id". */
    CHECK_OK(ls_detect_batch(det, key, lines, with_null, 2, results, &anomalies));
    CHECK(results[1].log_count == 3 && anomalies <= 2);

    /* Unknown ids and sessions. */
    char *out = (char *)1;
    CHECK_STATUS(ls_delete_project(det, "no-such-project"), LS_STATUS_PROJECT_NOT_FOUND);
    CHECK(ls_test_error_mentions("no-such-project"));
    CHECK_STATUS(ls_project_status_by_id(det, "no-such-project", &out), LS_STATUS_PROJECT_NOT_FOUND);
    CHECK(out == NULL);
    CHECK_STATUS(ls_rotate_key_by_id(det, "no-such-project", &out), LS_STATUS_PROJECT_NOT_FOUND);
    ls_created_project *fork = (ls_created_project *)1;
    CHECK_STATUS(ls_fork_project(det, "no-such-project", "copy", &fork), LS_STATUS_PROJECT_NOT_FOUND);
    CHECK(fork == NULL && ls_test_error_mentions("no-such-project"));
    CHECK_STATUS(ls_fork_project(det, NULL, "copy", &fork), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_fork_project(det, "no-such-project", NULL, &fork), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_fork_project(det, "no-such-project", "copy", NULL), LS_STATUS_NULL_POINTER);
    CHECK_STATUS(ls_rotate_key(det, "sk-nope", &out), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_project_status(det, "sk-nope", &out), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_poll_session_verdicts(det, "sk-nope", 5, &out), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_close_all_sessions(det, "sk-nope", &out), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_reset_sessions(det, "sk-nope", NULL), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_wait_for_training(det, "sk-nope", 0, &out), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_delete_project(det, BAD_UTF8), LS_STATUS_INVALID_UTF8);
    out = (char *)1;
    CHECK_OK(ls_close_session(det, key, "never-opened", &out));
    CHECK(out == NULL);
    ls_job *job = (ls_job *)1;
    CHECK_OK(ls_training_job(det, key, &job));
    CHECK(job == NULL); /* no training yet */
    out = (char *)1;
    CHECK_OK(ls_wait_for_training(det, key, 10, &out));
    CHECK(out == NULL);

    /* Jobs: a teacher update, waited with a timeout or to the end. */
    CHECK_STATUS(ls_force_teacher_update(det, NULL), LS_STATUS_NULL_POINTER);
    CHECK_OK(ls_force_teacher_update(det, &job));
    CHECK(job != NULL);
    CHECK_OK(ls_job_status(job, &out));
    CHECK(strstr(out, "\"state\":") != NULL);
    ls_string_free(out);
    CHECK_STATUS(ls_job_wait(job, -1, NULL), LS_STATUS_NULL_POINTER);
    CHECK_OK(ls_job_wait(job, -1, &out));
    CHECK(strstr(out, "\"state\":\"succeeded\"") != NULL || strstr(out, "\"state\":\"failed\""));
    ls_string_free(out);
    CHECK_OK(ls_job_cancel(job)); /* finished: a no-op */
    ls_job_free(job);

    /* Re-entrant calls from inside a verdict callback. */
    struct reentry r = {det, LS_STATUS_OK, LS_STATUS_OK, LS_STATUS_PANIC, key, 0};
    CHECK_OK(ls_set_verdict_callback(det, reentrant_callback, &r));
    CHECK_OK(ls_close_session(det, key, "s-1", &out));
    CHECK(out != NULL && strstr(out, "\"session_id\":\"s-1\"") != NULL);
    ls_string_free(out);
    CHECK(r.calls == 1);
    CHECK(r.set_status == LS_STATUS_INVALID_INPUT);
    CHECK(r.close_status == LS_STATUS_INVALID_INPUT);
    CHECK(r.status_status == LS_STATUS_OK);
    CHECK_OK(ls_set_verdict_callback(det, NULL, NULL));

    /* Use after close: a status, never a crash; the handle stays valid until _free. */
    bool closed = true;
    CHECK_OK(ls_detector_is_closed(det, &closed));
    CHECK(!closed);
    CHECK_STATUS(ls_detector_is_closed(det, NULL), LS_STATUS_NULL_POINTER);
    CHECK_OK(ls_detector_close(det));
    CHECK_OK(ls_detector_close(det)); /* idempotent */
    CHECK_OK(ls_detector_is_closed(det, &closed));
    CHECK(closed);
    CHECK_STATUS(ls_detect(det, key, line, NULL, &d), LS_STATUS_CLOSED);
    CHECK(ls_test_error_mentions("closed"));
    CHECK_STATUS(ls_detect_json(det, key, line, NULL, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_detect_batch(det, key, lines, NULL, 2, results, NULL), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_detect_batch_json(det, key, lines, NULL, 2, &out), LS_STATUS_CLOSED);
    ls_created_project *late = (ls_created_project *)1;
    CHECK_STATUS(ls_create_project(det, "{\"name\": \"late\"}", &late), LS_STATUS_CLOSED);
    CHECK(late == NULL);
    CHECK_STATUS(ls_list_projects(det, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_delete_project(det, "x"), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_rotate_key(det, key, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_rotate_key_by_id(det, "x", &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_close_session(det, key, "s", &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_close_all_sessions(det, key, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_poll_session_verdicts(det, key, 1, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_set_verdict_callback(det, reentrant_callback, &r), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_reset_sessions(det, key, NULL), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_project_status(det, key, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_project_status_by_id(det, "x", &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_training_job(det, key, &job), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_wait_for_training(det, key, 0, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_health(det, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_teacher_info(det, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_force_teacher_update(det, &job), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_update_history(det, &out), LS_STATUS_CLOSED);
    CHECK_STATUS(ls_flush(det), LS_STATUS_CLOSED);
    CHECK(out == NULL && job == NULL);
    ls_created_project_free(p);
    ls_detector_free(det);

    /* Free without close closes (and persists): the project is there at the next open. */
    ls_created_project *kept = NULL;
    CHECK_OK(ls_detector_open(config, &det));
    CHECK_OK(ls_create_project(det, "{\"name\": \"kept\"}", &kept));
    ls_detector_free(det);
    CHECK_OK(ls_detector_open(config, &det));
    CHECK_OK(ls_project_status(det, kept->api_key, &out));
    CHECK(strstr(out, "\"project_name\":\"kept\"") != NULL);
    ls_string_free(out);
    ls_created_project_free(kept);
    ls_detector_free(det);

    printf("test_errors: ok\n");
    return 0;
}
