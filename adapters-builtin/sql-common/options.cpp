#include "sql-common/options.hpp"

namespace cumulo::sqlc {

OptionReader::OptionReader(std::string_view options_json, std::string_view factory)
    : j_(parse_object(options_json, std::string(factory) + " options")), what_(std::string(factory) + " options") {}

std::optional<std::string> OptionReader::str(const char* key, const char* hint, bool (*check)(const std::string&)) {
  known_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end()) return std::nullopt;
  if (!it->is_string() || it->get_ref<const std::string&>().empty() || (check && !check(it->get_ref<const std::string&>())))
    invalid(what_, std::string("\"") + key + "\" must be " + hint);
  return it->get<std::string>();
}

std::string OptionReader::required_str(const char* key, const char* hint, bool (*check)(const std::string&)) {
  auto v = str(key, hint, check);
  if (!v) invalid(what_, std::string("missing \"") + key + "\" (" + hint + ")");
  return *v;
}

int64_t OptionReader::integer(const char* key, int64_t def, int64_t lo, int64_t hi) {
  known_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end()) return def;
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
    invalid(what_, std::string("\"") + key + "\" must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return it->get<int64_t>();
}

void OptionReader::finish() const {
  for (auto& [k, v] : j_.items())
    if (!known_.count(k)) invalid(what_, "unknown option \"" + k + "\"");
}

}  // namespace cumulo::sqlc
