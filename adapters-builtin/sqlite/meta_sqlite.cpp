// meta-sqlite. JSON shapes: README.md in this directory. Every row carries
// tn_id and every statement filters by it; node-global data (tasks, the
// remote public key cache) lives under tn_id 0.
#include "meta_sqlite.hpp"

#include <charconv>
#include <variant>

#include "record.hpp"

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
  };
  return m;
}

// ---- table descriptions (column order = schema order; see record.hpp) ----------

const Table kTenants{"tenants",
                     {{"idTag", "id_tag", Type::Text},
                      {"type", "type", Type::Text},
                      {"name", "name", Type::Text, true},
                      {"profilePic", "profile_pic", Type::Text, true},
                      {"coverPic", "cover_pic", Type::Text, true},
                      {"x", "x", Type::Json, true},
                      {"createdAt", "created_at", Type::Int}}};

const Table kProfiles{"profiles",
                      {{"idTag", "id_tag", Type::Text},
                       {"name", "name", Type::Text},
                       {"type", "type", Type::Text},
                       {"profilePic", "profile_pic", Type::Text},
                       {"status", "status", Type::Text},
                       {"perm", "perm", Type::Text},
                       {"following", "following", Type::Bool},
                       {"follower", "follower", Type::Bool},
                       {"connected", "connected", Type::Json},
                       {"roles", "roles", Type::Json},
                       {"trust", "trust", Type::Text},
                       {"syncedAt", "synced_at", Type::Int},
                       {"etag", "etag", Type::Text}}};

const Table kPublicKeys{"public_keys",
                        {{"idTag", "id_tag", Type::Text},
                         {"keyId", "key_id", Type::Text},
                         {"publicKey", "public_key", Type::Text},
                         {"expiresAt", "expires_at", Type::Int}}};

const Table kActions{"actions",
                     {{"actionId", "action_id", Type::Text},
                      {"type", "type", Type::Text},
                      {"subType", "sub_type", Type::Text},
                      {"key", "key", Type::Text},
                      {"parentId", "parent_id", Type::Text},
                      {"rootId", "root_id", Type::Text},
                      {"issuerTag", "issuer_tag", Type::Text},
                      {"audience", "audience", Type::Text},
                      {"subject", "subject", Type::Text},
                      {"content", "content", Type::Json},
                      {"attachments", "attachments", Type::Json},
                      {"visibility", "visibility", Type::Text},
                      {"flags", "flags", Type::Text},
                      {"status", "status", Type::Text},
                      {"createdAt", "created_at", Type::Int},
                      {"expiresAt", "expires_at", Type::Int},
                      {"x", "x", Type::Json}}};

const Table kFiles{"files",
                   {{"fId", "f_id", Type::Int},
                    {"fileId", "file_id", Type::Text},
                    {"fileType", "file_type", Type::Text},
                    {"status", "status", Type::Text},
                    {"ownerTag", "owner_tag", Type::Text},
                    {"creatorTag", "creator_tag", Type::Text},
                    {"preset", "preset", Type::Text},
                    {"contentType", "content_type", Type::Text},
                    {"fileName", "file_name", Type::Text},
                    {"tags", "tags", Type::Json},
                    {"visibility", "visibility", Type::Text},
                    {"parentId", "parent_id", Type::Text},
                    {"rootId", "root_id", Type::Text},
                    {"x", "x", Type::Json},
                    {"createdAt", "created_at", Type::Int}}};

const Table kVariants{"file_variants",
                      {{"fId", "f_id", Type::Int},
                       {"variant", "variant", Type::Text},
                       {"variantId", "variant_id", Type::Text},
                       {"resX", "res_x", Type::Int},
                       {"resY", "res_y", Type::Int},
                       {"format", "format", Type::Text},
                       {"size", "size", Type::Int},
                       {"available", "available", Type::Bool},
                       {"duration", "duration", Type::Json},
                       {"pages", "pages", Type::Int}}};

