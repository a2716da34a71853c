// meta-sqlite. JSON shapes: README.md in this directory. Every row carries
// tn_id and every statement filters by it; node-global data (tasks, the
// remote public key cache) lives under tn_id 0.
#include "meta_sqlite.hpp"

#include "record.hpp"
#include "sql-common/meta.hpp"

namespace cumulo::sqlite {
namespace {

using sdk::Error;
using Status = sdk::Status;
using Sink = sdk::Sink;
using Tenant = sdk::Tenant;

// ---- schema -----------------------------------------------------------------------
// Append new versions at the end; never edit an applied one.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> m = {
      {1, R"sql(
CREATE TABLE tenants (
  tn_id       INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
  id_tag      TEXT NOT NULL UNIQUE,
  type        TEXT NOT NULL CHECK (type IN ('P', 'C')),
  name        TEXT,
  profile_pic TEXT,
  cover_pic   TEXT,
  x           TEXT NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  extra       TEXT
);

-- A tenant's view of other identities (relationships live here).
CREATE TABLE profiles (
  tn_id       INTEGER NOT NULL,
  id_tag      TEXT NOT NULL,
  name        TEXT,
  type        TEXT,
  profile_pic TEXT,
  status      TEXT,
  perm        TEXT,
  following   INTEGER,
  follower    INTEGER,
  connected   TEXT,     -- JSON: true | false | "R"
  roles       TEXT,     -- JSON array
  trust       TEXT,
  synced_at   INTEGER,
  etag        TEXT,
  extra       TEXT,
  PRIMARY KEY (tn_id, id_tag)
) WITHOUT ROWID;

-- Node-global cache of remote profile keys (tn_id is always 0).
CREATE TABLE public_keys (
  tn_id      INTEGER NOT NULL DEFAULT 0,
  id_tag     TEXT NOT NULL,
  key_id     TEXT NOT NULL,
  public_key TEXT NOT NULL,
  expires_at INTEGER,
  extra      TEXT,
  PRIMARY KEY (tn_id, id_tag, key_id)
) WITHOUT ROWID;

CREATE TABLE actions (
  a_id           INTEGER PRIMARY KEY,
  tn_id          INTEGER NOT NULL,
  action_id      TEXT NOT NULL,
  type           TEXT NOT NULL,
  sub_type       TEXT,
  key            TEXT,
  parent_id      TEXT,
  root_id        TEXT,
  issuer_tag     TEXT NOT NULL,
  audience       TEXT,
  subject        TEXT,
  content        TEXT,             -- JSON
  attachments    TEXT,             -- JSON array
  visibility     TEXT NOT NULL DEFAULT 'D',
  flags          TEXT,
  status         TEXT NOT NULL DEFAULT 'A',
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER,
  x              TEXT,             -- JSON
  extra          TEXT,
  stat_comments  INTEGER NOT NULL DEFAULT 0,
  stat_reactions INTEGER NOT NULL DEFAULT 0,
  UNIQUE (tn_id, action_id)
);
-- The override rule: at most one action per (tenant, key).
CREATE UNIQUE INDEX actions_key ON actions (tn_id, key) WHERE key IS NOT NULL AND key <> '';
-- Feeds: newest first, optionally by visibility (the hot query). visibility
-- trails in actions_time so a visibility filter is checked in the index and
-- only matching rows are fetched.
CREATE INDEX actions_time ON actions (tn_id, created_at DESC, action_id DESC, visibility);
CREATE INDEX actions_vis_time ON actions (tn_id, visibility, created_at DESC, action_id DESC);
CREATE INDEX actions_parent ON actions (tn_id, parent_id, created_at) WHERE parent_id IS NOT NULL;
CREATE INDEX actions_root ON actions (tn_id, root_id, created_at) WHERE root_id IS NOT NULL;
CREATE INDEX actions_issuer ON actions (tn_id, issuer_tag, created_at);

-- Tokens apart from the rows the feed scans (they are large and rarely read).
CREATE TABLE action_tokens (
  tn_id     INTEGER NOT NULL,
  action_id TEXT NOT NULL,
  token     TEXT NOT NULL,
  PRIMARY KEY (tn_id, action_id)
) WITHOUT ROWID;

-- Received tokens waiting for verification, FIFO per tenant.
CREATE TABLE inbound (
  q_id        INTEGER PRIMARY KEY AUTOINCREMENT,
  tn_id       INTEGER NOT NULL,
  action_id   TEXT NOT NULL,
  token       TEXT NOT NULL,
  ack_token   TEXT,
  received_at INTEGER NOT NULL,
  UNIQUE (tn_id, action_id)
);
CREATE INDEX inbound_order ON inbound (tn_id, q_id);

CREATE TABLE files (
  f_id         INTEGER PRIMARY KEY AUTOINCREMENT,
  tn_id        INTEGER NOT NULL,
  file_id      TEXT,               -- NULL while pending
  file_type    TEXT NOT NULL CHECK (file_type IN ('BLOB', 'CRDT', 'RTDB', 'FLDR')),
  status       TEXT NOT NULL CHECK (status IN ('P', 'A', 'D')),
  owner_tag    TEXT NOT NULL,
  creator_tag  TEXT,
  preset       TEXT,
  content_type TEXT,
  file_name    TEXT,
  tags         TEXT,               -- JSON array of strings
  visibility   TEXT,
  parent_id    TEXT,
  root_id      TEXT,
  x            TEXT,               -- JSON
  created_at   INTEGER NOT NULL,
  extra        TEXT,
  UNIQUE (tn_id, file_id)
);
CREATE INDEX files_tn ON files (tn_id, f_id);
CREATE INDEX files_parent ON files (tn_id, parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX files_root ON files (tn_id, root_id) WHERE root_id IS NOT NULL;

CREATE TABLE file_variants (
  tn_id      INTEGER NOT NULL,
  f_id       INTEGER NOT NULL REFERENCES files (f_id) ON DELETE CASCADE,
  variant    TEXT NOT NULL,        -- "vis.sd", …
  variant_id TEXT NOT NULL,        -- "b1~…"
  res_x      INTEGER,
  res_y      INTEGER,
  format     TEXT,
  size       INTEGER,
  available  INTEGER,
  duration   TEXT,                 -- JSON number
  pages      INTEGER,
  extra      TEXT,
  PRIMARY KEY (f_id, variant)
) WITHOUT ROWID;
CREATE INDEX file_variants_id ON file_variants (tn_id, variant_id);

CREATE TABLE tasks (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after restarts
  tn_id      INTEGER NOT NULL DEFAULT 0,
  kind       TEXT NOT NULL,
  key        TEXT NOT NULL DEFAULT '',
  status     TEXT NOT NULL DEFAULT 'P',
  priority   TEXT,
  next_at    INTEGER,
  attempt    INTEGER,
  retry      TEXT,                 -- JSON
  cron       TEXT,
  deps       TEXT,                 -- JSON array
  input      TEXT,
  output     TEXT,
  error      TEXT,
  created_at INTEGER,
  extra      TEXT
);
-- Dedup: one pending task per (kind, non-empty key).
CREATE UNIQUE INDEX tasks_pending_key ON tasks (kind, key) WHERE status = 'P' AND key <> '';
CREATE INDEX tasks_pending ON tasks (id) WHERE status = 'P';

CREATE TABLE settings (
  tn_id INTEGER NOT NULL,
  key   TEXT NOT NULL,
  value TEXT NOT NULL,             -- JSON text exactly as given
  PRIMARY KEY (tn_id, key)
) WITHOUT ROWID;

CREATE TABLE records (
  tn_id INTEGER NOT NULL,
  coll  TEXT NOT NULL,
  key   TEXT NOT NULL,
  value TEXT NOT NULL,             -- JSON text exactly as given
  PRIMARY KEY (tn_id, coll, key)
) WITHOUT ROWID;
)sql"},
      // Fewer pages written per action (WAL frames per POST insert, measured:
      // 10.9 → 6.5):
      // - the token moves into the actions row: in its own table, keyed by a
      //   random action id, it cost 3.2 pages per insert;
      // - the feed indexes turn ascending: a new action then lands at the
      //   right edge of each (SQLite's cheap append split) instead of the left
      //   one (1.95 → 1.27 pages each). ORDER BY created_at DESC, action_id
      //   DESC reads them backwards as fast.
      {2, R"sql(
ALTER TABLE actions ADD COLUMN token TEXT;
UPDATE actions SET token = (SELECT t.token FROM action_tokens t WHERE t.tn_id = actions.tn_id AND t.action_id = actions.action_id);
DROP TABLE action_tokens;
DROP INDEX actions_time;
CREATE INDEX actions_time ON actions (tn_id, created_at, action_id, visibility);
DROP INDEX actions_vis_time;
CREATE INDEX actions_vis_time ON actions (tn_id, visibility, created_at, action_id);
)sql"},
  };
  return m;
}

// ---- tables and engine-independent rules: sql-common/meta.hpp --------------------
// (shared with meta-postgres).

using namespace sqlc;

// SQL texts are built once: the statement cache is keyed by the text.
const std::string kTenantCols = kTenants.columns();

// -- per-table reads used by several calls (all on a held connection)

std::optional<std::string> tenant_text(Connection& c, uint32_t tn) {
  auto st = c.prepare("SELECT tn_id, " + kTenantCols + " FROM tenants WHERE tn_id = ?");
  st.bind(1, int64_t{tn});
  if (!st.step()) return std::nullopt;
  return tenant_object(st);
}

std::optional<std::string> action_text(Connection& c, uint32_t tn, std::string_view action_id) {
  auto st = c.prepare(kActionGet);
  st.bind(1, int64_t{tn}).bind(2, action_id);
  if (!st.step()) return std::nullopt;
  return action_object(st);
}

/// "@<fId>" or a fileId → f_id, or nullopt.
std::optional<int64_t> resolve_file(Connection& c, uint32_t tn, std::string_view id) {
  auto f = file_ref(id);
  Stmt st = f ? c.prepare("SELECT f_id FROM files WHERE tn_id = ? AND f_id = ?") : c.prepare("SELECT f_id FROM files WHERE tn_id = ? AND file_id = ?");
  st.bind(1, int64_t{tn});
  if (f) st.bind(2, *f);
  else st.bind(2, id);
  if (!st.step()) return std::nullopt;
  return st.i64(0);
}

std::optional<std::string> file_text(Connection& c, uint32_t tn, int64_t f_id) {
  auto st = c.prepare("SELECT " + kFiles.columns() + " FROM files WHERE tn_id = ? AND f_id = ?");
  st.bind(1, int64_t{tn}).bind(2, f_id);
  if (!st.step()) return std::nullopt;
  return row_object(st, 0, kFiles);
}

std::optional<std::string> task_text(Connection& c, int64_t id) {
  auto st = c.prepare("SELECT " + kTasks.columns() + " FROM tasks WHERE tn_id = 0 AND id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return row_object(st, 0, kTasks);
}

}  // namespace

// ---- construction ---------------------------------------------------------------

MetaSqlite::MetaSqlite(std::string_view options_json) {
  OptionReader r(options_json, "meta-sqlite");
  DbOptions o = db_options(r);
  r.finish();
  db_ = std::make_unique<Database>(o, migrations());
  // Derived from the schema so a table added by a later migration is purged
  // by delete_tenant without anyone remembering to list it.
  db_->read([&](Connection& c) {
    auto st = c.prepare(
        "SELECT m.name FROM sqlite_schema m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' "
        "AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = 'tn_id') ORDER BY m.name");
    while (st.step()) tn_tables_.push_back(st.str(0));
  });
}

MetaSqlite::~MetaSqlite() = default;

Status MetaSqlite::health() {
  return db_->read([](Connection& c) {
    auto st = c.prepare("SELECT count(*) FROM schema_version");
    st.step();
    return Status::Ok();
  });
}

// ---- tenants ------------------------------------------------------------------

Status MetaSqlite::create_tenant(std::string_view tenant_json, const Sink& out) {
  NewTenant t = parse_new_tenant(tenant_json);
  std::string stored = db_->write([&](Connection& c) {
    auto st = c.prepare(kTenants.insert_sql());
    if (t.tn_id) st.bind(1, *t.tn_id);
    else st.bind_null(1);
    bind_record(st, 2, kTenants, t.rec, "create_tenant");
    st.run();
    return *tenant_text(c, static_cast<uint32_t>(c.last_insert_rowid()));
  });
  return emit(out, stored);
}

Status MetaSqlite::get_tenant(const Tenant& tn, const Sink& out) {
  auto text = db_->read([&](Connection& c) { return tenant_text(c, tn.tn_id); });
  if (!text) return Status::NotFound("no tenant " + std::to_string(tn.tn_id));
  return emit(out, *text);
}

Status MetaSqlite::update_tenant(const Tenant& tn, std::string_view patch_json) {
  constexpr std::string_view what = "update_tenant";
  json patch = parse_object(patch_json, what);
  return db_->write([&](Connection& c) {
    auto text = tenant_text(c, tn.tn_id);
    if (!text) return Status::NotFound("no tenant " + std::to_string(tn.tn_id));
    json rec = reparse(*text);
    patch_tenant(rec, patch);
    auto st = c.prepare(kTenants.update_sql());
    bind_record(st, 1, kTenants, rec, what);
    st.bind(static_cast<int>(kTenants.fields.size()) + 2, int64_t{tn.tn_id});
    st.run();
    return Status::Ok();
  });
}

Status MetaSqlite::delete_tenant(const Tenant& tn) {
  return db_->write([&](Connection& c) {
    if (!tenant_text(c, tn.tn_id)) return Status::NotFound("no tenant " + std::to_string(tn.tn_id));
    for (const auto& t : tn_tables_) c.prepare("DELETE FROM \"" + t + "\" WHERE tn_id = ?").bind(1, int64_t{tn.tn_id}).run();
    return Status::Ok();
  });
}

Status MetaSqlite::list_tenants(std::string_view filter_json, const Sink& out) {
  json f = parse_filter(filter_json, "list_tenants filter");
  std::string q = str_of(f, "q");
  std::string text = db_->read([&](Connection& c) {
    std::string sql = "SELECT tn_id, " + kTenantCols + " FROM tenants";
    if (!q.empty()) sql += " WHERE id_tag LIKE ?1 ESCAPE '\\' OR name LIKE ?1 ESCAPE '\\'";
    auto st = c.prepare(sql + " ORDER BY tn_id");
    if (!q.empty()) st.bind(1, like_escape(q) + "%");
    std::string s = "[";
    while (st.step()) {
      if (s.size() > 1) s += ',';
      s += tenant_object(st);
    }
    return s + "]";
  });
  return emit(out, text);
}

// ---- profiles -------------------------------------------------------------------

Status MetaSqlite::upsert_profile(const Tenant& tn, std::string_view profile_json) {
  constexpr std::string_view what = "upsert_profile";
  std::string id_tag;
  json patch = parse_profile_patch(profile_json, id_tag);
  return db_->write([&](Connection& c) {
    json rec = json::object();
    {
      auto st = c.prepare("SELECT " + kProfiles.columns() + " FROM profiles WHERE tn_id = ? AND id_tag = ?");
      st.bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(id_tag));
      if (st.step()) rec = reparse(row_object(st, 0, kProfiles));
    }
    merge(rec, patch, {}, what);
    auto st = c.prepare(kProfiles.insert_sql(true));
    st.bind(1, int64_t{tn.tn_id});
    bind_record(st, 2, kProfiles, rec, what);
    st.run();
    return Status::Ok();
  });
}

