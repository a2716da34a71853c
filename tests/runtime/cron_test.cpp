#include "runtime/cron.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

using cumulo::runtime::CronSchedule;

namespace {

// Unix seconds for a UTC civil time (independent of the code under test's loop).
std::int64_t utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  namespace chr = std::chrono;
  const chr::sys_days date{chr::year{y} / chr::month{mo} / chr::day{d}};
  return date.time_since_epoch().count() * 86400LL + h * 3600 + mi * 60 + s;
}

CronSchedule must_parse(const std::string& expr) {
  std::string err;
  auto c = CronSchedule::parse(expr, &err);
  if (!c) ADD_FAILURE() << "parse('" << expr << "') failed: " << err;
  return c ? *c : *CronSchedule::parse("* * * * *", nullptr);
}

std::string parse_error(const std::string& expr) {
  std::string err;
  auto c = CronSchedule::parse(expr, &err);
  EXPECT_FALSE(c.has_value()) << "'" << expr << "' should not parse";
  EXPECT_FALSE(err.empty()) << "no message for '" << expr << "'";
  return err;
}

}  // namespace

TEST(Cron, ParseErrorsHaveMessages) {
  EXPECT_NE(parse_error("").find("expected 5 fields"), std::string::npos);
  EXPECT_NE(parse_error("* * * *").find("got 4"), std::string::npos);
  EXPECT_NE(parse_error("* * * * * *").find("got 6"), std::string::npos);
  EXPECT_NE(parse_error("60 * * * *").find("minute field: value 60 out of range 0-59"), std::string::npos);
  EXPECT_NE(parse_error("* 24 * * *").find("hour field"), std::string::npos);
  EXPECT_NE(parse_error("* * 0 * *").find("day-of-month field"), std::string::npos);
  EXPECT_NE(parse_error("* * 32 * *").find("day-of-month field"), std::string::npos);
  EXPECT_NE(parse_error("* * * 13 *").find("month field"), std::string::npos);
  EXPECT_NE(parse_error("* * * 0 *").find("month field"), std::string::npos);
  EXPECT_NE(parse_error("* * * * 8").find("day-of-week field"), std::string::npos);
  EXPECT_NE(parse_error("*/0 * * * *").find("step"), std::string::npos);
  EXPECT_NE(parse_error("*/x * * * *").find("step"), std::string::npos);
  EXPECT_NE(parse_error("5-1 * * * *").find("reversed"), std::string::npos);
  EXPECT_NE(parse_error("a * * * *").find("invalid number 'a'"), std::string::npos);
  EXPECT_NE(parse_error("1,,2 * * * *").find("empty list item"), std::string::npos);
  EXPECT_NE(parse_error("1, * * * *").find("empty list item"), std::string::npos);
  EXPECT_NE(parse_error("-1 * * * *").find("invalid number"), std::string::npos);
  EXPECT_NE(parse_error("1-2-3 * * * *").find("invalid number"), std::string::npos);
  EXPECT_NE(parse_error("@often").find("unknown macro"), std::string::npos);
  EXPECT_FALSE(CronSchedule::parse("* * *", nullptr).has_value());  // a null error pointer is fine
}

TEST(Cron, StrNormalizesWhitespace) {
  EXPECT_EQ(must_parse("  */15   *\t* * 1-5 ").str(), "*/15 * * * 1-5");
  EXPECT_EQ(must_parse("@daily").str(), "@daily");
}

TEST(Cron, EveryQuarterHour) {
  const auto c = must_parse("*/15 * * * *");
  EXPECT_EQ(c.next_after(utc(2024, 5, 10, 10, 7, 30)), utc(2024, 5, 10, 10, 15));
  EXPECT_EQ(c.next_after(utc(2024, 5, 10, 10, 15)), utc(2024, 5, 10, 10, 30)) << "strictly after";
  EXPECT_EQ(c.next_after(utc(2024, 5, 10, 10, 14, 59)), utc(2024, 5, 10, 10, 15));
  EXPECT_EQ(c.next_after(utc(2024, 5, 10, 10, 59)), utc(2024, 5, 10, 11, 0));
  EXPECT_EQ(c.next_after(utc(2024, 5, 10, 23, 50)), utc(2024, 5, 11, 0, 0));
}

TEST(Cron, DailyAtFour) {
  const auto c = must_parse("0 4 * * *");
  EXPECT_EQ(c.next_after(utc(2024, 3, 10, 3, 59, 59)), utc(2024, 3, 10, 4, 0));
  EXPECT_EQ(c.next_after(utc(2024, 3, 10, 4, 0)), utc(2024, 3, 11, 4, 0));
  EXPECT_EQ(c.next_after(utc(2024, 3, 10, 4, 0, 1)), utc(2024, 3, 11, 4, 0));
  EXPECT_EQ(c.next_after(utc(2024, 12, 31, 5, 0)), utc(2025, 1, 1, 4, 0));
  EXPECT_EQ(must_parse("@daily").next_after(utc(2024, 3, 10, 4, 0)), utc(2024, 3, 11));
}

TEST(Cron, LeapDay) {
  const auto c = must_parse("0 0 29 2 *");
  EXPECT_EQ(c.next_after(utc(2023, 3, 1)), utc(2024, 2, 29));
  EXPECT_EQ(c.next_after(utc(2024, 2, 29)), utc(2028, 2, 29));
  // 2100 is not a leap year: eight years between leap days.
  EXPECT_EQ(c.next_after(utc(2096, 3, 1)), utc(2104, 2, 29));
}

