#include "sql-common/dump.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <optional>

namespace cumulo::sqlc {
namespace {

namespace dump = adapters::dump;
using sdk::Error;

std::optional<std::string> first_text(SqlTx& tx, const std::string& sql, const Binds& b) {
  std::optional<std::string> v;
  tx.query(sql, b, [&](const RowView& r) {
    if (!v) v = std::string(r.text(0));
  });
  return v;
}

std::optional<int64_t> first_int(SqlTx& tx, const std::string& sql, const Binds& b) {
  std::optional<int64_t> v;
  tx.query(sql, b, [&](const RowView& r) {
    if (!v) v = r.i64(0);
  });
  return v;
}

std::string sha256_hex(std::string_view s) {
  unsigned char md[32];
  unsigned len = 0;
  if (!EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr)) throw Error(CM_INTERNAL, "SHA-256 failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) out += hex[c >> 4], out += hex[c & 15];
  return out;
}

json object_of(const DumpItem& it) {
  if (!it.v->is_object()) invalid("import_items", "a \"" + it.t + "\" value must be a JSON object");
  return *it.v;
}

// Requires `rec[field]` to be absent (then sets it) or equal to the key.
void keyed(json& rec, const char* field, std::string_view k, const std::string& t) {
  auto f = rec.find(field);
  if (f == rec.end() || f->is_null())
    rec[field] = std::string(k);
  else if (!f->is_string() || f->get_ref<const std::string&>() != k)
    invalid("import_items", "\"" + t + "\" item: \"" + field + "\" differs from the key");
}

std::vector<DumpItem> parse_typed(std::string_view lines, std::string_view adapter, std::initializer_list<std::string_view> types) {
  auto items = dump::parse_items<json>(lines);
  for (const auto& it : items)
    if (std::find(types.begin(), types.end(), it.t) == types.end()) throw Error(CM_UNSUPPORTED, std::string(adapter) + ": unknown item type \"" + it.t + "\"");
  return items;
}

/// Export state of one call: the cursor, the output and whether it is full.
struct Walk {
  SqlTx& tx;
  const dump::After& a;
  dump::Lines& out;
  bool done = false;