Status MetaSqlite::get_profile(const Tenant& tn, std::string_view id_tag, const Sink& out) {
  auto text = db_->read([&](Connection& c) -> std::optional<std::string> {
    auto st = c.prepare("SELECT " + kProfiles.columns() + " FROM profiles WHERE tn_id = ? AND id_tag = ?");
    st.bind(1, int64_t{tn.tn_id}).bind(2, id_tag);
    if (!st.step()) return std::nullopt;
    return row_object(st, 0, kProfiles);
  });
  if (!text) return Status::NotFound("no profile " + std::string(id_tag));
  return emit(out, *text);
}

Status MetaSqlite::list_profiles(const Tenant& tn, std::string_view filter_json, const Sink& out) {
  constexpr std::string_view what = "list_profiles filter";
  json f = parse_filter(filter_json, what);
  std::string sql = "SELECT " + kProfiles.columns() + " FROM profiles WHERE tn_id = ?";
  std::vector<Param> ps{int64_t{tn.tn_id}};
  int64_t limit = profile_filters(sql, ps, f, kSqliteDialect, what);
  sql += " ORDER BY id_tag LIMIT ?";
  ps.emplace_back(limit + 1);
  std::string text = db_->read([&](Connection& c) {
    auto st = c.prepare(sql);
    bind_all(st, ps);
    std::string s = "{\"profiles\":[";
    std::string last;
    int64_t n = 0;
    bool more = false;
    while (st.step()) {
      if (n == limit) {
        more = true;
        break;
      }
      if (n++) s += ',';
      s += row_object(st, 0, kProfiles);
      last = st.str(0);
    }
    s += "],\"cursor\":";
    if (more) append_json_string(s, last);
    else s += "null";
    return s + "}";
  });
  return emit(out, text);
}

