// Settings (spec/rest-api.md §2.7, runtime.md §7). A value is read from the
// tenant (its meta adapter), then from the node-wide level (tn_id 0 on the
// default profile's meta adapter), then the registry default. Writes keep
// the registry type; the global level and `admin` keys need SADM, tenant
// `user` keys the owner, `system` keys cannot be changed at run time.
#include <nlohmann/json.hpp>
#include <set>

#include "api/envelope.hpp"
#include "api/services.hpp"
#include "api/settings_registry.hpp"
#include "app/app.hpp"
#include "auth/abac.hpp"

namespace cumulo::api {

using json = nlohmann::json;
namespace st = settings;

namespace {

enum class Level { kTenant, kGlobal };

/// Where one level's values live.
struct Store {
  std::shared_ptr<const app::Binding> b;  // pins the adapter
  plugins::TenantRef tn;
  const plugins::MetaHandle& meta() const {
    if (!b || !b->meta || !b->meta.has_settings()) throw ApiError(503, "E-SYS-UNAVAIL", "No settings store is bound");
    return b->meta;
  }
  json get(const std::string& key) const {
    try {
      return json::parse(meta().get_setting(tn, key));
    } catch (const plugins::PluginError& e) {
      if (e.code() == CM_NOT_FOUND) return nullptr;
      throw;
    }
  }
  json list(const std::string& prefix) const { return json::parse(meta().list_settings(tn, prefix)); }
};

Store tenant_store(const TenantScope& t) { return Store{t.b, t.ref()}; }
Store global_store(Services& s) {
  auto& be = s.app.backends();
  return Store{be.for_profile(be.default_profile()), plugins::TenantRef{0, ""}};
}

std::optional<Level> level_of(const net::HttpRequest& req) {
  const auto v = req.query_param("level");
  if (!v || v->empty()) return std::nullopt;
  if (*v == "tenant") return Level::kTenant;
  if (*v == "global") return Level::kGlobal;
  throw ApiError(400, "E-VAL-INVALID", "Request validation failed: level must be tenant or global");
}

st::Def def_of(const std::string& key) {
  auto d = st::find(key);
  if (!d) throw ApiError(404, "E-CORE-NOTFOUND", "Unknown setting " + key);
  return *d;
}

/// SADM only, decided by the ABAC engine (a TOP rule: owning the tenant or a
/// community role is not enough). `key` names the object in denial logs.
void require_admin(Services& s, const RouteCtx& c, const TenantScope& t, const auth::AuthCtx& ctx, const std::string& key) {
  auth::Object o;
  o.id = "settings:" + key;  // node-level objects have no owner tenant
  s.require(c.req, t, ctx, "settings:admin", o, sadm_only());
}

json view(const st::Def& d, json value) {
  return {{"key", d.key},
          {"value", std::move(value)},
          {"scope", std::string(st::to_string(d.scope))},
          {"permission", std::string(st::to_string(d.permission))},
          {"type", std::string(st::to_string(d.type))},
          {"description", d.description}};
}

/// The effective value: tenant → global → default (a global-scope key never
/// reads a tenant value).
json resolve(const st::Def& d, const Store& tenant, const Store& global) {
  if (d.scope == st::Scope::kSystem) return d.dflt;
  if (d.scope == st::Scope::kTenant)
    if (auto v = tenant.get(d.key); !v.is_null()) return v;
  if (auto v = global.get(d.key); !v.is_null()) return v;
  return d.dflt;
}

/// Checks that the caller may write `d` at `level`.
void check_write(Services& s, const RouteCtx& c, const TenantScope& t, const st::Def& d, Level level, const auth::AuthCtx& ctx) {
  if (d.scope == st::Scope::kSystem || d.permission == st::Permission::kSystem)
    throw ApiError(403, "E-AUTH-NOPERM", "Setting " + d.key + " cannot be changed at run time");
  if (level == Level::kTenant && d.scope == st::Scope::kGlobal)
    throw ApiError(400, "E-VAL-INVALID", "Request validation failed: " + d.key + " is a node-wide setting (level=global)");
  if (level == Level::kGlobal || d.permission == st::Permission::kAdmin) require_admin(s, c, t, ctx, d.key);
}

Level default_level(const st::Def& d) { return d.scope == st::Scope::kGlobal ? Level::kGlobal : Level::kTenant; }

std::vector<std::string> prefixes_of(const net::HttpRequest& req) {
  std::vector<std::string> out;
  if (auto v = req.query_param("prefix")) out = auth::split_roles(*v);  // csv
  if (out.empty()) out.emplace_back();
  return out;
}

}  // namespace

void add_settings_routes(Router& r, Services& s) {
  r.add("GET", "/api/settings", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.owner_required(c.req, t);
    const auto level = level_of(c.req);
    if (level == Level::kGlobal) require_admin(s, c, t, ctx, "*");
    const auto ts = tenant_store(t), gs = global_store(s);
    // Registry keys, plus stored keys of the free-form families.
    std::set<std::string> keys;
    for (const auto& prefix : prefixes_of(c.req)) {
      for (const auto& d : st::registry())
        if (d.key.rfind(prefix, 0) == 0) keys.insert(d.key);
      for (const auto* store : {&ts, &gs}) {
        const auto stored = store->list(prefix);  // named: items() must not outlive it
        for (const auto& [k, v] : stored.items())
          if (st::find(k)) keys.insert(k);
      }
    }
    json items = json::array();
    for (const auto& k : keys) {
      const auto d = *st::find(k);
      json v = !level ? resolve(d, ts, gs) : level == Level::kTenant ? ts.get(k) : gs.get(k);
      if (!v.is_null()) items.push_back(view(d, std::move(v)));
    }
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, items);
  });

  r.add("GET", "/api/settings/{name}", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.owner_required(c.req, t);
    const auto d = def_of(c.param("name"));
    const auto level = level_of(c.req);
    if (level == Level::kGlobal) require_admin(s, c, t, ctx, d.key);
    const auto ts = tenant_store(t), gs = global_store(s);
    json v = !level ? resolve(d, ts, gs) : level == Level::kTenant ? ts.get(d.key) : gs.get(d.key);
    if (v.is_null()) throw ApiError(404, "E-CORE-NOTFOUND", "Setting " + d.key + " has no value");
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, view(d, std::move(v)));
  });

  r.add("PUT", "/api/settings/{name}", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.owner_required(c.req, t);
    const auto d = def_of(c.param("name"));
    const auto level = level_of(c.req).value_or(default_level(d));
    check_write(s, c, t, d, level, ctx);
    const auto body = parse_body(c.req);
    if (!body.is_object() || !body.contains("value")) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be {\"value\": …}");
    const auto& value = body["value"];
    if (!st::type_ok(d, value))
      throw ApiError(400, "E-VAL-INVALID", "Request validation failed: " + d.key + " takes a " + std::string(st::to_string(d.type)) + " value");
    const auto store = level == Level::kTenant ? tenant_store(t) : global_store(s);
    store.meta().put_setting(store.tn, d.key, value.dump());
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, view(d, value));
  });

  // Resets one level; the value falls back to the next one.
  r.add("DELETE", "/api/settings/{name}", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.owner_required(c.req, t);
    const auto d = def_of(c.param("name"));
    const auto level = level_of(c.req);
    if (!level) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: level is required");
    check_write(s, c, t, d, *level, ctx);
    const auto store = *level == Level::kTenant ? tenant_store(t) : global_store(s);
    try {
      store.meta().delete_setting(store.tn, d.key);
    } catch (const plugins::PluginError& e) {
      if (e.code() != CM_NOT_FOUND) throw;  // already unset: DELETE is idempotent
    }
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, nullptr);
  });
}

}  // namespace cumulo::api
