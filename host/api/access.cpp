// Services' access-control half (docs/access-control.md "How handlers call
// it"): the ABAC subject of a caller, authorize()/require() over the one
// engine (auth::decide), and the relationship resolvers.
#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "api/envelope.hpp"
#include "api/services.hpp"
#include "auth/abac.hpp"

namespace cumulo::api {

// One RelationshipResolver per backend profile (its cache is keyed by
// tn_id, which is unique within one meta adapter only). A reloaded profile
// gets a new binding, hence a fresh resolver over the new adapter.
struct Services::Access {
  struct Rel {
    std::weak_ptr<const app::Binding> binding;
    std::shared_ptr<auth::RelationshipResolver> resolver;
  };
  std::mutex mu;
  std::map<std::string, Rel> rels;
  uint64_t retired_lookups = 0;  // of resolvers replaced after a reload

  std::shared_ptr<auth::RelationshipResolver> resolver(const TenantScope& t) {
    std::lock_guard lk(mu);
    auto& r = rels[t.b->profile];
    if (!r.resolver || r.binding.lock() != t.b) {
      if (r.resolver) retired_lookups += r.resolver->lookups();
      r.binding = t.b;
      r.resolver = std::make_shared<auth::RelationshipResolver>(t.b->meta);
    }
    return r.resolver;
  }
};

std::shared_ptr<Services::Access> Services::make_access() { return std::make_shared<Access>(); }

namespace {

// True if the scope holds a `<res>:<id>:R|W` entry, the only form the ABAC
// engine confines a token to (abac.cpp scope_grant).
bool confining(const std::string& scope) {
  std::istringstream in(scope);
  std::string w;
  while (in >> w) {
    const auto first = w.find(':'), last = w.rfind(':');
    if (first != std::string::npos && first != last && last + 2 == w.size() && (w.back() == 'R' || w.back() == 'W')) return true;
  }
  return false;
}

std::string subject_name(const auth::Subject& s) { return s.anonymous() ? std::string("(anonymous)") : s.id_tag; }

}  // namespace

const std::vector<auth::Rule>& sadm_only() {
  using C = auth::Condition;
  static const auth::Policy p{{C::cmp(C::Op::NotContains, "subject.roles", auth::Value(std::string("SADM"))), auth::Effect::Deny, "needs the SADM role"}};
  return p;
}

auth::Subject Services::subject(const TenantScope& t, const std::optional<auth::AuthCtx>& ctx) {
  auth::Subject s;
  if (!ctx) return s;
  if (ctx->anonymous()) {
    s.scope = ctx->scope;  // a share link: what its scope grants, nothing else
    return s;
  }
  // Any other scoped token acts within its scope only; words the engine does
  // not confine to (e.g. "read") must not let it act as its subject.
  if (ctx->scope && ctx->via != auth::Credential::kApiKey && !confining(*ctx->scope)) return s;
  s.id_tag = ctx->id_tag;
  s.authenticated = true;
  s.roles = ctx->roles;
  s.scope = ctx->scope;
  if (ctx->id_tag == t.info.id_tag || !t.b->meta || !t.b->meta.has_tenants()) return s;  // the owner needs no relation
  return access_->resolver(t)->enrich(t.ref(), std::move(s));
}

auth::Decision Services::authorize(const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action, const auth::Object& o) {
  return authorize(t, ctx, action, o, {});
}

auth::Decision Services::authorize(const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action, const auth::Object& o,
                                   const auth::Policy& top) {
  // Per-tenant TOP/BOTTOM policies are not stored yet: the call's own only.
  return auth::decide(subject(t, ctx), action, o, auth::Env{now()}, top, {});
}

void Services::require(const net::HttpRequest& req, const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action,
                       const auth::Object& o) {
  require(req, t, ctx, action, o, {});
}

void Services::require(const net::HttpRequest& req, const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action,
                       const auth::Object& o, const auth::Policy& top) {
  const auto s = subject(t, ctx);
  const auto d = auth::decide(s, action, o, auth::Env{now()}, top, {});
  if (d.allow) return;
  // core.md §8.7: log every denial.
  spdlog::info("[{}] access denied: path={} tenant={} subject={} action={} object={} reason={}", req.req_id, req.path, t.info.id_tag, subject_name(s), action,
               o.id, d.reason);
  throw ApiError(403, "E-AUTH-NOPERM", "Not allowed: " + std::string(action));
}

void Services::relationship_changed(const std::string& id_tag) {
  std::lock_guard lk(access_->mu);
  for (auto& [profile, r] : access_->rels)
    if (r.resolver) r.resolver->invalidate(id_tag);
}

uint64_t Services::relationship_lookups() const {
  std::lock_guard lk(access_->mu);
  uint64_t n = access_->retired_lookups;
  for (const auto& [profile, r] : access_->rels)
    if (r.resolver) n += r.resolver->lookups();
  return n;
}

}  // namespace cumulo::api