Status MetaSqlite::put_public_key(std::string_view key_json) {
  constexpr std::string_view what = "put_public_key";
  json rec = parse_public_key(key_json);
  return db_->write([&](Connection& c) {
    auto st = c.prepare(kPublicKeys.insert_sql(true));
    st.bind(1, int64_t{0});
    bind_record(st, 2, kPublicKeys, rec, what);
    st.run();
    return Status::Ok();
  });
}

Status MetaSqlite::get_public_key(std::string_view id_tag, std::string_view key_id, const Sink& out) {
  auto text = db_->read([&](Connection& c) -> std::optional<std::string> {
    auto st = c.prepare("SELECT " + kPublicKeys.columns() + " FROM public_keys WHERE tn_id = 0 AND id_tag = ? AND key_id = ?");
    st.bind(1, id_tag).bind(2, key_id);
    if (!st.step()) return std::nullopt;
    return row_object(st, 0, kPublicKeys);
  });
  if (!text) return Status::NotFound("no public key " + std::string(key_id) + " of " + std::string(id_tag));
  return emit(out, *text);
}

// ---- actions --------------------------------------------------------------------

Status MetaSqlite::put_action(const Tenant& tn, std::string_view action_json, const Sink& out) {
  constexpr std::string_view what = "put_action";
  NewAction a = parse_new_action(action_json);
  const std::string& action_id = a.action_id;
  const std::string& key = a.key;
  const std::optional<std::string>& token = a.token;
  std::string text = db_->write([&](Connection& c) {
    std::optional<std::string> replaced;
    if (!key.empty()) {
      auto st = c.prepare("SELECT action_id FROM actions WHERE tn_id = ? AND key = ?");
      st.bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(key));
      if (st.step()) replaced = st.str(0);
    }
    if (replaced) {
      if (*replaced == action_id) throw Error(CM_CONFLICT, "put_action: action " + action_id + " already exists");
      // Superseded, not erased: the row and its token stay (status D, key
      // released) so a replay of the old token is recognised by its id.
      c.prepare("UPDATE actions SET status = 'D', key = NULL WHERE tn_id = ? AND action_id = ?").bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(*replaced)).run();
    }
    auto st = c.prepare(kActionInsertReturning);
    st.bind(1, int64_t{tn.tn_id});
    bind_record(st, 2, kActions, a.rec, what);
    if (token) st.bind(kActionInsertTokenParam, std::string_view(*token));
    if (!st.step()) throw Error(CM_INTERNAL, "put_action: INSERT … RETURNING returned no row");  // UNIQUE (tn_id, action_id) → CM_CONFLICT
    std::string stored = action_object(st);
    st.run();  // completes the statement (the row is already written)
    return put_action_result(stored, replaced);
  });
  return emit(out, text);
}

