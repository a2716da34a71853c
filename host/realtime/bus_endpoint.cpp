#include "realtime/bus_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "api/envelope.hpp"
#include "api/services.hpp"
#include "app/app.hpp"
#include "realtime/bus.hpp"

namespace cumulo::realtime {

namespace {

using json = nlohmann::json;

class BusEndpoint final : public net::WsEndpoint {
 public:
  explicit BusEndpoint(api::Services& s) : s_(s) {}

  net::WsOptions options() const override {
    net::WsOptions o;
    o.ping_interval = kBusPingInterval;
    o.max_message = 64 << 10;  // client frames are acks and pings
    o.blocking_open = true;    // authentication may call the auth adapter (API keys)
    return o;
  }

  void on_open(std::shared_ptr<net::WsPeer> peer) override {
    const auto& req = peer->request();
    try {
      auto t = s_.tenant(req);
      auto ctx = s_.authn.authenticate(req, t.info, t.binding());  // ApiError 401 when invalid
      if (!ctx) return refuse(*peer, net::ws_close::kUnauthenticated, "Authentication required");
      if (ctx->anonymous()) return refuse(*peer, net::ws_close::kForbidden, "A share-link token cannot open the bus");
      id_tag_ = t.info.id_tag;
      user_ = ctx->id_tag;
      handle_ = s_.bus.attach(id_tag_, user_, peer);
      spdlog::debug("[{}] bus open: tenant={} user={} conn={}", req.req_id, id_tag_, user_, peer->id());
    } catch (const api::ApiError& e) {
      const uint16_t code = e.status() == 401   ? net::ws_close::kUnauthenticated
                            : e.status() == 403 ? net::ws_close::kForbidden
                            : e.status() == 404 ? net::ws_close::kNotFound
                                                : net::ws_close::kServerError;
      refuse(*peer, code, e.what());
    } catch (const std::exception& e) {
      spdlog::error("[{}] bus open failed: {}", req.req_id, e.what());
      refuse(*peer, net::ws_close::kServerError, "Internal error");
    }
  }

  std::optional<std::string> on_message(std::string_view message, bool binary) override {
    if (!handle_) return std::nullopt;  // refused: only the close is pending
    json in = binary ? json() : json::parse(message, nullptr, false);
    json id = nullptr;
    if (in.is_object()) {
      if (auto it = in.find("id"); it != in.end() && (it->is_string() || it->is_number())) id = *it;
    }
    // An ack is never acknowledged: a client acking our acks would loop forever.
    if (in.is_object() && in.value("cmd", json()) == "ack") return std::nullopt;
    json data;
    if (!in.is_object() || !in.contains("cmd") || !in["cmd"].is_string())
      data = {{"status", "error"}, {"message", "expected a JSON text frame {\"id\",\"cmd\",\"data\"}"}};
    else
      data = {{"status", in["cmd"] == "ping" ? "pong" : "ok"}};
    return json{{"id", id}, {"cmd", "ack"}, {"data", data}}.dump();
  }

  void on_close() override {
    if (handle_) s_.bus.detach(handle_);
  }

 private:
  static void refuse(net::WsPeer& peer, uint16_t code, const std::string& reason) {
    // Refusals happen after the upgrade, as close codes (spec/realtime.md §1.4).
    spdlog::info("[{}] bus refused: ip={} code={} reason={}", peer.request().req_id, peer.request().remote_ip, code, reason);
    peer.close(code, reason);
  }

  api::Services& s_;
  std::string id_tag_, user_;
  uint64_t handle_ = 0;
};

}  // namespace

net::WsRoute bus_route(api::Services& s, const net::HttpRequest& req) {
  net::HttpResponse res;
  try {
    if (!s.app.backends().tenant_for_host(req.host)) throw api::ApiError(404, "E-CORE-NOTFOUND", "No identity is served at host '" + req.host + "'");
    s.rate_limit(req, res, api::RateBucket::kWebsocket);
  } catch (const api::ApiError& e) {
    api::send_error(req, res, e.status(), e.code(), e.what(), e.details());
    return net::WsRoute::refused(std::move(res));
  }
  return std::make_shared<BusEndpoint>(s);
}

}  // namespace cumulo::realtime
