// /api/auth/*: login, logout, session refresh, access tokens (session,
// federation via PROXY token, share link, API key), proxy tokens, password
// change, API keys, VAPID (spec/rest-api.md §2.1, core.md §7).
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/envelope.hpp"
#include "api/refs.hpp"
#include "api/services.hpp"
#include "app/app.hpp"
#include "identity/action_token.hpp"

namespace cumulo::api {

using json = nlohmann::json;

namespace {

std::string str_field(const json& body, const char* key, bool required = true) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (required) throw ApiError(400, "E-VAL-INVALID", std::string("Request validation failed: '") + key + "' is required");
    return {};
  }
  if (!it->is_string()) throw ApiError(400, "E-VAL-INVALID", std::string("Request validation failed: '") + key + "' must be a string");
  return it->get<std::string>();
}

// The [impl] Login shape; profilePic is always a string ("" if none).
json login_json(Services& s, const TenantScope& t, const std::string& token, const std::vector<std::string>& roles) {
  json tenant = json::object();
  if (auto rec = t.meta().get_tenant(t.ref()); !rec.empty()) tenant = json::parse(rec);
  auto pic = tenant.value("profilePic", json());
  return {{"tnId", t.info.tn_id},
          {"idTag", t.info.id_tag},
          {"name", tenant.value("name", json(t.info.id_tag)).is_string() ? tenant["name"] : json(t.info.id_tag)},
          {"profilePic", pic.is_string() ? pic : json("")},
          {"roles", roles},
          {"token", token},
          {"expiresAt", s.now() + identity::kAccessTokenLifetime},
          {"settings", json::array()}};
}

// Wrong credentials answer after a fixed delay ([impl] 1 s), so a guesser
// learns nothing from timing and pays for every try.
void failure_delay(Services& s) {
  const auto ms = s.app.config().auth.login_failure_delay_ms;
  if (ms) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

void check_lockout(Services& s, const TenantScope& t, net::HttpResponse& res) {
  if (auto wait = s.lockout_remaining(t.info.id_tag)) {
    res.set_header("Retry-After", std::to_string(*wait));
    throw ApiError(429, "E-RATE-LIMITED", "Too many failed logins: the account is locked for " + std::to_string(*wait) + " s",
                   json{{"level", "account"}, {"retryAfter", *wait}});
  }
}

// Verifies the password, counting failures toward the lockout.
void verify_password(Services& s, const TenantScope& t, const net::HttpRequest& req, net::HttpResponse& res, const std::string& password) {
  check_lockout(s, t, res);
  if (!password.empty() && t.auth().check_password(t.ref(), password)) {
    s.login_succeeded(t.info.id_tag);
    return;
  }
  s.login_failed(t.info.id_tag, req.remote_ip);
  spdlog::info("[{}] login failed: tenant={} ip={} reason=bad_password", req.req_id, t.info.id_tag, req.remote_ip);
  failure_delay(s);
  throw ApiError(403, "E-AUTH-NOPERM", "Invalid credentials");
}

}  // namespace