Status MetaSqlite::get_action(const Tenant& tn, std::string_view action_id, const Sink& out) {
  auto text = db_->read([&](Connection& c) { return action_text(c, tn.tn_id, action_id); });
  if (!text) return Status::NotFound("no action " + std::string(action_id));
  return emit(out, *text);
}

Status MetaSqlite::update_action(const Tenant& tn, std::string_view action_id, std::string_view patch_json) {
  constexpr std::string_view what = "update_action";
  json patch = parse_object(patch_json, what);
  return db_->write([&](Connection& c) {
    auto text = action_text(c, tn.tn_id, action_id);
    if (!text) return Status::NotFound("no action " + std::string(action_id));
    json rec = reparse(*text);
    ActionPatch p = patch_action(rec, patch);
    if (p.token_op != ActionPatch::Token::Keep) {
      auto st = c.prepare(kActionSetToken);
      if (p.token_op == ActionPatch::Token::Set) st.bind(1, std::string_view(p.token));  // else NULL: removed
      st.bind(2, int64_t{tn.tn_id}).bind(3, action_id).run();
    }
    auto st = c.prepare(kActions.update_sql("action_id"));
    bind_record(st, 1, kActions, rec, what);
    int n = static_cast<int>(kActions.fields.size()) + 2;
    st.bind(n, int64_t{tn.tn_id}).bind(n + 1, action_id);
    st.run();
    c.prepare("UPDATE actions SET stat_comments = ?, stat_reactions = ? WHERE tn_id = ? AND action_id = ?").bind(1, p.comments).bind(2, p.reactions).bind(3, int64_t{tn.tn_id}).bind(4, action_id).run();
    return Status::Ok();
  });
}

