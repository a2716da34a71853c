#include "api/router.hpp"

namespace cumulo::api {

namespace {
std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '/') {
      ++i;
      continue;
    }
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    out.push_back(p.substr(i, j - i));
    i = j;
  }
  return out;
}
}  // namespace

void Router::add(std::string method, std::string pattern, RouteFn fn, bool inline_ok) {
  Route r{std::move(method), pattern, split_path(pattern), std::move(fn), inline_ok};
  routes_.push_back(std::move(r));
}

const Route* Router::match(const std::string& method, const std::string& path, std::map<std::string, std::string>& params, bool& path_matched) const {
  const auto segs = split_path(path);
  path_matched = false;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> p;
    bool ok = true;
    size_t i = 0;
    for (; i < r.segments.size(); ++i) {
      const auto& s = r.segments[i];
      if (s.size() > 5 && s.front() == '{' && s.ends_with("...}")) {
        std::string rest;
        for (size_t k = i; k < segs.size(); ++k) rest += (k > i ? "/" : "") + segs[k];
        p[s.substr(1, s.size() - 5)] = rest;
        i = segs.size();
        break;
      }
      if (i >= segs.size()) {
        ok = false;
        break;
      }
      if (s.size() > 2 && s.front() == '{' && s.back() == '}')
        p[s.substr(1, s.size() - 2)] = segs[i];
      else if (s != segs[i]) {
        ok = false;
        break;
      }
    }
    if (!ok || i != segs.size()) continue;
    path_matched = true;
    if (r.method != method && !(method == "HEAD" && r.method == "GET")) continue;
    params = std::move(p);
    return &r;
  }
  return nullptr;
}

}  // namespace cumulo::api
