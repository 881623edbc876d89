/* The whole lifecycle through the C API on the committed HDFS sample with tiny models: warmup on the
 * teacher, a student trained in the background, then the student serving; session verdicts by
 * callback and by poll; status, health, teacher info, history; keys; restart; deletion.
 * Usage: test_lifecycle STORAGE_DIR HDFS_LOG */
#include <pthread.h>

#include "test_util.h"

#define N_LINES 3000
#define CHUNK 200

struct verdicts {
    pthread_mutex_t lock;
    size_t count;
    size_t bad;
};

static void on_verdict(const char *json, void *user_data) {
    struct verdicts *v = user_data;
    int ok = json != NULL && strstr(json, "\"session_id\":") && strstr(json, "\"anomaly_score\":");
    pthread_mutex_lock(&v->lock);
    v->count++;
    if (!ok) {
        v->bad++;
    }
    pthread_mutex_unlock(&v->lock);
}

/* Verdicts in a JSON array of verdicts. */
static size_t verdict_count(const char *json) { return ls_test_count(json, "\"end_score\":"); }

static void wait_if_training(ls_detector *det, const char *key, int *trained) {
    char *status = NULL;
    CHECK_OK(ls_project_status(det, key, &status));
    int training = strstr(status, "\"phase\":\"training\"") != NULL;
    ls_string_free(status);
    if (!training) {
        return;
    }
    ls_job *job = NULL;
    CHECK_OK(ls_training_job(det, key, &job));
    CHECK(job != NULL);
    char *js = NULL;
    CHECK_OK(ls_job_status(job, &js));
    CHECK(strstr(js, "\"name\":") != NULL);
    ls_string_free(js);
    ls_job_free(job);
    char *final = NULL;
    CHECK_OK(ls_wait_for_training(det, key, 300000, &final));
    CHECK(final != NULL);
    if (strstr(final, "\"state\":\"succeeded\"") == NULL) {
        fprintf(stderr, "training did not succeed: %s\n", final);
        exit(1);
    }
    ls_string_free(final);
    *trained = 1;
}