TEST(Cron, WeekdaysAtTwoThirty) {
  const auto c = must_parse("30 2 * * 1-5");
  // 2024-01-05 is a Friday; the next run is Monday the 8th.
  EXPECT_EQ(c.next_after(utc(2024, 1, 5, 3, 0)), utc(2024, 1, 8, 2, 30));
  EXPECT_EQ(c.next_after(utc(2024, 1, 5, 2, 29)), utc(2024, 1, 5, 2, 30));
  EXPECT_EQ(c.next_after(utc(2024, 1, 6, 12, 0)), utc(2024, 1, 8, 2, 30));
}

TEST(Cron, DayOfMonthOrDayOfWeek) {
  // Both restricted: the 13th OR any Friday.
  const auto c = must_parse("0 0 13 * 5");
  EXPECT_EQ(c.next_after(utc(2024, 1, 1)), utc(2024, 1, 5));     // Friday the 5th
  EXPECT_EQ(c.next_after(utc(2024, 1, 6)), utc(2024, 1, 12));    // Friday the 12th
  EXPECT_EQ(c.next_after(utc(2024, 1, 12)), utc(2024, 1, 13));   // Saturday the 13th
  EXPECT_EQ(c.next_after(utc(2024, 1, 13)), utc(2024, 1, 19));   // Friday
  // A '*'-led day-of-month does not restrict: days 1,11,21,31 AND Monday.
  const auto and_case = must_parse("0 0 */10 * 1");
  EXPECT_EQ(and_case.next_after(utc(2024, 1, 1)), utc(2024, 3, 11));
  // Only day-of-week restricted.
  EXPECT_EQ(must_parse("0 0 * * 5").next_after(utc(2024, 1, 12)), utc(2024, 1, 19));
}

TEST(Cron, MonthAndYearRollovers) {
  EXPECT_EQ(must_parse("59 23 31 12 *").next_after(utc(2023, 12, 31, 23, 59)), utc(2024, 12, 31, 23, 59));
  EXPECT_EQ(must_parse("0 0 1 * *").next_after(utc(2024, 1, 31, 12, 0)), utc(2024, 2, 1));
  EXPECT_EQ(must_parse("0 0 31 * *").next_after(utc(2024, 1, 31)), utc(2024, 3, 31)) << "February has no 31st";
  EXPECT_EQ(must_parse("0 0 1 1 *").next_after(utc(2024, 6, 15)), utc(2025, 1, 1));
  EXPECT_EQ(must_parse("* * * * *").next_after(utc(2024, 12, 31, 23, 59, 30)), utc(2025, 1, 1));
  EXPECT_EQ(must_parse("0 12 * 2 *").next_after(utc(2023, 2, 28, 12, 0)), utc(2024, 2, 1, 12, 0));
}

TEST(Cron, SevenIsSunday) {
  const auto seven = must_parse("0 12 * * 7");
  const auto zero = must_parse("0 12 * * 0");
  EXPECT_EQ(seven.next_after(utc(2024, 1, 1)), utc(2024, 1, 7, 12, 0));  // 2024-01-07 is a Sunday
  for (std::int64_t t = utc(2024, 1, 1); t < utc(2024, 3, 1); t += 86400 * 3 + 3600)
    EXPECT_EQ(seven.next_after(t), zero.next_after(t));
  const auto weekend = must_parse("0 0 * * 6-7");
  EXPECT_EQ(weekend.next_after(utc(2024, 1, 1)), utc(2024, 1, 6));
  EXPECT_EQ(weekend.next_after(utc(2024, 1, 6)), utc(2024, 1, 7));
  EXPECT_EQ(weekend.next_after(utc(2024, 1, 7)), utc(2024, 1, 13));
}

TEST(Cron, ListsRangesAndSteps) {
  const auto c = must_parse("1-10/3,30 * * * *");
  std::int64_t t = utc(2024, 1, 1, 5, 0);
  const int expected[] = {1, 4, 7, 10, 30};
  for (int m : expected) {
    t = c.next_after(t);
    EXPECT_EQ(t, utc(2024, 1, 1, 5, m));
  }
  EXPECT_EQ(c.next_after(t), utc(2024, 1, 1, 6, 1));
  // `a/n` runs from a to the end of the field.
  EXPECT_EQ(must_parse("50/5 * * * *").next_after(utc(2024, 1, 1, 5, 56)), utc(2024, 1, 1, 6, 50));
  EXPECT_EQ(must_parse("0 9-17/4 * * *").next_after(utc(2024, 1, 1, 13, 0)), utc(2024, 1, 1, 17, 0));
}

TEST(Cron, ImpossibleDatesReturnMinusOne) {
  EXPECT_EQ(must_parse("0 0 30 2 *").next_after(utc(2024, 1, 1)), -1);
  EXPECT_EQ(must_parse("0 0 31 4,6,9,11 *").next_after(utc(2024, 1, 1)), -1);
}

TEST(Cron, Matches) {
  const auto c = must_parse("30 2 * * 1-5");
  EXPECT_TRUE(c.matches(utc(2024, 1, 8, 2, 30, 59)));
  EXPECT_FALSE(c.matches(utc(2024, 1, 7, 2, 30)));  // Sunday
  EXPECT_FALSE(c.matches(utc(2024, 1, 8, 2, 31)));
}

TEST(Cron, BeforeEpochAndBounds) {
  EXPECT_EQ(must_parse("0 0 1 1 *").next_after(utc(1969, 6, 1)), utc(1970, 1, 1));
  EXPECT_EQ(must_parse("* * * * *").next_after(-1), 0);
  EXPECT_EQ(must_parse("* * * * *").next_after(utc(9999, 12, 31, 23, 59)), -1);
}
