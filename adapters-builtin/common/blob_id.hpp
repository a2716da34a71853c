// The blob id rule every built-in blob adapter enforces (docs/sdk.md §6.3):
// ^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$ — so an id can never form a path.
#pragma once

#include <cumulo/sdk.hpp>

#include <algorithm>
#include <cctype>
#include <string_view>

namespace cumulo::adapters {

inline bool valid_blob_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '~' || c == '-'; });
}

inline sdk::Status check_blob_id(std::string_view id) {
  if (valid_blob_id(id)) return sdk::Status::Ok();
  return sdk::Status::Invalid("invalid blob id: expected 1-128 chars of [A-Za-z0-9._~-] starting with a letter or digit");
}

}  // namespace cumulo::adapters
