// Beast-free request/response types: only host/net/server.cpp includes Beast,
// every handler works on these plain structs (keeps compile times down).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cumulo::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // raw "/path?query"
  std::string path;    // percent-decoded path
  std::string query;   // raw query string (without '?')
  Headers headers;
  std::string body;
  std::string remote_ip;  // after trusted X-Forwarded-For
  std::string host;       // Host or trusted X-Forwarded-Host
  bool secure = false;    // TLS, or trusted X-Forwarded-Proto: https
  std::string req_id;
  /// Set by the dispatcher when it routes the request (opaque to the server).
  const void* route = nullptr;
  std::map<std::string, std::string> params;

  std::optional<std::string_view> header(std::string_view name) const;
  std::optional<std::string> query_param(std::string_view name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json; charset=utf-8";
  Headers headers;
  std::string body;
  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

/// What the server calls for every request. `is_inline` decides whether the
/// handler may run on a network thread (cheap, non-blocking routes such as
/// /health) or must go to the blocking executor.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  /// Routes the request (filling `route`/`params`) and tells whether it may run inline.
  virtual bool is_inline(HttpRequest& req) const = 0;
  virtual void handle(HttpRequest& req, HttpResponse& res) = 0;
  /// Response for errors detected by the server itself (413, 400, 408...).
  virtual void error(const HttpRequest& req, HttpResponse& res, unsigned status, std::string_view code, std::string_view message) = 0;
  /// Called after each response (metrics, access log).
  virtual void completed(const HttpRequest&, const HttpResponse&, double /*seconds*/) {}
};

/// A WebSocket endpoint: returns a reply for each message (or nullopt).
using WsHandler = std::function<std::optional<std::string>(std::string_view message, bool binary)>;
/// Looks up the handler for an upgrade request; nullopt = 404.
using WsRouter = std::function<std::optional<WsHandler>(const HttpRequest& req)>;

std::string percent_decode(std::string_view s);

}  // namespace cumulo::net
