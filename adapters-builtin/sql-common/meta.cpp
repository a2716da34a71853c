#include "sql-common/meta.hpp"

#include <algorithm>
#include <iterator>

namespace cumulo::sqlc {

std::string insert_with_id(std::string insert_sql, int n, const char* seq, const Dialect& d) {
  if (!d.sequences) return insert_sql;
  size_t at = insert_sql.find("VALUES(");
  for (int i = 0; i < n; ++i) at = insert_sql.find('?', at + 1);
  return insert_sql.replace(at, 1, std::string("coalesce(?::bigint, nextval('") + seq + "'))");
}

std::string sequence_past(const char* seq, const Dialect& d) {
  if (!d.sequences) return "";
  const std::string s = std::string("'") + seq + "'";
  return "SELECT setval(" + s + ", greatest(?::bigint, coalesce(pg_sequence_last_value(" + s + "), 0)))";
}

// ---- tenants and profiles ------------------------------------------------------------

NewTenant parse_new_tenant(std::string_view tenant_json) {
  constexpr std::string_view what = "create_tenant";
  NewTenant t{parse_object(tenant_json, what), std::nullopt};
  json& rec = t.rec;
  required_str(rec, "idTag", what);
  std::string type = required_str(rec, "type", what);
  if (type != "P" && type != "C") invalid(what, "\"type\" must be \"P\" (person) or \"C\" (community)");
  if (auto it = rec.find("tnId"); it != rec.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > UINT32_MAX) invalid(what, "\"tnId\" must be an integer in [1, 2^32)");
    t.tn_id = it->get<int64_t>();
    rec.erase("tnId");
  }
  if (!rec.contains("x") || rec["x"].is_null()) rec["x"] = json::object();
  if (!rec.contains("createdAt")) rec["createdAt"] = now_s();
  return t;
}

void patch_tenant(json& rec, const json& patch) {
  constexpr std::string_view what = "update_tenant";
  merge(rec, patch, {"tnId", "idTag"}, what);
  rec.erase("tnId");
  std::string type = str_of(rec, "type");
  if (type != "P" && type != "C") invalid(what, "\"type\" must be \"P\" or \"C\"");
}

json parse_profile_patch(std::string_view profile_json, std::string& id_tag) {
  constexpr std::string_view what = "upsert_profile";
  json patch = parse_object(profile_json, what);
  id_tag = required_str(patch, "idTag", what);
  if (auto it = patch.find("connected"); it != patch.end() && !it->is_null() && !it->is_boolean() && *it != "R")
    invalid(what, "\"connected\" must be true, false or \"R\"");
  return patch;
}

