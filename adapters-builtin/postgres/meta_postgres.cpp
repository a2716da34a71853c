// meta-postgres: every meta part (tenants/profiles/keys, actions + inbound
// queue, files + variants, tasks, settings, records) in one PostgreSQL schema,
// with the behaviour of meta-sqlite (shapes: ../sqlite/README.md). Every row
// carries tn_id and every statement filters by it; node-global data (tasks,
// the remote public key cache) lives under tn_id 0. What the two share
// (tables, validation, filters, the JSON written back) is in sql-common.
#include <cumulo/sdk.hpp>

#include "db.hpp"
#include "plugin.hpp"
#include "sql-common/dump.hpp"
#include "sql-common/meta.hpp"

namespace cumulo::pg {

using sdk::Error;
using namespace sqlc;

namespace {

// ---- schema -----------------------------------------------------------------------
// Append new versions at the end; never edit an applied one. Text that is
// ordered or compared carries COLLATE "C": byte order, as in SQLite, so
// cursors, prefixes and ILIKE (ASCII case folding only) behave the same.
const std::vector<Migration> kMigrations = {
    {1, R"sql(
CREATE TABLE tenants (
  tn_id       BIGSERIAL PRIMARY KEY,  -- never reused; a given tnId moves the sequence past it
  id_tag      TEXT COLLATE "C" NOT NULL UNIQUE,
  type        TEXT NOT NULL CHECK (type IN ('P', 'C')),
  name        TEXT COLLATE "C",
  profile_pic TEXT,
  cover_pic   TEXT,
  x           TEXT NOT NULL DEFAULT '{}',
  created_at  BIGINT NOT NULL,
  extra       TEXT
);

-- A tenant's view of other identities (relationships live here).
CREATE TABLE profiles (
  tn_id       BIGINT NOT NULL,
  id_tag      TEXT COLLATE "C" NOT NULL,
  name        TEXT COLLATE "C",
  type        TEXT,
  profile_pic TEXT,
  status      TEXT,
  perm        TEXT,
  following   BOOLEAN,
  follower    BOOLEAN,
  connected   TEXT,     -- JSON: true | false | "R"
  roles       TEXT,     -- JSON array
  trust       TEXT,
  synced_at   BIGINT,
  etag        TEXT,
  extra       TEXT,
  PRIMARY KEY (tn_id, id_tag)
);

-- Node-global cache of remote profile keys (tn_id is always 0).
CREATE TABLE public_keys (
  tn_id      BIGINT NOT NULL DEFAULT 0,
  id_tag     TEXT COLLATE "C" NOT NULL,
  key_id     TEXT COLLATE "C" NOT NULL,
  public_key TEXT NOT NULL,
  expires_at BIGINT,
  extra      TEXT,
  PRIMARY KEY (tn_id, id_tag, key_id)
);

CREATE TABLE actions (
  a_id           BIGSERIAL PRIMARY KEY,
  tn_id          BIGINT NOT NULL,
  action_id      TEXT COLLATE "C" NOT NULL,
  type           TEXT COLLATE "C" NOT NULL,
  sub_type       TEXT,
  key            TEXT COLLATE "C",
  parent_id      TEXT COLLATE "C",
  root_id        TEXT COLLATE "C",
  issuer_tag     TEXT COLLATE "C" NOT NULL,
  audience       TEXT COLLATE "C",
  subject        TEXT,
  content        TEXT,             -- JSON, verbatim
  attachments    TEXT,             -- JSON array
  visibility     TEXT COLLATE "C" NOT NULL DEFAULT 'D',
  flags          TEXT,
  status         TEXT COLLATE "C" NOT NULL DEFAULT 'A',
  created_at     BIGINT NOT NULL,
  expires_at     BIGINT,
  x              TEXT,             -- JSON
  extra          TEXT,
  stat_comments  BIGINT NOT NULL DEFAULT 0,
  stat_reactions BIGINT NOT NULL DEFAULT 0,
  UNIQUE (tn_id, action_id)
);
-- The override rule: at most one action per (tenant, key).
CREATE UNIQUE INDEX actions_key ON actions (tn_id, key) WHERE key IS NOT NULL AND key <> '';
-- Feeds: newest first, optionally by visibility (the hot query).
CREATE INDEX actions_time ON actions (tn_id, created_at DESC, action_id DESC);
CREATE INDEX actions_vis_time ON actions (tn_id, visibility, created_at DESC, action_id DESC);
CREATE INDEX actions_parent ON actions (tn_id, parent_id, created_at) WHERE parent_id IS NOT NULL;
CREATE INDEX actions_root ON actions (tn_id, root_id, created_at) WHERE root_id IS NOT NULL;
CREATE INDEX actions_issuer ON actions (tn_id, issuer_tag, created_at);

-- Tokens apart from the rows the feed scans (they are large and rarely read).
CREATE TABLE action_tokens (
  tn_id     BIGINT NOT NULL,
  action_id TEXT COLLATE "C" NOT NULL,
  token     TEXT NOT NULL,
  PRIMARY KEY (tn_id, action_id)
);

-- Received tokens waiting for verification, FIFO per tenant.
CREATE TABLE inbound (
  q_id        BIGSERIAL PRIMARY KEY,
  tn_id       BIGINT NOT NULL,
  action_id   TEXT COLLATE "C" NOT NULL,
  token       TEXT NOT NULL,
  ack_token   TEXT,
  received_at BIGINT NOT NULL,
  UNIQUE (tn_id, action_id)
);
CREATE INDEX inbound_order ON inbound (tn_id, q_id);

CREATE TABLE files (
  f_id         BIGSERIAL PRIMARY KEY,
  tn_id        BIGINT NOT NULL,
  file_id      TEXT COLLATE "C",   -- NULL while pending
  file_type    TEXT NOT NULL CHECK (file_type IN ('BLOB', 'CRDT', 'RTDB', 'FLDR')),
  status       TEXT NOT NULL CHECK (status IN ('P', 'A', 'D')),
  owner_tag    TEXT NOT NULL,
  creator_tag  TEXT,
  preset       TEXT,
  content_type TEXT,
  file_name    TEXT COLLATE "C",
  tags         TEXT,               -- JSON array of strings
  visibility   TEXT,
  parent_id    TEXT COLLATE "C",
  root_id      TEXT COLLATE "C",
  x            TEXT,               -- JSON
  created_at   BIGINT NOT NULL,
  extra        TEXT,
  UNIQUE (tn_id, file_id)
);
CREATE INDEX files_tn ON files (tn_id, f_id);
CREATE INDEX files_parent ON files (tn_id, parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX files_root ON files (tn_id, root_id) WHERE root_id IS NOT NULL;

CREATE TABLE file_variants (
  tn_id      BIGINT NOT NULL,
  f_id       BIGINT NOT NULL REFERENCES files (f_id) ON DELETE CASCADE,
  variant    TEXT COLLATE "C" NOT NULL,  -- "vis.sd", …
  variant_id TEXT NOT NULL,              -- "b1~…"
  res_x      BIGINT,
  res_y      BIGINT,
  format     TEXT,
  size       BIGINT,
  available  BOOLEAN,
  duration   TEXT,                       -- JSON number
  pages      BIGINT,
  extra      TEXT,
  PRIMARY KEY (f_id, variant)
);
CREATE INDEX file_variants_id ON file_variants (tn_id, variant_id);

CREATE TABLE tasks (
  id         BIGSERIAL PRIMARY KEY,  -- never reused, even after restarts
  tn_id      BIGINT NOT NULL DEFAULT 0,
  kind       TEXT COLLATE "C" NOT NULL,
  key        TEXT COLLATE "C" NOT NULL DEFAULT '',
  status     TEXT NOT NULL DEFAULT 'P',
  priority   TEXT,
  next_at    BIGINT,
  attempt    BIGINT,
  retry      TEXT,                   -- JSON
  cron       TEXT,
  deps       TEXT,                   -- JSON array
  input      TEXT,
  output     TEXT,
  error      TEXT,
  created_at BIGINT,
  extra      TEXT
);
-- Dedup: one pending task per (kind, non-empty key).
CREATE UNIQUE INDEX tasks_pending_key ON tasks (kind, key) WHERE status = 'P' AND key <> '';
CREATE INDEX tasks_pending ON tasks (id) WHERE status = 'P';

CREATE TABLE settings (
  tn_id BIGINT NOT NULL,
  key   TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,               -- JSON text exactly as given
  PRIMARY KEY (tn_id, key)
);

CREATE TABLE records (
  tn_id BIGINT NOT NULL,
  coll  TEXT COLLATE "C" NOT NULL,
  key   TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,               -- JSON text exactly as given
  PRIMARY KEY (tn_id, coll, key)
);
)sql"},
    // The token moves into the actions row (one insert per action instead of
    // two; sql-common shares the statements with meta-sqlite).
    {2, R"sql(
ALTER TABLE actions ADD COLUMN token TEXT;
UPDATE actions a SET token = t.token FROM action_tokens t WHERE t.tn_id = a.tn_id AND t.action_id = a.action_id;
DROP TABLE action_tokens;
)sql"},
};

// ---- SQL texts (built once: each connection prepares a text once) ----------------

int64_t tn_of(const Tenant& tn) { return int64_t{tn.tn_id}; }

const std::string kTenantCols = "tn_id, " + kTenants.columns();
const std::string kTenantInsert = insert_with_id(kTenants.insert_sql(), 1, "tenants_tn_id_seq", kPostgresDialect) + " RETURNING " + kTenantCols;
const std::string kProfileSelect = "SELECT " + kProfiles.columns() + " FROM profiles WHERE tn_id = ? AND id_tag = ?";
const std::string kFileSelect = "SELECT " + kFiles.columns() + " FROM files WHERE tn_id = ?";
const std::string kTaskSelect = "SELECT " + kTasks.columns() + " FROM tasks WHERE tn_id = 0";

/// " AND f_id = ?" or " AND file_id = ?" for a file reference, with its value.
std::pair<std::string, std::string> file_where(std::string_view ref) {
  if (auto f = file_ref(ref)) return {" AND files.f_id = ?", std::to_string(*f)};
  return {" AND files.file_id = ?", std::string(ref)};
}

std::optional<std::string> first_text(const Result& r) {
  if (!r.rows()) return std::nullopt;
  return std::string(r.text(0, 0));
}

}  // namespace

class MetaPostgres final : public FullMeta {
 public:
  explicit MetaPostgres(std::string_view options_json) {
    OptionReader r(options_json, "meta-postgres");
    PoolOptions o = pool_options(r, "cumulo_meta");
    r.finish();
    pool_ = std::make_unique<Pool>(o);
    pool_->with([&](Conn& c) {
      migrate(c, o.conn.schema, "meta", kMigrations);
      // Read from the schema so a table added by a later migration is purged
      // by delete_tenant without anyone remembering to list it (only meta's:
      // auth may share the schema).
      tn_tables_ = owned_tables(c, o.conn.schema, "meta", "tn_id");
    });
  }

