// Round-trips through one kind of a tenant's adapters (write, read back,
// compare). Throws PluginError/ApiError on the first failing call.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "app/backends.hpp"

namespace cumulo::app {

/// Tenant id of the scope selftests write into (never a real tenant's).
inline constexpr uint32_t kSelftestTnId = 0xFFFFFFF0u;

nlohmann::json run_selftest(const Backends& backends, const TenantInfo& tenant, const std::string& kind, const std::string& nonce);

/// "b1~" + unpadded base64url(SHA-256(bytes)): content address of a blob.
std::string blob_id_for(std::string_view bytes);

}  // namespace cumulo::app
