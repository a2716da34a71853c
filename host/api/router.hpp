// Method + path-pattern routing. Patterns use "{name}" segments; a trailing
// "{name...}" captures the rest of the path.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/http.hpp"

namespace cumulo::api {

struct RouteCtx {
  net::HttpRequest& req;
  net::HttpResponse& res;
  std::map<std::string, std::string> params;
  const std::string& param(const std::string& name) const { return params.at(name); }
};

using RouteFn = std::function<void(RouteCtx&)>;

struct Route {
  std::string method;
  std::string pattern;
  std::vector<std::string> segments;
  RouteFn fn;
  bool inline_ok = false;  // cheap and non-blocking: may run on a network thread
};

class Router {
 public:
  void add(std::string method, std::string pattern, RouteFn fn, bool inline_ok = false);
  /// Finds the route; fills params. `path_matched` tells 404 from 405.
  const Route* match(const std::string& method, const std::string& path, std::map<std::string, std::string>& params, bool& path_matched) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace cumulo::api