  Status health() override {
    pool_->with([](Conn& c) { c.exec("SELECT count(*) FROM meta_schema_version"); });
    return Status::Ok();
  }

  // ---- tenants --------------------------------------------------------------------

  Status create_tenant(std::string_view tenant_json, const Sink& out) override {
    NewTenant t = parse_new_tenant(tenant_json);
    std::string stored = pool_->tx([&](Conn& c) {
      Args a;
      if (t.tn_id)
        a.bind(1, *t.tn_id);
      else
        a.bind_null(1);
      bind_record(a, 2, kTenants, t.rec, "create_tenant");
      Result r = c.exec(kTenantInsert, a);
      // A given tnId (migration): later assigned ones come after it, as with
      // SQLite's AUTOINCREMENT.
      if (t.tn_id) c.exec(sequence_past("tenants_tn_id_seq", kPostgresDialect), args(*t.tn_id));
      return tenant_object(Row(r, 0));
    });
    return emit(out, stored);
  }

  Status get_tenant(const Tenant& tn, const Sink& out) override {
    Result r = pool_->with([&](Conn& c) { return c.exec("SELECT " + kTenantCols + " FROM tenants WHERE tn_id = ?", args(tn_of(tn))); });
    if (!r.rows()) return Status::NotFound("no tenant " + std::to_string(tn.tn_id));
    return emit(out, tenant_object(Row(r, 0)));
  }

