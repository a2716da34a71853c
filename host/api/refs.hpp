// References: share links and one-shot tokens (spec/rest-api.md §2.8),
// stored as meta records of the tenant, collection "refs", key refId:
//   {refId, type, description?, createdAt, expiresAt?, count: n|null,
//    resourceId?, accessLevel?, params?}   (times: Unix seconds)
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/services.hpp"

namespace cumulo::api {

/// Uses one count of the ref `ref_id` (e.g. `GET /api/auth/access-token?refId=`)
/// and returns its stored record (count already decremented; a `null` count
/// is unlimited and stays so). `dry_run` checks without using it up.
/// ApiError 404 E-CORE-NOTFOUND if unknown, 410 E-CORE-GONE if expired or
/// used up. Concurrent uses within this process are serialised, so a
/// one-shot ref is granted at most once.
nlohmann::json consume_ref(Services& s, const TenantScope& t, const std::string& ref_id, bool dry_run);

}  // namespace cumulo::api
