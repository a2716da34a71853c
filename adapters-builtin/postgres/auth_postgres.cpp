// auth-postgres: passwords (bcrypt via libxcrypt), named secrets and API keys
// in one PostgreSQL schema, every row scoped by tn_id — the behaviour of
// auth-sqlite, and the same hashes (sql-common/secrets), so a tenant's
// credentials move between the two unchanged.
#include <cumulo/sdk.hpp>

#include "db.hpp"
#include "plugin.hpp"
#include "sql-common/dump.hpp"
#include "sql-common/request.hpp"
#include "sql-common/secrets.hpp"

namespace cumulo::pg {

using namespace sqlc;

namespace {

// Append new versions at the end; never edit an applied one.
const std::vector<Migration> kMigrations = {
    {1, R"sql(
CREATE TABLE passwords (
  tn_id      BIGINT PRIMARY KEY,
  hash       TEXT NOT NULL,          -- bcrypt "$2b$…"
  updated_at BIGINT NOT NULL
);

-- Named secrets: private keys, HS256 secret, VAPID keys, certificates.
CREATE TABLE secrets (
  tn_id  BIGINT NOT NULL,
  name   TEXT COLLATE "C" NOT NULL,  -- byte order, as in SQLite
  record TEXT NOT NULL,              -- {"name","value","expiresAt"?,"meta"?} as given
  PRIMARY KEY (tn_id, name)
);

CREATE TABLE api_keys (
  key_id     BIGSERIAL PRIMARY KEY,
  tn_id      BIGINT NOT NULL,
  name       TEXT,
  prefix     TEXT COLLATE "C" NOT NULL,  -- 8 chars after "cl_": finds the candidate rows
  hash       TEXT COLLATE "C" NOT NULL,  -- bcrypt of the whole key (the dump's key: byte order)
  scopes     TEXT NOT NULL DEFAULT '[]',
  expires_at BIGINT,
  created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_tn ON api_keys (tn_id);
)sql"},
};

int64_t tn_of(const Tenant& tn) { return int64_t{tn.tn_id}; }

}  // namespace

class AuthPostgres final : public sdk::AuthAdapter, public sdk::TenantDump {
 public:
  explicit AuthPostgres(std::string_view options_json) {
    OptionReader r(options_json, "auth-postgres");
    PoolOptions o = pool_options(r, "cumulo_auth");
    cost_ = static_cast<int>(r.integer("bcryptCost", 12, 4, 31));
    r.finish();
    pool_ = std::make_unique<Pool>(o);
    pool_->with([&](Conn& c) { migrate(c, o.conn.schema, "auth", kMigrations); });
  }

  Status health() override {
    pool_->with([](Conn& c) { c.exec("SELECT count(*) FROM auth_schema_version"); });
    return Status::Ok();
  }

  // ---- passwords ------------------------------------------------------------------

  Status set_password(const Tenant& tn, std::string_view password) override {
    if (password.empty()) invalid("set_password", "empty password");
    std::string h = bcrypt_hash(password, cost_);  // slow: before taking a connection
    pool_->with([&](Conn& c) {
      c.exec(
          "INSERT INTO passwords(tn_id, hash, updated_at) VALUES(?, ?, ?) ON CONFLICT (tn_id) DO UPDATE SET hash = excluded.hash, updated_at = "
          "excluded.updated_at",
          args(tn_of(tn), h, now_s()));
    });
    return Status::Ok();
  }

  Status check_password(const Tenant& tn, std::string_view password) override {
    Result r = pool_->with([&](Conn& c) { return c.exec("SELECT hash FROM passwords WHERE tn_id = ?", args(tn_of(tn))); });
    // The connection is back in the pool before the slow hash.
    if (!r.rows() || !bcrypt_verify(password, std::string(r.text(0, 0)))) return Status::Error(CM_PERMISSION, "wrong password");
    return Status::Ok();
  }

  // ---- secrets --------------------------------------------------------------------

  Status put_secret(const Tenant& tn, std::string_view record_json) override {
    SecretRecord s = parse_secret(record_json);
    pool_->with([&](Conn& c) {
      c.exec("INSERT INTO secrets(tn_id, name, record) VALUES(?, ?, ?) ON CONFLICT (tn_id, name) DO UPDATE SET record = excluded.record",
             args(tn_of(tn), s.name, s.text));
    });
    return Status::Ok();
  }

  Status get_secret(const Tenant& tn, std::string_view name, const Sink& out) override {
    Result r = pool_->with([&](Conn& c) { return c.exec("SELECT record FROM secrets WHERE tn_id = ? AND name = ?", args(tn_of(tn), name)); });
    if (!r.rows()) return Status::NotFound("no secret " + std::string(name));
    return emit(out, r.text(0, 0));
  }

  Status delete_secret(const Tenant& tn, std::string_view name) override {
    Result r = pool_->with([&](Conn& c) { return c.exec("DELETE FROM secrets WHERE tn_id = ? AND name = ?", args(tn_of(tn), name)); });
    return r.affected() ? Status::Ok() : Status::NotFound("no secret " + std::string(name));
  }

  Status list_secrets(const Tenant& tn, std::string_view prefix, const Sink& out) override {
    Result r = pool_->with([&](Conn& c) {
      return c.exec("SELECT record FROM secrets WHERE tn_id = ? AND name LIKE ? ESCAPE '\\' ORDER BY name", args(tn_of(tn), like_escape(prefix) + "%"));
    });
    std::string s = "[";
    for (int i = 0; i < r.rows(); ++i) (s += i ? "," : "") += r.text(i, 0);
    return emit(out, s + "]");
  }

  // ---- API keys -------------------------------------------------------------------

  Status create_api_key(const Tenant& tn, std::string_view options_json, const Sink& out) override {
    ApiKeyOptions o = parse_api_key_options(options_json);
    NewApiKey k = generate_api_key(cost_);
    Result r = pool_->with([&](Conn& c) {
      return c.exec("INSERT INTO api_keys(tn_id, name, prefix, hash, scopes, expires_at, created_at) VALUES(?, ?, ?, ?, ?, ?, ?) RETURNING key_id",
                    args(tn_of(tn)).add_opt(o.name).add(k.lookup).add(k.hash).add(o.scopes).add_opt(o.expires_at).add(now_s()));
    });
    return emit(out, api_key_created(r.i64(0, 0), k.key));
  }

  Status validate_api_key(std::string_view key, const Sink& out) override {
    auto lookup = api_key_lookup(key);
    if (!lookup) return Status::NotFound("not an API key");
    Result r =
        pool_->with([&](Conn& c) { return c.exec("SELECT key_id, tn_id, name, hash, scopes, expires_at FROM api_keys WHERE prefix = ?", args(*lookup)); });
    std::vector<ApiKeyCandidate> cands;
    for (int i = 0; i < r.rows(); ++i) {
      Row row(r, i);
      cands.push_back({row.i64(0), row.i64(1), row.is_null(2) ? std::nullopt : std::optional(row.str(2)), row.str(3), row.str(4),
                       row.is_null(5) ? std::nullopt : std::optional(row.i64(5))});
    }
    return answer_api_key(key, cands, out);  // bcrypt outside any connection
  }

  Status delete_api_key(const Tenant& tn, std::string_view key_id) override {
    int64_t id = parse_key_id(key_id);
    Result r = pool_->with([&](Conn& c) { return c.exec("DELETE FROM api_keys WHERE tn_id = ? AND key_id = ?", args(tn_of(tn), id)); });
    return r.affected() ? Status::Ok() : Status::NotFound("no API key " + std::string(key_id));
  }

  // ---- portable tenant dump (sql-common/dump) ------------------------------------

  Status export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    pool_->snapshot([&](SqlTx& t) { export_auth(t, tn, after, limit, out); });
    return Status::Ok();
  }

  Status import_items(const Tenant& tn, std::string_view lines) override {
    auto items = parse_auth_items(lines, "auth-postgres");  // all checked before anything changes
    pool_->transaction([&](SqlTx& t) { import_auth(t, tn, items); });
    return Status::Ok();
  }

 private:
  std::unique_ptr<Pool> pool_;
  int cost_ = 12;
};

void add_auth_postgres(sdk::Registrar& reg) { reg.add<AuthPostgres>("auth-postgres", kAuthOptionsSchema); }

}  // namespace cumulo::pg