  Status update_tenant(const Tenant& tn, std::string_view patch_json) override {
    json patch = parse_object(patch_json, "update_tenant");
    return pool_->tx([&](Conn& c) {
      Result cur = c.exec("SELECT " + kTenantCols + " FROM tenants WHERE tn_id = ? FOR UPDATE", args(tn_of(tn)));
      if (!cur.rows()) return Status::NotFound("no tenant " + std::to_string(tn.tn_id));
      json rec = json::parse(tenant_object(Row(cur, 0)));
      patch_tenant(rec, patch);
      Args a;
      bind_record(a, 1, kTenants, rec, "update_tenant");
      c.exec(kTenants.update_sql(), a.add(tn_of(tn)));
      return Status::Ok();
    });
  }

  Status delete_tenant(const Tenant& tn) override {
    return pool_->tx([&](Conn& c) {
      if (!c.exec("DELETE FROM tenants WHERE tn_id = ?", args(tn_of(tn))).affected()) return Status::NotFound("no tenant " + std::to_string(tn.tn_id));
      for (const auto& t : tn_tables_) c.exec("DELETE FROM \"" + t + "\" WHERE tn_id = ?", args(tn_of(tn)));
      return Status::Ok();
    });
  }

  Status list_tenants(std::string_view filter_json, const Sink& out) override {
    json f = parse_filter(filter_json, "list_tenants filter");
    std::string q = str_of(f, "q");
    std::string sql = "SELECT " + kTenantCols + " FROM tenants";
    Args a;
    if (!q.empty()) {
      sql += " WHERE id_tag ILIKE ? ESCAPE '\\' OR name ILIKE ? ESCAPE '\\'";
      a.add(like_escape(q) + "%").add(like_escape(q) + "%");
    }
    Result r = pool_->with([&](Conn& c) { return c.exec(sql + " ORDER BY tn_id", a); });
    std::string s = "[";
    for (int i = 0; i < r.rows(); ++i) (s += i ? "," : "") += tenant_object(Row(r, i));
    return emit(out, s + "]");
  }

