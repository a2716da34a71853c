#include "app/dispatcher.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <set>

#include "api/envelope.hpp"
#include "api/services.hpp"
#include "app/app.hpp"
#include "app/certificates.hpp"
#include "app/selftest.hpp"
#include "realtime/bus_endpoint.hpp"

namespace cumulo::app {

using api::ApiError;
using json = nlohmann::json;
using plugins::PluginError;

namespace {

// Plugin status → HTTP. 5xx messages stay generic (spec/rest-api.md §1.6);
// the plugin's own message goes to the log.
void send_plugin_error(const net::HttpRequest& req, net::HttpResponse& res, const PluginError& e) {
  switch (e.code()) {
    case CM_NOT_FOUND: return api::send_error(req, res, 404, "E-CORE-NOTFOUND", e.what());
    case CM_INVALID: return api::send_error(req, res, 400, "E-VAL-INVALID", std::string("Request validation failed: ") + e.what());
    case CM_CONFLICT: return api::send_error(req, res, 409, "E-CORE-CONFLICT", e.what());
    case CM_PERMISSION: return api::send_error(req, res, 403, "E-AUTH-NOPERM", e.what());
    case CM_TOO_LARGE: return api::send_error(req, res, 413, "E-FILE-TOOLARGE", e.what());
    case CM_UNSUPPORTED:
    case CM_UNAVAILABLE: spdlog::warn("[{}] {} {}: {}", req.req_id, req.method, req.path, e.what()); return api::send_error(req, res, 503, "E-SYS-UNAVAIL", e.what());
    default: spdlog::error("[{}] {} {}: {}", req.req_id, req.method, req.path, e.what()); return api::send_error(req, res, 500, "E-SYS-INTERNAL", "Internal server error");
  }
}

json report_json(const plugins::PluginReport& r) {
  json j = {{"file", r.file}, {"status", r.status}, {"name", r.name}, {"version", r.version}, {"kinds", r.kinds},
            {"abi", std::to_string(r.abi_major) + "." + std::to_string(r.abi_minor)}, {"compiler", r.compiler}, {"factories", r.factories}};
  if (!r.reason.empty()) j["reason"] = r.reason;
  return j;
}

const std::string kUnmatched = "unmatched";
// Marker route: the path exists but not for this method (405).
const api::Route kMethodNotAllowed{};

}  // namespace

HostDispatcher::HostDispatcher(App& app, api::Metrics& metrics) : app_(app), metrics_(metrics) { add_routes(); }

bool HostDispatcher::is_inline(net::HttpRequest& req) const {
  bool path_matched = false;
  const auto* r = router_.match(req.method, req.path, req.params, path_matched);
  req.route = r;
  if (!r && path_matched) req.route = &kMethodNotAllowed;
  if (r && !r->inline_ok && req.method == "GET" && r->pattern == "/api/me") {
    // A warm /api/me is a cached string: answering it here saves the hop to
    // the blocking pool, which costs more than the answer (bench/RESULTS.md).
    if (auto t = app_.backends().tenant_for_host(req.host)) return app_.services().me_cached(t->id_tag) != nullptr;
  }
  return r ? r->inline_ok : true;  // 404/405 answers are cheap
}

void HostDispatcher::error(const net::HttpRequest& req, net::HttpResponse& res, unsigned status, std::string_view code, std::string_view message) {
  api::send_error(req, res, status, code, message);
}

void HostDispatcher::completed(const net::HttpRequest& req, const net::HttpResponse& res, double seconds) {
  const auto* r = static_cast<const api::Route*>(req.route);
  metrics_.observe_request(r && r != &kMethodNotAllowed ? r->pattern : kUnmatched, req.method, res.status, seconds);
}

void HostDispatcher::require_admin(const net::HttpRequest& req) const {
  auto auth = req.header("Authorization");
  const std::string& want = app_.admin_token();
  if (!auth) throw ApiError(403, "E-AUTH-NOPERM", "Admin credential required");
  std::string_view v = *auth;
  if (v.rfind("Bearer ", 0) != 0) throw ApiError(401, "E-AUTH-UNAUTH", "Authorization must be a Bearer token");
  v.remove_prefix(7);
  // Constant-time compare: the token guards plugin loading.
  if (want.empty() || v.size() != want.size() || CRYPTO_memcmp(v.data(), want.data(), want.size()) != 0)
    throw ApiError(401, "E-AUTH-UNAUTH", "Invalid admin token");
}

void HostDispatcher::handle(net::HttpRequest& req, net::HttpResponse& res) {
  // CORS (spec/rest-api.md §1.9): mirror origin, credentials allowed.
  if (auto origin = req.header("Origin")) {
    res.set_header("Access-Control-Allow-Origin", std::string(*origin));
    res.set_header("Access-Control-Allow-Credentials", "true");
    res.set_header("Access-Control-Expose-Headers", "X-Request-ID, ETag, Retry-After, Content-Range");
    res.set_header("Vary", "Origin");
  }
  if (req.method == "OPTIONS") {
    res.status = 204;
    res.content_type.clear();
    res.set_header("Access-Control-Allow-Methods", std::string(req.header("Access-Control-Request-Method").value_or("GET, POST, PUT, PATCH, DELETE")));
    res.set_header("Access-Control-Allow-Headers", std::string(req.header("Access-Control-Request-Headers").value_or("Authorization, Content-Type, X-Request-ID")));
    res.set_header("Access-Control-Max-Age", "600");
    return;
  }
  if (!req.route) is_inline(req);  // not routed by the server yet (direct calls)
  const auto* route = static_cast<const api::Route*>(req.route);
  const bool path_matched = route == &kMethodNotAllowed;
  if (path_matched) route = nullptr;
  try {
    if (!route) {
      if (path_matched) throw ApiError(405, "E-CORE-NOTFOUND", "Method " + req.method + " not allowed on " + req.path);
      throw ApiError(404, "E-CORE-NOTFOUND", "No route for " + req.method + " " + req.path);
    }
    // The per-IP `general` bucket for the API (rest-api.md §1.10); /api/auth/*
    // and /api/inbox* routes count against their own buckets, the operator API
    // against none.
    if (req.path.rfind("/api/", 0) == 0 && req.path.rfind("/api/auth/", 0) != 0 && req.path.rfind("/api/_admin/", 0) != 0 &&
        req.path.rfind("/api/inbox", 0) != 0)
      app_.services().rate_limit(req, res, api::RateBucket::kGeneral, req.path == "/api/me/full" || req.path.rfind("/api/refs/", 0) == 0);
    api::RouteCtx ctx{req, res, std::move(req.params)};
    route->fn(ctx);
  } catch (const ApiError& e) {
    api::send_error(req, res, e.status(), e.code(), e.what(), e.details());
  } catch (const PluginError& e) {
    send_plugin_error(req, res, e);
  } catch (const json::exception& e) {
    api::send_error(req, res, 400, "E-VAL-INVALID", std::string("Request validation failed: ") + e.what());
  } catch (const std::exception& e) {
    spdlog::error("[{}] {} {}: {}", req.req_id, req.method, req.path, e.what());
    api::send_error(req, res, 500, "E-SYS-INTERNAL", "Internal server error");
  }
  if (req.method == "HEAD") res.body.clear();
}

net::WsRoute HostDispatcher::websocket(const net::HttpRequest& req) const {
  if (req.path == "/ws/echo") return net::reply_endpoint([](std::string_view msg, bool) { return std::optional<std::string>(std::string(msg)); });
  if (req.path == "/ws/bus") return realtime::bus_route(app_.services(), req);
  return {};
}

void HostDispatcher::add_routes() {
  router_.add("GET", "/health", [](api::RouteCtx& c) { api::send_data(c.req, c.res, {{"status", "ok"}}); }, true);

  // The Cloudillo API, one module per area (host/api/*_routes.cpp).
  api::add_auth_routes(router_, app_.services());
  api::add_profile_routes(router_, app_.services());
  api::add_settings_routes(router_, app_.services());
  api::add_ref_routes(router_, app_.services());
  api::add_action_routes(router_, app_.services());

  // Shell discovery on the tenant's app domain ([impl]: bare {"idTag"}, CORS *).
  router_.add(
      "GET", "/.well-known/cloudillo/id-tag",
      [this](api::RouteCtx& c) {
        std::string host = c.req.host;
        if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']') == std::string::npos) host.resize(colon);
        if (!host.empty() && host.back() == '.') host.pop_back();
        for (auto& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string id_tag;
        if (!app_.config().base_app_domain.empty() && host == app_.config().base_app_domain) id_tag = app_.config().base_id_tag;
        else if (app_.backends().tenant(host)) id_tag = host;
        if (id_tag.empty()) throw ApiError(404, "E-CORE-NOTFOUND", "No identity is served on " + host);
        c.res.set_header("Access-Control-Allow-Origin", "*");
        c.res.body = json{{"idTag", id_tag}}.dump();
      },
      true);

