#include "api/settings_registry.hpp"

#include <algorithm>

namespace cumulo::api::settings {

using json = nlohmann::json;

namespace {

std::vector<Def> build() {
  constexpr auto kGlobal = Scope::kGlobal, kTenant = Scope::kTenant;
  constexpr auto kAdmin = Permission::kAdmin, kUser = Permission::kUser;
  constexpr auto kBool = Type::kBool, kInt = Type::kInt, kString = Type::kString;
  std::vector<Def> r = {
      // [impl] registry (spec/runtime.md §7.3).
      {"server.registration_enabled", true, kGlobal, kAdmin, kBool, "Whether new identities may register on this node"},
      {"core.db_maintenance_cron", "20 4 * * *", kGlobal, kAdmin, kString, "Cron schedule of database maintenance"},
      {"core.vacuum_min_free_pct", 20, kGlobal, kAdmin, kInt, "Free-page percentage that triggers a vacuum"},
      {"auth.session_timeout", 86400, kTenant, kAdmin, kInt, "Session lifetime in seconds"},
      {"federation.auto_accept_followers", false, kTenant, kAdmin, kBool, "Accept follow requests automatically"},
      {"federation.key_failure_cache_size", 100, kGlobal, kAdmin, kInt, "Remote key lookup failures remembered"},
      {"federation.history_sync.since_days", 30, kTenant, kAdmin, kInt, "Days of history fetched from a new connection"},
      {"federation.history_sync.limit", 10, kTenant, kAdmin, kInt, "Actions fetched from a new connection"},
      {"federation.stat_coalesce_window_secs", 10, kTenant, kAdmin, kInt, "Statistics coalescing window (seconds)"},
      {"federation.stat_coalesce_max_window_secs", 60, kTenant, kAdmin, kInt, "Longest statistics coalescing window (seconds)"},
      {"file.max_file_size_mb", 100, kGlobal, kAdmin, kInt, "Largest upload (MiB)"},
      {"file.max_streaming_file_size_mb", 100, kGlobal, kAdmin, kInt, "Largest streamed upload (MiB)"},
      {"file.max_generate_variant", "hd", kGlobal, kAdmin, kString, "Largest image variant generated"},
      {"file.max_cache_variant", "md", kGlobal, kAdmin, kString, "Largest remote variant cached"},
      {"file.sync_max_vis", "md", kTenant, kUser, kString, "Largest image variant mirrored from peers"},
      {"file.sync_max_vid", "sd", kTenant, kUser, kString, "Largest video variant mirrored from peers"},
      {"file.sync_max_aud", "md", kTenant, kUser, kString, "Largest audio variant mirrored from peers"},
      {"file.sync_variant_timeout_secs", 300, kTenant, kAdmin, kInt, "Timeout of a variant mirror (seconds)"},
      {"file.thumbnail_format", "webp", kGlobal, kAdmin, kString, "Thumbnail image format"},
      {"file.image_format", "webp", kGlobal, kAdmin, kString, "Image variant format"},
      {"file.shared_blob_store_enabled", true, kGlobal, kAdmin, kBool, "Deduplicate blobs across tenants"},
      {"file.gc_cron", "0 4 * * *", kGlobal, kAdmin, kString, "Cron schedule of blob garbage collection"},
      {"file.gc_safety_window_secs", 3600, kGlobal, kAdmin, kInt, "Age before an unreferenced blob may be collected (seconds)"},
      {"limits.max_storage_gb", 100, kTenant, kAdmin, kInt, "Storage quota (GiB)"},
      {"idp.enabled", false, kTenant, kAdmin, kBool, "Act as an identity provider"},
      {"idp.list", "", kGlobal, kAdmin, kString, "Identity providers offered at registration (csv)"},
      {"idp.renewal_interval", 365, kTenant, kAdmin, kInt, "Identity renewal interval (days)"},
      {"idp.name", "", kTenant, kAdmin, kString, "Identity provider display name"},
      {"idp.info", "", kTenant, kAdmin, kString, "Identity provider description"},
      {"idp.url", "", kTenant, kAdmin, kString, "Identity provider home page"},
      {"profile.lang", nullptr, kTenant, kUser, kString, "Preferred language"},
      {"profile.default_visibility", "F", kTenant, kUser, kString, "Default visibility of new actions"},
      {"profile.visibility_cap", "P", kTenant, kUser, kString, "Widest visibility allowed"},
      {"profile.allow_followers", true, kTenant, kUser, kBool, "Others may follow this profile"},
      {"profile.connection_mode", "M", kTenant, kUser, kString, "How connection requests are handled"},
      {"profile.auto_approve_actions", false, kTenant, kUser, kBool, "Approve incoming actions automatically"},
      {"search.store_text", true, kTenant, kUser, kBool, "Index action text for search"},
  };
  // Push notification preferences (spec/runtime.md §5.1).
  for (const char* n : {"message", "mention", "reaction", "connection", "follow"})
    r.push_back(Def{std::string("notify.push.") + n, true, kTenant, kUser, kBool, std::string("Push notification for ") + n + " events"});
  std::sort(r.begin(), r.end(), [](const Def& a, const Def& b) { return a.key < b.key; });
  return r;
}

}  // namespace

const std::vector<Def>& registry() {
  static const std::vector<Def> r = build();
  return r;
}

std::optional<Def> find(std::string_view key) {
  const auto& r = registry();
  const auto it = std::lower_bound(r.begin(), r.end(), key, [](const Def& d, std::string_view k) { return d.key < k; });
  if (it != r.end() && it->key == key) return *it;
  // Free-form families: anything the shell or an app wants to keep per tenant.
  for (std::string_view family : {"ui.", "app."})
    if (key.size() > family.size() && key.substr(0, family.size()) == family && key.size() <= 200)
      return Def{std::string(key), nullptr, Scope::kTenant, Permission::kUser, Type::kJson, "Free-form client setting"};
  return std::nullopt;
}

bool type_ok(const Def& d, const json& v) {
  switch (d.type) {
    case Type::kBool:
      return v.is_boolean();
    case Type::kInt:
      return v.is_number_integer();
    case Type::kString:
      return v.is_string();
    case Type::kJson:
      return !v.is_null();
  }
  return false;
}

std::string_view to_string(Scope s) {
  switch (s) {
    case Scope::kSystem:
      return "system";
    case Scope::kGlobal:
      return "global";
    case Scope::kTenant:
      return "tenant";
  }
  return "";
}

std::string_view to_string(Permission p) {
  switch (p) {
    case Permission::kSystem:
      return "system";
    case Permission::kAdmin:
      return "admin";
    case Permission::kUser:
      return "user";
  }
  return "";
}

std::string_view to_string(Type t) {
  switch (t) {
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kString:
      return "string";
    case Type::kJson:
      return "json";
  }
  return "";
}

}  // namespace cumulo::api::settings
