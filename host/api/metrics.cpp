#include "api/metrics.hpp"

#include <sstream>

namespace cumulo::api {

namespace {
// Label values: escape backslash, quote and newline (exposition format).
std::string esc(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"')
      o += '\\', o += c;
    else if (c == '\n')
      o += "\\n";
    else
      o += c;
  }
  return o;
}
std::string metric_name(std::string_view s) {
  std::string o;
  for (char c : s) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return o;
}
}  // namespace

namespace {
const char* method_name(std::string_view m) {
  for (const char* k : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
    if (m == k) return k;
  return "OTHER";
}
}  // namespace

void Metrics::observe_request(const std::string& route, std::string_view method, unsigned status, double seconds) {
  const char* mname = method_name(method);
  std::lock_guard lk(mu_);
  ++requests_[{&route, mname, status}];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++buckets_[i];
  ++count_;
  sum_ += seconds;
}

void Metrics::add_plugin_metric(std::string_view plugin, std::string_view name, double v) {
  std::lock_guard lk(mu_);
  plugin_[{std::string(plugin), metric_name(name)}] += v;
}

std::string Metrics::render() const {
  std::ostringstream o;
  std::map<std::string, double> gauges;
  if (gauges_) gauges = gauges_();
  std::lock_guard lk(mu_);
  o << "# HELP cumulo_http_requests_total HTTP requests by route pattern, method and status.\n# TYPE cumulo_http_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    o << "cumulo_http_requests_total{route=\"" << esc(*std::get<0>(k)) << "\",method=\"" << std::get<1>(k) << "\",status=\"" << std::get<2>(k) << "\"} " << n
      << "\n";
  o << "# HELP cumulo_http_request_duration_seconds Request latency.\n# TYPE cumulo_http_request_duration_seconds histogram\n";
  for (size_t i = 0; i < kBuckets.size(); ++i) o << "cumulo_http_request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << buckets_[i] << "\n";
  o << "cumulo_http_request_duration_seconds_bucket{le=\"+Inf\"} " << count_ << "\n";
  o << "cumulo_http_request_duration_seconds_sum " << sum_ << "\n";
  o << "cumulo_http_request_duration_seconds_count " << count_ << "\n";
  for (const auto& [name, v] : gauges) o << "# TYPE " << name << (name.ends_with("_total") ? " counter\n" : " gauge\n") << name << " " << v << "\n";
  if (!plugin_.empty()) o << "# HELP cumulo_plugin_metric_total Counters reported by plugins.\n# TYPE cumulo_plugin_metric_total counter\n";
  for (const auto& [k, v] : plugin_) o << "cumulo_plugin_metric_total{plugin=\"" << esc(k.first) << "\",name=\"" << esc(k.second) << "\"} " << v << "\n";
  return o.str();
}

}  // namespace cumulo::api