  // ---- profiles -------------------------------------------------------------------

  Status upsert_profile(const Tenant& tn, std::string_view profile_json) override {
    std::string id_tag;
    json patch = parse_profile_patch(profile_json, id_tag);
    return pool_->tx([&](Conn& c) {
      // A stub row first, so there is always a row to lock: concurrent
      // upserts of one profile merge one after the other, none is lost.
      c.exec("INSERT INTO profiles(tn_id, id_tag) VALUES(?, ?) ON CONFLICT DO NOTHING", args(tn_of(tn), id_tag));
      Result cur = c.exec(kProfileSelect + " FOR UPDATE", args(tn_of(tn), id_tag));
      json rec = json::parse(row_object(Row(cur, 0), 0, kProfiles));
      merge(rec, patch, {}, "upsert_profile");
      Args a;
      bind_record(a, 1, kProfiles, rec, "upsert_profile");
      c.exec(kProfiles.update_sql("id_tag"), a.add(tn_of(tn)).add(id_tag));
      return Status::Ok();
    });
  }

  Status get_profile(const Tenant& tn, std::string_view id_tag, const Sink& out) override {
    Result r = pool_->with([&](Conn& c) { return c.exec(kProfileSelect, args(tn_of(tn), id_tag)); });
    if (!r.rows()) return Status::NotFound("no profile " + std::string(id_tag));
    return emit(out, row_object(Row(r, 0), 0, kProfiles));
  }

  Status list_profiles(const Tenant& tn, std::string_view filter_json, const Sink& out) override {
    constexpr std::string_view what = "list_profiles filter";
    json f = parse_filter(filter_json, what);
    std::string sql = "SELECT " + kProfiles.columns() + " FROM profiles WHERE tn_id = ?";
    std::vector<Param> ps{tn_of(tn)};
    int64_t limit = profile_filters(sql, ps, f, kPostgresDialect, what);
    ps.emplace_back(limit + 1);
    Result r = query(sql + " ORDER BY id_tag LIMIT ?", ps);
    return emit(
        out, page(
                 "profiles", r, limit, [](const Row& row, std::string& s) { s += row_object(row, 0, kProfiles); }, [](const Row& row) { return row.str(0); }));
  }

  Status put_public_key(std::string_view key_json) override {
    json rec = parse_public_key(key_json);
    Args a;
    a.bind(1, int64_t{0});
    bind_record(a, 2, kPublicKeys, rec, "put_public_key");
    pool_->with([&](Conn& c) { c.exec(kPublicKeys.upsert_sql("tn_id, id_tag, key_id"), a); });
    return Status::Ok();
  }

  Status get_public_key(std::string_view id_tag, std::string_view key_id, const Sink& out) override {
    Result r = pool_->with([&](Conn& c) {
      return c.exec("SELECT " + kPublicKeys.columns() + " FROM public_keys WHERE tn_id = 0 AND id_tag = ? AND key_id = ?", args(id_tag, key_id));
    });
    if (!r.rows()) return Status::NotFound("no public key " + std::string(key_id) + " of " + std::string(id_tag));
    return emit(out, row_object(Row(r, 0), 0, kPublicKeys));
  }

  // ---- actions --------------------------------------------------------------------