Status MetaSqlite::list_actions(const Tenant& tn, std::string_view filter_json, const Sink& out) {
  auto plan = action_list_plan(filter_json);  // the hot path: kept for repeated filters
  const int64_t limit = plan->limit;
  std::string text = db_->read([&](Connection& c) {
    auto st = c.prepare(plan->sql);
    bind_plan(st, int64_t{tn.tn_id}, *plan);
    std::string s;
    s.reserve(static_cast<size_t>(std::min<int64_t>(limit, 100)) * 384);  // ~a row each: no regrowth for usual rows
    s += "{\"actions\":[";
    std::string last;
    int64_t n = 0;
    bool more = false;
    while (st.step()) {
      if (n == limit) {
        more = true;
        break;
      }
      if (n++) s += ',';
      append_action(s, st);
      s += '}';
      if (n == limit) last = action_cursor(st);  // the next page starts after this row
    }
    s += "],\"cursor\":";
    if (more) append_json_string(s, last);
    else s += "null";
    s += '}';
    return s;
  });
  return emit(out, text);
}

Status MetaSqlite::push_inbound(const Tenant& tn, std::string_view inbound_json) {
  Inbound in = parse_inbound(inbound_json);
  return db_->write([&](Connection& c) {
    // A re-delivered token (same actionId) is a no-op.
    auto st = c.prepare("INSERT OR IGNORE INTO inbound(tn_id, action_id, token, ack_token, received_at) VALUES(?, ?, ?, ?, ?)");
    st.bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(in.action_id)).bind(3, std::string_view(in.token));
    if (in.ack_token) st.bind(4, std::string_view(*in.ack_token));
    else st.bind_null(4);
    st.bind(5, in.received_at).run();
    return Status::Ok();
  });
}

