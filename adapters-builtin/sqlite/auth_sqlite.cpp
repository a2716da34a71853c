// auth-sqlite. Secrets never leave in hashed form: passwords and API keys are
// stored as bcrypt hashes only; comparisons are constant-time.
#include "auth_sqlite.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstring>

#include "record.hpp"

namespace cumulo::sqlite {
namespace {

using sdk::Error;
using Status = sdk::Status;

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> m = {
      {1, R"sql(
CREATE TABLE passwords (
  tn_id      INTEGER PRIMARY KEY,
  hash       TEXT NOT NULL,        -- bcrypt "$2b$…"
  updated_at INTEGER NOT NULL
);

-- Named secrets: private keys, HS256 secret, VAPID keys, certificates.
CREATE TABLE secrets (
  tn_id  INTEGER NOT NULL,
  name   TEXT NOT NULL,
  record TEXT NOT NULL,            -- {"name","value","expiresAt"?,"meta"?} as given
  PRIMARY KEY (tn_id, name)
) WITHOUT ROWID;

CREATE TABLE api_keys (
  key_id     INTEGER PRIMARY KEY AUTOINCREMENT,
  tn_id      INTEGER NOT NULL,
  name       TEXT,
  prefix     TEXT NOT NULL,        -- 8 chars after "cl_": finds the candidate rows
  hash       TEXT NOT NULL,        -- bcrypt of the whole key
  scopes     TEXT NOT NULL DEFAULT '[]',
  expires_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_tn ON api_keys (tn_id);
)sql"},
  };
  return m;
}

Status emit(const sdk::Sink& out, std::string_view text) { return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away"); }

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

constexpr std::string_view kKeyPrefix = "cl_";
constexpr size_t kLookupLen = 8;

}  // namespace

AuthSqlite::AuthSqlite(std::string_view options_json) {
  json opts = parse_object(options_json, "auth-sqlite options");
  if (auto it = opts.find("bcryptCost"); it != opts.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 4 || it->get<int64_t>() > 31) invalid("auth-sqlite options", "\"bcryptCost\" must be an integer in [4, 31]");
    cost_ = it->get<int>();
  }
  db_ = std::make_unique<Database>(db_options(opts, "auth-sqlite", {"bcryptCost"}), migrations());
}

AuthSqlite::~AuthSqlite() = default;

Status AuthSqlite::health() {
  return db_->read([](Connection& c) {
    auto st = c.prepare("SELECT count(*) FROM schema_version");
    st.step();
    return Status::Ok();
  });
}

std::string AuthSqlite::hash(std::string_view secret) const {
  std::string phrase = c_phrase(secret, "secret");
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // rbytes = nullptr: libxcrypt draws the salt from the OS random source.
  if (!crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost_), nullptr, 0, salt, sizeof salt)) throw Error(CM_INTERNAL, "crypt_gensalt_rn failed");
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not on the stack
  const char* h = crypt_rn(phrase.c_str(), salt, data.get(), sizeof(crypt_data));
  if (!h || h[0] == '*') throw Error(CM_INTERNAL, "crypt_rn failed");
  return h;
}

bool AuthSqlite::verify(std::string_view secret, const std::string& stored) {
  if (secret.find('\0') != std::string_view::npos) return false;
  std::string phrase(secret);
  auto data = std::make_unique<crypt_data>();
  const char* h = crypt_rn(phrase.c_str(), stored.c_str(), data.get(), sizeof(crypt_data));
  if (!h || h[0] == '*') return false;
  size_t n = std::strlen(h);
  // Constant time in the content; the length of a bcrypt hash is public.
  return n == stored.size() && CRYPTO_memcmp(h, stored.data(), n) == 0;
}

// ---- passwords ------------------------------------------------------------------

