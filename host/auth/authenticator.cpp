#include "auth/authenticator.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "api/envelope.hpp"

namespace cumulo::auth {

using api::ApiError;
using json = nlohmann::json;

std::optional<std::string> bearer_of(const net::HttpRequest& req) {
  if (auto h = req.header("Authorization")) {
    std::string_view v = *h;
    if (v.rfind("Bearer ", 0) != 0) throw ApiError(401, "E-AUTH-UNAUTH", "Authorization must be a Bearer token");
    v.remove_prefix(7);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    if (v.empty()) throw ApiError(401, "E-AUTH-UNAUTH", "Empty bearer token");
    return std::string(v);
  }
  if (auto q = req.query_param("token"); q && !q->empty()) return q;
  return std::nullopt;
}

Authenticator::Authenticator(app::Backends& backends, KeyRing& keys, identity::RevocationList& revoked, Clock clock)
    : backends_(backends), keys_(keys), revoked_(revoked), clock_(std::move(clock)) {}

std::vector<std::string> Authenticator::tenant_roles(const app::TenantInfo& tenant, const app::Binding& b) const {
  if (!b.meta || !b.meta.has_tenants()) return {};
  auto rec = b.meta.get_tenant(tenant.ref());
  if (rec.empty()) return {};
  auto j = json::parse(rec);
  std::vector<std::string> roles;
  if (auto it = j.find("roles"); it != j.end() && it->is_array())
    for (const auto& r : *it)
      if (r.is_string()) roles.push_back(r.get<std::string>());
  return roles;
}

std::string Authenticator::mint(const app::TenantInfo& tenant, const std::string& user, const std::vector<std::string>& roles, std::optional<std::string> scope,
                                int64_t lifetime) {
  identity::AccessClaims c;
  c.iss = tenant.id_tag;
  if (!user.empty()) c.sub = user;
  c.scope = std::move(scope);
  if (!roles.empty()) c.r = join_roles(roles);
  c.exp = clock_() + lifetime;
  auto t = identity::create_access_token(c, keys_.access_key());
  if (!t) throw std::runtime_error("cannot sign an access token");
  return *t;
}

std::optional<AuthCtx> Authenticator::authenticate(const net::HttpRequest& req, const app::TenantInfo& tenant, const app::Binding& b) {
  auto bearer = bearer_of(req);
  if (!bearer) return std::nullopt;
  auto reject = [&](std::string_view reason) -> ApiError {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    // spec/core.md §6.11 security event; never log the token itself.
    spdlog::info("[{}] token rejected: tenant={} ip={} reason={}", req.req_id, tenant.id_tag, req.remote_ip, reason);
    return ApiError(401, "E-AUTH-UNAUTH", "Invalid credential: " + std::string(reason));
  };
  AuthCtx ctx;
  ctx.tn_id = tenant.tn_id;
  ctx.tenant = tenant.id_tag;
  ctx.token = *bearer;
  switch (identity::classify_bearer(*bearer)) {
    case identity::BearerKind::kApiKey: {
      if (!b.auth) throw reject("no auth adapter");
      auto rec = b.auth.validate_api_key(*bearer);
      if (rec.empty()) throw reject("unknown_api_key");
      auto j = json::parse(rec);
      // An API key belongs to exactly one tenant (rest-api.md §1.2).
      if (j.value("tnId", int64_t{-1}) != static_cast<int64_t>(tenant.tn_id)) throw reject("wrong_issuer");
      ctx.via = Credential::kApiKey;
      ctx.id_tag = tenant.id_tag;
      ctx.roles = tenant_roles(tenant, b);
      if (auto s = j.find("scopes"); s != j.end() && s->is_string() && !s->get<std::string>().empty()) ctx.scope = s->get<std::string>();
      return ctx;
    }
    case identity::BearerKind::kAccessToken: {
      auto claims = identity::validate_access_token(*bearer, keys_.access_key(), tenant.id_tag, clock_(), &revoked_);
      if (!claims) throw reject(identity::to_string(claims.error()));
      ctx.exp = claims->exp;
      ctx.scope = claims->scope;
      if (claims->r) ctx.roles = split_roles(*claims->r);
      if (claims->sub) {
        ctx.id_tag = *claims->sub;
        ctx.via = claims->scope ? Credential::kScoped : (*claims->sub == tenant.id_tag ? Credential::kSession : Credential::kFederated);
      } else {
        // No sub: a share link when scoped (anonymous), else the tenant itself.
        ctx.via = claims->scope ? Credential::kScoped : Credential::kSession;
        if (!claims->scope) ctx.id_tag = tenant.id_tag;
      }
      return ctx;
    }
    default:
      throw reject("malformed");
  }
}

}  // namespace cumulo::auth
