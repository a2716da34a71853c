// Maps JSON records to table columns and back, so each table is described
// once (json key, column, type) and insert/update/select SQL and the
// conversions are derived from that description.
//
// Input goes through nlohmann (validation); output is written straight into a
// string: JSON columns are stored as compact JSON text and spliced back
// verbatim, which keeps list calls from re-parsing every stored document.
// Keys a table does not know are kept in its `extra` column (a JSON object)
// and returned — docs/sdk.md: "store unknown fields verbatim".
#pragma once

#include <cumulo/sdk.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "db.hpp"

namespace cumulo::sqlite {

using json = nlohmann::ordered_json;

enum class Type {
  Text,  // JSON string ↔ TEXT
  Int,   // JSON integer ↔ INTEGER
  Bool,  // JSON true/false ↔ INTEGER 0/1
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
  /// "INSERT [OR REPLACE] INTO name(tn_id, c1, …, extra[, more…]) VALUES(?,…)".
  std::string insert_sql(bool replace = false) const;
  /// "UPDATE name SET c1=?, …, extra=? WHERE tn_id=?[ AND <where_col>=?]".
  std::string update_sql(const char* where_col = nullptr) const;
};

/// Appends `s` as a JSON string literal (quotes, escapes) to `out`.
void append_json_string(std::string& out, std::string_view s);

/// Throws CM_INVALID "<what>: <message>".
[[noreturn]] void invalid(std::string_view what, std::string_view message);

/// Parses `text` as a JSON object or throws CM_INVALID naming `what`.
json parse_object(std::string_view text, std::string_view what);

/// Binds `rec`'s fields starting at parameter `first` (in table order, then
/// the extra column). Wrong types → CM_INVALID naming the key.
void bind_record(Stmt& st, int first, const Table& t, const json& rec, std::string_view what);

/// Appends the members of one row (columns from `first`, as in columns())
/// to `out`, without braces; returns false if nothing was written.
bool append_row(std::string& out, const Stmt& st, int first, const Table& t);

/// A string field or "" (absent / not a string).
std::string str_of(const json& j, const char* key);
/// Requires a non-empty string field.
std::string required_str(const json& j, const char* key, std::string_view what);

/// Current Unix time in seconds (host clock when lent, else the system's).
int64_t now_s();

}  // namespace cumulo::sqlite

namespace cumulo::sqlite {
/// Reads the options common to both factories ("path", "busyTimeoutMs",
/// "readers"); any key not in those nor in `more_keys` → CM_INVALID.
DbOptions db_options(const json& opts, std::string_view factory, const std::vector<std::string>& more_keys = {});
}  // namespace cumulo::sqlite
