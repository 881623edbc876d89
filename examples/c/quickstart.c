/* logsentinel C quick start: streams a log file through one project and prints what it flags.
 *
 *   cc -std=c11 quickstart.c $(pkg-config --cflags --libs logsentinel) -o quickstart
 *   ./quickstart [LOG_FILE [STORAGE_DIR [MAX_LINES]]]
 *
 * Defaults: tests/fixtures/hdfs/hdfs_dev_20k.log, ./logsentinel-data, 2000 lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <logsentinel.h>

static int fail(const char *what, ls_status status) {
    char msg[512];
    ls_last_error_message(msg, sizeof msg, NULL);
    fprintf(stderr, "%s failed: %s: %s\n", what, ls_status_name((int)status), msg);
    return 1;
}

int main(int argc, char **argv) {
    const char *log_file = argc > 1 ? argv[1] : "tests/fixtures/hdfs/hdfs_dev_20k.log";
    const char *storage = argc > 2 ? argv[2] : "./logsentinel-data";
    long max_lines = argc > 3 ? atol(argv[3]) : 2000;

    char config[1024];
    snprintf(config, sizeof config, "{\"storage_dir\": \"%s\"}", storage);
    ls_detector *det = NULL; /* owned: ls_detector_close + ls_detector_free */
    ls_status st = ls_detector_open(config, &det);
    if (st != LS_STATUS_OK) {
        return fail("ls_detector_open", st);
    }
    ls_created_project *p = NULL; /* owned: ls_created_project_free */
    st = ls_create_project(det, "{\"name\": \"My Web App\", \"warmup_threshold\": 10000}", &p);
    if (st != LS_STATUS_OK) {
        return fail("ls_create_project", st);
    }
    /* p->api_key is shown only here: only its hash is stored. */

    FILE *f = fopen(log_file, "r");
    if (!f) {
        perror(log_file);
        return 1;
    }
    char line[8192];
    long n = 0, flagged = 0;
    while (n < max_lines && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        ls_detection d; /* caller-owned, nothing to free */
        st = ls_detect(det, p->api_key, line, NULL, &d);
        if (st != LS_STATUS_OK) {
            return fail("ls_detect", st);
        }
        n++;
        if (d.is_anomaly) {
            flagged++;
            if (flagged <= 5) {
                printf("line %ld: anomaly (score %.2f, template %u): %.100s\n", n, d.anomaly_score,
                       d.template_id, line);
            }
        }
    }
    fclose(f);

    char *status = NULL;
    st = ls_project_status(det, p->api_key, &status);
    if (st != LS_STATUS_OK) {
        return fail("ls_project_status", st);
    }
    printf("%ld lines, %ld flagged\nstatus: %.200s...\n", n, flagged, status);
    ls_string_free(status);

    char *verdicts = NULL; /* the end of the input: every open session gets a verdict */
    if (ls_close_all_sessions(det, p->api_key, &verdicts) == LS_STATUS_OK) {
        printf("session verdicts: %.120s...\n", verdicts);
        ls_string_free(verdicts);
    }
    ls_created_project_free(p);
    st = ls_detector_close(det);
    ls_detector_free(det);
    return st == LS_STATUS_OK ? 0 : fail("ls_detector_close", st);
}
