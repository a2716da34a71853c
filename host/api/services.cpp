#include "api/services.hpp"

#include <spdlog/spdlog.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "api/envelope.hpp"
#include "app/app.hpp"
#include "auth/rate_limit.hpp"
#include "auth/remote_keys.hpp"

namespace cumulo::api {

using json = nlohmann::json;

namespace {
constexpr std::string_view kRevoked = "revoked_tokens";
int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }
}  // namespace

const plugins::MetaHandle& TenantScope::meta() const {
  if (!b->meta) throw ApiError(503, "E-SYS-UNAVAIL", "No meta adapter is bound for this tenant");
  return b->meta;
}

const plugins::AuthHandle& TenantScope::auth() const {
  if (!b->auth) throw ApiError(503, "E-SYS-UNAVAIL", "No auth adapter is bound for this tenant");
  return b->auth;
}

struct Services::Guards {
  auth::RateLimiter limiter;
  auth::LoginLockout lockout;
  auth::RemoteKeys remote;
  Guards(const app::Config& cfg, app::Backends& b)
      : lockout(auth::LockoutConfig{cfg.auth.lockout_max_failures, std::chrono::seconds(cfg.auth.lockout_seconds)}), remote(b, cfg.outbound) {}
};

Services::Services(app::App& a)
    : app(a), keys(a.backends()), authn(a.backends(), keys, revoked, unix_now), guards_(std::make_unique<Guards>(a.config(), a.backends())) {}
Services::~Services() = default;

namespace {
auth::Time wall_now() { return auth::Time(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())); }
}  // namespace

void Services::rate_limit(const net::HttpRequest& req, net::HttpResponse& res, RateBucket bucket, bool no_ban) {
  if (!app.config().auth.rate_limits) return;
  static constexpr auth::Category kMap[] = {auth::Category::auth, auth::Category::federation, auth::Category::general, auth::Category::websocket,
                                            auth::Category::search};
  auto d = guards_->limiter.check(kMap[static_cast<int>(bucket)], req.remote_ip, wall_now(), auth::CheckOptions{no_ban});
  for (auto& [k, v] : auth::rate_limit_headers(d)) res.set_header(k, v);
  if (d.allowed()) return;
  spdlog::info("[{}] rate limited: ip={} bucket={} reason=rate_limit_exceeded", req.req_id, req.remote_ip, static_cast<int>(bucket));
  auto e = auth::rate_limit_error(d);
  throw ApiError(e.status, e.code, e.message, e.details);
}

std::optional<int64_t> Services::lockout_remaining(const std::string& id_tag) {
  auto st = guards_->lockout.check(id_tag, wall_now());
  if (!st.locked) return std::nullopt;
  return st.remaining_secs;
}

void Services::login_failed(const std::string& id_tag, const std::string& ip) {
  guards_->lockout.failure(id_tag, wall_now());
  if (app.config().auth.rate_limits) guards_->limiter.penalize(ip, wall_now());
}

void Services::login_succeeded(const std::string& id_tag) { guards_->lockout.success(id_tag); }

identity::ActionClaims Services::verify_proxy_token(const TenantScope& t, const std::string& token) {
  auto fail = [&](std::string_view reason) {
    spdlog::info("proxy token rejected: tenant={} reason={}", t.info.id_tag, reason);
    return ApiError(401, "E-AUTH-UNAUTH", "Invalid proxy token: " + std::string(reason));
  };
  auto parsed = identity::parse_action_token(token);
  if (!parsed) throw fail(identity::to_string(parsed.error()));
  // Cheap claim checks before any key lookup (which may go to the network).
  if (auto e = identity::check_proxy_claims(parsed->claims, t.info.id_tag, now()); e != identity::TokenError::kNone) throw fail(identity::to_string(e));
  auto key = guards_->remote.find(parsed->claims.iss, parsed->claims.k, now());
  if (!key) throw fail("key_not_found");
  if (auto e = identity::verify_action_token(*parsed, *key->key, now(), key->expires_at); e != identity::TokenError::kNone)
    throw fail(e == identity::TokenError::kBadSignature ? "signature_verification_failed" : identity::to_string(e));
  return parsed->claims;
}

