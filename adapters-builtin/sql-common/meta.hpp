// What meta-sqlite and meta-postgres share: the column tables of every meta
// table (both schemas use the same column names) and the rules of each call
// that do not depend on the engine — validation, defaults, patches, filters
// and the JSON written back. Shapes: adapters-builtin/sqlite/README.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sql-common/list_plan.hpp"
#include "sql-common/record.hpp"
#include "sql-common/request.hpp"

namespace cumulo::sqlc {

/// What meta-sqlite and meta-postgres implement: every meta part and the
/// portable tenant dump.
class FullMeta : public sdk::MetaAdapter,
                 public sdk::MetaTenants,
                 public sdk::MetaActions,
                 public sdk::MetaFiles,
                 public sdk::MetaTasks,
                 public sdk::MetaSettings,
                 public sdk::MetaRecords,
                 public sdk::TenantDump {};

// ---- tables (column order = schema order) ------------------------------------------
// Inline: defined before any user in every translation unit, so tables built
// from them at static-initialisation time (SQL texts) see them complete.

inline const Table kTenants{"tenants",
                            {{"idTag", "id_tag", Type::Text},
                             {"type", "type", Type::Text},
                             {"name", "name", Type::Text, true},
                             {"profilePic", "profile_pic", Type::Text, true},
                             {"coverPic", "cover_pic", Type::Text, true},
                             {"x", "x", Type::Json, true},
                             {"createdAt", "created_at", Type::Int}}};

inline const Table kProfiles{"profiles",
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

inline const Table kPublicKeys{
    "public_keys",
    {{"idTag", "id_tag", Type::Text}, {"keyId", "key_id", Type::Text}, {"publicKey", "public_key", Type::Text}, {"expiresAt", "expires_at", Type::Int}}};

inline const Table kActions{"actions",
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

inline const Table kFiles{"files",
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

inline const Table kVariants{"file_variants",
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

inline const Table kTasks{"tasks",
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

/// Action rows: kActions columns, extra, stat_comments, stat_reactions.
inline const std::string kActionSelect = "SELECT " + kActions.columns() + ", stat_comments, stat_reactions FROM actions";
/// Actions (a) with their token (NULL if none) as the last column. The
/// token lives in the row: stored apart, it cost a random insert into a second
/// B-tree on every action (3.2 of 10.9 SQLite WAL pages per insert).
inline const std::string kActionWithToken = "SELECT " + [] {
  std::string cols;
  for (const auto& f : kActions.fields) (cols += "a.") += std::string(f.column) + ", ";
  return cols;
}() + "a.extra, a.stat_comments, a.stat_reactions, a.token FROM actions a";
/// One action with its token.
inline const std::string kActionGet = kActionWithToken + " WHERE a.tn_id = ? AND a.action_id = ?";
/// INSERT of an action row: tn_id, the kActions columns, extra, then the token
/// (parameter kActions.fields.size() + 3).
inline const std::string kActionInsert = [] {
  std::string s = kActions.insert_sql();
  s.insert(s.find(") VALUES"), ", token");
  return s.insert(s.size() - 1, ", ?");
}();
inline const int kActionInsertTokenParam = static_cast<int>(kActions.fields.size()) + 3;
/// kActionInsert returning the stored row as kActionGet reads it (SQLite ≥
/// 3.35 and PostgreSQL): put_action answers without reading the row back.
inline const std::string kActionInsertReturning = kActionInsert + " RETURNING " + kActions.columns() + ", stat_comments, stat_reactions, token";
/// Sets (or, bound to NULL, removes) an action's token: token, tn_id, action_id.
inline constexpr const char* kActionSetToken = "UPDATE actions SET token = ? WHERE tn_id = ? AND action_id = ?";

/// The engine-specific bits of otherwise shared SQL.
struct Dialect {
  const char* ilike;      // prefix match ignoring ASCII case: SQLite LIKE, PostgreSQL ILIKE
  const char* false_lit;  // SQL false for a Bool column
  const char* has_tag;    // "files.tags (a JSON array) contains ?"
  bool sequences;         // ids come from sequences (PostgreSQL), not from a NULL insert (SQLite)
};
inline constexpr Dialect kSqliteDialect{"LIKE", "0", "EXISTS (SELECT 1 FROM json_each(files.tags) t WHERE t.value = ?)", false};
inline constexpr Dialect kPostgresDialect{"ILIKE", "false", "files.tags::jsonb @> jsonb_build_array(?::text)", true};

/// An INSERT whose `n`th placeholder is a generated id: bound NULL, it takes
/// the next id (SQLite does that itself; PostgreSQL draws from sequence `seq`).
std::string insert_with_id(std::string insert_sql, int n, const char* seq, const Dialect& d);
/// With sequences: SQL moving sequence `seq` past the id bound to its "?",
/// after a row was stored under an id given from outside (migration), so
/// generated ids never collide with it. "" when ids need no such care.
std::string sequence_past(const char* seq, const Dialect& d);

// ---- tenants and profiles ------------------------------------------------------------

/// create_tenant: the record to insert and the tnId asked for (migration).
struct NewTenant {
  json rec;
  std::optional<int64_t> tn_id;
};
NewTenant parse_new_tenant(std::string_view tenant_json);
/// update_tenant: merges `patch` into the stored record (tnId and idTag fixed).
void patch_tenant(json& rec, const json& patch);

/// "{"tnId":N,…}" from a row of (tn_id, kTenants columns…).
template <class Row>
std::string tenant_object(const Row& st) {
  std::string s = "{\"tnId\":" + std::to_string(st.i64(0)) + ",";
  append_row(s, st, 1, kTenants);
  return s + "}";
}

/// upsert_profile: the validated patch; `id_tag` receives its idTag.
json parse_profile_patch(std::string_view profile_json, std::string& id_tag);
/// list_profiles filters as " AND …" (cursor included); returns the limit.
int64_t profile_filters(std::string& sql, std::vector<Param>& ps, const json& f, const Dialect& d, std::string_view what);

/// put_public_key: the validated record.
json parse_public_key(std::string_view key_json);

// ---- actions -------------------------------------------------------------------------

/// put_action: record to insert (defaults applied, token and stats removed).
struct NewAction {
  json rec;
  std::string action_id;
  std::string key;  // "" = no override
  std::optional<std::string> token;
};
NewAction parse_new_action(std::string_view action_json);

/// update_action: merges `patch` into the stored record and takes out what
/// is stored apart from the row (stats, token).
struct ActionPatch {
  int64_t comments = 0;
  int64_t reactions = 0;
  enum class Token { Keep, Set, Remove } token_op = Token::Keep;
  std::string token;
};
ActionPatch patch_action(json& rec, const json& patch);

/// list_actions filters as " AND …" (before, cursor included); returns the limit.
int64_t action_filters(std::string& sql, std::vector<Param>& ps, const json& f, std::string_view what);
/// list_actions as one statement over kActionSelect rows ("?" 1 = the
/// tenant, the limit + 1 last), kept for filters that repeat (feeds ask the
/// same few): see list_plan.hpp.
std::shared_ptr<const ListPlan> action_list_plan(std::string_view filter_json);
/// The list cursor of an action row: "<createdAt>:<actionId>".
template <class Row>
std::string action_cursor(const Row& st) {
  static const int created = static_cast<int>(kActions.find("createdAt") - kActions.fields.data());
  return std::to_string(st.i64(created)) + ":" + std::string(st.text(0));
}

/// Appends "{<kActions columns>,"stats":{…}" (no closing brace) from a row of
/// (kActions columns…, extra, stat_comments, stat_reactions).
template <class Row>
void append_action(std::string& out, const Row& st) {
  out += '{';
  if (append_row(out, st, 0, kActions)) out += ',';
  int n = static_cast<int>(kActions.fields.size()) + 1;
  out += "\"stats\":{\"comments\":";
  append_int(out, st.i64(n));
  out += ",\"reactions\":";
  append_int(out, st.i64(n + 1));
  out += '}';
}
/// The whole record of such a row followed by a token column (may be NULL).
template <class Row>
std::string action_object(const Row& st) {
  std::string s;
  append_action(s, st);
  const int tok = static_cast<int>(kActions.fields.size()) + 3;
  if (!st.is_null(tok)) {
    s += ",\"token\":";
    append_json_string(s, st.text(tok));
  }
  return s + "}";
}
/// {"stored":…,"replaced":"<old actionId>"?}
std::string put_action_result(const std::string& stored, const std::optional<std::string>& replaced);

/// push_inbound: the validated entry.
struct Inbound {
  std::string action_id;
  std::string token;
  std::optional<std::string> ack_token;
  int64_t received_at = 0;
};
Inbound parse_inbound(std::string_view inbound_json);
/// Appends one popped entry from a row of (…, action_id, token, ack_token,
/// received_at) starting at column `first`, with a comma when not the first.
template <class Row>
void append_inbound(std::string& s, const Row& st, int first) {
  if (s.size() > 1) s += ',';
  s += "{\"actionId\":";
  append_json_string(s, st.text(first));
  s += ",\"token\":";
  append_json_string(s, st.text(first + 1));
  if (!st.is_null(first + 2)) {
    s += ",\"ackToken\":";
    append_json_string(s, st.text(first + 2));
  }
  s += ",\"receivedAt\":" + std::to_string(st.i64(first + 3)) + "}";
}

// ---- files ---------------------------------------------------------------------------

/// put_file: the validated record (fId dropped, createdAt defaulted).
json parse_new_file(std::string_view file_json);
/// update_file: merges `patch` (fId fixed) and validates the result.
void patch_file(json& rec, const json& patch);
/// list_files filters as " AND …" (cursor included); returns the limit.
int64_t file_filters(std::string& sql, std::vector<Param>& ps, const json& f, const Dialect& d, std::string_view what);
/// A "@<fId>" reference: the f_id, else nullopt (a fileId). Empty → CM_INVALID.
std::optional<int64_t> file_ref(std::string_view id);

/// put_variant: the record and the file it belongs to ("@<fId>" or fileId).
struct NewVariant {
  json rec;
  std::string file;
};
NewVariant parse_variant(std::string_view variant_json);

// ---- tasks, settings, records ---------------------------------------------------------

/// create_task: the record (id dropped, key/status defaulted).
struct NewTask {
  json rec;
  std::string kind;
  std::string key;
  bool dedup = false;  // pending with a non-empty key
};
NewTask parse_new_task(std::string_view task_json);
/// update_task: the patch (id dropped).
json parse_task_patch(std::string_view patch_json);

void check_setting(std::string_view key, std::string_view value_json);
/// The smallest string above every key starting with `prefix` ("" = none).
std::string prefix_upper(std::string_view prefix);
/// Appends "key":value to an object being written ("{" so far = first).
void append_member(std::string& s, std::string_view key, std::string_view value_json);

void check_record(std::string_view coll, std::string_view key, std::string_view record_json);
/// list_records: does stored `value` equal `filter` on every filter field?
bool record_matches(std::string_view value, const json& filter);

}  // namespace cumulo::sqlc