const Table kTasks{"tasks",
                   {{"id", "id", Type::Int},
                    {"kind", "kind", Type::Text},
                    {"key", "key", Type::Text},
                    {"status", "status", Type::Text},
                    {"priority", "priority", Type::Text},
                    {"nextAt", "next_at", Type::Int},
                    {"attempt", "attempt", Type::Int},
                    {"retry", "retry", Type::Json},
                    {"cron", "cron", Type::Text},
                    {"deps", "deps", Type::Json},
                    {"input", "input", Type::Text},
                    {"output", "output", Type::Text},
                    {"error", "error", Type::Text},
                    {"createdAt", "created_at", Type::Int}}};

// SQL texts are built once: the statement cache is keyed by the text.
const std::string kTenantCols = kTenants.columns();
const std::string kActionSelect = "SELECT " + kActions.columns() + ", stat_comments, stat_reactions FROM actions";

// ---- helpers --------------------------------------------------------------------

Status emit(const Sink& out, std::string_view text) { return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away"); }

json parse_filter(std::string_view text, std::string_view what) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  return parse_object(text, what);
}

/// Row → "{…}" (columns of `t` from column `first`).
std::string row_object(const Stmt& st, int first, const Table& t) {
  std::string s = "{";
  append_row(s, st, first, t);
  return s + "}";
}

json reparse(const std::string& text) { return json::parse(text); }

// "%", "_" and "\" are LIKE wildcards / our escape.
std::string like_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

/// Positional parameters collected while building dynamic SQL.
using Param = std::variant<int64_t, std::string>;
void bind_all(Stmt& st, const std::vector<Param>& ps) {
  int i = 1;
  for (const auto& p : ps) {
    if (auto* n = std::get_if<int64_t>(&p)) st.bind(i++, *n);
    else st.bind(i++, std::string_view(std::get<std::string>(p)));
  }
}

/// A filter value that may be one string or an array of strings → "IN (?,…)".
void add_in(std::string& sql, std::vector<Param>& ps, const json& f, const char* key, const char* column, std::string_view what) {
  auto it = f.find(key);
  if (it == f.end() || it->is_null()) return;
  std::vector<std::string> vals;
  if (it->is_string()) vals.push_back(it->get<std::string>());
  else if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_string()) invalid(what, std::string("\"") + key + "\" must be a string or an array of strings");
      vals.push_back(v.get<std::string>());
    }
  } else {
    invalid(what, std::string("\"") + key + "\" must be a string or an array of strings");
  }
  sql += std::string(" AND ") + column + " IN (";
  for (size_t i = 0; i < vals.size(); ++i) {
    sql += i ? ",?" : "?";
    ps.emplace_back(std::move(vals[i]));
  }
  sql += ")";
}

void add_eq(std::string& sql, std::vector<Param>& ps, const json& f, const char* key, const char* column, std::string_view what) {
  auto it = f.find(key);
  if (it == f.end() || it->is_null()) return;
  if (!it->is_string()) invalid(what, std::string("\"") + key + "\" must be a string");
  sql += std::string(" AND ") + column + " = ?";
  ps.emplace_back(it->get<std::string>());
}

int64_t limit_of(const json& f, int64_t def, int64_t max, std::string_view what) {
  auto it = f.find("limit");
  if (it == f.end() || it->is_null()) return def;
  if (!it->is_number_integer() || it->get<int64_t>() < 1) invalid(what, "\"limit\" must be a positive integer");
  return std::min(it->get<int64_t>(), max);
}

std::optional<std::string> cursor_of(const json& f, std::string_view what) {
  auto it = f.find("cursor");
  if (it == f.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) invalid(what, "\"cursor\" must be a string from a previous page");
  return it->get<std::string>();
}

int64_t to_int(std::string_view s, std::string_view what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) invalid(what, "malformed cursor or id \"" + std::string(s) + "\"");
  return v;
}

void require_key(std::string_view key, const char* what) {
  if (key.empty()) invalid(what, "empty key");
}

// Merges `patch` into `rec` (top-level keys), refusing to change `immutable`.
void merge(json& rec, const json& patch, std::initializer_list<const char*> immutable, std::string_view what) {
  for (auto& [k, v] : patch.items()) {
    for (const char* im : immutable)
      if (k == im) {
        auto cur = rec.find(k);
        if (cur == rec.end() || *cur != v) invalid(what, "\"" + k + "\" cannot be changed");
      }
    rec[k] = v;
  }
}

