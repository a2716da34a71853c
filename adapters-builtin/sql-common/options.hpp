// Strict factory options: every key must be read by the factory, so a typo
// or an option of another backend is refused with CM_INVALID naming it
// instead of being silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "sql-common/record.hpp"

namespace cumulo::sqlc {

class OptionReader {
 public:
  /// Parses `options_json` (a JSON object) for `factory`; messages read
  /// "<factory> options: …".
  OptionReader(std::string_view options_json, std::string_view factory);

  /// A string option, non-empty; `check` (if given) says whether the value is
  /// acceptable, else `hint` is what the value must be.
  std::optional<std::string> str(const char* key, const char* hint, bool (*check)(const std::string&) = nullptr);
  /// A required string option.
  std::string required_str(const char* key, const char* hint, bool (*check)(const std::string&) = nullptr);
  /// An integer option in [lo, hi], `def` when absent.
  int64_t integer(const char* key, int64_t def, int64_t lo, int64_t hi);
  /// Refuses every key no call above asked for.
  void finish() const;

  const std::string& what() const { return what_; }

 private:
  json j_;
  std::string what_;
  std::set<std::string> known_;
};

}  // namespace cumulo::sqlc
