// logsentinel — C++ API of the embeddable multi-tenant log anomaly detector (C++17).
//
// A thin RAII class over the cxx bridge of crate logsentinel-ffi. Link the static library
// (cxx's C++ glue is not exported from the shared one):
//   c++ -std=c++17 app.cpp $(pkg-config --static --cflags --libs logsentinel-static)
//
//   #include <logsentinel.hpp>
//   auto det = logsentinel::Detector::open(R"({"storage_dir": "/var/lib/app/logsentinel"})");
//   auto p = det.create_project(R"({"name": "My Web App", "warmup_threshold": 10000})");
//   auto d = det.detect(p.api_key, line, "10.0.0.7");
//   if (d.is_anomaly) std::cerr << d.template_text << " " << d.anomaly_score << "\n";
//
// Errors: every failing call throws logsentinel::Error (a std::runtime_error) whose kind() is the
// stable code of the other surfaces ("INVALID_API_KEY", "PROJECT_NOT_FOUND", "INVALID_INPUT",
// "INVALID_CONFIG", "STORAGE_ERROR", "MODEL_ERROR", "CANCELLED", "CLOSED", "TIMEOUT",
// "INVALID_UTF8", "NULL_POINTER", "PANIC") and whose what() is "KIND: message".
//
// Rich results (status, health, teacher info, history, verdicts, project lists, full detections) are
// JSON strings with the same fields as the Rust types.
//
// Thread safety: every member function may be called concurrently from any threads on one Detector
// (or Job); only destruction and move-assignment must not overlap other calls. Destroying a Detector
// closes it (joins background training, persists) and then drops the verdict callback.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "logsentinel/cxx_shim.h"
#include "logsentinel-ffi/src/bridge.rs.h"

namespace logsentinel {

// An error from logsentinel: kind() is the stable code, what() "KIND: message".
class Error : public std::runtime_error {
 public:
  Error(std::string kind, const std::string &what)
      : std::runtime_error(what), kind_(std::move(kind)) {}
  // The stable upper snake case code, e.g. "INVALID_API_KEY".
  const std::string &kind() const noexcept { return kind_; }

 private:
  std::string kind_;
};

namespace detail {

inline Error to_error(const rust::Error &e) {
  std::string what = e.what();
  std::string::size_type colon = what.find(": ");
  std::string kind = colon == std::string::npos ? std::string("OTHER") : what.substr(0, colon);
  return Error(std::move(kind), what);
}

// Runs f, rethrowing the bridge's rust::Error as logsentinel::Error.
template <class F>
auto call(F &&f) -> decltype(f()) {
  try {
    return f();
  } catch (const rust::Error &e) {
    throw to_error(e);
  }
}

inline std::optional<std::string> non_empty(rust::String s) {
  if (s.empty()) {
    return std::nullopt;
  }
  return std::string(s);
}

inline std::int64_t to_ms(std::optional<std::chrono::milliseconds> timeout) {
  return timeout ? static_cast<std::int64_t>(timeout->count()) : -1;
}

}  // namespace detail

// The hot fields of one line's verdict, plus the full verdict as JSON.
struct Detection {
  bool is_anomaly = false;
  float anomaly_score = 0;
  float threshold = 0;
  std::string phase;       // "warmup", "training" or "active"
  std::string model_type;  // "teacher" or "student"
  std::uint32_t template_id = 0;
  std::string template_text;
  std::uint64_t log_count = 0;
  float warmup_progress = 0;
  std::string session_id;  // "" when the line has none
  std::string json;        // every field (parameters, components, reasons, expected, ...)

