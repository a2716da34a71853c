// Request parsing shared by the SQL-backed adapters: list filters turned into
// "AND …" clauses with "?" placeholders (PostgreSQL numbers them when it
// prepares), limits, cursors, patches. Every bad input is CM_INVALID with a
// message naming the call and the key.
#pragma once

#include <cumulo/sdk.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sql-common/record.hpp"

namespace cumulo::sqlc {

/// Writes `text` to the host's sink.
sdk::Status emit(const sdk::Sink& out, std::string_view text);

/// An empty or blank filter is {}; anything else must be a JSON object.
json parse_filter(std::string_view text, std::string_view what);

/// Parses text this adapter wrote itself (a stored record).
json reparse(const std::string& text);

/// Escapes "%", "_" and "\" for LIKE … ESCAPE '\'.
std::string like_escape(std::string_view s);

/// A filter value that may be one string or an array of strings → " AND
/// column IN (?,…)".
void add_in(std::string& sql, std::vector<Param>& ps, const json& f, const char* key, const char* column, std::string_view what);
/// A string filter value → " AND column = ?".
void add_eq(std::string& sql, std::vector<Param>& ps, const json& f, const char* key, const char* column, std::string_view what);

/// "limit": default `def`, capped at `max`, positive.
int64_t limit_of(const json& f, int64_t def, int64_t max, std::string_view what);
/// "cursor": a string from a previous page, or nullopt.
std::optional<std::string> cursor_of(const json& f, std::string_view what);
/// A decimal integer (cursors, "@<fId>", key ids).
int64_t to_int(std::string_view s, std::string_view what);

void require_key(std::string_view key, const char* what);

/// Merges `patch` into `rec` (top-level keys), refusing to change `immutable`.
void merge(json& rec, const json& patch, std::initializer_list<const char*> immutable, std::string_view what);

}  // namespace cumulo::sqlc
