// auth-sqlite. Secrets never leave in hashed form: passwords and API keys are
// stored as bcrypt hashes only; comparisons are constant-time.
#include "auth_sqlite.hpp"

#include "record.hpp"
#include "sql-common/secrets.hpp"

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

using namespace sqlc;  // bcrypt, API keys and request helpers, shared with auth-postgres

}  // namespace

AuthSqlite::AuthSqlite(std::string_view options_json) {
  OptionReader r(options_json, "auth-sqlite");
  DbOptions o = db_options(r);
  cost_ = static_cast<int>(r.integer("bcryptCost", 12, 4, 31));
  r.finish();
  db_ = std::make_unique<Database>(o, migrations());
}

AuthSqlite::~AuthSqlite() = default;

Status AuthSqlite::health() {
  return db_->read([](Connection& c) {
    auto st = c.prepare("SELECT count(*) FROM schema_version");
    st.step();
    return Status::Ok();
  });
}

// ---- passwords ------------------------------------------------------------------

Status AuthSqlite::set_password(const Tenant& tn, std::string_view password) {
  if (password.empty()) invalid("set_password", "empty password");
  std::string h = bcrypt_hash(password, cost_);  // slow: outside the writer lock
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
  if (!stored || !bcrypt_verify(password, *stored)) return Status::Error(CM_PERMISSION, "wrong password");
  return Status::Ok();
}

// ---- secrets --------------------------------------------------------------------

Status AuthSqlite::put_secret(const Tenant& tn, std::string_view record_json) {
  SecretRecord rec = parse_secret(record_json);
  return db_->write([&](Connection& c) {
    c.prepare("INSERT OR REPLACE INTO secrets(tn_id, name, record) VALUES(?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(rec.name)).bind(3, std::string_view(rec.text)).run();
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
  ApiKeyOptions o = parse_api_key_options(options_json);
  NewApiKey k = generate_api_key(cost_);  // slow (bcrypt): outside the writer lock
  int64_t id = db_->write([&](Connection& c) {
    auto st = c.prepare("INSERT INTO api_keys(tn_id, name, prefix, hash, scopes, expires_at, created_at) VALUES(?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, int64_t{tn.tn_id});
    if (o.name) st.bind(2, std::string_view(*o.name));
    else st.bind_null(2);
    st.bind(3, std::string_view(k.lookup)).bind(4, std::string_view(k.hash)).bind(5, std::string_view(o.scopes));
    if (o.expires_at) st.bind(6, *o.expires_at);
    else st.bind_null(6);
    st.bind(7, now_s()).run();
    return c.last_insert_rowid();
  });
  return emit(out, api_key_created(id, k.key));
}

Status AuthSqlite::validate_api_key(std::string_view key, const Sink& out) {
  auto lookup = api_key_lookup(key);
  if (!lookup) return Status::NotFound("not an API key");
  auto candidates = db_->read([&](Connection& c) {
    std::vector<ApiKeyCandidate> v;
    auto st = c.prepare("SELECT key_id, tn_id, name, hash, scopes, expires_at FROM api_keys WHERE prefix = ?");
    st.bind(1, *lookup);
    while (st.step())
      v.push_back({st.i64(0), st.i64(1), st.is_null(2) ? std::nullopt : std::optional(st.str(2)), st.str(3), st.str(4),
                   st.is_null(5) ? std::nullopt : std::optional<int64_t>(st.i64(5))});
    return v;
  });
  return answer_api_key(key, candidates, out);  // bcrypt outside the reader lease
}

Status AuthSqlite::delete_api_key(const Tenant& tn, std::string_view key_id) {
  int64_t id = parse_key_id(key_id);
  int n = db_->write([&](Connection& c) { return c.prepare("DELETE FROM api_keys WHERE tn_id = ? AND key_id = ?").bind(1, int64_t{tn.tn_id}).bind(2, id).run(); });
  return n ? Status::Ok() : Status::NotFound("no API key " + std::string(key_id));
}

}  // namespace cumulo::sqlite
