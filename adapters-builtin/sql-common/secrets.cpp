#include "sql-common/secrets.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstring>
#include <memory>

#include "sql-common/request.hpp"

namespace cumulo::sqlc {
namespace {

using sdk::Error;

constexpr std::string_view kKeyPrefix = "cl_";
constexpr size_t kLookupLen = 8;

// crypt(3) takes NUL-terminated phrases: an embedded NUL would silently
// shorten the secret.
std::string c_phrase(std::string_view s, std::string_view what) {
  if (s.find('\0') != std::string_view::npos) invalid(what, "must not contain NUL bytes");
  return std::string(s);
}

std::string base64url(const unsigned char* p, size_t n) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += abc[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += abc[(acc << (6 - bits)) & 63];
  return out;
}

}  // namespace

std::string bcrypt_hash(std::string_view secret, int cost) {
  std::string phrase = c_phrase(secret, "secret");
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // rbytes = nullptr: libxcrypt draws the salt from the OS random source.
  if (!crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, salt, sizeof salt)) throw Error(CM_INTERNAL, "crypt_gensalt_rn failed");
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not on the stack
  const char* h = crypt_rn(phrase.c_str(), salt, data.get(), sizeof(crypt_data));
  if (!h || h[0] == '*') throw Error(CM_INTERNAL, "crypt_rn failed");
  return h;
}

bool bcrypt_verify(std::string_view secret, const std::string& stored) {
  if (secret.find('\0') != std::string_view::npos) return false;
  std::string phrase(secret);
  auto data = std::make_unique<crypt_data>();
  const char* h = crypt_rn(phrase.c_str(), stored.c_str(), data.get(), sizeof(crypt_data));
  if (!h || h[0] == '*') return false;
  size_t n = std::strlen(h);
  // Constant time in the content; the length of a bcrypt hash is public.
  return n == stored.size() && CRYPTO_memcmp(h, stored.data(), n) == 0;
}

SecretRecord parse_secret(std::string_view record_json) {
  constexpr std::string_view what = "put_secret";
  json rec = parse_object(record_json, what);
  std::string name = required_str(rec, "name", what);
  if (auto it = rec.find("value"); it == rec.end() || !it->is_string()) invalid(what, "missing string \"value\"");
  if (auto it = rec.find("expiresAt"); it != rec.end() && !it->is_null() && !it->is_number_integer()) invalid(what, "\"expiresAt\" must be an integer");
  return {std::move(name), rec.dump()};
}

ApiKeyOptions parse_api_key_options(std::string_view options_json) {
  constexpr std::string_view what = "create_api_key";
  json opts = parse_filter(options_json, what);
  ApiKeyOptions o;
  if (auto it = opts.find("name"); it != opts.end() && !it->is_null()) {
    if (!it->is_string()) invalid(what, "\"name\" must be a string");
    o.name = it->get<std::string>();
  }
  if (auto it = opts.find("scopes"); it != opts.end() && !it->is_null()) {
    if (!it->is_array()) invalid(what, "\"scopes\" must be an array of strings");
    for (const auto& s : *it)
      if (!s.is_string()) invalid(what, "\"scopes\" must be an array of strings");
    o.scopes = it->dump();
  }
  if (auto it = opts.find("expiresAt"); it != opts.end() && !it->is_null()) {
    if (!it->is_number_integer()) invalid(what, "\"expiresAt\" must be an integer (Unix seconds)");
    o.expires_at = it->get<int64_t>();
  }
  return o;
}

NewApiKey generate_api_key(int cost) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) throw Error(CM_INTERNAL, "RAND_bytes failed");
  NewApiKey k;
  k.key = std::string(kKeyPrefix) + base64url(raw, sizeof raw);
  OPENSSL_cleanse(raw, sizeof raw);
  k.lookup = k.key.substr(kKeyPrefix.size(), kLookupLen);
  k.hash = bcrypt_hash(k.key, cost);
  return k;
}

std::string api_key_created(int64_t key_id, const std::string& key) {
  std::string s = "{\"keyId\":" + std::to_string(key_id) + ",\"key\":";
  append_json_string(s, key);
  return s + "}";
}

std::optional<std::string_view> api_key_lookup(std::string_view key) {
  if (key.size() < kKeyPrefix.size() + kLookupLen || key.substr(0, kKeyPrefix.size()) != kKeyPrefix) return std::nullopt;
  return key.substr(kKeyPrefix.size(), kLookupLen);
}

sdk::Status answer_api_key(std::string_view key, const std::vector<ApiKeyCandidate>& candidates, const sdk::Sink& out) {
  int64_t now = now_s();
  for (const auto& c : candidates) {
    if (!bcrypt_verify(key, c.hash)) continue;
    if (c.expires_at && *c.expires_at <= now) return sdk::Status::NotFound("API key expired");
    std::string s = "{\"keyId\":" + std::to_string(c.key_id) + ",\"tnId\":" + std::to_string(c.tn_id) + ",\"scopes\":" + c.scopes + ",\"name\":";
    if (c.name)
      append_json_string(s, *c.name);
    else
      s += "null";
    return emit(out, s + "}");
  }
  return sdk::Status::NotFound("unknown API key");
}

int64_t parse_key_id(std::string_view key_id) {
  int64_t id = 0;
  auto [p, ec] = std::from_chars(key_id.data(), key_id.data() + key_id.size(), id);
  if (ec != std::errc() || p != key_id.data() + key_id.size()) invalid("delete_api_key", "key id must be an integer");
  return id;
}

}  // namespace cumulo::sqlc
