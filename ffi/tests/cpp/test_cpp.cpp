// The C++ API (logsentinel.hpp over the cxx bridge): the whole lifecycle on the committed HDFS sample
// with tiny models, exceptions carrying the error kind, verdict callbacks, a host clock, jobs, RAII
// and several threads on one Detector. Usage: test_cpp STORAGE_DIR HDFS_LOG
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "logsentinel.h"  // the C header compiles as C++ too
#include "logsentinel.hpp"

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

// Runs f, which must throw logsentinel::Error of `kind`.
template <class F>
static void expect_error(const char *kind, F &&f, int line) {
  try {
    f();
  } catch (const logsentinel::Error &e) {
    if (e.kind() != kind) {
      std::fprintf(stderr, "line %d: expected %s, got %s (%s)\n", line, kind, e.kind().c_str(),
                   e.what());
      std::exit(1);
    }
    std::string what = e.what();
    CHECK(what.rfind(std::string(kind) + ": ", 0) == 0);
    return;
  }
  std::fprintf(stderr, "line %d: expected %s, nothing thrown\n", line, kind);
  std::exit(1);
}
#define EXPECT_ERROR(kind, stmt) expect_error(kind, [&] { stmt; }, __LINE__)

static std::string tiny_config(const std::string &dir, unsigned warmup) {
  return "{\"storage_dir\": \"" + dir + "\", \"warmup_threshold\": " + std::to_string(warmup) +
         ", \"training_threads\": 1,"
         " \"teacher\": {\"n_layers\": 1, \"d_model\": 32, \"n_heads\": 2, \"d_ff\": 64},"
         " \"student\": {\"n_layers\": 1, \"d_model\": 32, \"n_heads\": 2, \"d_ff\": 64},"
         " \"teacher_epochs\": 2}";
}

static size_t count(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) {
    n++;
  }
  return n;
}

static bool has(const std::string &hay, const std::string &needle) {
  return hay.find(needle) != std::string::npos;
}

// The failing client's errors (every tenth line, one session) among 300 ordinary clients form one
// incident; feedback on it silences the next error until it is undone.
static void incidents_and_feedback(const std::string &storage) {
  auto det = logsentinel::Detector::open(tiny_config(storage + "/incidents", 100000));
  std::mutex lock;
  std::vector<std::string> raised;
  det.set_incident_callback([&](const std::string &json) {
    std::lock_guard<std::mutex> g(lock);
    raised.push_back(json);
  });
  auto p = det.create_project("{\"name\": \"shop\", \"warmup_threshold\": 100000}");
  for (size_t start = 0; start < 2000; start += 100) {
    std::vector<std::string> lines, sessions;
    for (size_t i = start; i < start + 100; i++) {
      if (i % 10 == 0) {
        lines.push_back("ERROR db connection refused after " + std::to_string(i % 97) + " ms");
        sessions.push_back("10.9.9.9");
      } else {
        lines.push_back("INFO GET /item/" + std::to_string(i % 50) + " served in " +
                        std::to_string(i % 13) + " ms");
        sessions.push_back("10.0." + std::to_string(i % 300 / 250) + "." +
                           std::to_string(i % 300 % 250 + 1));
      }
    }
    det.detect_batch(p.api_key, lines, sessions);
  }
  std::string open = det.incidents(p.api_key, "open");
  CHECK(count(open, "\"title\":") == 1 && has(open, "\"session_ids\":[\"10.9.9.9\"]"));
  CHECK(det.incidents(p.api_key, "resolved") == "[]");
  EXPECT_ERROR("INVALID_INPUT", det.incidents(p.api_key, "closed"));
  std::string polled = det.poll_incidents(p.api_key, 10);
  CHECK(count(polled, "\"title\":") == 1 && det.poll_incidents(p.api_key) == "[]");
  {
    std::lock_guard<std::mutex> g(lock);
    CHECK(raised.size() == 1 && has(raised[0], "\"state\":\"open\""));
  }
  size_t at = open.find("\"id\":");
  CHECK(at != std::string::npos);
  std::uint64_t id = std::stoull(open.substr(at + 5));
  CHECK(has(det.incident(p.api_key, id), "\"feedback\":null"));
  EXPECT_ERROR("INVALID_INPUT", det.incident(p.api_key, 999999));

  const std::string error = "ERROR db connection refused after 5 ms";
  CHECK(det.detect(p.api_key, error, "10.9.9.9").is_anomaly);
  EXPECT_ERROR("INVALID_INPUT", det.feedback(p.api_key, "{\"target\": {\"incident_id\": 1}, \"label\": \"maybe\"}"));
  EXPECT_ERROR("INVALID_INPUT", det.feedback(p.api_key, "not json"));
  CHECK(det.list_feedback(p.api_key) == "[]");
  std::string mark = det.feedback(
      p.api_key, "{\"target\": {\"incident_id\": " + std::to_string(id) + "}, \"label\": \"normal\"}");
  CHECK(has(mark, "\"label\":\"normal\"") && has(mark, "\"scope\":\"pattern\""));
  std::uint64_t mark_id = std::stoull(mark.substr(mark.find("\"id\":") + 5));
  auto after = det.detect(p.api_key, error, "10.9.9.9");
  CHECK(!after.is_anomaly && has(after.json, "\"feedback_id\":" + std::to_string(mark_id)));
  CHECK(count(det.list_feedback(p.api_key), "\"label\":") == 1);
  CHECK(has(det.undo_feedback(p.api_key, mark_id), "\"label\":\"normal\""));
  EXPECT_ERROR("INVALID_INPUT", det.undo_feedback(p.api_key, mark_id));
  CHECK(det.detect(p.api_key, error, "10.9.9.9").is_anomaly);
  det.set_incident_callback(nullptr);
  det.close();
  EXPECT_ERROR("CLOSED", det.poll_incidents(p.api_key));
}

