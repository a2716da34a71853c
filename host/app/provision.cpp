#include "app/provision.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "auth/keyring.hpp"

namespace cumulo::app {

using json = nlohmann::json;

std::string display_name_from_id_tag(const std::string& id_tag) {
  std::string name = id_tag.substr(0, id_tag.find('.'));
  if (!name.empty()) name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  return name;
}

ProvisionResult provision_tenant(Backends& backends, auth::KeyRing& keys, const TenantInfo& t, const ProvisionOptions& opts, int64_t now) {
  ProvisionResult r;
  auto b = backends.for_tenant(t);
  if (!b || !b->meta || !b->auth) throw std::runtime_error("cannot provision " + t.id_tag + ": profile '" + t.profile + "' lacks a meta or auth adapter");
  if (!b->meta.has_tenants()) throw std::runtime_error("cannot provision " + t.id_tag + ": the meta adapter of profile '" + t.profile + "' stores no tenants");
  const auto ref = t.ref();

  // 1. The tenant record, with the registry's tnId so both agree.
  auto rec = b->meta.get_tenant(ref);
  json tenant;
  if (rec.empty()) {
    tenant = {{"tnId", t.tn_id},
              {"idTag", t.id_tag},
              {"type", opts.community ? "C" : "P"},
              {"name", opts.name.empty() ? display_name_from_id_tag(t.id_tag) : opts.name},
              {"roles", opts.roles}};
    tenant = json::parse(b->meta.create_tenant(tenant.dump()));
    r.created_tenant = true;
  } else {
    tenant = json::parse(rec);
    // Roles only ever grow here; removing one is an admin decision.
    json roles = tenant.value("roles", json::array());
    if (!roles.is_array()) roles = json::array();
    bool changed = false;
    for (const auto& role : opts.roles)
      if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role), changed = true;
    if (changed) b->meta.update_tenant(ref, json{{"roles", roles}}.dump());
  }

  // 2. The profile key (signs action tokens; published in /api/me).
  if (keys.public_keys(t).empty()) {
    keys.create_profile_key(t, now);
    r.created_key = true;
  }
  // 3. The VAPID key (Web Push).
  if (!keys.has_vapid(t)) {
    keys.vapid_public_key(t, now);
    r.created_vapid = true;
  }
  // 4. The password: only until the tenant has been fully provisioned once,
  // so a restart with BASE_PASSWORD never resets a changed password.
  if (opts.password && !tenant.value("provisioned", false)) {
    if (opts.password->empty()) throw std::runtime_error("empty password for " + t.id_tag);
    b->auth.set_password(ref, *opts.password);
    r.set_password = true;
  }
  if (!tenant.value("provisioned", false)) b->meta.update_tenant(ref, json{{"provisioned", true}}.dump());
  if (r.created_tenant || r.created_key || r.created_vapid || r.set_password)
    spdlog::info("provisioned tenant {} (tnId {}): tenant={} key={} vapid={} password={}", t.id_tag, t.tn_id, r.created_tenant, r.created_key, r.created_vapid,
                 r.set_password);
  return r;
}

}  // namespace cumulo::app