void add_auth_routes(Router& r, Services& s) {
  r.add("POST", "/api/auth/login", [&s](RouteCtx& c) {
    s.rate_limit(c.req, c.res, RateBucket::kAuth);
    auto t = s.tenant(c.req);
    auto body = parse_body(c.req);
    if (!body.is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be an object");
    const std::string id_tag = str_field(body, "idTag"), password = str_field(body, "password");
    // A tenant's login is its own: logging in as anyone else here is refused
    // exactly like a wrong password (no account enumeration).
    if (id_tag != t.info.id_tag) {
      s.login_failed(t.info.id_tag, c.req.remote_ip);
      failure_delay(s);
      throw ApiError(403, "E-AUTH-NOPERM", "Invalid credentials");
    }
    verify_password(s, t, c.req, c.res, password);
    auto roles = s.authn.tenant_roles(t.info, t.binding());
    send_data(c.req, c.res, login_json(s, t, s.authn.mint(t.info, t.info.id_tag, roles), roles));
  });

  r.add("POST", "/api/auth/logout", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    auto ctx = s.auth_required(c.req, t);
    if (!c.req.body.empty()) {
      auto body = parse_body(c.req);
      // [impl]: "stay logged in" API key cleanup.
      if (body.is_object() && body.contains("apiKey") && body["apiKey"].is_string()) {
        auto rec = t.auth().validate_api_key(body["apiKey"].get<std::string>());
        if (!rec.empty()) {
          auto j = json::parse(rec);
          if (j.value("tnId", int64_t{-1}) == static_cast<int64_t>(t.info.tn_id)) s.delete_api_key(t, j.at("keyId").dump());
        }
      }
    }
    s.revoke(t, ctx);
    send_data(c.req, c.res, nullptr);
  });

  r.add("GET", "/api/auth/login-token", [&s](RouteCtx& c) {
    s.rate_limit(c.req, c.res, RateBucket::kAuth);
    auto t = s.tenant(c.req);
    auto ctx = s.auth_optional(c.req, t);
    // Only a full session refreshes into a session; anything else is "not logged in".
    if (!ctx || !ctx->is_owner() || ctx->scope) return send_data(c.req, c.res, nullptr);
    auto roles = s.authn.tenant_roles(t.info, t.binding());
    send_data(c.req, c.res, login_json(s, t, s.authn.mint(t.info, t.info.id_tag, roles), roles));
  });

  // One endpoint, one mode per call ([impl] order): token (a peer's PROXY
  // token), refId (share link), apiKey, else session mode.
  r.add("GET", "/api/auth/access-token", [&s](RouteCtx& c) {
    s.rate_limit(c.req, c.res, RateBucket::kFederation);
    auto t = s.tenant(c.req);
    const auto scope = c.req.query_param("scope");
    if (auto token = c.req.query_param("token")) {
      auto claims = s.verify_proxy_token(t, *token);  // 401 on any failure
      auto granted = identity::proxy_access_claims(t.info.id_tag, claims, std::nullopt, scope, s.now());
      auto minted = identity::create_access_token(granted, s.keys.access_key());
      if (!minted) throw std::runtime_error("cannot sign an access token");
      return send_data(c.req, c.res, {{"token", *minted}, {"expiresAt", granted.exp}});
    }
    auto ref_id = c.req.query_param("refId");
    if (!ref_id) ref_id = c.req.query_param("ref");  // the guest page's spelling
    if (ref_id) {
      const bool dry_run = c.req.query_param("refresh").value_or("") == "true";
      auto ref = consume_ref(s, t, *ref_id, dry_run);
      const std::string type = ref.value("type", "");
      if (type != "share.file") throw ApiError(403, "E-AUTH-NOPERM", "This reference does not grant access");
      const std::string resource = ref.value("resourceId", "");
      const std::string level = ref.value("accessLevel", "read");
      const std::string grant = "file:" + resource + ":" + (level == "write" ? "W" : "R");
      auto claims = identity::share_link_claims(t.info.id_tag, grant, s.now());
      auto minted = identity::create_access_token(claims, s.keys.access_key());
      if (!minted) throw std::runtime_error("cannot sign an access token");
      json data = {{"token", *minted}, {"expiresAt", claims.exp}, {"scope", grant}, {"resourceId", resource}, {"accessLevel", level}};
      if (ref.contains("params")) data["params"] = ref["params"];
      return send_data(c.req, c.res, data);
    }
    if (auto key = c.req.query_param("apiKey")) {
      auto rec = t.auth().validate_api_key(*key);
      if (rec.empty()) throw ApiError(401, "E-AUTH-UNAUTH", "Invalid credential: unknown_api_key");
      auto j = json::parse(rec);
      if (j.value("tnId", int64_t{-1}) != static_cast<int64_t>(t.info.tn_id)) throw ApiError(401, "E-AUTH-UNAUTH", "Invalid credential: wrong_issuer");
      std::optional<std::string> key_scope;
      if (j.contains("scopes") && j["scopes"].is_string() && !j["scopes"].get<std::string>().empty()) key_scope = j["scopes"].get<std::string>();
      return send_data(c.req, c.res,
                       {{"token", s.authn.mint(t.info, t.info.id_tag, s.authn.tenant_roles(t.info, t.binding()), key_scope)},
                        {"expiresAt", s.now() + identity::kAccessTokenLifetime}});
    }
    // Session mode: a full credential mints a (possibly scoped) token.
    auto ctx = s.auth_required(c.req, t);
    if (ctx.scope && ctx.via != auth::Credential::kApiKey) throw ApiError(403, "E-AUTH-NOPERM", "A scoped token cannot mint another token");
    json data = {{"token", s.authn.mint(t.info, ctx.id_tag, ctx.roles, scope)}, {"expiresAt", s.now() + identity::kAccessTokenLifetime}};
    if (scope) data["scope"] = *scope;
    send_data(c.req, c.res, data);
  });

  // The PROXY token our user presents to another node's access-token endpoint.
  r.add("GET", "/api/auth/proxy-token", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    auto ctx = s.owner_required(c.req, t);
    auto target = c.req.query_param("idTag");
    if (!target) target = c.req.query_param("target");  // the doc's spelling
    if (!target || !app::TenantRegistry::valid_id_tag(*target)) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: idTag must be an identity");
    auto key = s.keys.signing_key(t.info);
    auto token = identity::create_proxy_token(*key.key, key.key_id, t.info.id_tag, *target, s.now());
    if (!token) throw std::runtime_error("cannot sign a proxy token");
    json data = {{"token", *token}};
    if (!ctx.roles.empty()) data["roles"] = ctx.roles;
    send_data(c.req, c.res, data);
  });

  r.add("POST", "/api/auth/password", [&s](RouteCtx& c) {
    s.rate_limit(c.req, c.res, RateBucket::kAuth);
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    auto body = parse_body(c.req);
    if (!body.is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be an object");
    const std::string current = str_field(body, "currentPassword"), next = str_field(body, "newPassword");
    // [impl] rules, checked before the (slow) verification.
    if (next.find_first_not_of(" \t\r\n") == std::string::npos || next.size() < 8)
      throw ApiError(400, "E-VAL-INVALID", "Request validation failed: the new password must have at least 8 characters");
    if (next == current) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: the new password equals the current one");
    verify_password(s, t, c.req, c.res, current);
    t.auth().set_password(t.ref(), next);
    send_data(c.req, c.res, nullptr);
  });

  // A one-time `password` or `welcome` ref (created by an admin or sent by
  // mail) sets the password and logs the owner in ([impl] shape: Login).
  r.add("POST", "/api/auth/set-password", [&s](RouteCtx& c) {
    s.rate_limit(c.req, c.res, RateBucket::kAuth, /*no_ban=*/true);
    auto t = s.tenant(c.req);
    auto body = parse_body(c.req);
    if (!body.is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be an object");
    const std::string ref_id = str_field(body, "refId"), next = str_field(body, "newPassword");
    if (next.find_first_not_of(" \t\r\n") == std::string::npos || next.size() < 8)
      throw ApiError(400, "E-VAL-INVALID", "Request validation failed: the new password must have at least 8 characters");
    // Validate first, consume only once the type is right.
    auto ref = consume_ref(s, t, ref_id, /*dry_run=*/true);
    const std::string type = ref.value("type", "");
    if (type != "password" && type != "welcome") throw ApiError(403, "E-AUTH-NOPERM", "This reference does not set a password");
    consume_ref(s, t, ref_id, /*dry_run=*/false);
    t.auth().set_password(t.ref(), next);
    s.login_succeeded(t.info.id_tag);
    auto roles = s.authn.tenant_roles(t.info, t.binding());
    send_data(c.req, c.res, login_json(s, t, s.authn.mint(t.info, t.info.id_tag, roles), roles));
  });

  // ---- API keys: the secret's hash lives in the auth adapter; what the
  // owner lists (name, prefix, scopes, dates) in meta records "api_keys".
  r.add("GET", "/api/auth/api-keys", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    send_data(c.req, c.res, json::parse(t.meta().list_records(t.ref(), "api_keys", "{}")));
  });

  r.add("POST", "/api/auth/api-keys", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    auto body = c.req.body.empty() ? json::object() : parse_body(c.req);
    if (!body.is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be an object");
    json opts = json::object();
    if (body.contains("scopes") && !body["scopes"].is_null()) opts["scopes"] = str_field(body, "scopes");
    if (body.contains("expiresAt") && !body["expiresAt"].is_null()) {
      if (!body["expiresAt"].is_number_integer()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: expiresAt must be Unix seconds");
      opts["expiresAt"] = body["expiresAt"];
    }
    auto created = json::parse(t.auth().create_api_key(t.ref(), opts.dump()));
    const std::string key = created.at("key");
    json view = {{"keyId", created.at("keyId")}, {"keyPrefix", key.substr(0, std::min<size_t>(key.size(), 10))}, {"createdAt", s.now()}};
    if (body.contains("name") && body["name"].is_string()) view["name"] = body["name"];
    if (opts.contains("scopes")) view["scopes"] = opts["scopes"];
    if (opts.contains("expiresAt")) view["expiresAt"] = opts["expiresAt"];
    t.meta().put_record(t.ref(), "api_keys", created.at("keyId").dump(), view.dump());
    json reply = view;
    reply["plaintextKey"] = key;  // the only time it exists in clear
    send_data(c.req, c.res, reply, 201);
  });

  r.add("GET", "/api/auth/api-keys/{keyId}", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    auto rec = t.meta().find_record(t.ref(), "api_keys", c.param("keyId"));
    if (rec.empty()) throw ApiError(404, "E-CORE-NOTFOUND", "No API key " + c.param("keyId"));
    send_data(c.req, c.res, json::parse(rec));
  });

  r.add("PATCH", "/api/auth/api-keys/{keyId}", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    auto rec = t.meta().find_record(t.ref(), "api_keys", c.param("keyId"));
    if (rec.empty()) throw ApiError(404, "E-CORE-NOTFOUND", "No API key " + c.param("keyId"));
    auto view = json::parse(rec);
    auto body = parse_body(c.req);
    if (!body.is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be an object");
    // Only the descriptive name changes here: scopes and expiry are part of
    // the stored credential, so changing them means a new key.
    if (body.contains("name")) view["name"] = body["name"].is_string() ? body["name"] : json();
    t.meta().put_record(t.ref(), "api_keys", c.param("keyId"), view.dump());
    send_data(c.req, c.res, view);
  });

  r.add("DELETE", "/api/auth/api-keys/{keyId}", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    s.delete_api_key(t, c.param("keyId"));
    send_data(c.req, c.res, nullptr);
  });

  // Bare, as [impl]: the client type is {vapidPublicKey}.
  r.add("GET", "/api/auth/vapid", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.auth_required(c.req, t);
    c.res.body = json{{"vapidPublicKey", s.keys.vapid_public_key(t.info, s.now())}}.dump();
  });
}

}  // namespace cumulo::api