int main(int argc, char **argv) {
  CHECK(argc == 3);
  const std::string storage = argv[1];
  std::vector<std::string> lines;
  {
    std::ifstream in(argv[2]);
    std::string line;
    while (lines.size() < 3000 && std::getline(in, line)) {
      lines.push_back(line);
    }
  }
  CHECK(lines.size() == 3000);

  // Errors carry their kind.
  EXPECT_ERROR("INVALID_CONFIG", logsentinel::Detector::open("{not json"));
  EXPECT_ERROR("INVALID_CONFIG", logsentinel::Detector::open("{\"warmup_threshold\": 5}"));
  EXPECT_ERROR("INVALID_UTF8", logsentinel::Detector::open(std::string("{\"a\xff\": 1}")));

  std::string key3, project_id;
  size_t polled = 0;
  {
    std::atomic<int> clock_calls{0};
    auto det = logsentinel::Detector::open(tiny_config(storage + "/main", 1000), [&] {
      clock_calls++;
      return 1700000000.0 + clock_calls.load() * 0.001;
    });
    EXPECT_ERROR("INVALID_INPUT", det.create_project("{\"name\": "));
    EXPECT_ERROR("INVALID_INPUT", det.create_project("{\"name\": \"\"}"));
    auto p = det.create_project(R"({"name": "hdfs", "warmup_threshold": 1000, "format": "hdfs"})");
    CHECK(p.api_key.rfind("sk-", 0) == 0 && p.es_index_pattern == "logs-" + p.project_id);
    EXPECT_ERROR("INVALID_API_KEY", det.detect("sk-nope", lines[0]));
    EXPECT_ERROR("INVALID_UTF8", det.detect(p.api_key, std::string("bad \xfe line")));
    EXPECT_ERROR("INVALID_INPUT", det.detect_batch(p.api_key, {}));
    EXPECT_ERROR("INVALID_INPUT", det.detect_batch(p.api_key, {"a", "b"}, {"only-one"}));
    EXPECT_ERROR("PROJECT_NOT_FOUND", det.delete_project("no-such-project"));
    EXPECT_ERROR("PROJECT_NOT_FOUND", det.project_status("no-such-project"));
    CHECK(!det.training_job(p.api_key).has_value());
    CHECK(!det.wait_for_training(p.api_key, std::chrono::milliseconds(1)).has_value());
    CHECK(!det.close_session(p.api_key, "never-opened").has_value());

    // Verdicts by callback (any thread) and by poll.
    std::mutex mu;
    size_t callback_verdicts = 0;
    std::string reentry_kind;
    det.set_verdict_callback([&](const std::string &json) {
      CHECK(has(json, "\"session_id\":"));
      std::lock_guard<std::mutex> g(mu);
      if (callback_verdicts++ == 0) {
        // Re-registering (or closing) from inside the callback is refused, not a deadlock; other
        // calls are allowed.
        try {
          det.set_verdict_callback(nullptr);
        } catch (const logsentinel::Error &e) {
          reentry_kind = e.kind();
        }
        det.health();
      }
    });

    // Warmup on the teacher, a student trained in the background, then the student serving.
    std::vector<logsentinel::Detection> results;
    auto first = det.detect(p.api_key, lines[0]);
    CHECK(first.phase == "warmup" && first.model_type == "teacher" && first.log_count == 1);
    CHECK(first.session_id.rfind("blk_", 0) == 0 && has(first.json, "\"components\":"));
    results.push_back(first);
    bool trained = false;
    for (size_t start = 1; start < lines.size(); start += 200) {
      size_t end = std::min(lines.size(), start + 200);
      std::vector<std::string> chunk(lines.begin() + start, lines.begin() + end);
      auto r = det.detect_batch(p.api_key, chunk);
      CHECK(r.size() == chunk.size());
      results.insert(results.end(), r.begin(), r.end());
      if (has(det.status(p.api_key), "\"phase\":\"training\"")) {
        auto job = det.training_job(p.api_key);
        CHECK(job.has_value() && has(job->status(), "\"name\":"));
        auto final_status = det.wait_for_training(p.api_key, std::chrono::minutes(5));
        CHECK(final_status && has(*final_status, "\"state\":\"succeeded\""));
        CHECK(has(job->wait(), "\"state\":\"succeeded\""));
        trained = true;
      }
    }
    CHECK(trained);
    CHECK(results.size() == 3000);
    for (size_t i = 0; i < results.size(); i++) {
      CHECK(results[i].log_count == i + 1);
    }
    CHECK(results.back().phase == "active" && results.back().model_type == "student");
    CHECK(clock_calls.load() > 0);
    std::string status = det.status(p.api_key);
    CHECK(has(status, "\"has_student_model\":true") && has(status, "\"students_trained\":1"));
    CHECK(has(det.health(), "\"teacher_loaded\":true"));
    CHECK(has(det.teacher_info(), "\"trained\":true"));
    CHECK(has(det.update_history(), "\"trigger\":\"first-distillation\""));
    CHECK(has(det.detect_batch_json(p.api_key, {lines[0], lines[1]}, {"s-a", "s-b"}),
              "\"total_logs\":2"));
    auto verdict = det.close_session(p.api_key, "s-a");
    CHECK(verdict && has(*verdict, "\"session_id\":\"s-a\"") && has(*verdict, "\"reason\":\"closed\""));
    CHECK(det.reset_sessions(p.api_key) >= 1);
    det.detect_batch(p.api_key, std::vector<std::string>(lines.end() - 40, lines.end()));
    std::string at_end = det.close_all_sessions(p.api_key);
    CHECK(count(at_end, "\"end_score\":") > 0);
    for (;;) {
      size_t k = count(det.poll_session_verdicts(p.api_key, 50), "\"end_score\":");
      if (k == 0) break;
      polled += k;
    }
    {
      std::lock_guard<std::mutex> g(mu);
      CHECK(callback_verdicts == polled && polled > 0);
      CHECK(reentry_kind == "INVALID_INPUT");
    }
    det.set_verdict_callback(nullptr);

    // Several threads on one Detector.
    {
      std::vector<std::thread> threads;
      std::atomic<int> failures{0};
      for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
          try {
            for (int i = 0; i < 50; i++) {
              auto d = det.detect(p.api_key, lines[(t * 50 + i) % lines.size()]);
              if (d.model_type != "student") failures++;
            }
            det.health();
          } catch (...) {
            failures++;
          }
        });
      }
      for (auto &th : threads) th.join();
      CHECK(failures.load() == 0);
    }

    // Keys.
    std::string key2 = det.rotate_key(p.api_key);
    EXPECT_ERROR("INVALID_API_KEY", det.status(p.api_key));
    key3 = det.rotate_key_by_id(p.project_id);
    project_id = p.project_id;
    // A fork: a new project and key from the trained state; deleting it leaves the source alone.
    auto fork = det.fork_project(p.project_id, "staging");
    CHECK(fork.project_name == "staging" && fork.project_id != p.project_id);
    CHECK(has(det.status(fork.api_key), "\"has_student_model\":true"));
    det.delete_project(fork.project_id);
    EXPECT_ERROR("INVALID_API_KEY", det.status(fork.api_key));
    EXPECT_ERROR("PROJECT_NOT_FOUND", det.fork_project("no-such-project", "x"));
    EXPECT_ERROR("INVALID_API_KEY", det.status(key2));
    CHECK(has(det.list_projects(), p.project_id) && !has(det.list_projects(), "sk-"));
    auto job = det.force_teacher_update();
    CHECK(has(job.wait(std::chrono::minutes(5)), "\"state\":"));
    det.flush();

    // Move semantics and use after close.
    logsentinel::Detector moved = std::move(det);
    EXPECT_ERROR("CLOSED", det.health());  // NOLINT(bugprone-use-after-move): a status, not UB
    moved.close();
    moved.close();
    CHECK(moved.is_closed());
    EXPECT_ERROR("CLOSED", moved.detect(key3, lines[0]));
    EXPECT_ERROR("CLOSED", moved.status(key3));
    EXPECT_ERROR("CLOSED", moved.set_verdict_callback(nullptr));
    EXPECT_ERROR("CLOSED", moved.flush());
  }  // `moved` is destroyed here, releasing the storage.

  // RAII: a Detector going out of scope closes and persists; the student serves after a reopen.
  {
    auto again = logsentinel::Detector::open(tiny_config(storage + "/main", 1000));
    auto d = again.detect(key3, lines[7]);
    CHECK(d.phase == "active" && d.model_type == "student");
    again.delete_project(project_id);
    EXPECT_ERROR("INVALID_API_KEY", again.status(key3));
  }
  incidents_and_feedback(storage);
  std::printf("test_cpp: ok (%zu session verdicts)\n", polled);
  return 0;
}