  static Detection from(const bridge::Detection &d) {
    Detection out;
    out.is_anomaly = d.is_anomaly;
    out.anomaly_score = d.anomaly_score;
    out.threshold = d.threshold;
    out.phase = std::string(d.phase);
    out.model_type = std::string(d.model_type);
    out.template_id = d.template_id;
    out.template_text = std::string(d.template_text);
    out.log_count = d.log_count;
    out.warmup_progress = d.warmup_progress;
    out.session_id = std::string(d.session_id);
    out.json = std::string(d.json);
    return out;
  }
};

// A created project: api_key is shown only here (only its hash is stored).
struct CreatedProject {
  std::string project_id;
  std::string project_name;
  std::string api_key;
  std::uint64_t warmup_threshold = 0;
  std::string es_index_pattern;
};

// A background job (student training or teacher update). Independent of the Detector's lifetime.
class Job {
 public:
  // The job's status as JSON: {"name", "state", "progress", "error"}.
  std::string status() const {
    return detail::call([&] { return std::string(inner_->job_status()); });
  }
  // Blocks until the job finishes (at most `timeout`; Error "TIMEOUT" past it); final status JSON.
  std::string wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    return detail::call([&] { return std::string(inner_->wait(detail::to_ms(timeout))); });
  }
  // Asks the job to stop at its next checkpoint.
  void cancel() const {
    detail::call([&] { inner_->cancel(); });
  }

 private:
  friend class Detector;
  explicit Job(rust::Box<bridge::RustJob> inner) : inner_(std::move(inner)) {}
  rust::Box<bridge::RustJob> inner_;
};

// The multi-tenant detector. Move-only; the destructor closes it.
class Detector {
 public:
  // Receives one session verdict as JSON; runs on the thread whose call closed the session, possibly
  // on several threads at once. It may call this Detector, except set_verdict_callback() and close()
  // (which throw Error "INVALID_INPUT" there).
  using VerdictCallback = std::function<void(const std::string &verdict_json)>;
  // Receives one incident as JSON as it is raised, under the same threading rules as the verdict
  // callback (it may not call set_incident_callback() or close()).
  using IncidentCallback = std::function<void(const std::string &incident_json)>;
  // Returns Unix seconds; called from any thread.
  using Clock = std::function<double()>;

  // Opens (or creates) the storage. `config_json`: a JSON object of logsentinel Config fields, each
  // optional ("" = defaults, storage under ./data), e.g. {"storage_dir": "...", "warmup_threshold": 10000}.
  static Detector open(const std::string &config_json = "") {
    return Detector(detail::call([&] { return bridge::open_detector(config_json); }));
  }
  // Like open() with a clock of the caller's choosing (tests drive schedules with it).
  static Detector open(const std::string &config_json, Clock clock) {
    return Detector(detail::call([&] {
      return bridge::open_detector_with_clock(
          config_json, std::make_unique<bridge::ClockSource>(std::move(clock)));
    }));
  }

  Detector(Detector &&) noexcept = default;
  Detector &operator=(Detector &&) noexcept = default;
  Detector(const Detector &) = delete;
  Detector &operator=(const Detector &) = delete;
  ~Detector() = default;

  // Stops background work and persists; later calls throw Error "CLOSED". Idempotent.
  void close() const {
    detail::call([&] { d().close(); });
  }
  bool is_closed() const { return !inner_ || (*inner_)->is_closed(); }

  // Creates a project from {"name": ..., "warmup_threshold"?, "format"?, "session_pattern"?,
  // "custom_rules"?}.
  CreatedProject create_project(const std::string &new_project_json) const {
    return detail::call([&] {
      bridge::CreatedProject p = d().create_project(new_project_json);
      return CreatedProject{std::string(p.project_id), std::string(p.project_name),
                            std::string(p.api_key), p.warmup_threshold,
                            std::string(p.es_index_pattern)};
    });
  }
  // Every project (admin) as a JSON array; never a key.
  std::string list_projects() const {
    return detail::call([&] { return std::string(d().list_projects()); });
  }
  // Deletes a project by id (admin).
  void delete_project(const std::string &project_id) const {
    detail::call([&] { d().delete_project(project_id); });
  }
  // Replaces the project's key; returns the new one.
  std::string rotate_key(const std::string &api_key) const {
    return detail::call([&] { return std::string(d().rotate_key(api_key)); });
  }
  // Replaces a project's key by id (admin); returns the new one.
  std::string rotate_key_by_id(const std::string &project_id) const {
    return detail::call([&] { return std::string(d().rotate_key_by_id(project_id)); });
  }
  // Creates a project from another's learned state (admin): its templates, samples and student under
  // a new id, name and key (shown only here), living on its own from then on.
  CreatedProject fork_project(const std::string &source_project_id, const std::string &name) const {
    return detail::call([&] {
      bridge::CreatedProject p = d().fork_project(source_project_id, name);
      return CreatedProject{std::string(p.project_id), std::string(p.project_name),
                            std::string(p.api_key), p.warmup_threshold,
                            std::string(p.es_index_pattern)};
    });
  }

