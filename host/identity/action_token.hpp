// ES384 action tokens (spec/core.md §0, §7.2, §7.7): compact JWS with header
// {"alg":"ES384","typ":"JWT"}, the [impl] short claims, and the JWS
// signature as raw r‖s (2 × 48 bytes, RFC 7518 §3.4) — not the DER that
// OpenSSL produces. The a1~ id is SHA-256 over the token text as received.
//
// Verification is two steps because the issuer key is usually remote:
//   parse_action_token()  → claims (unauthenticated!) tell iss and k;
//   fetch the key from https://cl-o.<iss>/api/me (keyId == k);
//   verify_action_token() → signature, expiry, key expiry.
// Neither step throws; each reports a TokenError.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/keys.hpp"
#include "identity/result.hpp"

namespace cumulo::identity {

/// MAX_ACTION_SIZE (spec/core.md §6.9): longer tokens are refused unread.
inline constexpr size_t kMaxActionTokenSize = 1 << 20;
/// PROXY tokens are small; refusing anything larger bounds the work an
/// unauthenticated caller of /api/auth/access-token can cause.
inline constexpr size_t kMaxProxyTokenSize = 8 * 1024;
/// [impl] PROXY lifetime (spec/core.md §7.7, §9: 60 s; the doc allows 1-5 min).
inline constexpr int64_t kProxyTokenLifetime = 60;
/// Longest PROXY lifetime accepted from peers (doc: at most 5 min).
inline constexpr int64_t kMaxProxyTokenLifetime = 300;
/// Clock skew tolerated between nodes for iat in the future.
inline constexpr int64_t kClockSkew = 60;
/// Raw r‖s length for P-384.
inline constexpr size_t kEs384SignatureSize = 96;

/// [impl] claims, short names; absent optionals are omitted on the wire.
struct ActionClaims {
  std::string iss;                            // issuer idTag
  std::string k;                              // signing key id
  std::string t;                              // type[:subtype], e.g. "POST:IMG", "PROXY"
  std::optional<nlohmann::json> c;            // content (any JSON)
  std::optional<std::string> p;               // parent action id
  std::optional<std::vector<std::string>> a;  // attachments (f1~…)
  std::optional<std::string> aud;             // audience idTag
  std::optional<std::string> sub;             // subject (referenced id)
  int64_t iat = 0;
  std::optional<int64_t> exp;
  std::optional<nlohmann::json> f;      // flags (kept as sent)
  std::optional<std::string> v;         // visibility char
  std::optional<nlohmann::json> nonce;  // "_": proof-of-work nonce (CONN)
};

/// A parsed, not yet verified action token.
struct ActionToken {
  std::string text;  // exactly as received: action_id() hashes this
  ActionClaims claims;
  std::string signature;         // raw r‖s, kEs384SignatureSize bytes
  size_t signing_input_len = 0;  // text[0, n) is "header.payload"
  std::string id() const;        // a1~…
};

/// Signs `claims` with a P-384 private key. nullopt if the key is not a
/// private P-384 key or a string is not valid UTF-8.
std::optional<std::string> sign_action_token(const ActionClaims& claims, const EcKey& key);

/// Structure, header (alg ES384 only), signature length, claim types.
Result<ActionToken> parse_action_token(std::string_view token, size_t max_size = kMaxActionTokenSize) noexcept;

/// Signature with the issuer's P-384 public key, then exp (exp <= now →
/// kExpired) and, if the key has an expiresAt, that the token was issued
/// before it (spec/core.md §3.6 suggested rule) → kKeyExpired.
TokenError verify_action_token(const ActionToken& token, const EcKey& issuer_key, int64_t now, std::optional<int64_t> key_expires_at = {}) noexcept;

/// The [impl] PROXY token node A sends to `target` on behalf of `user`:
/// {iss:user, k, t:"PROXY", aud:target, iat:now, exp:now+60}.
std::optional<std::string> create_proxy_token(const EcKey& key, std::string_view key_id, std::string_view user_id_tag, std::string_view target_id_tag,
                                              int64_t now);
/// The cheap checks node B makes before fetching A's key: t == "PROXY",
/// aud == `self_id_tag`, exp present and in (now, now + 5 min + skew],
/// iat not in the future beyond the skew.
TokenError check_proxy_claims(const ActionClaims& claims, std::string_view self_id_tag, int64_t now) noexcept;

// ---- primitives (exposed for tests, benchmarks and other JWS users) ----

/// ES384 over `message`: raw r‖s (96 bytes), or nullopt.
std::optional<std::string> es384_sign(const EcKey& key, std::string_view message);
/// True only for a valid raw r‖s signature of `message` by `key` (P-384).
bool es384_verify(const EcKey& key, std::string_view message, std::string_view raw_signature) noexcept;
/// DER ECDSA-Sig-Value → fixed-width r‖s (`half` bytes each); nullopt if the
/// DER is invalid, has trailing bytes, or r/s do not fit.
std::optional<std::string> ecdsa_der_to_raw(std::string_view der, size_t half);
/// Fixed-width r‖s → DER; nullopt if odd length, r or s zero.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw);

}  // namespace cumulo::identity
