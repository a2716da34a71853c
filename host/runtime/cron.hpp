// Five-field cron expressions evaluated in UTC (spec runtime.md §1.6).
//
//   minute hour day-of-month month day-of-week
//   0-59   0-23 1-31         1-12  0-7 (0 and 7 = Sunday)
//
// Each field accepts `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n`, `a/n`
// (= a through the field maximum), and comma lists of these. The macros
// @hourly @daily @midnight @weekly @monthly @yearly @annually are accepted too.
//
// Day matching follows Vixie cron: when both day-of-month and day-of-week are
// restricted, a day matches if EITHER does; when one of them starts with `*`,
// only the other one decides.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cumulo::runtime {

class CronSchedule {
 public:
  /// Returns nullopt on a malformed expression and, if `error` is non-null,
  /// stores a human-readable reason there (e.g. "hour field: value 24 out of range 0-23").
  static std::optional<CronSchedule> parse(std::string_view expr, std::string* error);

  /// First matching minute strictly after `unix_secs` (UTC), in Unix seconds.
  /// Returns -1 if nothing matches within the search horizon (28 years), which
  /// is how impossible dates such as `0 0 30 2 *` are reported.
  std::int64_t next_after(std::int64_t unix_secs) const;

  /// True if the minute containing `unix_secs` matches.
  bool matches(std::int64_t unix_secs) const;

  /// The expression with fields separated by single spaces (macros kept as written).
  std::string str() const { return text_; }

 private:
  CronSchedule() = default;
  bool day_matches(unsigned dom, unsigned dow) const;

  std::uint64_t minutes_ = 0;   // bit n = minute n
  std::uint32_t hours_ = 0;     // bit n = hour n
  std::uint32_t days_ = 0;      // bit n = day n (1-31)
  std::uint32_t months_ = 0;    // bit n = month n (1-12)
  std::uint32_t weekdays_ = 0;  // bit n = weekday n (0-6, 0 = Sunday)
  bool dom_star_ = false;       // day-of-month field starts with '*'
  bool dow_star_ = false;       // day-of-week field starts with '*'
  std::string text_;
};

}  // namespace cumulo::runtime