  // ACME HTTP-01 (spec/core.md §6.3): served on the plain HTTP listener too.
  router_.add(
      "GET", "/.well-known/acme-challenge/{token}",
      [this](api::RouteCtx& c) {
        auto ka = app_.certificates().challenges().get(c.param("token"));
        if (!ka) throw ApiError(404, "E-CORE-NOTFOUND", "No pending ACME challenge for this token");
        c.res.content_type = "text/plain";
        c.res.body = std::move(*ka);
      },
      true);

  router_.add("GET", "/metrics", [this](api::RouteCtx& c) {
    c.res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    c.res.body = metrics_.render();
  });

  // Ready = every bound adapter of every profile in use answers health().
  router_.add("GET", "/ready", [this](api::RouteCtx& c) {
    json profiles = json::object();
    bool ready = true;
    std::set<std::string> used;
    for (const auto& t : app_.backends().tenants()) used.insert(t.profile);
    used.insert(app_.config().default_profile);
    for (const auto& name : used) {
      auto b = app_.backends().for_profile(name);
      json p = json::object();
      if (!b) {
        ready = false;
        p["error"] = "profile not bound";
      } else {
        for (const auto& [kind, err] : b->errors) {
          ready = false;
          p[kind] = {{"status", "unavailable"}, {"error", err}};
        }
        for (const auto& [kind, h] : b->handles()) {
          json a = {{"factory", h->instance().factory().name}, {"plugin", h->instance().plugin().name}, {"version", h->instance().plugin().version}};
          try {
            h->health();
            a["status"] = "ok";
          } catch (const std::exception& e) {
            ready = false;
            a["status"] = "failing";
            a["error"] = e.what();
          }
          p[kind] = a;
        }
      }
      profiles[name] = p;
    }
    json data = {{"ready", ready}, {"profiles", profiles}, {"plugins", app_.plugin_manager().loaded_count()}};
    if (ready) return api::send_data(c.req, c.res, data);
    api::send_error(c.req, c.res, 503, "E-SYS-UNAVAIL", "Not ready: an adapter is unavailable", data);
  });