// -- per-table reads used by several calls (all on a held connection)

std::optional<std::string> tenant_text(Connection& c, uint32_t tn) {
  auto st = c.prepare("SELECT tn_id, " + kTenantCols + " FROM tenants WHERE tn_id = ?");
  st.bind(1, int64_t{tn});
  if (!st.step()) return std::nullopt;
  std::string s = "{\"tnId\":" + std::to_string(st.i64(0)) + ",";
  append_row(s, st, 1, kTenants);
  return s + "}";
}

// The action record: columns, stats, and the token when `with_token`.
void append_action(std::string& out, const Stmt& st) {
  out += '{';
  if (append_row(out, st, 0, kActions)) out += ',';
  int n = static_cast<int>(kActions.fields.size()) + 1;
  out += "\"stats\":{\"comments\":" + std::to_string(st.i64(n)) + ",\"reactions\":" + std::to_string(st.i64(n + 1)) + "}";
}

// One statement for the row and its token.
const std::string kActionGet = "SELECT " + [] {
  std::string cols;
  for (const auto& f : kActions.fields) (cols += "a.") += std::string(f.column) + ", ";
  return cols;
}() + "a.extra, a.stat_comments, a.stat_reactions, t.token FROM actions a LEFT JOIN action_tokens t ON t.tn_id = a.tn_id AND t.action_id = a.action_id "
      "WHERE a.tn_id = ? AND a.action_id = ?";

std::optional<std::string> action_text(Connection& c, uint32_t tn, std::string_view action_id) {
  auto st = c.prepare(kActionGet);
  st.bind(1, int64_t{tn}).bind(2, action_id);
  if (!st.step()) return std::nullopt;
  std::string s;
  append_action(s, st);
  const int tok = static_cast<int>(kActions.fields.size()) + 3;
  if (!st.is_null(tok)) {
    s += ",\"token\":";
    append_json_string(s, st.text(tok));
  }
  return s + "}";
}

/// "@<fId>" or a fileId → f_id, or nullopt.
std::optional<int64_t> resolve_file(Connection& c, uint32_t tn, std::string_view id) {
  if (id.empty()) invalid("file", "empty file id");
  Stmt st = id[0] == '@' ? c.prepare("SELECT f_id FROM files WHERE tn_id = ? AND f_id = ?") : c.prepare("SELECT f_id FROM files WHERE tn_id = ? AND file_id = ?");
  st.bind(1, int64_t{tn});
  if (id[0] == '@') st.bind(2, to_int(id.substr(1), "file id"));
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

const char* const kFileTypes[] = {"BLOB", "CRDT", "RTDB", "FLDR"};

void check_file(const json& rec, std::string_view what) {
  std::string ft = required_str(rec, "fileType", what);
  if (std::find(std::begin(kFileTypes), std::end(kFileTypes), ft) == std::end(kFileTypes)) invalid(what, "\"fileType\" must be BLOB, CRDT, RTDB or FLDR");
  std::string stt = required_str(rec, "status", what);
  if (stt != "P" && stt != "A" && stt != "D") invalid(what, "\"status\" must be P, A or D");
  required_str(rec, "ownerTag", what);
  if (auto it = rec.find("tags"); it != rec.end() && !it->is_null()) {
    if (!it->is_array()) invalid(what, "\"tags\" must be an array of strings");
    for (const auto& t : *it)
      if (!t.is_string()) invalid(what, "\"tags\" must be an array of strings");
  }
}

}  // namespace

// ---- construction ---------------------------------------------------------------