  Status put_action(const Tenant& tn, std::string_view action_json, const Sink& out) override {
    NewAction a = parse_new_action(action_json);
    std::string text = pool_->tx([&](Conn& c) {
      std::optional<std::string> replaced;
      if (!a.key.empty()) {
        // Puts with one key take turns (also the first: no row to lock yet),
        // so the second replaces the first instead of hitting actions_key.
        c.exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", args("action-key\n" + std::to_string(tn.tn_id) + "\n" + a.key));
        // Superseded, not erased: the row and its token stay (status D, key
        // released) so a replay of the old token is recognised by its id.
        replaced = first_text(c.exec("UPDATE actions SET status = 'D', key = NULL WHERE tn_id = ? AND key = ? RETURNING action_id", args(tn_of(tn), a.key)));
        if (replaced == a.action_id) throw Error(CM_CONFLICT, "put_action: action " + a.action_id + " already exists");  // rolled back
      }
      Args ins;
      ins.bind(1, tn_of(tn));
      bind_record(ins, 2, kActions, a.rec, "put_action");
      Result row = c.exec(kActionInsertReturning, ins.add_opt(a.token));  // UNIQUE (tn_id, action_id) → CM_CONFLICT
      return put_action_result(action_object(Row(row, 0)), replaced);
    });
    return emit(out, text);
  }

  Status get_action(const Tenant& tn, std::string_view action_id, const Sink& out) override {
    Result r = pool_->with([&](Conn& c) { return c.exec(kActionGet, args(tn_of(tn), action_id)); });
    if (!r.rows()) return Status::NotFound("no action " + std::string(action_id));
    return emit(out, action_object(Row(r, 0)));
  }

  Status update_action(const Tenant& tn, std::string_view action_id, std::string_view patch_json) override {
    json patch = parse_object(patch_json, "update_action");
    return pool_->tx([&](Conn& c) {
      Result cur = c.exec(kActionGet + " FOR UPDATE OF a", args(tn_of(tn), action_id));
      if (!cur.rows()) return Status::NotFound("no action " + std::string(action_id));
      json rec = json::parse(action_object(Row(cur, 0)));
      ActionPatch p = patch_action(rec, patch);
      if (p.token_op != ActionPatch::Token::Keep) {
        Args t;
        t.add_opt(p.token_op == ActionPatch::Token::Set ? std::optional<std::string>(p.token) : std::nullopt);
        c.exec(kActionSetToken, t.add(tn_of(tn)).add(action_id));
      }
      Args a;
      bind_record(a, 1, kActions, rec, "update_action");
      a.add(p.comments).add(p.reactions).add(tn_of(tn)).add(action_id);
      static const std::string sql = [] {
        std::string s = kActions.update_sql("action_id");
        return s.insert(s.find(" WHERE"), ", stat_comments = ?, stat_reactions = ?");
      }();
      c.exec(sql, a);
      return Status::Ok();
    });
  }

  Status list_actions(const Tenant& tn, std::string_view filter_json, const Sink& out) override {
    auto plan = action_list_plan(filter_json);
    const int64_t limit = plan->limit;
    Args a;
    bind_plan(a, tn_of(tn), *plan);
    Result r = pool_->with([&](Conn& c) { return c.exec(plan->sql, a); });
    auto render = [](const Row& row, std::string& s) {
      append_action(s, row);
      s += '}';
    };
    return emit(out, page("actions", r, limit, render, [](const Row& row) { return action_cursor(row); }));
  }

  Status push_inbound(const Tenant& tn, std::string_view inbound_json) override {
    Inbound in = parse_inbound(inbound_json);
    pool_->with([&](Conn& c) {
      // A re-delivered token (same actionId) is a no-op.
      c.exec("INSERT INTO inbound(tn_id, action_id, token, ack_token, received_at) VALUES(?, ?, ?, ?, ?) ON CONFLICT (tn_id, action_id) DO NOTHING",
             args(tn_of(tn), in.action_id, in.token).add_opt(in.ack_token).add(in.received_at));
    });
    return Status::Ok();
  }

  Status pop_inbound(const Tenant& tn, uint32_t limit, const Sink& out) override {
    // One statement, so one transaction: the oldest entries nobody else is
    // popping right now are locked, deleted and returned together.
    Args a = args(tn_of(tn));
    if (limit == 0)
      a.bind_null(2);  // LIMIT NULL = everything queued
    else
      a.add(int64_t{limit});
    Result r = pool_->with([&](Conn& c) {
      return c.exec(
          "WITH picked AS (SELECT q_id FROM inbound WHERE tn_id = ? ORDER BY q_id LIMIT ? FOR UPDATE SKIP LOCKED), "
          "gone AS (DELETE FROM inbound i USING picked p WHERE i.q_id = p.q_id RETURNING i.q_id, i.action_id, i.token, i.ack_token, i.received_at) "
          "SELECT * FROM gone ORDER BY q_id",
          a);
    });
    std::string s = "[";
    for (int i = 0; i < r.rows(); ++i) append_inbound(s, Row(r, i), 1);
    return emit(out, s + "]");
  }

