// Tenant provisioning (spec/core.md §2.5 bootstrap): the meta tenant record,
// the P-384 profile key, the VAPID key, the password and roles. Every step
// checks before it acts, so a half-finished provisioning (crash, kill -9)
// simply resumes on the next start, and running it again changes nothing.
// `serve` runs it for every registered tenant (the base tenant gets
// BASE_PASSWORD and role SADM); `cumulo tenant create` runs it for one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "app/backends.hpp"

namespace cumulo::auth {
class KeyRing;
}

namespace cumulo::app {

struct ProvisionOptions {
  std::string name;  // display name; default: derived from the idTag
  bool community = false;
  std::optional<std::string> password;  // set once, when the tenant is first provisioned
  std::vector<std::string> roles;       // merged into the tenant record's roles
};

struct ProvisionResult {
  bool created_tenant = false;
  bool created_key = false;
  bool created_vapid = false;
  bool set_password = false;
};

/// Brings `t` to the provisioned state through its profile's adapters.
/// Throws (PluginError, std::runtime_error) when an adapter refuses.
ProvisionResult provision_tenant(Backends& backends, auth::KeyRing& keys, const TenantInfo& t, const ProvisionOptions& opts, int64_t now);

/// "alice.example.com" → "Alice" ([impl] derives the display name from the idTag).
std::string display_name_from_id_tag(const std::string& id_tag);

}  // namespace cumulo::app
