// Unix seconds ↔ ISO-8601 UTC ("2025-01-01T12:00:00Z"), for the API fields
// that [impl] writes as ISO strings (refs, /api/me key expiry) and for
// inputs that accept either form (rest-api.md §1.5, §2.8).
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace cumulo::api {

inline std::string iso_time(int64_t unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// "YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]" (no zone = UTC) → Unix seconds.
inline std::optional<int64_t> parse_iso_time(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t i = static_cast<size_t>(n);
  if (i < s.size() && s[i] == '.')
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9';) ++i;
  int64_t offset = 0;
  if (i < s.size()) {
    const std::string zone = s.substr(i);
    int oh = 0, om = 0;
    if (zone == "Z" || zone == "z") {
    } else if ((zone[0] == '+' || zone[0] == '-') && zone.size() == 6 && std::sscanf(zone.c_str() + 1, "%2d:%2d", &oh, &om) == 2) {
      offset = (zone[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    } else {
      return std::nullopt;
    }
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

/// A timestamp given as Unix seconds (number or digit string) or ISO-8601.
inline std::optional<int64_t> parse_time(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) return static_cast<int64_t>(v.get<double>());
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 19) return std::stoll(s);
  return parse_iso_time(s);
}

}  // namespace cumulo::api
