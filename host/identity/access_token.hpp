// HS256 access tokens as [impl] issues them (spec/core.md §7.3-7.7):
// header {"alg":"HS256","typ":"JWT"}, claims {iss, sub?, scope?, r?, exp},
// lifetime 3600 s, one random 32-byte server-wide secret. Because the secret
// is shared by every tenant of the node, validation MUST bind the token to
// the Host tenant: iss == tenant idTag, else kWrongIssuer.
//
// Also here: share-link (anonymous) tokens, the token B mints for a verified
// PROXY token, refresh, a logout/revocation list and the Bearer classifier.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "identity/result.hpp"

namespace cumulo::identity {

struct ActionClaims;

/// ACCESS_TOKEN_EXPIRY of [impl].
inline constexpr int64_t kAccessTokenLifetime = 3600;
/// Access tokens are small (a few hundred bytes); anything over this is
/// refused before decoding.
inline constexpr size_t kMaxAccessTokenSize = 4096;
/// Secret size [impl] generates; shorter imported secrets are refused.
inline constexpr size_t kHmacSecretSize = 32;

/// The HS256 secret, pre-keyed for fast MACs. Cheap to copy (shared,
/// immutable); thread-safe. The secret is wiped when the last copy dies.
class HmacKey {
 public:
  static std::optional<HmacKey> generate();
  /// Raw secret bytes, at least kHmacSecretSize.
  static std::optional<HmacKey> from_bytes(std::string_view secret);
  /// The stored form: standard base64 of the secret ([impl] var `jwt_secret`).
  static std::optional<HmacKey> from_storage(std::string_view b64);
  std::string to_storage() const;
  /// HMAC-SHA256(message). False only if OpenSSL fails.
  bool mac(std::string_view message, std::array<uint8_t, 32>& out) const noexcept;

  struct Impl;

 private:
  explicit HmacKey(std::shared_ptr<const Impl> i) : impl_(std::move(i)) {}
  std::shared_ptr<const Impl> impl_;
};

struct AccessClaims {
  std::string iss;                   // the tenant granting access
  std::optional<std::string> sub;    // the user; absent: share-link (anonymous)
  std::optional<std::string> scope;  // e.g. "file:f1~…:R"
  std::optional<std::string> r;      // roles, comma-separated
  int64_t exp = 0;

  /// The acting identity: sub, or iss when absent ([impl]).
  std::string_view user() const { return sub ? std::string_view(*sub) : std::string_view(iss); }
  /// [impl] AuthCtx.anonymous: the token carries no sub.
  bool anonymous() const { return !sub; }
};

/// Signs the claims. nullopt only on invalid UTF-8 or an OpenSSL failure.
std::optional<std::string> create_access_token(const AccessClaims& claims, const HmacKey& key);

class RevocationList;

/// Checks, in this order: size (kTooLarge), structure and base64url
/// (kMalformed), header alg == HS256 (kUnsupportedAlg), the MAC in constant
/// time (kBadSignature), `revoked` (kRevoked), claim types (kMalformed),
/// exp > now (kExpired), iss == tenant (kWrongIssuer). Never throws.
Result<AccessClaims> validate_access_token(std::string_view token, const HmacKey& key, std::string_view tenant_id_tag, int64_t now,
                                           const RevocationList* revoked = nullptr) noexcept;

/// A fresh token with the same iss/sub/scope/r and exp = now + lifetime, for
/// a token that still validates (expired tokens are not refreshed).
Result<std::string> refresh_access_token(std::string_view token, const HmacKey& key, std::string_view tenant_id_tag, int64_t now,
                                         int64_t lifetime = kAccessTokenLifetime, const RevocationList* revoked = nullptr) noexcept;

/// Claims of an anonymous share-link token: {iss: tenant, scope, exp}.
AccessClaims share_link_claims(std::string_view tenant_id_tag, std::string_view scope, int64_t now, int64_t lifetime = kAccessTokenLifetime);

/// Claims node B grants for a PROXY token it has verified (check_proxy_claims
/// + verify_action_token): {iss: B, sub: proxy.iss, r?, scope?, exp}.
AccessClaims proxy_access_claims(std::string_view tenant_id_tag, const ActionClaims& verified_proxy, std::optional<std::string> roles,
                                 std::optional<std::string> scope, int64_t now);

/// Logout: tokens revoked before their exp. Keyed by the MAC segment, which
/// identifies a validated token. In memory only: the caller persists it (or
/// accepts that a restart forgets logouts younger than the token lifetime).
class RevocationList {
 public:
  /// Revokes a token (validated by the caller) until `exp`.
  void revoke(std::string_view token, int64_t exp);
  bool is_revoked_signature(std::string_view signature_b64) const;
  /// Drops entries whose token has expired anyway; returns how many.
  size_t prune(int64_t now);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> by_sig_;
};

/// What an `Authorization: Bearer` value is, by its shape only ([impl]:
/// `cl_…` tenant API key, `idp_…` IdP API key, else a JWT). API keys are
/// generated, hashed (bcrypt) and checked by the auth adapter
/// (cm_auth_vtable.create_api_key/validate_api_key); the host never holds
/// their hashes, so this library only routes them.
enum class BearerKind { kAccessToken, kApiKey, kIdpApiKey, kInvalid };
BearerKind classify_bearer(std::string_view value) noexcept;

}  // namespace cumulo::identity
