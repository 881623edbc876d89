// logsentinel C++ quick start: streams a log file through one project and prints what it flags.
//
//   c++ -std=c++17 quickstart.cpp $(pkg-config --static --cflags --libs logsentinel-static) -o quickstart
//   ./quickstart [LOG_FILE [STORAGE_DIR [MAX_LINES]]]
//
// Defaults: tests/fixtures/hdfs/hdfs_dev_20k.log, ./logsentinel-data, 2000 lines.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <logsentinel.hpp>

int main(int argc, char **argv) {
  const std::string log_file = argc > 1 ? argv[1] : "tests/fixtures/hdfs/hdfs_dev_20k.log";
  const std::string storage = argc > 2 ? argv[2] : "./logsentinel-data";
  const size_t max_lines = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 2000;
  try {
    auto det = logsentinel::Detector::open(R"({"storage_dir": ")" + storage + R"("})");
    auto p = det.create_project(R"({"name": "My Web App", "warmup_threshold": 10000})");
    // p.api_key is shown only here: only its hash is stored.
    det.set_verdict_callback([](const std::string &verdict_json) {
      if (verdict_json.find("\"is_anomaly\":true") != std::string::npos) {
        std::cout << "anomalous session: " << verdict_json.substr(0, 120) << "...\n";
      }
    });

    std::ifstream in(log_file);
    if (!in) {
      std::cerr << "cannot read " << log_file << "\n";
      return 1;
    }
    std::vector<std::string> batch;
    std::string line;
    size_t n = 0, flagged = 0;
    while (n < max_lines && std::getline(in, line)) {
      batch.push_back(line);
      n++;
      if (batch.size() == 500 || n == max_lines) {
        for (const auto &d : det.detect_batch(p.api_key, batch)) {  // one batched model step per round
          if (d.is_anomaly && ++flagged <= 5) {
            std::cout << "anomaly (score " << d.anomaly_score << "): " << d.template_text << "\n";
          }
        }
        batch.clear();
      }
    }
    if (!batch.empty()) {
      for (const auto &d : det.detect_batch(p.api_key, batch)) flagged += d.is_anomaly;
    }
    std::cout << n << " lines, " << flagged << " flagged\n";
    det.close_all_sessions(p.api_key);  // end of input: verdicts go to the callback
    std::cout << "status: " << det.status(p.api_key).substr(0, 200) << "...\n";
    det.detect("sk-not-a-key", "GET / 200");  // throws
  } catch (const logsentinel::Error &e) {
    std::cout << "error kind " << e.kind() << ": " << e.what() << "\n";
    return e.kind() == "INVALID_API_KEY" ? 0 : 1;
  }
  return 1;
}