int main(int argc, char **argv) {
    CHECK(argc == 3);
    static char *lines[N_LINES];
    size_t n = ls_test_read_lines(argv[2], lines, N_LINES);
    CHECK(n == N_LINES);
    char config[1024];
    ls_test_tiny_config(config, sizeof config, argv[1], 1000);

    ls_detector *det = NULL;
    CHECK_OK(ls_detector_open(config, &det));
    char *health = NULL;
    CHECK_OK(ls_health(det, &health));
    CHECK(strstr(health, "\"teacher_loaded\":false") != NULL); /* fresh storage */
    ls_string_free(health);

    struct verdicts cb = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    CHECK_OK(ls_set_verdict_callback(det, on_verdict, &cb));

    ls_created_project *p = NULL;
    CHECK_OK(ls_create_project(
        det, "{\"name\": \"hdfs\", \"warmup_threshold\": 1000, \"format\": \"hdfs\"}", &p));
    const char *key = p->api_key;

    static ls_detection results[N_LINES];
    int trained = 0;
    /* The first lines one by one, one with the full JSON verdict. */
    for (size_t i = 0; i < 10; i++) {
        CHECK_OK(ls_detect(det, key, lines[i], NULL, &results[i]));
        CHECK(results[i].log_count == i + 1);
    }
    char *json = NULL;
    CHECK_OK(ls_detect_json(det, key, lines[10], NULL, &json));
    CHECK(strstr(json, "\"template\":") && strstr(json, "\"components\":"));
    CHECK(strstr(json, "\"session_id\":\"blk_") != NULL); /* HDFS default session key */
    CHECK(strstr(json, "\"log_count\":11") != NULL);
    ls_string_free(json);
    /* The rest in batches; one batch as JSON. */
    size_t anomalies_total = 0;
    for (size_t start = 11; start < N_LINES; start += CHUNK) {
        size_t len = N_LINES - start < CHUNK ? N_LINES - start : CHUNK;
        if (start == 211) {
            char *bj = NULL;
            CHECK_OK(ls_detect_batch_json(det, key, (const char *const *)&lines[start], NULL, len,
                                          &bj));
            CHECK(ls_test_count(bj, "\"is_anomaly\":") == len);
            CHECK(strstr(bj, "\"total_logs\":200") != NULL);
            ls_string_free(bj);
        } else {
            size_t anomalies = 0;
            CHECK_OK(ls_detect_batch(det, key, (const char *const *)&lines[start], NULL, len,
                                     &results[start], &anomalies));
            anomalies_total += anomalies;
        }
        wait_if_training(det, key, &trained);
    }
    CHECK(trained);
    for (size_t i = 0; i < N_LINES; i++) {
        if (i == 10 || (i >= 211 && i < 411)) {
            continue; /* scored through the JSON calls */
        }
        CHECK(results[i].log_count == i + 1);
        CHECK(results[i].anomaly_score >= 0.0f && results[i].anomaly_score <= 1.0f);
    }
    /* Warmup on the teacher, then the student. */
    CHECK(results[0].phase == LS_PHASE_WARMUP && results[0].model_type == LS_MODEL_TYPE_TEACHER);
    CHECK(results[998].warmup_progress > 0.99f);
    ls_detection last = results[N_LINES - 1];
    CHECK(last.phase == LS_PHASE_ACTIVE && last.model_type == LS_MODEL_TYPE_STUDENT);
    CHECK(anomalies_total < N_LINES / 2);

    char *status = NULL;
    CHECK_OK(ls_project_status(det, key, &status));
    CHECK(strstr(status, "\"has_student_model\":true") && strstr(status, "\"phase\":\"active\""));
    CHECK(strstr(status, "\"log_count\":3000") && strstr(status, "\"students_trained\":1"));
    ls_string_free(status);
    CHECK_OK(ls_project_status_by_id(det, p->project_id, &status));
    CHECK(strstr(status, p->project_id) != NULL);
    ls_string_free(status);
    CHECK_OK(ls_health(det, &health));
    CHECK(strstr(health, "\"teacher_loaded\":true") && strstr(health, "\"active_student_models\":1"));
    ls_string_free(health);
    char *teacher = NULL;
    CHECK_OK(ls_teacher_info(det, &teacher));
    CHECK(strstr(teacher, "\"trained\":true") != NULL);
    ls_string_free(teacher);
    /* A fork starts from the trained state under its own key: active at once, on its own student. */
    ls_created_project *fork = NULL;
    CHECK_OK(ls_fork_project(det, p->project_id, "staging", &fork));
    CHECK(fork != NULL && strcmp(fork->project_name, "staging") == 0);
    CHECK(strcmp(fork->project_id, p->project_id) != 0 && strcmp(fork->api_key, key) != 0);
    ls_detection forked;
    CHECK_OK(ls_detect(det, fork->api_key, lines[2], NULL, &forked));
    CHECK(forked.phase == LS_PHASE_ACTIVE && forked.model_type == LS_MODEL_TYPE_STUDENT);
    CHECK_OK(ls_project_status(det, fork->api_key, &status));
    CHECK(strstr(status, "\"log_count\":3001") && strstr(status, "\"students_trained\":1"));
    ls_string_free(status);
    CHECK_OK(ls_delete_project(det, fork->project_id));
    ls_created_project_free(fork);

    char *history = NULL;
    CHECK_OK(ls_update_history(det, &history));
    CHECK(strstr(history, "\"trigger\":\"first-distillation\"") && strstr(history, "\"success\":true"));
    ls_string_free(history);

    /* Sessions: an explicit one closed by the host, reset, then the end of input. */
    ls_detection d;
    CHECK_OK(ls_detect(det, key, lines[0], "host-session", &d));
    CHECK(d.phase == LS_PHASE_ACTIVE && d.model_type == LS_MODEL_TYPE_STUDENT);
    char *verdict = NULL;
    CHECK_OK(ls_close_session(det, key, "host-session", &verdict));
    CHECK(verdict != NULL && strstr(verdict, "\"session_id\":\"host-session\""));
    CHECK(strstr(verdict, "\"reason\":\"closed\"") && strstr(verdict, "\"model_type\":\"student\""));
    ls_string_free(verdict);
    CHECK_OK(ls_detect(det, key, lines[1], "to-reset", &d));
    size_t reset = 0;
    CHECK_OK(ls_reset_sessions(det, key, &reset));
    CHECK(reset >= 1);
    /* reset_sessions drops the sessions: closing them now gives nothing. */
    char *all = NULL;
    CHECK_OK(ls_close_all_sessions(det, key, &all));
    CHECK(strcmp(all, "[]") == 0);
    ls_string_free(all);
    CHECK_OK(ls_detect_batch(det, key, (const char *const *)&lines[N_LINES - 50], NULL, 50,
                             results, NULL));
    CHECK_OK(ls_close_all_sessions(det, key, &all));
    size_t closed_at_end = verdict_count(all);
    CHECK(closed_at_end > 0);
    CHECK(strstr(all, "\"reason\":\"end_of_input\"") != NULL);
    ls_string_free(all);

    /* Every verdict reached the callback and the poll queue alike. */
    size_t polled = 0;
    for (;;) {
        char *batch = NULL;
        CHECK_OK(ls_poll_session_verdicts(det, key, 64, &batch));
        size_t k = verdict_count(batch);
        ls_string_free(batch);
        if (k == 0) {
            break;
        }
        CHECK(k <= 64);
        polled += k;
    }
    pthread_mutex_lock(&cb.lock);
    CHECK(cb.bad == 0);
    CHECK(cb.count == polled);
    CHECK(cb.count >= closed_at_end + 1);
    pthread_mutex_unlock(&cb.lock);
    CHECK_OK(ls_set_verdict_callback(det, NULL, NULL));

    /* Keys: rotate by key, then by id; the listing never shows one. */
    char *key2 = NULL;
    CHECK_OK(ls_rotate_key(det, key, &key2));
    CHECK(strncmp(key2, "sk-", 3) == 0 && strcmp(key2, key) != 0);
    CHECK_STATUS(ls_detect(det, key, lines[0], NULL, &d), LS_STATUS_INVALID_API_KEY);
    char *key3 = NULL;
    CHECK_OK(ls_rotate_key_by_id(det, p->project_id, &key3));
    CHECK_STATUS(ls_project_status(det, key2, &status), LS_STATUS_INVALID_API_KEY);
    CHECK_OK(ls_project_status(det, key3, &status));
    ls_string_free(status);
    char *list = NULL;
    CHECK_OK(ls_list_projects(det, &list));
    CHECK(strstr(list, p->project_id) != NULL && strstr(list, "sk-") == NULL);
    ls_string_free(list);
    CHECK_OK(ls_flush(det));
    CHECK_OK(ls_detector_close(det));
    ls_detector_free(det);

    /* A new process on the same storage: the student serves at once, without retraining. */
    CHECK_OK(ls_detector_open(config, &det));
    CHECK_OK(ls_project_status(det, key3, &status));
    CHECK(strstr(status, "\"has_student_model\":true") && strstr(status, "\"students_trained\":1"));
    ls_string_free(status);
    CHECK_OK(ls_detect(det, key3, lines[5], NULL, &d));
    CHECK(d.phase == LS_PHASE_ACTIVE && d.model_type == LS_MODEL_TYPE_STUDENT);
    CHECK(d.log_count == N_LINES + 50 + 3);
    CHECK_OK(ls_delete_project(det, p->project_id));
    CHECK_STATUS(ls_project_status(det, key3, &status), LS_STATUS_INVALID_API_KEY);
    CHECK_STATUS(ls_delete_project(det, p->project_id), LS_STATUS_PROJECT_NOT_FOUND);
    CHECK_OK(ls_detector_close(det));
    ls_detector_free(det);

    ls_string_free(key2);
    ls_string_free(key3);
    ls_created_project_free(p);
    ls_test_free_lines(lines, n);
    printf("test_lifecycle: ok (%zu session verdicts)\n", polled);
    return 0;
}
