// Maps JSON records to table columns and back, so each table is described
// once (json key, column, type) and insert/update/select SQL and the
// conversions are derived from that description. Shared by the SQL-backed
// built-in adapters (sqlite, postgres): the binding and row-reading templates
// work with any statement type that has bind(i, int64_t), bind(i,
// string_view) and bind_null(i), and any row type that has is_null(c),
// text(c) and i64(c) (and optionally boolean(c)).
//
// Input goes through nlohmann (validation); output is written straight into a
// string: JSON columns are stored as compact JSON text and spliced back
// verbatim, which keeps list calls from re-parsing every stored document.
// Keys a table does not know are kept in its `extra` column (a JSON object)
// and returned — docs/sdk.md: "store unknown fields verbatim".
#pragma once

#include <cumulo/sdk.hpp>

#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cumulo::sqlc {

using json = nlohmann::ordered_json;

enum class Type {
  Text,  // JSON string ↔ TEXT
  Int,   // JSON integer ↔ INTEGER
  Bool,  // JSON true/false ↔ INTEGER 0/1 (SQLite) or BOOLEAN (PostgreSQL)
  Json,  // any JSON value ↔ TEXT holding its compact serialization
};

struct Field {
  const char* key;     // JSON key (camelCase)
  const char* column;  // SQL column
  Type type;
  bool always = false;  // emit null when the column is NULL (else omit)
};

struct Table {
  const char* name;
  std::vector<Field> fields;
  const Field* find(std::string_view key) const;
  /// "c1, c2, …, extra" (for SELECT).
  std::string columns() const;
  /// "INSERT [OR REPLACE] INTO name(tn_id, c1, …, extra) VALUES(?,…)"
  /// (OR REPLACE is SQLite's; PostgreSQL uses upsert_sql).
  std::string insert_sql(bool replace = false) const;
  /// The standard upsert (SQLite ≥ 3.24 and PostgreSQL): INSERT as above
  /// "ON CONFLICT (<conflict>) DO UPDATE SET" every column but the conflict
  /// target to the new values.
  std::string upsert_sql(std::string_view conflict) const;
  /// "UPDATE name SET c1=?, …, extra=? WHERE tn_id=?[ AND <where_col>=?]".
  std::string update_sql(const char* where_col = nullptr) const;
};

/// Appends `s` as a JSON string literal (quotes, escapes) to `out`.
void append_json_string(std::string& out, std::string_view s);

/// Appends `v` in decimal (no temporary string: list calls write many).
inline void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

/// Throws CM_INVALID "<what>: <message>".
[[noreturn]] void invalid(std::string_view what, std::string_view message);

/// Parses `text` as a JSON object or throws CM_INVALID naming `what`.
json parse_object(std::string_view text, std::string_view what);

/// A string field or "" (absent / not a string).
std::string str_of(const json& j, const char* key);
/// Requires a non-empty string field.
std::string required_str(const json& j, const char* key, std::string_view what);

/// Current Unix time in seconds (host clock when lent, else the system's).
int64_t now_s();

/// Compact JSON of the keys of `rec` that `t` has no column for ("" if none).
std::string extra_of(const Table& t, const json& rec);

/// Binds `rec`'s fields starting at parameter `first` (in table order, then
/// the extra column). Wrong types → CM_INVALID naming the key.
template <class Stmt>
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
      case Type::Json:
        st.bind(i, std::string_view(v.dump()));
        break;
    }
    ++i;
  }
  std::string extra = extra_of(t, rec);
  if (extra.empty())
    st.bind_null(i);
  else
    st.bind(i, std::string_view(extra));
}

/// A Bool column of a row: rows that know booleans say so (PostgreSQL's
/// 't'/'f'), the others store 0/1.
template <class Row>
bool row_bool(const Row& r, int c) {
  if constexpr (requires { r.boolean(c); })
    return r.boolean(c);
  else
    return r.i64(c) != 0;
}

/// Appends the members of one row (columns from `first`, as in columns())
/// to `out`, without braces; returns false if nothing was written.
template <class Row>
bool append_row(std::string& out, const Row& st, int first, const Table& t) {
  bool any = false;
  int col = first;
  for (const auto& f : t.fields) {
    int c = col++;
    bool null = st.is_null(c);
    if (null && !f.always) continue;
    if (any) out += ',';
    any = true;
    out += '"';  // keys are our own camelCase names: nothing to escape
    out += f.key;
    out += "\":";
    if (null) {
      out += "null";
      continue;
    }
    switch (f.type) {
      case Type::Text:
        append_json_string(out, st.text(c));
        break;
      case Type::Int:
        append_int(out, st.i64(c));
        break;
      case Type::Bool:
        out += row_bool(st, c) ? "true" : "false";
        break;
      case Type::Json:
        out += st.text(c);
        break;  // stored by us as compact JSON
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

/// Row → "{…}" (columns of `t` from column `first`).
template <class Row>
std::string row_object(const Row& st, int first, const Table& t) {
  std::string s = "{";
  append_row(s, st, first, t);
  return s + "}";
}

/// Positional parameters collected while building dynamic SQL.
using Param = std::variant<int64_t, std::string>;

template <class Stmt>
void bind_all(Stmt& st, const std::vector<Param>& ps) {
  int i = 1;
  for (const auto& p : ps) {
    if (auto* n = std::get_if<int64_t>(&p))
      st.bind(i++, *n);
    else
      st.bind(i++, std::string_view(std::get<std::string>(p)));
  }
}

}  // namespace cumulo::sqlc
