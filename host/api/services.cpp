#include "api/services.hpp"

#include <spdlog/spdlog.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "actions/engine.hpp"
#include "api/envelope.hpp"
#include "app/app.hpp"
#include "app/tenant_registry.hpp"
#include "auth/rate_limit.hpp"
#include "auth/remote_keys.hpp"
#include "net/http_client.hpp"

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
  ratelimit::RateLimiter limiter;
  ratelimit::LoginLockout lockout;
  auth::RemoteKeys remote;
  Guards(const app::Config& cfg, app::Backends& b)
      : lockout(ratelimit::LockoutConfig{cfg.auth.lockout_max_failures, std::chrono::seconds(cfg.auth.lockout_seconds)}), remote(b, cfg.outbound) {}
};

Services::Services(app::App& a)
    : app(a),
      keys(a.backends()),
      authn(a.backends(), keys, revoked, unix_now),
      guards_(std::make_unique<Guards>(a.config(), a.backends())),
      access_(make_access()),
      actions_(std::make_unique<actions::Engine>(a, *this)) {}
Services::~Services() = default;

auth::RemoteKeys& Services::remote_keys() { return guards_->remote; }
actions::Engine& Services::actions() { return *actions_; }

namespace {
ratelimit::Time wall_now() {
  return ratelimit::Time(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()));
}
}  // namespace

void Services::rate_limit(const net::HttpRequest& req, net::HttpResponse& res, RateBucket bucket, bool no_ban) {
  if (!app.config().auth.rate_limits) return;
  static constexpr ratelimit::Category kMap[] = {ratelimit::Category::auth, ratelimit::Category::federation, ratelimit::Category::general,
                                                 ratelimit::Category::websocket, ratelimit::Category::search};
  auto d = guards_->limiter.check(kMap[static_cast<int>(bucket)], req.remote_ip, wall_now(), ratelimit::CheckOptions{no_ban});
  for (auto& [k, v] : ratelimit::rate_limit_headers(d)) res.set_header(k, v);
  if (d.allowed()) return;
  spdlog::info("[{}] rate limited: ip={} bucket={} reason=rate_limit_exceeded", req.req_id, req.remote_ip, static_cast<int>(bucket));
  auto e = ratelimit::rate_limit_error(d);
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

std::shared_ptr<const Services::MeEntry> Services::me_cached(const std::string& id_tag) const {
  std::lock_guard lk(me_mu_);
  auto it = me_cache_.find(id_tag);
  if (it == me_cache_.end() || it->second->expires <= now()) return nullptr;
  return it->second;
}

std::shared_ptr<const Services::MeEntry> Services::me_store(const std::string& id_tag, std::string data, std::string etag) {
  auto e = std::make_shared<const MeEntry>(MeEntry{std::move(data), std::move(etag), now() + kMeCacheTtl});
  std::lock_guard lk(me_mu_);
  me_cache_[id_tag] = e;
  return e;
}

void Services::me_invalidate(const std::string& id_tag) {
  std::lock_guard lk(me_mu_);
  me_cache_.erase(id_tag);
}

// ---- remote profiles --------------------------------------------------------------

Services::ProfileSync Services::sync_profile(const TenantScope& t, const std::string& id_tag, bool conditional) {
  // idTags are DNS names: anything else would put a foreign host or path in the URL.
  if (!app::TenantRegistry::valid_id_tag(id_tag) || id_tag == t.info.id_tag) return ProfileSync::kNotFound;
  const auto& meta = t.meta();
  json stored;
  if (auto rec = meta.get_profile(t.ref(), id_tag); !rec.empty()) stored = json::parse(rec);
  net::ClientRequest req = net::ClientRequest::get("https://cl-o." + id_tag + "/api/me");
  req.max_body = 256 << 10;
  req.timeout_ms = 10000;
  if (conditional && stored.is_object())
    if (auto it = stored.find("etag"); it != stored.end() && it->is_string() && !it->get_ref<const std::string&>().empty())
      req.headers.emplace_back("If-None-Match", it->get<std::string>());
  net::ClientResponse res;
  try {
    res = guards_->remote.http().request(req);
  } catch (const net::HttpError& e) {
    spdlog::info("profile of {}: GET /api/me failed ({}): {}", id_tag, net::to_string(e.kind()), e.what());
    return ProfileSync::kUnreachable;
  }
  if (res.status == 304 && stored.is_object()) {
    meta.upsert_profile(t.ref(), json{{"idTag", id_tag}, {"syncedAt", now()}}.dump());
    return ProfileSync::kNotModified;
  }
  if (res.status != 200) {
    spdlog::info("profile of {}: GET /api/me answered {}", id_tag, res.status);
    return ProfileSync::kNotFound;
  }
  const json body = json::parse(res.body, nullptr, false);
  // core.md §3.2: the [impl] envelope {data:{…}} or the bare profile.
  const json& me = body.is_object() && body.contains("data") && body["data"].is_object() ? body["data"] : body;
  if (!me.is_object() || me.value("idTag", json()) != json(id_tag)) {
    spdlog::warn("profile of {}: /api/me does not describe {}", id_tag, id_tag);
    return ProfileSync::kNotFound;
  }
  json up = {{"idTag", id_tag}, {"syncedAt", now()}, {"etag", res.header("etag").value_or("")}};
  const auto name = me.find("name");
  up["name"] = name != me.end() && name->is_string() && !name->get_ref<const std::string&>().empty() ? *name : json(id_tag);
  // type: ""/"person" (and [impl]'s "P") is a person; stored as the tenant codes.
  const auto type = me.value("type", json(""));
  up["type"] = type == "community" || type == "C" ? "C" : "P";
  const auto pic = me.find("profilePic");
  up["profilePic"] = pic != me.end() && pic->is_string() && !pic->get_ref<const std::string&>().empty() ? *pic : json(nullptr);
  meta.upsert_profile(t.ref(), up.dump());
  guards_->remote.store_keys(id_tag, me);
  return ProfileSync::kUpdated;
}

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
