// The known settings (spec/runtime.md §7): key, default, scope, permission,
// type, description. Keys outside the registry are refused, except the
// free-form per-tenant families `ui.*` and `app.*`.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cumulo::api::settings {

/// Where a value may be stored: `system` only as the compiled-in default,
/// `global` at tn_id 0 (node-wide), `tenant` per tenant (falls back to global).
enum class Scope { kSystem, kGlobal, kTenant };
/// Who may change it: nobody at run time, SADM, or the tenant's owner.
enum class Permission { kSystem, kAdmin, kUser };
enum class Type { kBool, kInt, kString, kJson };

struct Def {
  std::string key;
  nlohmann::json dflt;  // null = unset
  Scope scope;
  Permission permission;
  Type type;
  std::string description;
};

/// The registry, sorted by key.
const std::vector<Def>& registry();
/// The definition of `key`: a registry entry, or a synthesised one for the
/// `ui.*` / `app.*` families (tenant / user / any JSON). nullopt if unknown.
std::optional<Def> find(std::string_view key);
/// Whether `v` has the definition's type (JSON accepts anything but null).
bool type_ok(const Def& d, const nlohmann::json& v);

std::string_view to_string(Scope s);
std::string_view to_string(Permission p);
std::string_view to_string(Type t);

}  // namespace cumulo::api::settings
