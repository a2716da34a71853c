// Secrets shared by the auth adapters: bcrypt ("$2b$", libxcrypt) password
// hashing and the "cl_" API keys. Every auth adapter hashes the same way, so
// hashes move between backends unchanged (tenant migration).
#pragma once

#include <cumulo/sdk.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cumulo::sqlc {

/// bcrypt of `secret` at `cost` (salt from the OS). Refuses NUL bytes, which
/// crypt(3) would silently cut the secret at. Slow by design: call it outside
/// any lock or transaction.
std::string bcrypt_hash(std::string_view secret, int cost);
/// Constant-time check of `secret` against a stored bcrypt hash.
bool bcrypt_verify(std::string_view secret, const std::string& stored);

/// A named secret record {"name","value","expiresAt"?,"meta"?}, validated.
struct SecretRecord {
  std::string name;
  std::string text;  // the record as compact JSON
};
SecretRecord parse_secret(std::string_view record_json);

/// create_api_key options {"name"?, "scopes"?: [strings], "expiresAt"?}.
struct ApiKeyOptions {
  std::optional<std::string> name;
  std::string scopes = "[]";  // compact JSON array
  std::optional<int64_t> expires_at;
};
ApiKeyOptions parse_api_key_options(std::string_view options_json);

/// A fresh key "cl_" + base64url(32 random bytes), the lookup prefix stored
/// beside its hash (the 8 characters after "cl_") and the bcrypt hash.
struct NewApiKey {
  std::string key;
  std::string lookup;
  std::string hash;
};
NewApiKey generate_api_key(int cost);
/// {"keyId":N,"key":"cl_…"} — the only time the plaintext exists.
std::string api_key_created(int64_t key_id, const std::string& key);

/// The lookup prefix of a presented key, or nullopt if it is not one.
std::optional<std::string_view> api_key_lookup(std::string_view key);

/// A stored key whose lookup prefix matched.
struct ApiKeyCandidate {
  int64_t key_id = 0;
  int64_t tn_id = 0;
  std::optional<std::string> name;
  std::string hash;
  std::string scopes;  // JSON array text
  std::optional<int64_t> expires_at;
};
/// Writes {"keyId","tnId","scopes","name"} for the candidate `key` hashes to;
/// CM_NOT_FOUND when none does or it expired.
sdk::Status answer_api_key(std::string_view key, const std::vector<ApiKeyCandidate>& candidates, const sdk::Sink& out);

/// "<keyId>" → integer, or CM_INVALID.
int64_t parse_key_id(std::string_view key_id);

}  // namespace cumulo::sqlc