Status AuthSqlite::set_password(const Tenant& tn, std::string_view password) {
  if (password.empty()) invalid("set_password", "empty password");
  std::string h = hash(password);  // slow: outside the writer lock
  return db_->write([&](Connection& c) {
    c.prepare("INSERT OR REPLACE INTO passwords(tn_id, hash, updated_at) VALUES(?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(h)).bind(3, now_s()).run();
    return Status::Ok();
  });
}

Status AuthSqlite::check_password(const Tenant& tn, std::string_view password) {
  auto stored = db_->read([&](Connection& c) -> std::optional<std::string> {
    auto st = c.prepare("SELECT hash FROM passwords WHERE tn_id = ?");
    st.bind(1, int64_t{tn.tn_id});
    if (!st.step()) return std::nullopt;
    return st.str(0);
  });
  if (!stored || !verify(password, *stored)) return Status::Error(CM_PERMISSION, "wrong password");
  return Status::Ok();
}

// ---- secrets --------------------------------------------------------------------

Status AuthSqlite::put_secret(const Tenant& tn, std::string_view record_json) {
  constexpr std::string_view what = "put_secret";
  json rec = parse_object(record_json, what);
  std::string name = required_str(rec, "name", what);
  if (auto it = rec.find("value"); it == rec.end() || !it->is_string()) invalid(what, "missing string \"value\"");
  if (auto it = rec.find("expiresAt"); it != rec.end() && !it->is_null() && !it->is_number_integer()) invalid(what, "\"expiresAt\" must be an integer");
  std::string text = rec.dump();
  return db_->write([&](Connection& c) {
    c.prepare("INSERT OR REPLACE INTO secrets(tn_id, name, record) VALUES(?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(name)).bind(3, std::string_view(text)).run();
    return Status::Ok();
  });
}

Status AuthSqlite::get_secret(const Tenant& tn, std::string_view name, const Sink& out) {
  auto text = db_->read([&](Connection& c) -> std::optional<std::string> {
    auto st = c.prepare("SELECT record FROM secrets WHERE tn_id = ? AND name = ?");
    st.bind(1, int64_t{tn.tn_id}).bind(2, name);
    if (!st.step()) return std::nullopt;
    return st.str(0);
  });
  if (!text) return Status::NotFound("no secret " + std::string(name));
  return emit(out, *text);
}

Status AuthSqlite::delete_secret(const Tenant& tn, std::string_view name) {
  int n = db_->write([&](Connection& c) { return c.prepare("DELETE FROM secrets WHERE tn_id = ? AND name = ?").bind(1, int64_t{tn.tn_id}).bind(2, name).run(); });
  return n ? Status::Ok() : Status::NotFound("no secret " + std::string(name));
}

Status AuthSqlite::list_secrets(const Tenant& tn, std::string_view prefix, const Sink& out) {
  std::string text = db_->read([&](Connection& c) {
    auto st = c.prepare("SELECT name, record FROM secrets WHERE tn_id = ? AND name >= ? ORDER BY name");
    st.bind(1, int64_t{tn.tn_id}).bind(2, prefix);
    std::string s = "[";
    while (st.step()) {
      if (st.text(0).substr(0, prefix.size()) != prefix) break;  // past the prefix range
      if (s.size() > 1) s += ',';
      s += st.text(1);
    }
    return s + "]";
  });
  return emit(out, text);
}

// ---- API keys -------------------------------------------------------------------

Status AuthSqlite::create_api_key(const Tenant& tn, std::string_view options_json, const Sink& out) {
  constexpr std::string_view what = "create_api_key";
  json opts = options_json.find_first_not_of(" \t\r\n") == std::string_view::npos ? json::object() : parse_object(options_json, what);
  std::optional<std::string> name;
  if (auto it = opts.find("name"); it != opts.end() && !it->is_null()) {
    if (!it->is_string()) invalid(what, "\"name\" must be a string");
    name = it->get<std::string>();
  }
  json scopes = json::array();
  if (auto it = opts.find("scopes"); it != opts.end() && !it->is_null()) {
    if (!it->is_array()) invalid(what, "\"scopes\" must be an array of strings");
    for (const auto& s : *it)
      if (!s.is_string()) invalid(what, "\"scopes\" must be an array of strings");
    scopes = *it;
  }
  std::optional<int64_t> expires;
  if (auto it = opts.find("expiresAt"); it != opts.end() && !it->is_null()) {
    if (!it->is_number_integer()) invalid(what, "\"expiresAt\" must be an integer (Unix seconds)");
    expires = it->get<int64_t>();
  }
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) throw Error(CM_INTERNAL, "RAND_bytes failed");
  std::string key = std::string(kKeyPrefix) + base64url(raw, sizeof raw);
  OPENSSL_cleanse(raw, sizeof raw);
  std::string h = hash(key);
  std::string scopes_text = scopes.dump();
  int64_t id = db_->write([&](Connection& c) {
    auto st = c.prepare("INSERT INTO api_keys(tn_id, name, prefix, hash, scopes, expires_at, created_at) VALUES(?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, int64_t{tn.tn_id});
    if (name) st.bind(2, std::string_view(*name));
    else st.bind_null(2);
    st.bind(3, std::string_view(key).substr(kKeyPrefix.size(), kLookupLen)).bind(4, std::string_view(h)).bind(5, std::string_view(scopes_text));
    if (expires) st.bind(6, *expires);
    else st.bind_null(6);
    st.bind(7, now_s()).run();
    return c.last_insert_rowid();
  });
  std::string s = "{\"keyId\":" + std::to_string(id) + ",\"key\":";
  append_json_string(s, key);
  return emit(out, s + "}");
}

Status AuthSqlite::validate_api_key(std::string_view key, const Sink& out) {
  if (key.size() < kKeyPrefix.size() + kLookupLen || key.substr(0, kKeyPrefix.size()) != kKeyPrefix) return Status::NotFound("not an API key");
  struct Candidate {
    int64_t id, tn;
    std::string name, hash, scopes;
    bool has_name;
    std::optional<int64_t> expires;
  };
  auto candidates = db_->read([&](Connection& c) {
    std::vector<Candidate> v;
    auto st = c.prepare("SELECT key_id, tn_id, name, hash, scopes, expires_at FROM api_keys WHERE prefix = ?");
    st.bind(1, key.substr(kKeyPrefix.size(), kLookupLen));
    while (st.step())
      v.push_back({st.i64(0), st.i64(1), st.str(2), st.str(3), st.str(4), !st.is_null(2), st.is_null(5) ? std::nullopt : std::optional<int64_t>(st.i64(5))});
    return v;
  });
  int64_t now = now_s();
  for (const auto& c : candidates) {
    if (!verify(key, c.hash)) continue;
    if (c.expires && *c.expires <= now) return Status::NotFound("API key expired");
    std::string s = "{\"keyId\":" + std::to_string(c.id) + ",\"tnId\":" + std::to_string(c.tn) + ",\"scopes\":" + c.scopes + ",\"name\":";
    if (c.has_name) append_json_string(s, c.name);
    else s += "null";
    return emit(out, s + "}");
  }
  return Status::NotFound("unknown API key");
}

Status AuthSqlite::delete_api_key(const Tenant& tn, std::string_view key_id) {
  int64_t id = 0;
  auto [p, ec] = std::from_chars(key_id.data(), key_id.data() + key_id.size(), id);
  if (ec != std::errc() || p != key_id.data() + key_id.size()) invalid("delete_api_key", "key id must be an integer");
  int n = db_->write([&](Connection& c) { return c.prepare("DELETE FROM api_keys WHERE tn_id = ? AND key_id = ?").bind(1, int64_t{tn.tn_id}).bind(2, id).run(); });
  return n ? Status::Ok() : Status::NotFound("no API key " + std::string(key_id));
}

}  // namespace cumulo::sqlite
