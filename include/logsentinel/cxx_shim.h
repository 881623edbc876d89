// logsentinel C++ API: the C++ types the cxx bridge calls back into (verdict sinks and clocks).
// Included by the generated bridge header; C++ programs include <logsentinel.hpp> instead.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "rust/cxx.h"

namespace logsentinel {
namespace bridge {

// Receives every session verdict (or, registered as the incident callback, every incident) as JSON.
// The function runs on the thread whose call closed the session or raised the incident, possibly on
// several threads at once: it must be thread-safe. An exception it throws is caught and dropped.
class VerdictSink {
 public:
  using Function = std::function<void(const std::string &verdict_json)>;
  explicit VerdictSink(Function f) : f_(std::move(f)) {}
  void on_verdict(rust::Str json) const {
    if (f_) {
      f_(std::string(json.data(), json.size()));
    }
  }

 private:
  Function f_;
};

// A clock returning Unix seconds, called from any thread (detection and background training),
// possibly concurrently: it must be thread-safe. If it throws, the system clock is used instead.
class ClockSource {
 public:
  using Function = std::function<double()>;
  explicit ClockSource(Function f) : f_(std::move(f)) {}
  double now() const { return f_(); }

 private:
  Function f_;
};

}  // namespace bridge
}  // namespace logsentinel