  /// Pages through "… AND <key> > ? ORDER BY <key> LIMIT ?" (the key is
  /// column 0; `first` are the parameters before it) from the cursor on;
  /// `value` makes an item's value from a row.
  template <class Value>
  void keys(const char* type, const std::string& sql, const Binds& first, Value&& value) {
    if (done || !a.wants_type(type)) return;
    std::string from(a.key_in(type).value_or(std::string_view()));
    for (int got = kDumpPage; !done && got == kDumpPage;) {
      got = 0;
      Binds b = first;
      b.add(std::string_view(from)).add(int64_t{kDumpPage});
      tx.query(sql, b, [&](const RowView& r) {
        ++got;
        if (done) return;
        from = std::string(r.text(0));
        done = out.add(type, from, value(r));
      });
    }
  }
};

// ---- meta: files ------------------------------------------------------------------
// A file item is the file record (without fId) plus "variants": {name: variant
// without fId/variant}. Pending files have no fileId: their key is NUL + the
// SHA-256 of the canonical value + "." + n, the n-th of identical copies.

const std::string kPendingWhere = "(file_id IS NULL OR file_id = '')";

std::string file_value(SqlTx& tx, int64_t tn, int64_t f_id) {
  json v;
  tx.query("SELECT " + kFiles.columns() + " FROM files WHERE tn_id = ? AND f_id = ?", binds(tn, f_id),
           [&](const RowView& r) { v = json::parse(row_object(r, 0, kFiles)); });
  v.erase("fId");
  json vars = json::object();
  tx.query("SELECT " + kVariants.columns() + " FROM file_variants WHERE tn_id = ? AND f_id = ? ORDER BY variant", binds(tn, f_id), [&](const RowView& r) {
    json var = json::parse(row_object(r, 0, kVariants));
    std::string name = var["variant"].get<std::string>();
    var.erase("fId");
    var.erase("variant");
    vars[name] = std::move(var);
  });
  v["variants"] = std::move(vars);
  return v.dump();
}

// Pending files of the tenant: (hash of the canonical value, f_id), sorted.
std::vector<std::pair<std::string, int64_t>> pending_files(SqlTx& tx, int64_t tn) {
  std::vector<int64_t> ids;
  tx.query("SELECT f_id FROM files WHERE tn_id = ? AND " + kPendingWhere + " ORDER BY f_id", binds(tn), [&](const RowView& r) { ids.push_back(r.i64(0)); });
  std::vector<std::pair<std::string, int64_t>> out;
  for (int64_t id : ids) out.emplace_back(sha256_hex(dump::canonical(json::parse(file_value(tx, tn, id)))), id);
  std::sort(out.begin(), out.end());
  return out;
}

std::string pending_key(const std::string& hash, size_t n) { return std::string(1, '\0') + hash + "." + std::to_string(n); }

void export_files(Walk& w, int64_t tn) {
  if (w.done || !w.a.wants_type("file")) return;
  const auto from = w.a.key_in("file");
  // Pending keys start with NUL, so they come before every fileId.
  std::vector<std::pair<std::string, int64_t>> keyed_pending;
  auto pend = pending_files(w.tx, tn);
  for (size_t i = 0; i < pend.size(); ++i) {
    size_t n = 0;
    while (n < i && pend[i - n - 1].first == pend[i].first) ++n;
    keyed_pending.emplace_back(pending_key(pend[i].first, n), pend[i].second);
  }
  std::sort(keyed_pending.begin(), keyed_pending.end());
  for (const auto& [k, id] : keyed_pending) {
    if (from && k <= *from) continue;
    if ((w.done = w.out.add("file", k, file_value(w.tx, tn, id)))) return;
  }
  // The keyed walk resumes at the cursor unless that is still a pending key.
  dump::After a = w.a;
  if (from && !from->empty() && (*from)[0] == '\0') a = dump::parse_after("file\n");
  Walk keyed_walk{w.tx, a, w.out};
  keyed_walk.keys("file", "SELECT file_id, f_id FROM files WHERE tn_id = ? AND file_id > ? ORDER BY file_id LIMIT ?", binds(tn),
                  [&](const RowView& r) { return file_value(w.tx, tn, r.i64(1)); });
  w.done = keyed_walk.done;
}

int64_t insert_file(SqlTx& tx, int64_t tn, json rec, const json& vars, std::optional<int64_t> f_id) {
  constexpr std::string_view what = "import_items: file";
  if (f_id) {
    rec["fId"] = *f_id;
    Binds b;
    bind_record(b, 1, kFiles, rec, what);
    tx.run(kFiles.update_sql("f_id"), b.add(tn).add(*f_id));
    tx.run("DELETE FROM file_variants WHERE tn_id = ? AND f_id = ?", binds(tn, *f_id));
  } else {
    rec.erase("fId");
    Binds b;
    b.bind(1, tn);
    bind_record(b, 2, kFiles, rec, what);
    f_id = first_int(tx, insert_with_id(kFiles.insert_sql(), 2, "files_f_id_seq", tx.dialect()) + " RETURNING f_id", b);
  }
  for (auto& [name, var] : vars.items()) {
    if (!var.is_object()) invalid(what, "every variant must be an object");
    json v = var;
    v["fId"] = *f_id;
    v["variant"] = name;
    required_str(v, "variantId", what);
    Binds b;
    b.bind(1, tn);
    bind_record(b, 2, kVariants, v, what);
    tx.run(kVariants.upsert_sql("f_id, variant"), b);
  }
  return *f_id;
}

void import_file(SqlTx& tx, int64_t tn, const DumpItem& it) {
  if (!it.k.empty() && it.k[0] == '\0') {
    // Pending: "\0<sha-256 hex>.<n>"; the copies are interchangeable.
    std::string_view k(it.k);
    size_t dot = k.find('.');
    size_t n = 0;
    auto [p, ec] = std::from_chars(k.data() + std::min(dot + 1, k.size()), k.data() + k.size(), n);
    if (dot != 65 || ec != std::errc() || p != k.data() + k.size()) invalid("import_items", "malformed pending-file key");
    const std::string hash(k.substr(1, 64));
    std::vector<int64_t> copies;
    for (const auto& [h, id] : pending_files(tx, tn))
      if (h == hash) copies.push_back(id);
    // Copy n exists iff at least n + 1 identical pending files do: deleting
    // it keeps n, importing it makes n + 1 (both idempotent, order-free).
    if (!it.v) {
      for (size_t i = n; i < copies.size(); ++i) tx.run("DELETE FROM files WHERE tn_id = ? AND f_id = ?", binds(tn, copies[i]));
      return;
    }
    if (sha256_hex(dump::canonical(*it.v)) != hash) invalid("import_items", "a pending file's value does not match its key");
    for (size_t have = copies.size(); have <= n; ++have) {
      json rec = object_of(it);
      json vars = rec.value("variants", json::object());
      rec.erase("variants");
      insert_file(tx, tn, std::move(rec), vars, std::nullopt);
    }
    return;
  }
  std::optional<int64_t> f_id = first_int(tx, "SELECT f_id FROM files WHERE tn_id = ? AND file_id = ?", binds(tn, std::string_view(it.k)));
  if (!it.v) {
    if (f_id) tx.run("DELETE FROM files WHERE tn_id = ? AND f_id = ?", binds(tn, *f_id));  // variants cascade
    return;
  }
  json rec = object_of(it);
  keyed(rec, "fileId", it.k, it.t);
  json vars = rec.value("variants", json::object());
  rec.erase("variants");
  insert_file(tx, tn, std::move(rec), vars, f_id);
}

// ---- meta: actions ----------------------------------------------------------------

void delete_action(SqlTx& tx, int64_t tn, std::string_view id) { tx.run("DELETE FROM actions WHERE tn_id = ? AND action_id = ?", binds(tn, id)); }

void import_action(SqlTx& tx, int64_t tn, const DumpItem& it) {
  constexpr std::string_view what = "import_items: action";
  delete_action(tx, tn, it.k);
  if (!it.v) return;
  json rec = object_of(it);
  keyed(rec, "actionId", it.k, it.t);
  if (!rec.contains("visibility") || rec["visibility"].is_null()) rec["visibility"] = "D";
  if (!rec.contains("status") || rec["status"].is_null()) rec["status"] = "A";
  std::optional<std::string> token;
  if (auto t = rec.find("token"); t != rec.end()) {
    if (!t->is_null() && !t->is_string()) invalid(what, "\"token\" must be a string");
    if (t->is_string()) token = t->get<std::string>();
    rec.erase(t);
  }
  int64_t stats[2] = {0, 0};
  if (auto s = rec.find("stats"); s != rec.end()) {
    if (!s->is_object()) invalid(what, "\"stats\" must be {\"comments\":n,\"reactions\":n}");
    const char* names[2] = {"comments", "reactions"};
    for (int i = 0; i < 2; ++i)
      if (auto v = s->find(names[i]); v != s->end()) {
        if (!v->is_number_integer()) invalid(what, std::string("\"stats.") + names[i] + "\" must be an integer");
        stats[i] = v->get<int64_t>();
      }
    rec.erase(s);
  }
  // The override rule: a stale action with the same key in this database goes.
  if (std::string key = str_of(rec, "key"); !key.empty())
    if (auto other = first_text(tx, "SELECT action_id FROM actions WHERE tn_id = ? AND key = ?", binds(tn, key))) delete_action(tx, tn, *other);
  Binds b;
  b.bind(1, tn);
  bind_record(b, 2, kActions, rec, what);
  b.add_opt(token);
  tx.run(kActionInsert, b);
  tx.run("UPDATE actions SET stat_comments = ?, stat_reactions = ? WHERE tn_id = ? AND action_id = ?", binds(stats[0], stats[1], tn, std::string_view(it.k)));
}

// ---- meta: the other types --------------------------------------------------------

void import_inbound(SqlTx& tx, int64_t tn, const DumpItem& it) {
  constexpr std::string_view what = "import_items: inbound";
  if (!it.v) {
    tx.run("DELETE FROM inbound WHERE tn_id = ? AND action_id = ?", binds(tn, std::string_view(it.k)));
    return;
  }
  json rec = object_of(it);
  keyed(rec, "actionId", it.k, it.t);
  std::string token = required_str(rec, "token", what);
  auto ack = rec.find("ackToken");
  if (ack != rec.end() && !ack->is_null() && !ack->is_string()) invalid(what, "\"ackToken\" must be a string");
  auto at = rec.find("receivedAt");
  if (at == rec.end() || !at->is_number_integer()) invalid(what, "missing integer \"receivedAt\"");
  Binds b = binds(tn, std::string_view(it.k), token);
  if (ack != rec.end() && ack->is_string())
    b.add(std::string_view(ack->get_ref<const std::string&>()));
  else
    b.bind_null(4);
  // Upsert in place: the entry keeps its position in the queue.
  tx.run(
      "INSERT INTO inbound(tn_id, action_id, token, ack_token, received_at) VALUES(?, ?, ?, ?, ?) "
      "ON CONFLICT(tn_id, action_id) DO UPDATE SET token = excluded.token, ack_token = excluded.ack_token, received_at = excluded.received_at",
      b.add(at->get<int64_t>()));
}

void import_profile(SqlTx& tx, int64_t tn, const DumpItem& it) {
  if (!it.v) {
    tx.run("DELETE FROM profiles WHERE tn_id = ? AND id_tag = ?", binds(tn, std::string_view(it.k)));
    return;
  }
  json rec = object_of(it);
  keyed(rec, "idTag", it.k, it.t);
  Binds b;
  b.bind(1, tn);
  bind_record(b, 2, kProfiles, rec, "import_items: profile");
  tx.run(kProfiles.upsert_sql("tn_id, id_tag"), b);
}

void import_public_key(SqlTx& tx, const sdk::Tenant& tn, const DumpItem& it) {
  if (tn.id_tag.empty()) invalid("import_items", "\"public_key\" items need the tenant's id_tag");
  if (!it.v) {
    tx.run("DELETE FROM public_keys WHERE tn_id = 0 AND id_tag = ? AND key_id = ?", binds(tn.id_tag, std::string_view(it.k)));
    return;
  }
  json rec = object_of(it);
  keyed(rec, "keyId", it.k, it.t);
  keyed(rec, "idTag", tn.id_tag, it.t);
  required_str(rec, "publicKey", "import_items: public_key");
  Binds b;
  b.bind(1, int64_t{0});  // the key cache is node-global
  bind_record(b, 2, kPublicKeys, rec, "import_items: public_key");
  tx.run(kPublicKeys.upsert_sql("tn_id, id_tag, key_id"), b);
}

void import_tenant(SqlTx& tx, int64_t tn, const DumpItem& it) {
  constexpr std::string_view what = "import_items: tenant";
  if (!it.k.empty()) invalid(what, "the tenant record's key is \"\"");
  if (!it.v) {
    tx.run("DELETE FROM tenants WHERE tn_id = ?", binds(tn));
    return;
  }
  json rec = object_of(it);
  rec.erase("tnId");  // the host's, given by the call
  std::string id_tag = required_str(rec, "idTag", what);
  if (!rec.contains("x") || rec["x"].is_null()) rec["x"] = json::object();
  if (auto other = first_int(tx, "SELECT tn_id FROM tenants WHERE id_tag = ? AND tn_id <> ?", binds(id_tag, tn)))
    throw Error(CM_CONFLICT, std::string(what) + ": idTag " + id_tag + " belongs to tnId " + std::to_string(*other) + " in this database");
  Binds b;
  b.bind(1, tn);
  bind_record(b, 2, kTenants, rec, what);
  tx.run(kTenants.upsert_sql("tn_id"), b);
  // Ids assigned later come after the host's (SQLite's AUTOINCREMENT does so itself).
  if (auto bump = sequence_past("tenants_tn_id_seq", tx.dialect()); !bump.empty()) tx.query(bump, binds(tn), [](const RowView&) {});
}

// Settings and records: JSON values under (tn_id, key…) `columns`.
void import_json_value(SqlTx& tx, const DumpItem& it, const std::string& table, const std::vector<std::pair<std::string, Binds::Value>>& columns) {
  std::string where, cols, marks;
  Binds b;
  for (const auto& [col, v] : columns) {
    where += (where.empty() ? " WHERE " : " AND ") + col + " = ?";
    cols += (cols.empty() ? "" : ", ") + col;
    marks += marks.empty() ? "?" : ", ?";
    if (auto* n = std::get_if<int64_t>(&v))
      b.add(*n);
    else
      b.add(std::string_view(std::get<std::string>(v)));
  }
  if (!it.v) {
    tx.run("DELETE FROM " + table + where, b);
    return;
  }
  tx.run("INSERT INTO " + table + "(" + cols + ", value) VALUES(" + marks + ", ?) ON CONFLICT (" + cols + ") DO UPDATE SET value = excluded.value",
         b.add(std::string_view(it.v->dump())));
}

}  // namespace

std::vector<DumpItem> parse_meta_items(std::string_view lines, std::string_view adapter) {
  return parse_typed(lines, adapter, {"action", "file", "inbound", "profile", "public_key", "record", "setting", "tenant"});
}

std::vector<DumpItem> parse_auth_items(std::string_view lines, std::string_view adapter) {
  return parse_typed(lines, adapter, {"api_key", "password", "secret"});
}

// ---- meta -------------------------------------------------------------------------
// Types in order: action, file, inbound, profile, public_key, record, setting, tenant.

void export_meta(SqlTx& tx, const sdk::Tenant& tn, std::string_view after, uint32_t limit, const sdk::Sink& sink) {
  const dump::After a = dump::parse_after(after);
  const int64_t id = tn.tn_id;
  dump::Lines out(sink, limit);
  Walk w{tx, a, out};
  w.keys("action", kActionWithToken + " WHERE a.tn_id = ? AND a.action_id > ? ORDER BY a.action_id LIMIT ?", binds(id),
         [](const RowView& r) { return action_object(r); });
  export_files(w, id);
  w.keys("inbound", "SELECT action_id, token, ack_token, received_at FROM inbound WHERE tn_id = ? AND action_id > ? ORDER BY action_id LIMIT ?", binds(id),
         [](const RowView& r) {
           std::string s;
           append_inbound(s, r, 0);
           return s;
         });
  w.keys("profile", "SELECT " + kProfiles.columns() + " FROM profiles WHERE tn_id = ? AND id_tag > ? ORDER BY id_tag LIMIT ?", binds(id),
         [](const RowView& r) { return row_object(r, 0, kProfiles); });
  if (!tn.id_tag.empty())
    w.keys("public_key", "SELECT key_id, " + kPublicKeys.columns() + " FROM public_keys WHERE tn_id = 0 AND id_tag = ? AND key_id > ? ORDER BY key_id LIMIT ?",
           binds(tn.id_tag), [](const RowView& r) { return row_object(r, 1, kPublicKeys); });
  if (!w.done && a.wants_type("record")) {
    // Row values compare like the joined key: collections hold no NUL.
    std::string coll, key;
    if (auto from = a.key_in("record")) {
      size_t z = from->find('\0');
      coll = std::string(from->substr(0, z));
      key = z == std::string_view::npos ? std::string() : std::string(from->substr(z + 1));
    }
    for (int got = kDumpPage; !w.done && got == kDumpPage;) {
      got = 0;
      tx.query("SELECT coll, key, value FROM records WHERE tn_id = ? AND (coll, key) > (?, ?) ORDER BY coll, key LIMIT ?",
               binds(id, coll, key, int64_t{kDumpPage}), [&](const RowView& r) {
                 ++got;
                 if (w.done) return;
                 coll = std::string(r.text(0));
                 key = std::string(r.text(1));
                 w.done = out.add("record", dump::join_key({coll, key}), r.text(2));
               });
    }
  }
  w.keys("setting", "SELECT key, value FROM settings WHERE tn_id = ? AND key > ? ORDER BY key LIMIT ?", binds(id),
         [](const RowView& r) { return std::string(r.text(1)); });
  if (!w.done && a.wants_type("tenant") && !a.key_in("tenant"))
    tx.query("SELECT tn_id, " + kTenants.columns() + " FROM tenants WHERE tn_id = ?", binds(id), [&](const RowView& r) {
      json v = json::parse(tenant_object(r));
      v.erase("tnId");
      w.done = out.add("tenant", "", v.dump());
    });
  out.flush();
}

void import_meta(SqlTx& tx, const sdk::Tenant& tn, const std::vector<DumpItem>& items) {
  const int64_t id = tn.tn_id;
  for (const auto& it : items) {
    if (it.t == "action")
      import_action(tx, id, it);
    else if (it.t == "file")
      import_file(tx, id, it);
    else if (it.t == "inbound")
      import_inbound(tx, id, it);
    else if (it.t == "profile")
      import_profile(tx, id, it);
    else if (it.t == "public_key")
      import_public_key(tx, tn, it);
    else if (it.t == "record") {
      auto parts = dump::split_key(it.k, 2, "record");
      if (parts[0].empty() || parts[1].empty()) invalid("import_items", "a record needs a collection and a key");
      import_json_value(tx, it, "records", {{"tn_id", id}, {"coll", std::string(parts[0])}, {"key", std::string(parts[1])}});
    } else if (it.t == "setting") {
      if (it.k.empty()) invalid("import_items", "empty setting key");
      import_json_value(tx, it, "settings", {{"tn_id", id}, {"key", it.k}});
    } else {
      import_tenant(tx, id, it);
    }
  }
}

// ---- auth -------------------------------------------------------------------------
// Types: api_key (k = its bcrypt hash), password (k = ""), secret (k = name).

void export_auth(SqlTx& tx, const sdk::Tenant& tn, std::string_view after, uint32_t limit, const sdk::Sink& sink) {
  const dump::After a = dump::parse_after(after);
  const int64_t id = tn.tn_id;
  dump::Lines out(sink, limit);
  Walk w{tx, a, out};
  w.keys("api_key", "SELECT hash, name, prefix, scopes, expires_at, created_at FROM api_keys WHERE tn_id = ? AND hash > ? ORDER BY hash LIMIT ?", binds(id),
         [](const RowView& r) {
           std::string v = "{\"createdAt\":" + std::to_string(r.i64(5));
           if (!r.is_null(4)) v += ",\"expiresAt\":" + std::to_string(r.i64(4));
           if (!r.is_null(1)) {
             v += ",\"name\":";
             append_json_string(v, r.text(1));
           }
           v += ",\"prefix\":";
           append_json_string(v, r.text(2));
           v += ",\"scopes\":";
           v += r.text(3);
           return v + "}";
         });
  if (!w.done && a.wants_type("password") && !a.key_in("password"))
    tx.query("SELECT hash, updated_at FROM passwords WHERE tn_id = ?", binds(id), [&](const RowView& r) {
      std::string v = "{\"hash\":";
      append_json_string(v, r.text(0));
      w.done = out.add("password", "", v + ",\"updatedAt\":" + std::to_string(r.i64(1)) + "}");
    });
  w.keys("secret", "SELECT name, record FROM secrets WHERE tn_id = ? AND name > ? ORDER BY name LIMIT ?", binds(id),
         [](const RowView& r) { return std::string(r.text(1)); });
  out.flush();
}

void import_auth(SqlTx& tx, const sdk::Tenant& tn, const std::vector<DumpItem>& items) {
  const int64_t id = tn.tn_id;
  // bcrypt hashes ("$2a$", "$2b$", "$2y$") verify in every adapter built on crypt(3).
  auto bcrypt = [](std::string_view h) { return h.size() == 60 && h[0] == '$' && h[1] == '2' && h[3] == '$'; };
  for (const auto& it : items) {
    const std::string what = "import_items: " + it.t;
    if (it.t == "password") {
      if (!it.k.empty()) invalid(what, "the password's key is \"\"");
      if (!it.v) {
        tx.run("DELETE FROM passwords WHERE tn_id = ?", binds(id));
        continue;
      }
      json rec = object_of(it);
      std::string h = str_of(rec, "hash");
      if (!bcrypt(h)) invalid(what, "\"hash\" must be a bcrypt hash ($2b$…)");
      auto at = rec.find("updatedAt");
      int64_t updated = at != rec.end() && at->is_number_integer() ? at->get<int64_t>() : now_s();
      tx.run(
          "INSERT INTO passwords(tn_id, hash, updated_at) VALUES(?, ?, ?) ON CONFLICT (tn_id) DO UPDATE SET hash = excluded.hash, updated_at = "
          "excluded.updated_at",
          binds(id, h, updated));
    } else if (it.t == "secret") {
      if (!it.v) {
        tx.run("DELETE FROM secrets WHERE tn_id = ? AND name = ?", binds(id, std::string_view(it.k)));
        continue;
      }
      json rec = object_of(it);
      keyed(rec, "name", it.k, it.t);
      if (it.k.empty()) invalid(what, "empty secret name");
      if (auto v = rec.find("value"); v == rec.end() || !v->is_string()) invalid(what, "missing string \"value\"");
      tx.run("INSERT INTO secrets(tn_id, name, record) VALUES(?, ?, ?) ON CONFLICT (tn_id, name) DO UPDATE SET record = excluded.record",
             binds(id, std::string_view(it.k), std::string_view(rec.dump())));
    } else {
      if (!bcrypt(it.k)) invalid(what, "the key must be the API key's bcrypt hash");
      std::optional<int64_t> key_id = first_int(tx, "SELECT key_id FROM api_keys WHERE tn_id = ? AND hash = ?", binds(id, std::string_view(it.k)));
      if (!it.v) {
        if (key_id) tx.run("DELETE FROM api_keys WHERE key_id = ?", binds(*key_id));
        continue;
      }
      json rec = object_of(it);
      std::string prefix = required_str(rec, "prefix", what);
      json scopes = rec.value("scopes", json::array());
      if (!scopes.is_array() || !std::all_of(scopes.begin(), scopes.end(), [](const json& s) { return s.is_string(); }))
        invalid(what, "\"scopes\" must be an array of strings");
      auto name = rec.find("name");
      if (name != rec.end() && !name->is_null() && !name->is_string()) invalid(what, "\"name\" must be a string");
      auto expires = rec.find("expiresAt");
      if (expires != rec.end() && !expires->is_null() && !expires->is_number_integer()) invalid(what, "\"expiresAt\" must be an integer");
      auto created = rec.find("createdAt");
      int64_t created_at = created != rec.end() && created->is_number_integer() ? created->get<int64_t>() : now_s();
      Binds b;
      if (name != rec.end() && name->is_string())
        b.bind(1, std::string_view(name->get_ref<const std::string&>()));
      else
        b.bind_null(1);
      b.bind(2, std::string_view(prefix)).bind(3, std::string_view(scopes.dump()));
      if (expires != rec.end() && expires->is_number_integer())
        b.bind(4, expires->get<int64_t>());
      else
        b.bind_null(4);
      b.bind(5, created_at).bind(6, id).bind(7, std::string_view(it.k));
      if (key_id)
        tx.run("UPDATE api_keys SET name = ?, prefix = ?, scopes = ?, expires_at = ?, created_at = ?, tn_id = ?, hash = ? WHERE key_id = ?", b.add(*key_id));
      else
        tx.run("INSERT INTO api_keys(name, prefix, scopes, expires_at, created_at, tn_id, hash) VALUES(?, ?, ?, ?, ?, ?, ?)", b);
    }
  }
}

}  // namespace cumulo::sqlc