MetaSqlite::MetaSqlite(std::string_view options_json) {
  json opts = parse_object(options_json, "meta-sqlite options");
  db_ = std::make_unique<Database>(db_options(opts, "meta-sqlite"), migrations());
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
  constexpr std::string_view what = "create_tenant";
  json rec = parse_object(tenant_json, what);
  required_str(rec, "idTag", what);
  std::string type = required_str(rec, "type", what);
  if (type != "P" && type != "C") invalid(what, "\"type\" must be \"P\" (person) or \"C\" (community)");
  std::optional<int64_t> tn_id;
  if (auto it = rec.find("tnId"); it != rec.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > UINT32_MAX) invalid(what, "\"tnId\" must be an integer in [1, 2^32)");
    tn_id = it->get<int64_t>();
    rec.erase("tnId");
  }
  if (!rec.contains("x") || rec["x"].is_null()) rec["x"] = json::object();
  if (!rec.contains("createdAt")) rec["createdAt"] = now_s();
  std::string stored = db_->write([&](Connection& c) {
    auto st = c.prepare(kTenants.insert_sql());
    if (tn_id) st.bind(1, *tn_id);
    else st.bind_null(1);
    bind_record(st, 2, kTenants, rec, what);
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
    merge(rec, patch, {"tnId", "idTag"}, what);
    rec.erase("tnId");
    std::string type = str_of(rec, "type");
    if (type != "P" && type != "C") invalid(what, "\"type\" must be \"P\" or \"C\"");
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
      s += "{\"tnId\":" + std::to_string(st.i64(0)) + ",";
      append_row(s, st, 1, kTenants);
      s += '}';
    }
    return s + "]";
  });
  return emit(out, text);
}

// ---- profiles -------------------------------------------------------------------

