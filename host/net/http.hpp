// Beast-free request/response types: only host/net/server.cpp includes Beast,
// every handler works on these plain structs (keeps compile times down).
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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

// ---- WebSocket endpoints ------------------------------------------------------
// The server owns the socket; an endpoint sees one connection through a
// WsPeer, which any thread may use to push frames at any time.

/// Close codes the host uses (RFC 6455 §7.4 and the private 4xxx range of
/// spec/realtime.md §1.4).
namespace ws_close {
inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;  // server shutting down
inline constexpr uint16_t kPolicy = 1008;     // e.g. send queue overflow (slow client)
inline constexpr uint16_t kInternal = 1011;   // a handler threw
inline constexpr uint16_t kUnauthenticated = 4401;
inline constexpr uint16_t kForbidden = 4403;
inline constexpr uint16_t kNotFound = 4404;
inline constexpr uint16_t kServerError = 4500;
}  // namespace ws_close

/// Per-endpoint settings (WsEndpoint::options()).
struct WsOptions {
  /// Keep-alive: the server pings after this long without a frame from the
  /// client and drops the connection when that ping stays unanswered for as
  /// long again. 0 = Beast's suggested server timeouts (ping after 150 s,
  /// drop after 300 s).
  std::chrono::milliseconds ping_interval{0};
  /// Send queue bound per connection: a send() that would exceed either
  /// drops the queue and closes the connection with 1008.
  size_t max_queue_frames = 1024;
  size_t max_queue_bytes = size_t{16} << 20;
  /// Largest message accepted from the client; 0 = ServerOptions::body_limit.
  size_t max_message = 0;
  /// Once a close is requested, the socket is torn down after this long if
  /// the closing handshake has not finished (a client that stopped reading).
  std::chrono::milliseconds close_timeout{5000};
  /// Run on_open / on_message on the blocking pool (they may call adapters)
  /// instead of the connection's network thread.
  bool blocking_open = false;
  bool blocking_messages = false;
};

/// One open WebSocket connection, as seen by its endpoint and by publishers
/// (e.g. realtime::Bus). Every member is thread-safe and never blocks.
class WsPeer {
 public:
  virtual ~WsPeer() = default;
  /// Queues a frame (text unless `binary`) for sending, in order. False when
  /// the connection is closing or closed, or when the frame would overflow
  /// the send queue (which then closes the connection with 1008).
  virtual bool send(std::string frame, bool binary = false) = 0;
  /// Starts the closing handshake with `code` once the frames already queued
  /// are written. The first close wins; later sends are refused.
  virtual void close(uint16_t code, std::string reason = {}) = 0;
  /// Neither closing nor closed.
  virtual bool is_open() const = 0;
  /// Frames queued and not yet handed to the socket.
  virtual size_t queued() const = 0;
  /// The upgrade request (host, path, query, headers, remote_ip).
  virtual const HttpRequest& request() const = 0;
  /// Unique among the connections of one server.
  virtual uint64_t id() const = 0;
};

/// A WebSocket endpoint: one instance per connection (the WsRouter makes
/// it). The server calls on_open once, then on_message for each message,
/// then on_close once, never two of them at the same time. on_close runs on
/// the network thread and must not block.
class WsEndpoint {
 public:
  virtual ~WsEndpoint() = default;
  virtual WsOptions options() const { return {}; }
  virtual void on_open(std::shared_ptr<WsPeer> /*peer*/) {}
  /// Returns a reply (sent with the message's opcode) or nullopt. Throwing
  /// closes the connection with 1011.
  virtual std::optional<std::string> on_message(std::string_view /*message*/, bool /*binary*/) { return std::nullopt; }
  virtual void on_close() {}
};

/// A request → reply endpoint (diagnostics such as /ws/echo).
using WsHandler = std::function<std::optional<std::string>(std::string_view message, bool binary)>;
std::shared_ptr<WsEndpoint> reply_endpoint(WsHandler handler);

/// What the WsRouter decides for an upgrade request: an endpoint to run, or
/// an HTTP answer instead of the upgrade (`refuse`, e.g. 429); neither = 404.
struct WsRoute {
  std::shared_ptr<WsEndpoint> endpoint;
  std::optional<HttpResponse> refuse;
  WsRoute() = default;
  template <std::derived_from<WsEndpoint> E>
  WsRoute(std::shared_ptr<E> e) : endpoint(std::move(e)) {}  // NOLINT: implicit on purpose
  static WsRoute refused(HttpResponse r) {
    WsRoute out;
    out.refuse = std::move(r);
    return out;
  }
};
/// Looks up the endpoint for an upgrade request (on a network thread: cheap checks only).
using WsRouter = std::function<WsRoute(const HttpRequest& req)>;

std::string percent_decode(std::string_view s);

}  // namespace cumulo::net