  // ---- files ----------------------------------------------------------------------

  Status put_file(const Tenant& tn, std::string_view file_json, const Sink& out) override {
    json rec = parse_new_file(file_json);
    static const std::string sql = insert_with_id(kFiles.insert_sql(), 2, "files_f_id_seq", kPostgresDialect) + " RETURNING " + kFiles.columns();
    Args a;
    a.bind(1, tn_of(tn));
    bind_record(a, 2, kFiles, rec, "put_file");
    Result r = pool_->with([&](Conn& c) { return c.exec(sql, a); });  // UNIQUE (tn_id, file_id) → CM_CONFLICT
    return emit(out, row_object(Row(r, 0), 0, kFiles));
  }

  Status get_file(const Tenant& tn, std::string_view file_id, const Sink& out) override {
    auto [where, value] = file_where(file_id);
    Result r = pool_->with([&](Conn& c) { return c.exec(kFileSelect + where, args(tn_of(tn), value)); });
    if (!r.rows()) return Status::NotFound("no file " + std::string(file_id));
    return emit(out, row_object(Row(r, 0), 0, kFiles));
  }

  Status update_file(const Tenant& tn, std::string_view file_id, std::string_view patch_json) override {
    json patch = parse_object(patch_json, "update_file");
    auto [where, value] = file_where(file_id);
    return pool_->tx([&](Conn& c) {
      Result cur = c.exec(kFileSelect + where + " FOR UPDATE", args(tn_of(tn), value));
      if (!cur.rows()) return Status::NotFound("no file " + std::string(file_id));
      json rec = json::parse(row_object(Row(cur, 0), 0, kFiles));
      const int64_t f_id = cur.i64(0, 0);
      patch_file(rec, patch);
      Args a;
      bind_record(a, 1, kFiles, rec, "update_file");
      c.exec(kFiles.update_sql("f_id"), a.add(tn_of(tn)).add(f_id));
      return Status::Ok();
    });
  }

  Status list_files(const Tenant& tn, std::string_view filter_json, const Sink& out) override {
    constexpr std::string_view what = "list_files filter";
    json f = parse_filter(filter_json, what);
    std::string sql = kFileSelect;
    std::vector<Param> ps{tn_of(tn)};
    int64_t limit = file_filters(sql, ps, f, kPostgresDialect, what);
    ps.emplace_back(limit + 1);
    Result r = query(sql + " ORDER BY f_id DESC LIMIT ?", ps);
    return emit(out,
                page(
                    "files", r, limit, [](const Row& row, std::string& s) { s += row_object(row, 0, kFiles); }, [](const Row& row) { return row.str(0); }));
  }

  Status put_variant(const Tenant& tn, std::string_view variant_json) override {
    NewVariant v = parse_variant(variant_json);
    auto [where, value] = file_where(v.file);
    return pool_->with([&](Conn& c) {
      Result f = c.exec("SELECT f_id FROM files WHERE tn_id = ?" + where, args(tn_of(tn), value));
      if (!f.rows()) return Status::NotFound("no file " + v.file);
      v.rec["fId"] = f.i64(0, 0);
      Args a;
      a.bind(1, tn_of(tn));
      bind_record(a, 2, kVariants, v.rec, "put_variant");
      c.exec(kVariants.upsert_sql("f_id, variant"), a);  // the file's own row: FK → CM_INVALID had it just gone
      return Status::Ok();
    });
  }

  Status list_variants(const Tenant& tn, std::string_view file_id, const Sink& out) override {
    auto [where, value] = file_where(file_id);
    // One statement, one snapshot: no row = no file; a NULL variant = a file
    // without variants.
    static const std::string cols = [] {
      std::string s;
      for (const auto& fl : kVariants.fields) (s += "v.") += std::string(fl.column) + ", ";
      return s + "v.extra";
    }();
    Result r = pool_->with([&](Conn& c) {
      return c.exec("SELECT " + cols + " FROM files LEFT JOIN file_variants v ON v.f_id = files.f_id WHERE files.tn_id = ?" + where + " ORDER BY v.variant",
                    args(tn_of(tn), value));
    });
    if (!r.rows()) return Status::NotFound("no file " + std::string(file_id));
    std::string s = "[";
    for (int i = 0; i < r.rows(); ++i)
      if (!r.is_null(i, 1)) (s += s.size() > 1 ? "," : "") += row_object(Row(r, i), 0, kVariants);
    return emit(out, s + "]");
  }

