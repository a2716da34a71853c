#include "record.hpp"

#include <algorithm>
#include <ctime>

namespace cumulo::sqlite {

using sdk::Error;

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

std::string Table::update_sql(const char* where_col) const {
  std::string s = std::string("UPDATE ") + name + " SET ";
  for (const auto& f : fields) (s += f.column) += " = ?, ";
  s += "extra = ? WHERE tn_id = ?";
  if (where_col) (s += " AND ") += std::string(where_col) + " = ?";
  return s;
}

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
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
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

void bind_record(Stmt& st, int first, const Table& t, const json& rec, std::string_view what) {
  int i = first;
  for (const auto& f : t.fields) {
    auto it = rec.find(f.key);
    if (it == rec.end() || it->is_null()) {
      st.bind_null(i++);
      continue;
    }
    const json& v = *it;
    switch (f.type) {
      case Type::Text:
        if (!v.is_string()) invalid(what, std::string("\"") + f.key + "\" must be a string");
        st.bind(i, std::string_view(v.get_ref<const std::string&>()));
        break;
      case Type::Int:
        if (!v.is_number_integer()) invalid(what, std::string("\"") + f.key + "\" must be an integer");
        st.bind(i, v.get<int64_t>());
        break;
      case Type::Bool:
        if (!v.is_boolean()) invalid(what, std::string("\"") + f.key + "\" must be true or false");
        st.bind(i, int64_t{v.get<bool>() ? 1 : 0});
        break;
      case Type::Json: st.bind(i, std::string_view(v.dump())); break;
    }
    ++i;
  }
  json extra = json::object();
  for (auto& [k, v] : rec.items())
    if (!t.find(k)) extra[k] = v;
  if (extra.empty()) st.bind_null(i);
  else st.bind(i, std::string_view(extra.dump()));
}

bool append_row(std::string& out, const Stmt& st, int first, const Table& t) {
  bool any = false;
  int col = first;
  for (const auto& f : t.fields) {
    int c = col++;
    bool null = st.is_null(c);
    if (null && !f.always) continue;
    if (any) out += ',';
    any = true;
    append_json_string(out, f.key);
    out += ':';
    if (null) {
      out += "null";
      continue;
    }
    switch (f.type) {
      case Type::Text: append_json_string(out, st.text(c)); break;
      case Type::Int: out += std::to_string(st.i64(c)); break;
      case Type::Bool: out += st.i64(c) ? "true" : "false"; break;
      case Type::Json: out += st.text(c); break;  // stored by us as compact JSON
    }
  }
  if (!st.is_null(col)) {
    std::string_view extra = st.text(col);  // "{…}": splice the members
    if (extra.size() > 2) {
      if (any) out += ',';
      out.append(extra.substr(1, extra.size() - 2));
      any = true;
    }
  }
  return any;
}

std::string str_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string required_str(const json& j, const char* key, std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    invalid(what, std::string("missing required string \"") + key + "\"");
  return it->get<std::string>();
}

int64_t now_s() {
  int64_t us = sdk::Host::now_us();
  return us > 0 ? us / 1000000 : static_cast<int64_t>(std::time(nullptr));
}

}  // namespace cumulo::sqlite

namespace cumulo::sqlite {
DbOptions db_options(const json& opts, std::string_view factory, const std::vector<std::string>& more_keys) {
  std::string what = std::string(factory) + " options";
  DbOptions o;
  for (auto& [k, v] : opts.items()) {
    if (k == "path") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty() || v.get_ref<const std::string&>()[0] != '/')
        invalid(what, "\"path\" must be an absolute file path");
      o.path = v.get<std::string>();
    } else if (k == "busyTimeoutMs") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 600000) invalid(what, "\"busyTimeoutMs\" must be an integer in [0, 600000]");
      o.busy_timeout_ms = v.get<int>();
    } else if (k == "readers") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 64) invalid(what, "\"readers\" must be an integer in [1, 64]");
      o.readers = v.get<int>();
    } else if (std::find(more_keys.begin(), more_keys.end(), k) == more_keys.end()) {
      invalid(what, "unknown option \"" + k + "\"");
    }
  }
  if (o.path.empty()) invalid(what, "missing \"path\" (absolute path of the database file)");
  return o;
}
}  // namespace cumulo::sqlite