  // Scores one line ("" session id: the project's pattern or format decides).
  Detection detect(const std::string &api_key, const std::string &log_line,
                   const std::string &session_id = "") const {
    return detail::call(
        [&] { return Detection::from(d().detect(api_key, log_line, session_id)); });
  }
  // Scores lines in order with batched model steps; session_ids empty or one per line.
  std::vector<Detection> detect_batch(const std::string &api_key,
                                      const std::vector<std::string> &lines,
                                      const std::vector<std::string> &session_ids = {}) const {
    return detail::call([&] {
      rust::Vec<bridge::Detection> r = d().detect_batch(api_key, lines, session_ids);
      std::vector<Detection> out;
      out.reserve(r.size());
      for (const bridge::Detection &x : r) {
        out.push_back(Detection::from(x));
      }
      return out;
    });
  }
  // Like detect_batch(), the whole result as JSON {"results", "total_logs", "anomalies_detected",
  // "project_id"}.
  std::string detect_batch_json(const std::string &api_key, const std::vector<std::string> &lines,
                                const std::vector<std::string> &session_ids = {}) const {
    return detail::call(
        [&] { return std::string(d().detect_batch_json(api_key, lines, session_ids)); });
  }

  // Closes one session: its verdict as JSON, or nullopt when no such session is open.
  std::optional<std::string> close_session(const std::string &api_key,
                                           const std::string &session_id) const {
    return detail::call([&] { return detail::non_empty(d().close_session(api_key, session_id)); });
  }
  // Closes every open session (end of input): a JSON array of verdicts.
  std::string close_all_sessions(const std::string &api_key) const {
    return detail::call([&] { return std::string(d().close_all_sessions(api_key)); });
  }
  // Takes up to `max` queued session verdicts, oldest first: a JSON array.
  std::string poll_session_verdicts(const std::string &api_key, std::size_t max = 100) const {
    return detail::call([&] { return std::string(d().poll_session_verdicts(api_key, max)); });
  }
  // Sets (or with an empty function clears) the verdict callback. When this returns, the previous
  // callback is not running and will not run again.
  void set_verdict_callback(VerdictCallback callback) const {
    detail::call([&] {
      std::unique_ptr<bridge::VerdictSink> sink;
      if (callback) {
        sink = std::make_unique<bridge::VerdictSink>(std::move(callback));
      }
      d().set_verdict_callback(std::move(sink));
    });
  }
  // Drops every open session of the project without verdicts; returns how many were open.
  std::size_t reset_sessions(const std::string &api_key) const {
    return detail::call([&] { return d().reset_sessions(api_key); });
  }