  // ---- tasks (node-global: tn_id 0) -----------------------------------------------

  Status create_task(std::string_view task_json, const Sink& out) override {
    NewTask t = parse_new_task(task_json);
    static const std::string insert = insert_with_id(kTasks.insert_sql(), 2, "tasks_id_seq", kPostgresDialect) +
                                      " ON CONFLICT (kind, key) WHERE status = 'P' AND key <> '' DO NOTHING RETURNING id";
    Args a;
    a.bind(1, int64_t{0});
    bind_record(a, 2, kTasks, t.rec, "create_task");
    int64_t id = pool_->tx([&](Conn& c) -> int64_t {
      // Dedup by the partial unique index: a conflicting insert waits for the
      // other transaction, then finds its task.
      for (int attempt = 0; attempt < 8; ++attempt) {
        Result r = c.exec(insert, a);
        if (r.rows()) return r.i64(0, 0);
        Result e = c.exec("SELECT id FROM tasks WHERE tn_id = 0 AND kind = ? AND key = ? AND status = 'P'", args(t.kind, t.key));
        if (e.rows()) return e.i64(0, 0);  // the pending task with this kind+key
        // It finished in between: the key is free again, insert anew.
      }
      throw Error(CM_UNAVAILABLE, "create_task: the pending task of key " + t.key + " keeps changing; retry");
    });
    return emit(out, "{\"id\":" + std::to_string(id) + "}");
  }

  Status update_task(int64_t id, std::string_view patch_json) override {
    json patch = parse_task_patch(patch_json);
    return pool_->tx([&](Conn& c) {
      Result cur = c.exec(kTaskSelect + " AND id = ? FOR UPDATE", args(id));
      if (!cur.rows()) return Status::NotFound("no task " + std::to_string(id));
      json rec = json::parse(row_object(Row(cur, 0), 0, kTasks));
      merge(rec, patch, {}, "update_task");
      Args a;
      bind_record(a, 1, kTasks, rec, "update_task");
      c.exec(kTasks.update_sql("id"), a.add(int64_t{0}).add(id));
      return Status::Ok();
    });
  }

  Status get_task(int64_t id, const Sink& out) override {
    Result r = pool_->with([&](Conn& c) { return c.exec(kTaskSelect + " AND id = ?", args(id)); });
    if (!r.rows()) return Status::NotFound("no task " + std::to_string(id));
    return emit(out, row_object(Row(r, 0), 0, kTasks));
  }

  Status list_pending_tasks(const Sink& out) override {
    Result r = pool_->with([&](Conn& c) { return c.exec(kTaskSelect + " AND status = 'P' ORDER BY id"); });
    std::string s = "[";
    for (int i = 0; i < r.rows(); ++i) (s += i ? "," : "") += row_object(Row(r, i), 0, kTasks);
    return emit(out, s + "]");
  }

  Status delete_task(int64_t id) override {
    return removed(pool_->with([&](Conn& c) { return c.exec("DELETE FROM tasks WHERE tn_id = 0 AND id = ?", args(id)); }), "no task " + std::to_string(id));
  }

  // ---- settings -------------------------------------------------------------------

  Status get_setting(const Tenant& tn, std::string_view key, const Sink& out) override {
    auto v = first_text(pool_->with([&](Conn& c) { return c.exec("SELECT value FROM settings WHERE tn_id = ? AND key = ?", args(tn_of(tn), key)); }));
    if (!v) return Status::NotFound("no setting " + std::string(key));
    return emit(out, *v);
  }

  Status put_setting(const Tenant& tn, std::string_view key, std::string_view value_json) override {
    check_setting(key, value_json);
    pool_->with([&](Conn& c) {
      c.exec("INSERT INTO settings(tn_id, key, value) VALUES(?, ?, ?) ON CONFLICT (tn_id, key) DO UPDATE SET value = excluded.value",
             args(tn_of(tn), key, value_json));
    });
    return Status::Ok();
  }