Status MetaSqlite::pop_inbound(const Tenant& tn, uint32_t limit, const Sink& out) {
  // limit 0 = everything queued.
  int64_t lim = limit == 0 ? -1 : int64_t{limit};
  std::string text = db_->write([&](Connection& c) {
    std::string s = "[";
    int64_t last = -1;
    {
      auto st = c.prepare("SELECT q_id, action_id, token, ack_token, received_at FROM inbound WHERE tn_id = ? ORDER BY q_id LIMIT ?");
      st.bind(1, int64_t{tn.tn_id}).bind(2, lim);
      while (st.step()) {
        append_inbound(s, st, 1);
        last = st.i64(0);
      }
    }
    // Same transaction as the read: what was returned is exactly what goes.
    if (last >= 0) c.prepare("DELETE FROM inbound WHERE tn_id = ? AND q_id <= ?").bind(1, int64_t{tn.tn_id}).bind(2, last).run();
    return s + "]";
  });
  return emit(out, text);
}

// ---- files ----------------------------------------------------------------------

Status MetaSqlite::put_file(const Tenant& tn, std::string_view file_json, const Sink& out) {
  constexpr std::string_view what = "put_file";
  json rec = parse_new_file(file_json);
  std::string text = db_->write([&](Connection& c) {
    auto st = c.prepare(kFiles.insert_sql());
    st.bind(1, int64_t{tn.tn_id});
    bind_record(st, 2, kFiles, rec, what);
    st.run();  // UNIQUE (tn_id, file_id) → CM_CONFLICT
    return *file_text(c, tn.tn_id, c.last_insert_rowid());
  });
  return emit(out, text);
}

Status MetaSqlite::get_file(const Tenant& tn, std::string_view file_id, const Sink& out) {
  auto text = db_->read([&](Connection& c) -> std::optional<std::string> {
    Transaction tx(c, false);
    auto f = resolve_file(c, tn.tn_id, file_id);
    std::optional<std::string> t = f ? file_text(c, tn.tn_id, *f) : std::nullopt;
    tx.commit();
    return t;
  });
  if (!text) return Status::NotFound("no file " + std::string(file_id));
  return emit(out, *text);
}

Status MetaSqlite::update_file(const Tenant& tn, std::string_view file_id, std::string_view patch_json) {
  constexpr std::string_view what = "update_file";
  json patch = parse_object(patch_json, what);
  return db_->write([&](Connection& c) {
    auto f = resolve_file(c, tn.tn_id, file_id);
    if (!f) return Status::NotFound("no file " + std::string(file_id));
    json rec = reparse(*file_text(c, tn.tn_id, *f));
    patch_file(rec, patch);
    auto st = c.prepare(kFiles.update_sql("f_id"));
    bind_record(st, 1, kFiles, rec, what);
    int n = static_cast<int>(kFiles.fields.size()) + 2;
    st.bind(n, int64_t{tn.tn_id}).bind(n + 1, *f);
    st.run();
    return Status::Ok();
  });
}

Status MetaSqlite::list_files(const Tenant& tn, std::string_view filter_json, const Sink& out) {
  constexpr std::string_view what = "list_files filter";
  json f = parse_filter(filter_json, what);
  std::string sql = "SELECT " + kFiles.columns() + " FROM files WHERE tn_id = ?";
  std::vector<Param> ps{int64_t{tn.tn_id}};
  int64_t limit = file_filters(sql, ps, f, kSqliteDialect, what);
  sql += " ORDER BY f_id DESC LIMIT ?";
  ps.emplace_back(limit + 1);
  std::string text = db_->read([&](Connection& c) {
    auto st = c.prepare(sql);
    bind_all(st, ps);
    std::string s = "{\"files\":[";
    int64_t n = 0, last = 0;
    bool more = false;
    while (st.step()) {
      if (n == limit) {
        more = true;
        break;
      }
      if (n++) s += ',';
      s += row_object(st, 0, kFiles);
      last = st.i64(0);
    }
    s += "],\"cursor\":";
    s += more ? "\"" + std::to_string(last) + "\"" : std::string("null");
    return s + "}";
  });
  return emit(out, text);
}