  // Takes up to `max` of the project's newly raised incidents, oldest first, each as it was when
  // raised: a JSON array (see the C `ls_poll_incidents` for the fields).
  std::string poll_incidents(const std::string &api_key, std::size_t max = 100) const {
    return detail::call([&] { return std::string(d().poll_incidents(api_key, max)); });
  }
  // The project's kept incidents, open ones first: a JSON array. `state` is "" (all), "open" or
  // "resolved"; anything else throws an INVALID_INPUT error.
  std::string incidents(const std::string &api_key, const std::string &state = "") const {
    return detail::call([&] { return std::string(d().incidents(api_key, state)); });
  }
  // One incident as it is now, as JSON; INVALID_INPUT when the project has no such incident.
  std::string incident(const std::string &api_key, std::uint64_t incident_id) const {
    return detail::call([&] { return std::string(d().incident(api_key, incident_id)); });
  }
  // Sets (or with an empty function clears) the incident callback: every incident of every project
  // as JSON, as it is raised, under the verdict callback's threading rules. When this returns, the
  // previous callback is not running and will not run again.
  void set_incident_callback(IncidentCallback callback) const {
    detail::call([&] {
      std::unique_ptr<bridge::VerdictSink> sink;
      if (callback) {
        sink = std::make_unique<bridge::VerdictSink>(std::move(callback));
      }
      d().set_incident_callback(std::move(sink));
    });
  }
  // Operator feedback: `feedback_json` is the HTTP API's POST /feedback body, e.g.
  // {"target": {"incident_id": 3}, "label": "normal"} or {"target": {"key": "..."}, "label":
  // "anomaly", "scope": "template", "duration_secs": 86400}. Returns the stored mark as JSON; a malformed body, an unknown field or
  // value throws INVALID_INPUT and stores nothing.
  std::string feedback(const std::string &api_key, const std::string &feedback_json) const {
    return detail::call([&] { return std::string(d().feedback(api_key, feedback_json)); });
  }
  // The project's feedback marks, oldest first: a JSON array.
  std::string list_feedback(const std::string &api_key) const {
    return detail::call([&] { return std::string(d().list_feedback(api_key)); });
  }
  // Undoes a feedback mark (INVALID_INPUT when there is none): the removed mark as JSON.
  std::string undo_feedback(const std::string &api_key, std::uint64_t feedback_id) const {
    return detail::call([&] { return std::string(d().undo_feedback(api_key, feedback_id)); });
  }

  // The project's status as JSON.
  std::string status(const std::string &api_key) const {
    return detail::call([&] { return std::string(d().status(api_key)); });
  }
  // A project's status by id (admin) as JSON.
  std::string project_status(const std::string &project_id) const {
    return detail::call([&] { return std::string(d().project_status(project_id)); });
  }
  // The project's current or last training job, if any.
  std::optional<Job> training_job(const std::string &api_key) const {
    return detail::call([&]() -> std::optional<Job> {
      rust::Box<bridge::RustJob> j = d().training_job(api_key);
      if (!j->has_job()) {
        return std::nullopt;
      }
      return Job(std::move(j));
    });
  }
  // Waits for the project's training (at most `timeout`): the final status JSON, or nullopt when
  // no training was started.
  std::optional<std::string> wait_for_training(
      const std::string &api_key,
      std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    return detail::call([&] {
      return detail::non_empty(d().wait_for_training(api_key, detail::to_ms(timeout)));
    });
  }
  // Detector health as JSON.
  std::string health() const {
    return detail::call([&] { return std::string(d().health()); });
  }
  // The teacher's state as JSON.
  std::string teacher_info() const {
    return detail::call([&] { return std::string(d().teacher_info()); });
  }
  // Starts a teacher update now (admin).
  Job force_teacher_update() const {
    return detail::call([&] { return Job(d().force_teacher_update()); });
  }
  // The teacher update history as a JSON array, oldest first.
  std::string update_history() const {
    return detail::call([&] { return std::string(d().update_history()); });
  }
  // Persists every project's state now.
  void flush() const {
    detail::call([&] { d().flush(); });
  }

 private:
  explicit Detector(rust::Box<bridge::RustDetector> inner)
      : inner_(std::make_unique<rust::Box<bridge::RustDetector>>(std::move(inner))) {}

  const bridge::RustDetector &d() const {
    if (!inner_) {
      throw Error("CLOSED", "CLOSED: this Detector was moved from");
    }
    return **inner_;
  }

  std::unique_ptr<rust::Box<bridge::RustDetector>> inner_;
};

}  // namespace logsentinel
