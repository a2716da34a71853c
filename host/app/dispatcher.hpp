// Routes every HTTP request of the host: system endpoints (/health, /ready,
// /metrics), the operator's admin API (/api/_admin/*) and the error envelope.
// Later issues add the Cloudillo API routes here.
#pragma once

#include <string>

#include "api/metrics.hpp"
#include "api/router.hpp"
#include "net/http.hpp"

namespace cumulo::app {

class App;

class HostDispatcher : public net::Dispatcher {
 public:
  HostDispatcher(App& app, api::Metrics& metrics);

  bool is_inline(net::HttpRequest& req) const override;
  void handle(net::HttpRequest& req, net::HttpResponse& res) override;
  void error(const net::HttpRequest& req, net::HttpResponse& res, unsigned status, std::string_view code, std::string_view message) override;
  void completed(const net::HttpRequest& req, const net::HttpResponse& res, double seconds) override;

  /// WebSocket endpoints: /ws/echo (diagnostics), /ws/bus (notification bus).
  net::WsRoute websocket(const net::HttpRequest& req) const;

 private:
  void require_admin(const net::HttpRequest& req) const;
  void add_routes();

  App& app_;
  api::Metrics& metrics_;
  api::Router router_;
};

}  // namespace cumulo::app