Status MetaSqlite::put_variant(const Tenant& tn, std::string_view variant_json) {
  constexpr std::string_view what = "put_variant";
  NewVariant v = parse_variant(variant_json);
  json& rec = v.rec;
  const std::string& ref = v.file;
  return db_->write([&](Connection& c) {
    auto f = resolve_file(c, tn.tn_id, ref);
    if (!f) return Status::NotFound("no file " + ref);
    rec["fId"] = *f;
    auto st = c.prepare(kVariants.insert_sql(true));
    st.bind(1, int64_t{tn.tn_id});
    bind_record(st, 2, kVariants, rec, what);
    st.run();
    return Status::Ok();
  });
}

Status MetaSqlite::list_variants(const Tenant& tn, std::string_view file_id, const Sink& out) {
  auto text = db_->read([&](Connection& c) -> std::optional<std::string> {
    Transaction tx(c, false);
    auto f = resolve_file(c, tn.tn_id, file_id);
    if (!f) return std::nullopt;
    auto st = c.prepare("SELECT " + kVariants.columns() + " FROM file_variants WHERE tn_id = ? AND f_id = ? ORDER BY variant");
    st.bind(1, int64_t{tn.tn_id}).bind(2, *f);
    std::string s = "[";
    while (st.step()) {
      if (s.size() > 1) s += ',';
      s += row_object(st, 0, kVariants);
    }
    tx.commit();
    return s + "]";
  });
  if (!text) return Status::NotFound("no file " + std::string(file_id));
  return emit(out, *text);
}

// ---- tasks ----------------------------------------------------------------------

Status MetaSqlite::create_task(std::string_view task_json, const Sink& out) {
  NewTask t = parse_new_task(task_json);
  int64_t id = db_->write([&](Connection& c) -> int64_t {
    if (t.dedup) {
      auto st = c.prepare("SELECT id FROM tasks WHERE tn_id = 0 AND kind = ? AND key = ? AND status = 'P'");
      st.bind(1, std::string_view(t.kind)).bind(2, std::string_view(t.key));
      if (st.step()) return st.i64(0);  // dedup: the pending task with this kind+key
    }
    auto st = c.prepare(kTasks.insert_sql());
    st.bind(1, int64_t{0});
    bind_record(st, 2, kTasks, t.rec, "create_task");
    st.run();
    return c.last_insert_rowid();
  });
  return emit(out, "{\"id\":" + std::to_string(id) + "}");
}

Status MetaSqlite::update_task(int64_t id, std::string_view patch_json) {
  constexpr std::string_view what = "update_task";
  json patch = parse_task_patch(patch_json);
  return db_->write([&](Connection& c) {
    auto text = task_text(c, id);
    if (!text) return Status::NotFound("no task " + std::to_string(id));
    json rec = reparse(*text);
    merge(rec, patch, {}, what);
    auto st = c.prepare(kTasks.update_sql("id"));
    bind_record(st, 1, kTasks, rec, what);
    int n = static_cast<int>(kTasks.fields.size()) + 2;
    st.bind(n, int64_t{0}).bind(n + 1, id);
    st.run();
    return Status::Ok();
  });
}

Status MetaSqlite::get_task(int64_t id, const Sink& out) {
  auto text = db_->read([&](Connection& c) { return task_text(c, id); });
  if (!text) return Status::NotFound("no task " + std::to_string(id));
  return emit(out, *text);
}

Status MetaSqlite::list_pending_tasks(const Sink& out) {
  std::string text = db_->read([&](Connection& c) {
    auto st = c.prepare("SELECT " + kTasks.columns() + " FROM tasks WHERE tn_id = 0 AND status = 'P' ORDER BY id");
    std::string s = "[";
    while (st.step()) {
      if (s.size() > 1) s += ',';
      s += row_object(st, 0, kTasks);
    }
    return s + "]";
  });
  return emit(out, text);
}

Status MetaSqlite::delete_task(int64_t id) {
  int n = db_->write([&](Connection& c) { return c.prepare("DELETE FROM tasks WHERE tn_id = 0 AND id = ?").bind(1, id).run(); });
  return n ? Status::Ok() : Status::NotFound("no task " + std::to_string(id));
}

