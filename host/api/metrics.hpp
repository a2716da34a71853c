// Prometheus text exposition, written by hand: Debian has no maintained C++
// Prometheus client package, and we need only counters, gauges and one
// histogram. Label cardinality is bounded: routes are patterns, not paths.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace cumulo::api {

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  /// `route` must outlive the Metrics (route patterns do): it is keyed by address.
  void observe_request(const std::string& route, std::string_view method, unsigned status, double seconds);
  void add_plugin_metric(std::string_view plugin, std::string_view name, double v);
  /// Values computed at scrape time (plugin counts, queue depths); names
  /// ending in _total are exposed as counters, the rest as gauges.
  void set_gauge_source(std::function<std::map<std::string, double>()> fn) { gauges_ = std::move(fn); }
  std::string render() const;

 private:
  mutable std::mutex mu_;
  // Keyed without allocating: route by address, method by a fixed name.
  std::map<std::tuple<const std::string*, const char*, unsigned>, uint64_t> requests_;
  std::array<uint64_t, kBuckets.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
  std::map<std::pair<std::string, std::string>, double> plugin_;
  std::function<std::map<std::string, double>()> gauges_;
};

}  // namespace cumulo::api