  Status list_settings(const Tenant& tn, std::string_view prefix, const Sink& out) override {
    // LIKE 'prefix%' on a C-collated key is an index range, and needs no
    // "prefix + 1" upper bound (which could be invalid UTF-8 here).
    Result r = pool_->with([&](Conn& c) {
      return c.exec("SELECT key, value FROM settings WHERE tn_id = ? AND key LIKE ? ESCAPE '\\' ORDER BY key", args(tn_of(tn), like_escape(prefix) + "%"));
    });
    std::string s = "{";
    for (int i = 0; i < r.rows(); ++i) append_member(s, r.text(i, 0), r.text(i, 1));
    return emit(out, s + "}");
  }

  Status delete_setting(const Tenant& tn, std::string_view key) override {
    return removed(pool_->with([&](Conn& c) { return c.exec("DELETE FROM settings WHERE tn_id = ? AND key = ?", args(tn_of(tn), key)); }),
                   "no setting " + std::string(key));
  }

  // ---- records --------------------------------------------------------------------

  Status put_record(const Tenant& tn, std::string_view coll, std::string_view key, std::string_view record_json) override {
    check_record(coll, key, record_json);
    pool_->with([&](Conn& c) {
      c.exec("INSERT INTO records(tn_id, coll, key, value) VALUES(?, ?, ?, ?) ON CONFLICT (tn_id, coll, key) DO UPDATE SET value = excluded.value",
             args(tn_of(tn), coll, key, record_json));
    });
    return Status::Ok();
  }

  Status get_record(const Tenant& tn, std::string_view coll, std::string_view key, const Sink& out) override {
    auto v = first_text(
        pool_->with([&](Conn& c) { return c.exec("SELECT value FROM records WHERE tn_id = ? AND coll = ? AND key = ?", args(tn_of(tn), coll, key)); }));
    if (!v) return Status::NotFound("no record " + std::string(coll) + "/" + std::string(key));
    return emit(out, *v);
  }

  Status delete_record(const Tenant& tn, std::string_view coll, std::string_view key) override {
    return removed(pool_->with([&](Conn& c) { return c.exec("DELETE FROM records WHERE tn_id = ? AND coll = ? AND key = ?", args(tn_of(tn), coll, key)); }),
                   "no record " + std::string(coll) + "/" + std::string(key));
  }

  Status list_records(const Tenant& tn, std::string_view coll, std::string_view filter_json, const Sink& out) override {
    json filter = parse_filter(filter_json, "list_records filter");
    Result r = pool_->with([&](Conn& c) { return c.exec("SELECT value FROM records WHERE tn_id = ? AND coll = ? ORDER BY key", args(tn_of(tn), coll)); });
    std::string s = "[";
    for (int i = 0; i < r.rows(); ++i)
      if (record_matches(r.text(i, 0), filter)) (s += s.size() > 1 ? "," : "") += r.text(i, 0);
    return emit(out, s + "]");
  }

  // ---- portable tenant dump (sql-common/dump) ------------------------------------

  Status export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    pool_->snapshot([&](SqlTx& t) { export_meta(t, tn, after, limit, out); });
    return Status::Ok();
  }

  Status import_items(const Tenant& tn, std::string_view lines) override {
    auto items = parse_meta_items(lines, "meta-postgres");  // all checked before anything changes
    pool_->transaction([&](SqlTx& t) { import_meta(t, tn, items); });
    return Status::Ok();
  }

 private:
  Result query(const std::string& sql, const std::vector<Param>& ps) {
    Args a;
    bind_all(a, ps);
    return pool_->with([&](Conn& c) { return c.exec(sql, a); });
  }

  // {"<name>":[…],"cursor":…} from a query that asked for limit + 1 rows:
  // the extra row only says that a next page exists.
  template <class Render, class Cursor>
  static std::string page(const char* name, const Result& r, int64_t limit, Render render, Cursor cursor) {
    const int n = static_cast<int>(std::min<int64_t>(r.rows(), limit));
    std::string s = std::string("{\"") + name + "\":[";
    for (int i = 0; i < n; ++i) {
      if (i) s += ',';
      render(Row(r, i), s);
    }
    s += "],\"cursor\":";
    if (r.rows() > limit)
      append_json_string(s, cursor(Row(r, n - 1)));
    else
      s += "null";
    return s + "}";
  }

  static Status removed(const Result& r, std::string message) { return r.affected() ? Status::Ok() : Status::NotFound(std::move(message)); }

  std::unique_ptr<Pool> pool_;
  std::vector<std::string> tn_tables_;  // every table with a tn_id column
};

void add_meta_postgres(sdk::Registrar& reg) { reg.add<MetaPostgres>("meta-postgres", kOptionsSchema); }

}  // namespace cumulo::pg