// ---- settings -------------------------------------------------------------------

Status MetaSqlite::get_setting(const Tenant& tn, std::string_view key, const Sink& out) {
  auto text = db_->read([&](Connection& c) -> std::optional<std::string> {
    auto st = c.prepare("SELECT value FROM settings WHERE tn_id = ? AND key = ?");
    st.bind(1, int64_t{tn.tn_id}).bind(2, key);
    if (!st.step()) return std::nullopt;
    return st.str(0);
  });
  if (!text) return Status::NotFound("no setting " + std::string(key));
  return emit(out, *text);
}

Status MetaSqlite::put_setting(const Tenant& tn, std::string_view key, std::string_view value_json) {
  check_setting(key, value_json);
  return db_->write([&](Connection& c) {
    c.prepare("INSERT OR REPLACE INTO settings(tn_id, key, value) VALUES(?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, key).bind(3, value_json).run();
    return Status::Ok();
  });
}

Status MetaSqlite::list_settings(const Tenant& tn, std::string_view prefix, const Sink& out) {
  // A prefix is the key range [prefix, prefix_upper): an index range
  // instead of a scan.
  const std::string upper = prefix_upper(prefix);
  std::string text = db_->read([&](Connection& c) {
    auto st = upper.empty() ? c.prepare("SELECT key, value FROM settings WHERE tn_id = ? AND key >= ? ORDER BY key")
                            : c.prepare("SELECT key, value FROM settings WHERE tn_id = ? AND key >= ? AND key < ? ORDER BY key");
    st.bind(1, int64_t{tn.tn_id}).bind(2, prefix);
    if (!upper.empty()) st.bind(3, std::string_view(upper));
    std::string s = "{";
    while (st.step()) {
      if (st.text(0).substr(0, prefix.size()) != prefix) continue;
      append_member(s, st.text(0), st.text(1));
    }
    return s + "}";
  });
  return emit(out, text);
}

Status MetaSqlite::delete_setting(const Tenant& tn, std::string_view key) {
  int n = db_->write([&](Connection& c) { return c.prepare("DELETE FROM settings WHERE tn_id = ? AND key = ?").bind(1, int64_t{tn.tn_id}).bind(2, key).run(); });
  return n ? Status::Ok() : Status::NotFound("no setting " + std::string(key));
}

// ---- records --------------------------------------------------------------------

Status MetaSqlite::put_record(const Tenant& tn, std::string_view coll, std::string_view key, std::string_view record_json) {
  check_record(coll, key, record_json);
  return db_->write([&](Connection& c) {
    c.prepare("INSERT OR REPLACE INTO records(tn_id, coll, key, value) VALUES(?, ?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, coll).bind(3, key).bind(4, record_json).run();
    return Status::Ok();
  });
}

Status MetaSqlite::get_record(const Tenant& tn, std::string_view coll, std::string_view key, const Sink& out) {
  auto text = db_->read([&](Connection& c) -> std::optional<std::string> {
    auto st = c.prepare("SELECT value FROM records WHERE tn_id = ? AND coll = ? AND key = ?");
    st.bind(1, int64_t{tn.tn_id}).bind(2, coll).bind(3, key);
    if (!st.step()) return std::nullopt;
    return st.str(0);
  });
  if (!text) return Status::NotFound("no record " + std::string(coll) + "/" + std::string(key));
  return emit(out, *text);
}

Status MetaSqlite::delete_record(const Tenant& tn, std::string_view coll, std::string_view key) {
  int n = db_->write([&](Connection& c) { return c.prepare("DELETE FROM records WHERE tn_id = ? AND coll = ? AND key = ?").bind(1, int64_t{tn.tn_id}).bind(2, coll).bind(3, key).run(); });
  return n ? Status::Ok() : Status::NotFound("no record " + std::string(coll) + "/" + std::string(key));
}

Status MetaSqlite::list_records(const Tenant& tn, std::string_view coll, std::string_view filter_json, const Sink& out) {
  json filter = parse_filter(filter_json, "list_records filter");
  std::string text = db_->read([&](Connection& c) {
    auto st = c.prepare("SELECT value FROM records WHERE tn_id = ? AND coll = ? ORDER BY key");
    st.bind(1, int64_t{tn.tn_id}).bind(2, coll);
    std::string s = "[";
    while (st.step()) {
      std::string_view v = st.text(0);
      if (!record_matches(v, filter)) continue;
      if (s.size() > 1) s += ',';
      s += v;
    }
    return s + "]";
  });
  return emit(out, text);
}

}  // namespace cumulo::sqlite