Status MetaSqlite::upsert_profile(const Tenant& tn, std::string_view profile_json) {
  constexpr std::string_view what = "upsert_profile";
  json patch = parse_object(profile_json, what);
  std::string id_tag = required_str(patch, "idTag", what);
  if (auto it = patch.find("connected"); it != patch.end() && !it->is_null() && !it->is_boolean() && *it != "R")
    invalid(what, "\"connected\" must be true, false or \"R\"");
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
  for (const char* b : {"following", "follower"}) {
    auto it = f.find(b);
    if (it == f.end() || it->is_null()) continue;
    if (!it->is_boolean()) invalid(what, std::string("\"") + b + "\" must be true or false");
    sql += std::string(" AND coalesce(") + b + ", 0) = ?";
    ps.emplace_back(int64_t{it->get<bool>() ? 1 : 0});
  }
  if (auto it = f.find("connected"); it != f.end() && !it->is_null()) {
    if (!it->is_boolean() && *it != "R") invalid(what, "\"connected\" must be true, false or \"R\"");
    sql += " AND coalesce(connected, 'false') = ?";
    ps.emplace_back(it->dump());
  }
  if (std::string q = str_of(f, "q"); !q.empty()) {
    // LIKE folds ASCII case only; good enough for id tags (DNS names).
    sql += " AND (id_tag LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')";
    ps.emplace_back(like_escape(q) + "%");
    ps.emplace_back(like_escape(q) + "%");
  }
  if (auto it = f.find("idTags"); it != f.end() && !it->is_null()) {
    if (!it->is_array()) invalid(what, "\"idTags\" must be an array of strings");
    add_in(sql, ps, f, "idTags", "id_tag", what);
  }
  if (auto cur = cursor_of(f, what)) {
    sql += " AND id_tag > ?";
    ps.emplace_back(*cur);
  }
  int64_t limit = limit_of(f, 100, 1000, what);
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
  json rec = parse_object(key_json, what);
  for (const char* k : {"idTag", "keyId", "publicKey"}) required_str(rec, k, what);
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
  json rec = parse_object(action_json, what);
  std::string action_id = required_str(rec, "actionId", what);
  required_str(rec, "type", what);
  required_str(rec, "issuerTag", what);
  if (auto it = rec.find("createdAt"); it == rec.end() || !it->is_number_integer()) invalid(what, "missing required integer \"createdAt\" (Unix seconds)");
  if (!rec.contains("visibility") || rec["visibility"].is_null()) rec["visibility"] = "D";
  if (!rec.contains("status") || rec["status"].is_null()) rec["status"] = "A";
  std::optional<std::string> token;
  if (auto it = rec.find("token"); it != rec.end()) {
    if (!it->is_null() && !it->is_string()) invalid(what, "\"token\" must be a string");
    if (it->is_string()) token = it->get<std::string>();
    rec.erase(it);
  }
  rec.erase("stats");  // maintained by update_action
  std::string key = str_of(rec, "key");
  std::string text = db_->write([&](Connection& c) {
    std::optional<std::string> replaced;
    if (!key.empty()) {
      auto st = c.prepare("SELECT action_id FROM actions WHERE tn_id = ? AND key = ?");
      st.bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(key));
      if (st.step()) replaced = st.str(0);
    }
    if (replaced) {
      if (*replaced == action_id) throw Error(CM_CONFLICT, "put_action: action " + action_id + " already exists");
      c.prepare("DELETE FROM actions WHERE tn_id = ? AND action_id = ?").bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(*replaced)).run();
      c.prepare("DELETE FROM action_tokens WHERE tn_id = ? AND action_id = ?").bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(*replaced)).run();
    }
    {
      auto st = c.prepare(kActions.insert_sql());
      st.bind(1, int64_t{tn.tn_id});
      bind_record(st, 2, kActions, rec, what);
      st.run();  // UNIQUE (tn_id, action_id) → CM_CONFLICT
    }
    if (token) c.prepare("INSERT OR REPLACE INTO action_tokens(tn_id, action_id, token) VALUES(?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(action_id)).bind(3, std::string_view(*token)).run();
    std::string s = "{\"stored\":" + *action_text(c, tn.tn_id, action_id);
    if (replaced) {
      s += ",\"replaced\":";
      append_json_string(s, *replaced);
    }
    return s + "}";
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
    merge(rec, patch, {"actionId"}, what);
    const json stats = rec["stats"];
    rec.erase("stats");
    if (auto it = rec.find("token"); it != rec.end()) {
      if (it->is_string())
        c.prepare("INSERT OR REPLACE INTO action_tokens(tn_id, action_id, token) VALUES(?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, action_id).bind(3, std::string_view(it->get_ref<const std::string&>())).run();
      else if (it->is_null())
        c.prepare("DELETE FROM action_tokens WHERE tn_id = ? AND action_id = ?").bind(1, int64_t{tn.tn_id}).bind(2, action_id).run();
      else
        invalid(what, "\"token\" must be a string");
      rec.erase(it);
    }
    int64_t comments = 0, reactions = 0;
    if (!stats.is_object()) invalid(what, "\"stats\" must be {\"comments\":n,\"reactions\":n}");
    for (auto [k, dst] : {std::pair{"comments", &comments}, std::pair{"reactions", &reactions}}) {
      auto it = stats.find(k);
      if (it == stats.end()) continue;
      if (!it->is_number_integer()) invalid(what, std::string("\"stats.") + k + "\" must be an integer");
      *dst = it->get<int64_t>();
    }
    auto st = c.prepare(kActions.update_sql("action_id"));
    bind_record(st, 1, kActions, rec, what);
    int n = static_cast<int>(kActions.fields.size()) + 2;
    st.bind(n, int64_t{tn.tn_id}).bind(n + 1, action_id);
    st.run();
    c.prepare("UPDATE actions SET stat_comments = ?, stat_reactions = ? WHERE tn_id = ? AND action_id = ?").bind(1, comments).bind(2, reactions).bind(3, int64_t{tn.tn_id}).bind(4, action_id).run();
    return Status::Ok();
  });
}

