#include "sql-common/record.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

#include "sql-common/request.hpp"
#include "sql-common/statement.hpp"

namespace cumulo::sqlc {

using sdk::Error;

// ---- Table ----------------------------------------------------------------------

const Field* Table::find(std::string_view key) const {
  for (const auto& f : fields)
    if (key == f.key) return &f;
  return nullptr;
}

std::string Table::columns() const {
  std::string s;
  for (const auto& f : fields) (s += f.column) += ", ";
  return s + "extra";
}

std::string Table::insert_sql(bool replace) const {
  std::string s = std::string(replace ? "INSERT OR REPLACE INTO " : "INSERT INTO ") + name + "(tn_id, " + columns() + ") VALUES(?";
  for (size_t i = 0; i <= fields.size(); ++i) s += ", ?";
  return s + ")";
}

std::string Table::upsert_sql(std::string_view conflict) const {
  std::string s = insert_sql() + " ON CONFLICT (" + std::string(conflict) + ") DO UPDATE SET ";
  const std::string target = ", " + std::string(conflict) + ",";
  for (const auto& f : fields) {
    if (target.find(", " + std::string(f.column) + ",") != std::string::npos) continue;
    s += std::string(f.column) + " = excluded." + f.column + ", ";
  }
  return s + "extra = excluded.extra";
}

std::string Table::update_sql(const char* where_col) const {
  std::string s = std::string("UPDATE ") + name + " SET ";
  for (const auto& f : fields) (s += f.column) += " = ?, ";
  s += "extra = ? WHERE tn_id = ?";
  if (where_col) (s += " AND ") += std::string(where_col) + " = ?";
  return s;
}

// ---- Binds ---------------------------------------------------------------------

Binds& Binds::set(int i, Value v) {
  if (i < 1) throw Error(CM_INTERNAL, "parameter index " + std::to_string(i));
  if (static_cast<size_t>(i) > v_.size()) v_.resize(static_cast<size_t>(i));
  v_[static_cast<size_t>(i - 1)] = std::move(v);
  return *this;
}

// ---- JSON -----------------------------------------------------------------------

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // copy unescaped stretches in one append
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void invalid(std::string_view what, std::string_view message) { throw Error(CM_INVALID, std::string(what) + ": " + std::string(message)); }

json parse_object(std::string_view text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) invalid(what, "not valid JSON");
  if (!j.is_object()) invalid(what, "must be a JSON object");
  return j;
}

std::string extra_of(const Table& t, const json& rec) {
  json extra = json::object();
  for (auto& [k, v] : rec.items())
    if (!t.find(k)) extra[k] = v;
  return extra.empty() ? std::string() : extra.dump();
}

std::string str_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string required_str(const json& j, const char* key, std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) invalid(what, std::string("missing required string \"") + key + "\"");
  return it->get<std::string>();
}

int64_t now_s() {
  int64_t us = sdk::Host::now_us();
  return us > 0 ? us / 1000000 : static_cast<int64_t>(std::time(nullptr));
}

// ---- requests -------------------------------------------------------------------

sdk::Status emit(const sdk::Sink& out, std::string_view text) {
  return out.write(text) ? sdk::Status::Ok() : sdk::Status::Error(CM_UNAVAILABLE, "reader went away");
}

json parse_filter(std::string_view text, std::string_view what) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  return parse_object(text, what);
}

json reparse(const std::string& text) { return json::parse(text); }

std::string like_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

void add_in(std::string& sql, std::vector<Param>& ps, const json& f, const char* key, const char* column, std::string_view what) {
  auto it = f.find(key);
  if (it == f.end() || it->is_null()) return;
  std::vector<std::string> vals;
  if (it->is_string())
    vals.push_back(it->get<std::string>());
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

}  // namespace cumulo::sqlc
