// Who is calling: the result of authenticating one request against the Host
// tenant (spec/core.md §7.4-7.5). Handlers and the ABAC engine read it; only
// host/auth/authenticator.cpp creates it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cumulo::auth {

/// How the caller proved who it is.
enum class Credential {
  kSession,    // HS256 access token from login / login-token / session mode
  kScoped,     // HS256 token with a scope (share link, file grant); may be anonymous
  kFederated,  // HS256 token minted for a verified PROXY token of another node's user
  kApiKey,     // `cl_…` tenant API key
};

struct AuthCtx {
  uint32_t tn_id = 0;
  std::string tenant;  // the Host tenant's idTag (the token's iss)
  std::string id_tag;  // the caller; "" for an anonymous share-link token
  std::vector<std::string> roles;
  std::optional<std::string> scope;
  Credential via = Credential::kSession;
  std::string token;  // the bearer as sent (logout revokes it)
  int64_t exp = 0;    // Unix s; 0 for API keys

  bool anonymous() const { return id_tag.empty(); }
  /// The tenant itself (its owner) is calling.
  bool is_owner() const { return !id_tag.empty() && id_tag == tenant; }
  bool has_role(std::string_view r) const { return std::find(roles.begin(), roles.end(), r) != roles.end(); }
};

/// "a,b" → {"a","b"} (the `r` claim); empty parts dropped.
inline std::vector<std::string> split_roles(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto comma = s.find(',');
    auto part = s.substr(0, comma);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

inline std::string join_roles(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) (out.empty() ? out : out += ',') += r;
  return out;
}

}  // namespace cumulo::auth