Status MetaSqlite::list_actions(const Tenant& tn, std::string_view filter_json, const Sink& out) {
  constexpr std::string_view what = "list_actions filter";
  json f = parse_filter(filter_json, what);
  std::string sql = kActionSelect + " WHERE tn_id = ?";
  std::vector<Param> ps{int64_t{tn.tn_id}};
  add_in(sql, ps, f, "type", "type", what);
  add_eq(sql, ps, f, "issuerTag", "issuer_tag", what);
  add_eq(sql, ps, f, "parentId", "parent_id", what);
  add_eq(sql, ps, f, "rootId", "root_id", what);
  add_eq(sql, ps, f, "audience", "audience", what);
  add_in(sql, ps, f, "status", "status", what);
  add_in(sql, ps, f, "visibility", "visibility", what);
  if (auto it = f.find("before"); it != f.end() && !it->is_null()) {
    if (!it->is_number_integer()) invalid(what, "\"before\" must be an integer (Unix seconds)");
    sql += " AND created_at < ?";
    ps.emplace_back(it->get<int64_t>());
  }
  if (auto cur = cursor_of(f, what)) {
    // "<createdAt>:<actionId>" of the last action of the previous page.
    auto colon = cur->find(':');
    if (colon == std::string::npos) invalid(what, "malformed \"cursor\"");
    sql += " AND (created_at, action_id) < (?, ?)";
    ps.emplace_back(to_int(std::string_view(*cur).substr(0, colon), what));
    ps.emplace_back(cur->substr(colon + 1));
  }
  int64_t limit = limit_of(f, 20, 500, what);
  sql += " ORDER BY created_at DESC, action_id DESC LIMIT ?";
  ps.emplace_back(limit + 1);
  const int created_col = static_cast<int>(kActions.find("createdAt") - kActions.fields.data());
  std::string text = db_->read([&](Connection& c) {
    auto st = c.prepare(sql);
    bind_all(st, ps);
    std::string s = "{\"actions\":[";
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
      last = std::to_string(st.i64(created_col)) + ":" + st.str(0);
    }
    s += "],\"cursor\":";
    if (more) append_json_string(s, last);
    else s += "null";
    return s + "}";
  });
  return emit(out, text);
}

