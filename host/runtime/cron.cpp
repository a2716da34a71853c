#include "runtime/cron.hpp"

#include <chrono>
#include <limits>
#include <vector>

namespace cumulo::runtime {

namespace {

namespace chr = std::chrono;

// The weekday/leap-year pattern of the Gregorian calendar repeats every 28
// years (outside century years), so a schedule that has not fired by then
// never will in practice (e.g. `0 0 30 2 *`).
constexpr std::int64_t kSearchDays = 28 * 366;

// std::chrono's calendar types cover years -32767..32767; stay well inside.
constexpr std::int64_t kMinSecs = -62135596800;  // 0001-01-01T00:00:00Z
constexpr std::int64_t kMaxSecs = 253402300799;  // 9999-12-31T23:59:59Z

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

struct FieldSpec {
  const char* name;
  int lo, hi;   // accepted values
  int star_hi;  // what `*` expands to (day-of-week: 0-6 although 7 is accepted)
};

constexpr FieldSpec kFields[5] = {
    {"minute", 0, 59, 59},
    {"hour", 0, 23, 23},
    {"day-of-month", 1, 31, 31},
    {"month", 1, 12, 12},
    {"day-of-week", 0, 7, 6},
};

bool parse_number(std::string_view s, const FieldSpec& f, int& out, std::string& err) {
  if (s.empty() || s.size() > 4) {
    err = std::string(f.name) + " field: invalid number '" + std::string(s) + "'";
    return false;
  }
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      err = std::string(f.name) + " field: invalid number '" + std::string(s) + "'";
      return false;
    }
    v = v * 10 + (c - '0');
  }
  if (v < f.lo || v > f.hi) {
    err = std::string(f.name) + " field: value " + std::to_string(v) + " out of range " + std::to_string(f.lo) +
          "-" + std::to_string(f.hi);
    return false;
  }
  out = v;
  return true;
}

// Parses one field into a bit set (bit n = value n).
bool parse_field(std::string_view text, const FieldSpec& f, std::uint64_t& bits, std::string& err) {
  bits = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) {
      err = std::string(f.name) + " field: empty list item";
      return false;
    }

    int step = 1;
    bool has_step = false;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      std::string_view step_text = item.substr(slash + 1);
      item = item.substr(0, slash);
      has_step = true;
      const FieldSpec step_spec{f.name, 1, 99, 99};
      if (!parse_number(step_text, step_spec, step, err)) {
        err = std::string(f.name) + " field: step must be a number 1-99, got '" + std::string(step_text) + "'";
        return false;
      }
    }

    int from = 0, to = 0;
    if (item == "*") {
      from = f.lo;
      to = f.star_hi;
    } else if (auto dash = item.find('-'); dash != std::string_view::npos) {
      if (!parse_number(item.substr(0, dash), f, from, err) || !parse_number(item.substr(dash + 1), f, to, err))
        return false;
      if (from > to) {
        err = std::string(f.name) + " field: range " + std::string(item) + " is reversed";
        return false;
      }
    } else {
      if (!parse_number(item, f, from, err)) return false;
      // `a/n` means "from a to the end, every n" (Vixie/croner behaviour).
      to = has_step ? f.star_hi : from;
    }
    for (int v = from; v <= to; v += step) bits |= std::uint64_t{1} << v;
  }
  return true;
}

std::string_view expand_macro(std::string_view s) {
  if (s == "@hourly") return "0 * * * *";
  if (s == "@daily" || s == "@midnight") return "0 0 * * *";
  if (s == "@weekly") return "0 0 * * 0";
  if (s == "@monthly") return "0 0 1 * *";
  if (s == "@yearly" || s == "@annually") return "0 0 1 1 *";
  return {};
}

// Lowest set bit >= from (bits up to 63), or -1.
int next_bit(std::uint64_t bits, int from, int hi) {
  for (int v = from; v <= hi; ++v)
    if ((bits >> v) & 1U) return v;
  return -1;
}

}  // namespace