int64_t profile_filters(std::string& sql, std::vector<Param>& ps, const json& f, const Dialect& d, std::string_view what) {
  for (const char* b : {"following", "follower"}) {
    auto it = f.find(b);
    if (it == f.end() || it->is_null()) continue;
    if (!it->is_boolean()) invalid(what, std::string("\"") + b + "\" must be true or false");
    sql += std::string(" AND coalesce(") + b + ", " + d.false_lit + ") = ?";
    ps.emplace_back(int64_t{it->get<bool>() ? 1 : 0});
  }
  if (auto it = f.find("connected"); it != f.end() && !it->is_null()) {
    if (!it->is_boolean() && *it != "R") invalid(what, "\"connected\" must be true, false or \"R\"");
    sql += " AND coalesce(connected, 'false') = ?";
    ps.emplace_back(it->dump());
  }
  if (std::string q = str_of(f, "q"); !q.empty()) {
    // Folds ASCII case only; good enough for id tags (DNS names).
    sql += std::string(" AND (id_tag ") + d.ilike + " ? ESCAPE '\\' OR name " + d.ilike + " ? ESCAPE '\\')";
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
  return limit_of(f, 100, 1000, what);
}

json parse_public_key(std::string_view key_json) {
  constexpr std::string_view what = "put_public_key";
  json rec = parse_object(key_json, what);
  for (const char* k : {"idTag", "keyId", "publicKey"}) required_str(rec, k, what);
  return rec;
}

// ---- actions -------------------------------------------------------------------------

NewAction parse_new_action(std::string_view action_json) {
  constexpr std::string_view what = "put_action";
  NewAction a{parse_object(action_json, what), {}, {}, std::nullopt};
  json& rec = a.rec;
  a.action_id = required_str(rec, "actionId", what);
  required_str(rec, "type", what);
  required_str(rec, "issuerTag", what);
  if (auto it = rec.find("createdAt"); it == rec.end() || !it->is_number_integer()) invalid(what, "missing required integer \"createdAt\" (Unix seconds)");
  if (!rec.contains("visibility") || rec["visibility"].is_null()) rec["visibility"] = "D";
  if (!rec.contains("status") || rec["status"].is_null()) rec["status"] = "A";
  if (auto it = rec.find("token"); it != rec.end()) {
    if (!it->is_null() && !it->is_string()) invalid(what, "\"token\" must be a string");
    if (it->is_string()) a.token = it->get<std::string>();
    rec.erase(it);
  }
  rec.erase("stats");  // maintained by update_action
  a.key = str_of(rec, "key");
  return a;
}

ActionPatch patch_action(json& rec, const json& patch) {
  constexpr std::string_view what = "update_action";
  ActionPatch p;
  merge(rec, patch, {"actionId"}, what);
  const json stats = rec["stats"];
  rec.erase("stats");
  if (auto it = rec.find("token"); it != rec.end()) {
    if (it->is_string()) {
      p.token_op = ActionPatch::Token::Set;
      p.token = it->get<std::string>();
    } else if (it->is_null()) {
      p.token_op = ActionPatch::Token::Remove;
    } else {
      invalid(what, "\"token\" must be a string");
    }
    rec.erase(it);
  }
  if (!stats.is_object()) invalid(what, "\"stats\" must be {\"comments\":n,\"reactions\":n}");
  for (auto [k, dst] : {std::pair{"comments", &p.comments}, std::pair{"reactions", &p.reactions}}) {
    auto it = stats.find(k);
    if (it == stats.end()) continue;
    if (!it->is_number_integer()) invalid(what, std::string("\"stats.") + k + "\" must be an integer");
    *dst = it->get<int64_t>();
  }
  return p;
}

int64_t action_filters(std::string& sql, std::vector<Param>& ps, const json& f, std::string_view what) {
  add_in(sql, ps, f, "type", "type", what);
  add_eq(sql, ps, f, "issuerTag", "issuer_tag", what);
  add_eq(sql, ps, f, "parentId", "parent_id", what);
  add_eq(sql, ps, f, "rootId", "root_id", what);
  add_eq(sql, ps, f, "audience", "audience", what);
  add_eq(sql, ps, f, "subject", "subject", what);
  add_eq(sql, ps, f, "key", "key", what);
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
  return limit_of(f, 20, 500, what);
}

std::shared_ptr<const ListPlan> action_list_plan(std::string_view filter_json) {
  static ListPlanCache plans;
  return plans.get(filter_json, [&] {
    constexpr std::string_view what = "list_actions filter";
    json f = parse_filter(filter_json, what);
    ListPlan p{kActionSelect + " WHERE tn_id = ?", {}, 0, !f.contains("cursor")};
    p.limit = action_filters(p.sql, p.params, f, what);
    p.sql += " ORDER BY created_at DESC, action_id DESC LIMIT ?";
    p.params.emplace_back(p.limit + 1);
    return p;
  });
}

std::string put_action_result(const std::string& stored, const std::optional<std::string>& replaced) {
  std::string s = "{\"stored\":" + stored;
  if (replaced) {
    s += ",\"replaced\":";
    append_json_string(s, *replaced);
  }
  return s + "}";
}

Inbound parse_inbound(std::string_view inbound_json) {
  constexpr std::string_view what = "push_inbound";
  json rec = parse_object(inbound_json, what);
  Inbound in{required_str(rec, "actionId", what), required_str(rec, "token", what), std::nullopt, now_s()};
  if (auto it = rec.find("ackToken"); it != rec.end() && !it->is_null()) {
    if (!it->is_string()) invalid(what, "\"ackToken\" must be a string");
    in.ack_token = it->get<std::string>();
  }
  if (auto it = rec.find("receivedAt"); it != rec.end() && !it->is_null()) {
    if (!it->is_number_integer()) invalid(what, "\"receivedAt\" must be an integer (Unix seconds)");
    in.received_at = it->get<int64_t>();
  }
  return in;
}

// ---- files ---------------------------------------------------------------------------

namespace {

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

json parse_new_file(std::string_view file_json) {
  constexpr std::string_view what = "put_file";
  json rec = parse_object(file_json, what);
  check_file(rec, what);
  rec.erase("fId");  // assigned by the adapter
  if (!rec.contains("createdAt")) rec["createdAt"] = now_s();
  return rec;
}

void patch_file(json& rec, const json& patch) {
  constexpr std::string_view what = "update_file";
  merge(rec, patch, {"fId"}, what);
  check_file(rec, what);
}

int64_t file_filters(std::string& sql, std::vector<Param>& ps, const json& f, const Dialect& d, std::string_view what) {
  add_eq(sql, ps, f, "parentId", "parent_id", what);
  add_in(sql, ps, f, "status", "status", what);
  add_in(sql, ps, f, "fileType", "file_type", what);
  if (auto it = f.find("tag"); it != f.end() && !it->is_null()) {
    if (!it->is_string()) invalid(what, "\"tag\" must be a string");
    sql += std::string(" AND ") + d.has_tag;
    ps.emplace_back(it->get<std::string>());
  }
  if (std::string q = str_of(f, "q"); !q.empty()) {
    sql += std::string(" AND file_name ") + d.ilike + " ? ESCAPE '\\'";
    ps.emplace_back("%" + like_escape(q) + "%");
  }
  if (auto cur = cursor_of(f, what)) {
    sql += " AND f_id < ?";
    ps.emplace_back(to_int(*cur, what));
  }
  return limit_of(f, 100, 1000, what);
}

std::optional<int64_t> file_ref(std::string_view id) {
  if (id.empty()) invalid("file", "empty file id");
  if (id[0] != '@') return std::nullopt;
  return to_int(id.substr(1), "file id");
}

NewVariant parse_variant(std::string_view variant_json) {
  constexpr std::string_view what = "put_variant";
  NewVariant v{parse_object(variant_json, what), {}};
  json& rec = v.rec;
  required_str(rec, "variant", what);
  required_str(rec, "variantId", what);
  if (auto it = rec.find("fId"); it != rec.end() && it->is_number_integer())
    v.file = "@" + std::to_string(it->get<int64_t>());
  else if (auto jt = rec.find("fileId"); jt != rec.end() && jt->is_string() && !jt->get_ref<const std::string&>().empty())
    v.file = jt->get<std::string>();
  else
    invalid(what, "needs \"fileId\" (string) or \"fId\" (integer)");
  rec.erase("fileId");
  return v;
}

// ---- tasks, settings, records ---------------------------------------------------------

NewTask parse_new_task(std::string_view task_json) {
  constexpr std::string_view what = "create_task";
  NewTask t{parse_object(task_json, what), {}, {}, false};
  json& rec = t.rec;
  t.kind = required_str(rec, "kind", what);
  if (!rec.contains("key") || rec["key"].is_null()) rec["key"] = "";
  if (!rec.contains("status") || rec["status"].is_null()) rec["status"] = "P";
  rec.erase("id");
  t.key = str_of(rec, "key");
  t.dedup = !t.key.empty() && str_of(rec, "status") == "P";
  return t;
}

json parse_task_patch(std::string_view patch_json) {
  json patch = parse_object(patch_json, "update_task");
  patch.erase("id");  // never changes
  return patch;
}

void check_setting(std::string_view key, std::string_view value_json) {
  require_key(key, "put_setting");
  if (!json::accept(value_json)) invalid("put_setting", "value is not one valid JSON value");
}

std::string prefix_upper(std::string_view prefix) {
  // [prefix, prefix with its last byte + 1): trailing 0xFF bytes carry over.
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xFF) upper.pop_back();
  if (!upper.empty()) upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  return upper;
}

void append_member(std::string& s, std::string_view key, std::string_view value_json) {
  if (s.size() > 1) s += ',';
  append_json_string(s, key);
  s += ':';
  s += value_json;
}

void check_record(std::string_view coll, std::string_view key, std::string_view record_json) {
  if (coll.empty()) invalid("put_record", "empty collection");
  require_key(key, "put_record");
  if (!json::accept(record_json)) invalid("put_record", "record is not valid JSON");
}

bool record_matches(std::string_view value, const json& filter) {
  if (filter.empty()) return true;
  json rec = json::parse(value, nullptr, false);
  if (!rec.is_object()) return false;
  for (auto& [k, want] : filter.items()) {  // top-level equality on every filter field
    auto it = rec.find(k);
    if (it == rec.end() || *it != want) return false;
  }
  return true;
}

}  // namespace cumulo::sqlc