void Services::delete_api_key(const TenantScope& t, const std::string& key_id) {
  if (t.meta().find_record(t.ref(), "api_keys", key_id).empty()) throw ApiError(404, "E-CORE-NOTFOUND", "No API key " + key_id);
  t.auth().delete_api_key(t.ref(), key_id);
  t.meta().delete_record(t.ref(), "api_keys", key_id);
}

int64_t Services::now() const { return authn.now(); }

TenantScope Services::tenant(const net::HttpRequest& req) const {
  auto t = app.backends().tenant_for_host(req.host);
  if (!t) throw ApiError(404, "E-CORE-NOTFOUND", "No identity is served at host '" + req.host + "'");
  auto b = app.backends().for_tenant(*t);
  if (!b) throw ApiError(503, "E-SYS-UNAVAIL", "The backends of " + t->id_tag + " are not available");
  return TenantScope{std::move(*t), std::move(b)};
}

std::optional<auth::AuthCtx> Services::auth_optional(const net::HttpRequest& req, const TenantScope& t) {
  try {
    return authn.authenticate(req, t.info, t.binding());
  } catch (const ApiError&) {
    return std::nullopt;
  }
}

auth::AuthCtx Services::auth_required(const net::HttpRequest& req, const TenantScope& t) {
  auto ctx = authn.authenticate(req, t.info, t.binding());
  if (!ctx) throw ApiError(403, "E-AUTH-NOPERM", "Authentication required");
  if (ctx->anonymous()) throw ApiError(403, "E-AUTH-NOPERM", "A share-link token cannot be used here");
  return std::move(*ctx);
}

auth::AuthCtx Services::owner_required(const net::HttpRequest& req, const TenantScope& t) {
  auto ctx = auth_required(req, t);
  // A scoped token (share link, file grant) never acts as the owner.
  if (ctx.scope && ctx.via != auth::Credential::kApiKey) throw ApiError(403, "E-AUTH-NOPERM", "A scoped token cannot be used here");
  if (ctx.is_owner() || ctx.has_role("leader")) return ctx;
  throw ApiError(403, "E-AUTH-NOPERM", "Only " + t.info.id_tag + " may do this");
}

void Services::revoke(const TenantScope& t, const auth::AuthCtx& ctx) {
  if (ctx.via == auth::Credential::kApiKey || ctx.exp <= now()) return;
  revoked.revoke(ctx.token, ctx.exp);
  const auto dot = ctx.token.rfind('.');
  const std::string sig = ctx.token.substr(dot + 1);
  if (t.b->meta && t.b->meta.has_records()) t.b->meta.put_record(t.ref(), kRevoked, sig, json{{"sig", sig}, {"exp", ctx.exp}}.dump());
}

void Services::load_revocations() {
  const int64_t t_now = now();
  size_t loaded = 0;
  for (const auto& t : app.backends().tenants()) {
    auto b = app.backends().for_tenant(t);
    if (!b || !b->meta || !b->meta.has_records()) continue;
    try {
      for (const auto& rec : json::parse(b->meta.list_records(t.ref(), kRevoked, "{}"))) {
        const std::string sig = rec.value("sig", "");
        const int64_t exp = rec.value("exp", int64_t{0});
        if (sig.empty()) continue;
        if (exp <= t_now) {
          b->meta.delete_record(t.ref(), kRevoked, sig);  // expired: the token is dead anyway
          continue;
        }
        revoked.revoke("." + sig, exp);
        ++loaded;
      }
    } catch (const std::exception& e) {
      spdlog::warn("revoked tokens of {}: {}", t.id_tag, e.what());
    }
  }
  if (loaded) spdlog::info("{} revoked access tokens loaded", loaded);
}

}  // namespace cumulo::api