Status MetaSqlite::push_inbound(const Tenant& tn, std::string_view inbound_json) {
  constexpr std::string_view what = "push_inbound";
  json rec = parse_object(inbound_json, what);
  std::string action_id = required_str(rec, "actionId", what);
  std::string token = required_str(rec, "token", what);
  std::optional<std::string> ack;
  if (auto it = rec.find("ackToken"); it != rec.end() && !it->is_null()) {
    if (!it->is_string()) invalid(what, "\"ackToken\" must be a string");
    ack = it->get<std::string>();
  }
  int64_t received = now_s();
  if (auto it = rec.find("receivedAt"); it != rec.end() && !it->is_null()) {
    if (!it->is_number_integer()) invalid(what, "\"receivedAt\" must be an integer (Unix seconds)");
    received = it->get<int64_t>();
  }
  return db_->write([&](Connection& c) {
    // A re-delivered token (same actionId) is a no-op.
    auto st = c.prepare("INSERT OR IGNORE INTO inbound(tn_id, action_id, token, ack_token, received_at) VALUES(?, ?, ?, ?, ?)");
    st.bind(1, int64_t{tn.tn_id}).bind(2, std::string_view(action_id)).bind(3, std::string_view(token));
    if (ack) st.bind(4, std::string_view(*ack));
    else st.bind_null(4);
    st.bind(5, received).run();
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
        if (s.size() > 1) s += ',';
        s += "{\"actionId\":";
        append_json_string(s, st.text(1));
        s += ",\"token\":";
        append_json_string(s, st.text(2));
        if (!st.is_null(3)) {
          s += ",\"ackToken\":";
          append_json_string(s, st.text(3));
        }
        s += ",\"receivedAt\":" + std::to_string(st.i64(4)) + "}";
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
  json rec = parse_object(file_json, what);
  check_file(rec, what);
  rec.erase("fId");  // assigned here
  if (!rec.contains("createdAt")) rec["createdAt"] = now_s();
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
    merge(rec, patch, {"fId"}, what);
    check_file(rec, what);
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
  add_eq(sql, ps, f, "parentId", "parent_id", what);
  add_in(sql, ps, f, "status", "status", what);
  add_in(sql, ps, f, "fileType", "file_type", what);
  if (auto it = f.find("tag"); it != f.end() && !it->is_null()) {
    if (!it->is_string()) invalid(what, "\"tag\" must be a string");
    sql += " AND EXISTS (SELECT 1 FROM json_each(files.tags) t WHERE t.value = ?)";
    ps.emplace_back(it->get<std::string>());
  }
  if (std::string q = str_of(f, "q"); !q.empty()) {
    sql += " AND file_name LIKE ? ESCAPE '\\'";
    ps.emplace_back("%" + like_escape(q) + "%");
  }
  if (auto cur = cursor_of(f, what)) {
    sql += " AND f_id < ?";
    ps.emplace_back(to_int(*cur, what));
  }
  int64_t limit = limit_of(f, 100, 1000, what);
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
  json rec = parse_object(variant_json, what);
  required_str(rec, "variant", what);
  required_str(rec, "variantId", what);
  std::string ref;
  if (auto it = rec.find("fId"); it != rec.end() && it->is_number_integer()) ref = "@" + std::to_string(it->get<int64_t>());
  else if (auto jt = rec.find("fileId"); jt != rec.end() && jt->is_string() && !jt->get_ref<const std::string&>().empty()) ref = jt->get<std::string>();
  else invalid(what, "needs \"fileId\" (string) or \"fId\" (integer)");
  rec.erase("fileId");
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
  constexpr std::string_view what = "create_task";
  json rec = parse_object(task_json, what);
  std::string kind = required_str(rec, "kind", what);
  if (!rec.contains("key") || rec["key"].is_null()) rec["key"] = "";
  if (!rec.contains("status") || rec["status"].is_null()) rec["status"] = "P";
  rec.erase("id");
  std::string key = str_of(rec, "key");
  bool pending = str_of(rec, "status") == "P";
  int64_t id = db_->write([&](Connection& c) -> int64_t {
    if (!key.empty() && pending) {
      auto st = c.prepare("SELECT id FROM tasks WHERE tn_id = 0 AND kind = ? AND key = ? AND status = 'P'");
      st.bind(1, std::string_view(kind)).bind(2, std::string_view(key));
      if (st.step()) return st.i64(0);  // dedup: the pending task with this kind+key
    }
    auto st = c.prepare(kTasks.insert_sql());
    st.bind(1, int64_t{0});
    bind_record(st, 2, kTasks, rec, what);
    st.run();
    return c.last_insert_rowid();
  });
  return emit(out, "{\"id\":" + std::to_string(id) + "}");
}

Status MetaSqlite::update_task(int64_t id, std::string_view patch_json) {
  constexpr std::string_view what = "update_task";
  json patch = parse_object(patch_json, what);
  patch.erase("id");  // never changes
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
  require_key(key, "put_setting");
  if (!json::accept(value_json)) invalid("put_setting", "value is not one valid JSON value");
  return db_->write([&](Connection& c) {
    c.prepare("INSERT OR REPLACE INTO settings(tn_id, key, value) VALUES(?, ?, ?)").bind(1, int64_t{tn.tn_id}).bind(2, key).bind(3, value_json).run();
    return Status::Ok();
  });
}

Status MetaSqlite::list_settings(const Tenant& tn, std::string_view prefix, const Sink& out) {
  // A prefix is the key range [prefix, prefix with its last byte + 1): an
  // index range instead of a scan (trailing 0xFF bytes carry over).
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xFF) upper.pop_back();
  if (!upper.empty()) upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  std::string text = db_->read([&](Connection& c) {
    auto st = upper.empty() ? c.prepare("SELECT key, value FROM settings WHERE tn_id = ? AND key >= ? ORDER BY key")
                            : c.prepare("SELECT key, value FROM settings WHERE tn_id = ? AND key >= ? AND key < ? ORDER BY key");
    st.bind(1, int64_t{tn.tn_id}).bind(2, prefix);
    if (!upper.empty()) st.bind(3, std::string_view(upper));
    std::string s = "{";
    while (st.step()) {
      if (st.text(0).substr(0, prefix.size()) != prefix) continue;
      if (s.size() > 1) s += ',';
      append_json_string(s, st.text(0));
      s += ':';
      s += st.text(1);
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
  if (coll.empty()) invalid("put_record", "empty collection");
  require_key(key, "put_record");
  if (!json::accept(record_json)) invalid("put_record", "record is not valid JSON");
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
      if (!filter.empty()) {  // top-level equality on every filter field
        json rec = json::parse(v, nullptr, false);
        if (!rec.is_object()) continue;
        bool keep = true;
        for (auto& [k, want] : filter.items()) {
          auto it = rec.find(k);
          if (it == rec.end() || *it != want) {
            keep = false;
            break;
          }
        }
        if (!keep) continue;
      }
      if (s.size() > 1) s += ',';
      s += v;
    }
    return s + "]";
  });
  return emit(out, text);
}

}  // namespace cumulo::sqlite