std::optional<CronSchedule> CronSchedule::parse(std::string_view expr, std::string* error) {
  std::string local_err;
  std::string& err = error ? *error : local_err;
  err.clear();

  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::vector<std::string_view> fields;
  for (std::size_t i = 0; i < expr.size();) {
    while (i < expr.size() && is_space(expr[i])) ++i;
    std::size_t j = i;
    while (j < expr.size() && !is_space(expr[j])) ++j;
    if (j > i) fields.push_back(expr.substr(i, j - i));
    i = j;
  }

  CronSchedule c;
  if (fields.size() == 1 && !fields[0].empty() && fields[0][0] == '@') {
    std::string_view body = expand_macro(fields[0]);
    if (body.empty()) {
      err = "unknown macro '" + std::string(fields[0]) + "'";
      return std::nullopt;
    }
    auto parsed = parse(body, &err);
    if (!parsed) return std::nullopt;
    parsed->text_ = std::string(fields[0]);
    return parsed;
  }
  if (fields.size() != 5) {
    err = "expected 5 fields (minute hour day-of-month month day-of-week), got " + std::to_string(fields.size());
    return std::nullopt;
  }

  std::uint64_t bits[5];
  for (int i = 0; i < 5; ++i)
    if (!parse_field(fields[i], kFields[i], bits[i], err)) return std::nullopt;

  c.minutes_ = bits[0];
  c.hours_ = static_cast<std::uint32_t>(bits[1]);
  c.days_ = static_cast<std::uint32_t>(bits[2]);
  c.months_ = static_cast<std::uint32_t>(bits[3]);
  // 7 is an alias for Sunday.
  c.weekdays_ = static_cast<std::uint32_t>((bits[4] & 0x7F) | ((bits[4] >> 7) & 1U));
  c.dom_star_ = fields[2][0] == '*';
  c.dow_star_ = fields[4][0] == '*';
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) c.text_ += ' ';
    c.text_ += fields[i];
  }
  return c;
}

bool CronSchedule::day_matches(unsigned dom, unsigned dow) const {
  const bool dom_ok = (days_ >> dom) & 1U;
  const bool dow_ok = (weekdays_ >> dow) & 1U;
  // Vixie rule: a '*'-led field does not restrict, so the other one decides alone.
  if (dom_star_ || dow_star_) return dom_ok && dow_ok;
  return dom_ok || dow_ok;
}

bool CronSchedule::matches(std::int64_t unix_secs) const {
  if (unix_secs < kMinSecs || unix_secs > kMaxSecs) return false;
  const std::int64_t minute = floor_div(unix_secs, 60);
  const std::int64_t day = floor_div(minute, 1440);
  const auto mod = static_cast<int>(minute - day * 1440);
  const chr::sys_days sd{chr::days{day}};
  const chr::year_month_day ymd{sd};
  return ((months_ >> static_cast<unsigned>(ymd.month())) & 1U) &&
         day_matches(static_cast<unsigned>(ymd.day()), chr::weekday{sd}.c_encoding()) && ((hours_ >> (mod / 60)) & 1U) &&
         ((minutes_ >> (mod % 60)) & 1U);
}

std::int64_t CronSchedule::next_after(std::int64_t unix_secs) const {
  if (unix_secs < kMinSecs || unix_secs >= kMaxSecs) return -1;
  const std::int64_t first_minute = floor_div(unix_secs, 60) + 1;  // strictly after
  std::int64_t day = floor_div(first_minute, 1440);
  int mod = static_cast<int>(first_minute - day * 1440);  // minute of the day to start from
  const std::int64_t last_day = day + kSearchDays;

  while (day <= last_day) {
    const chr::sys_days sd{chr::days{day}};
    const chr::year_month_day ymd{sd};
    if (!((months_ >> static_cast<unsigned>(ymd.month())) & 1U)) {
      // Skip the whole month.
      const chr::year_month_day next_month = chr::year_month_day{ymd.year() / ymd.month() / 1} + chr::months{1};
      day = chr::sys_days{next_month}.time_since_epoch().count();
      mod = 0;
      continue;
    }
    if (!day_matches(static_cast<unsigned>(ymd.day()), chr::weekday{sd}.c_encoding())) {
      ++day;
      mod = 0;
      continue;
    }
    int hour = next_bit(hours_, mod / 60, 23);
    int minute = -1;
    if (hour >= 0) {
      minute = next_bit(minutes_, hour == mod / 60 ? mod % 60 : 0, 59);
      if (minute < 0) {  // no minute left in this hour: first minute of the next matching hour
        hour = next_bit(hours_, hour + 1, 23);
        if (hour >= 0) minute = next_bit(minutes_, 0, 59);
      }
    }
    if (hour < 0 || minute < 0) {
      ++day;
      mod = 0;
      continue;
    }
    const std::int64_t result = day * 86400 + hour * 3600 + minute * 60;
    return result > kMaxSecs ? -1 : result;
  }
  return -1;
}

}  // namespace cumulo::runtime