  // ---- operator API -----------------------------------------------------------
  router_.add("GET", "/api/_admin/plugins", [this](api::RouteCtx& c) {
    require_admin(c.req);
    json list = json::array();
    for (const auto& r : app_.plugin_manager().reports()) list.push_back(report_json(r));
    api::send_data(c.req, c.res, {{"plugins", list}, {"mapped", app_.plugin_manager().mapped_count()}});
  });

  router_.add("POST", "/api/_admin/plugins", [this](api::RouteCtx& c) {
    require_admin(c.req);
    auto body = api::parse_body(c.req);
    if (!body.is_object() || !body.contains("path") || !body["path"].is_string()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body needs {\"path\": \"…/plugin.so\"}");
    std::string path = body["path"];
    // Only files inside configured plugin directories may be loaded.
    if (!app_.plugin_manager().in_plugin_dirs(path)) throw ApiError(403, "E-AUTH-NOPERM", "Plugins load only from the configured plugin directories");
    auto rep = app_.plugin_manager().load(path);
    if (rep.status == "refused") throw ApiError(422, "E-VAL-INVALID", "Plugin refused: " + rep.reason, report_json(rep));
    app_.backends().rebind();
    api::send_data(c.req, c.res, report_json(rep), 201);
  });

  router_.add("POST", "/api/_admin/plugins/reload", [this](api::RouteCtx& c) {
    require_admin(c.req);
    json list = json::array();
    for (const auto& r : app_.reload()) list.push_back(report_json(r));
    api::send_data(c.req, c.res, {{"reloaded", list}});
  });

  router_.add("DELETE", "/api/_admin/plugins/{name}", [this](api::RouteCtx& c) {
    require_admin(c.req);
    if (!app_.plugin_manager().unload(c.param("name"))) throw ApiError(404, "E-CORE-NOTFOUND", "No plugin named " + c.param("name"));
    app_.backends().rebind();
    api::send_data(c.req, c.res, nullptr);
  });

  router_.add("GET", "/api/_admin/tenants", [this](api::RouteCtx& c) {
    require_admin(c.req);
    json list = json::array();
    for (const auto& t : app_.backends().tenants()) list.push_back({{"tnId", t.tn_id}, {"idTag", t.id_tag}, {"profile", t.profile}});
    api::send_data(c.req, c.res, list);
  });

  // Runs the certificate renewal pass now (?force=true: every tenant, due or not).
  router_.add("POST", "/api/_admin/certs/renew", [this](api::RouteCtx& c) {
    require_admin(c.req);
    auto& certs = app_.certificates();
    if (!certs.enabled()) throw ApiError(409, "E-CORE-CONFLICT", "ACME is off: set acme.email (standalone mode)");
    const bool force = c.req.query_param("force").value_or("") == "true";
    json list = json::array();
    for (const auto& r : certs.renew_due(static_cast<int64_t>(std::time(nullptr)), force)) list.push_back(r.to_json());
    api::send_data(c.req, c.res, {{"results", list}});
  });

  // Exercises one kind of the Host tenant's backends through the SDK:
  // operators use it to check a backend; tests use it to drive plugins.
  router_.add("POST", "/api/_admin/selftest/{kind}", [this](api::RouteCtx& c) {
    require_admin(c.req);
    auto tenant = app_.backends().tenant_for_host(c.req.host);
    if (auto q = c.req.query_param("tenant")) tenant = app_.backends().tenant(*q);
    if (!tenant) throw ApiError(404, "E-CORE-NOTFOUND", "Unknown tenant for host '" + c.req.host + "'");
    api::send_data(c.req, c.res, run_selftest(app_.backends(), *tenant, c.param("kind"), c.req.req_id));
  });
}

}  // namespace cumulo::app
