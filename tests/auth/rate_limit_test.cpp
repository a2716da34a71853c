// Per-IP GCRA rate limiter, bans and login lockout (host/auth/rate_limit.hpp). Time is injected
// everywhere: nothing here sleeps.
#include "auth/rate_limit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace cumulo::ratelimit {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Time kT0{seconds(1'700'000'000)};

std::string header(const Decision& d, const std::string& name) {
  for (const auto& [k, v] : rate_limit_headers(d))
    if (k == name) return v;
  return "<absent>";
}

// A config with one tier for one category at every level, everything else unlimited.
RateLimitConfig only(Category cat, LevelLimits ll) {
  RateLimitConfig c;
  for (auto& lv : c.at(cat).levels) lv = ll;
  return c;
}

// ---- each category, short and long tier, with the defaults -----------------------------------------

struct CategoryCase {
  Category cat;
  std::uint32_t per_sec;
  std::uint32_t per_hour;
};

class RateLimitCategory : public ::testing::TestWithParam<CategoryCase> {};

TEST_P(RateLimitCategory, DefaultsMatchImplValues) {
  const auto& p = GetParam();
  const auto cfg = RateLimitConfig::defaults();
  for (std::size_t l = 0; l < kLevelCount; ++l) {
    const auto& ll = cfg.at(p.cat).levels[l];
    EXPECT_EQ(ll.short_term.rate, p.per_sec);
    EXPECT_EQ(ll.short_term.burst, p.per_sec);
    EXPECT_EQ(ll.long_term.rate, p.per_hour);
    EXPECT_EQ(ll.long_term.burst, p.per_hour);
  }
}

TEST_P(RateLimitCategory, ShortTierTripsAtBurstAndReleasesAfterRetryAfter) {
  const auto& p = GetParam();
  RateLimiter rl;  // defaults
  for (std::uint32_t i = 0; i < p.per_sec; ++i) {
    auto d = rl.check(p.cat, "192.0.2.10", kT0);
    ASSERT_TRUE(d.allowed()) << "request " << i;
    EXPECT_EQ(d.remaining, p.per_sec - 1 - i);
    EXPECT_EQ(d.tier, Tier::short_term);
  }
  auto d = rl.check(p.cat, "192.0.2.10", kT0);
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.level, Level::ipv4_individual);
  EXPECT_EQ(d.tier, Tier::short_term);
  EXPECT_EQ(d.limit, p.per_sec);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.retry_after, 1);  // one emission interval (1/rate s) rounds up to 1 s
  EXPECT_EQ(d.reset_unix, 1'700'000'001);

  // Just before one interval has passed: still refused. After retry_after: allowed again.
  const auto interval = nanoseconds(1'000'000'000 / p.per_sec);
  EXPECT_FALSE(rl.check(p.cat, "192.0.2.10", kT0 + interval - nanoseconds(1)).allowed());
  EXPECT_TRUE(rl.check(p.cat, "192.0.2.10", kT0 + seconds(d.retry_after)).allowed());
}

TEST_P(RateLimitCategory, LongTierTripsAtBurstAndReleasesAfterRetryAfter) {
  const auto& p = GetParam();
  // Short tier off so the hourly tier is seen alone; its values are the defaults'.
  auto cfg = RateLimitConfig::defaults();
  for (auto& lv : cfg.at(p.cat).levels) lv.short_term = {};
  cfg.ban.enabled = false;
  RateLimiter rl(cfg);
  for (std::uint32_t i = 0; i < p.per_hour; ++i) ASSERT_TRUE(rl.check(p.cat, "198.51.100.7", kT0).allowed()) << "request " << i;
  auto d = rl.check(p.cat, "198.51.100.7", kT0);
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.tier, Tier::long_term);
  EXPECT_EQ(d.limit, p.per_hour);
  const std::int64_t interval_ns = 3'600'000'000'000 / p.per_hour;
  EXPECT_EQ(d.retry_after, (interval_ns + 999'999'999) / 1'000'000'000);
  EXPECT_FALSE(rl.check(p.cat, "198.51.100.7", kT0 + nanoseconds(interval_ns - 1)).allowed());
  EXPECT_TRUE(rl.check(p.cat, "198.51.100.7", kT0 + seconds(d.retry_after)).allowed());
}

INSTANTIATE_TEST_SUITE_P(RateLimit, RateLimitCategory,
                         ::testing::Values(CategoryCase{Category::auth, 5, 60}, CategoryCase{Category::federation, 100, 1000},
                                           CategoryCase{Category::general, 300, 5000}, CategoryCase{Category::websocket, 100, 1000},
                                           CategoryCase{Category::search, 30, 1000}),
                         [](const auto& tpi) { return std::string(category_name(tpi.param.cat)); });

// Both tiers together with the auth defaults: 5 a second for 12 s uses up the 60/h, the 61st waits
// until the hourly meter has drained one slot (60 s after start).
TEST(RateLimit, AuthDefaultsHourlyLimitWithPacedRequests) {
  RateLimiter rl;
  for (int sec = 0; sec < 12; ++sec)
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(rl.check(Category::auth, "203.0.113.5", kT0 + seconds(sec)).allowed()) << sec << "/" << i;
  auto d = rl.check(Category::auth, "203.0.113.5", kT0 + seconds(12));
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.tier, Tier::long_term);
  EXPECT_EQ(d.limit, 60u);
  EXPECT_EQ(d.retry_after, 48);
  EXPECT_FALSE(rl.check(Category::auth, "203.0.113.5", kT0 + seconds(59)).allowed());
  EXPECT_TRUE(rl.check(Category::auth, "203.0.113.5", kT0 + seconds(60)).allowed());
}

TEST(RateLimit, CategoriesAreIndependent) {
  RateLimiter rl;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rl.check(Category::auth, "192.0.2.1", kT0).allowed());
  EXPECT_FALSE(rl.check(Category::auth, "192.0.2.1", kT0).allowed());
  EXPECT_TRUE(rl.check(Category::general, "192.0.2.1", kT0).allowed());
  EXPECT_TRUE(rl.check(Category::search, "192.0.2.1", kT0).allowed());
}

// ---- aggregation ------------------------------------------------------------------------------------

TEST(RateLimit, Ipv4NetworkAggregationTripsAcrossHostsOfOneSlash24) {
  RateLimiter rl;  // auth 5/s at every level
  for (int host = 1; host <= 5; ++host) ASSERT_TRUE(rl.check(Category::auth, "192.0.2." + std::to_string(host), kT0).allowed());
  auto d = rl.check(Category::auth, "192.0.2.6", kT0);  // a fresh /32, but the /24 is used up
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.level, Level::ipv4_network);
  EXPECT_EQ(header(d, "X-RateLimit-Level"), "ipv4_network");
  EXPECT_TRUE(rl.check(Category::auth, "192.0.3.6", kT0).allowed());  // the neighbouring /24 is not affected
}

TEST(RateLimit, RefusalDoesNotConsumeOtherLevels) {
  RateLimitConfig cfg;
  cfg.ban.enabled = false;
  cfg.at(Category::general).at(Level::ipv4_individual).short_term = {2, 2};
  cfg.at(Category::general).at(Level::ipv4_network).short_term = {10, 10};
  RateLimiter rl(cfg);
  ASSERT_TRUE(rl.check(Category::general, "10.1.2.3", kT0).allowed());
  ASSERT_TRUE(rl.check(Category::general, "10.1.2.3", kT0).allowed());
  for (int i = 0; i < 20; ++i) {
    auto d = rl.check(Category::general, "10.1.2.3", kT0);
    ASSERT_EQ(d.outcome, Outcome::limited);
    ASSERT_EQ(d.level, Level::ipv4_individual);
  }
  // The /24 was charged only for the 2 accepted requests: 8 remain for the neighbours.
  for (int host = 10; host < 18; ++host) ASSERT_TRUE(rl.check(Category::general, "10.1.2." + std::to_string(host), kT0).allowed()) << host;
  auto d = rl.check(Category::general, "10.1.2.99", kT0);
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.level, Level::ipv4_network);
}

TEST(RateLimit, ShortTierRefusalDoesNotConsumeLongTier) {
  RateLimitConfig cfg;
  cfg.ban.enabled = false;
  cfg.at(Category::general).at(Level::ipv4_individual) = {{1, 1}, {3, 3}};
  RateLimiter rl(cfg);
  ASSERT_TRUE(rl.check(Category::general, "10.0.0.1", kT0).allowed());
  for (int i = 0; i < 5; ++i) ASSERT_EQ(rl.check(Category::general, "10.0.0.1", kT0).tier, Tier::short_term);
  // Had the refusals been charged to the hourly tier (3/h), these would fail.
  EXPECT_TRUE(rl.check(Category::general, "10.0.0.1", kT0 + seconds(1)).allowed());
  EXPECT_TRUE(rl.check(Category::general, "10.0.0.1", kT0 + seconds(2)).allowed());
  auto d = rl.check(Category::general, "10.0.0.1", kT0 + seconds(3));
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.tier, Tier::long_term);
  EXPECT_EQ(d.retry_after, 1200 - 3);  // 3/h: the first slot frees 20 min after the first request
}

TEST(RateLimit, Ipv6SubnetAggregation) {
  RateLimiter rl;
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(rl.check(Category::auth, "2001:db8:1:2::" + std::to_string(i), kT0).allowed());
  auto d = rl.check(Category::auth, "2001:db8:1:2:ffff::1", kT0);  // same /64
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.level, Level::ipv6_subnet);
  EXPECT_TRUE(rl.check(Category::auth, "2001:db8:2:2::1", kT0).allowed());  // another /48
}

TEST(RateLimit, Ipv6ProviderAggregation) {
  RateLimitConfig cfg;
  cfg.ban.enabled = false;
  cfg.at(Category::general).at(Level::ipv6_subnet).short_term = {10, 10};
  cfg.at(Category::general).at(Level::ipv6_provider).short_term = {4, 4};
  RateLimiter rl(cfg);
  for (int net = 0; net < 4; ++net) ASSERT_TRUE(rl.check(Category::general, "2001:db8:7:" + std::to_string(net) + "::1", kT0).allowed());
  auto d = rl.check(Category::general, "2001:db8:7:ff::1", kT0);  // a fresh /64 of the same /48
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.level, Level::ipv6_provider);
  EXPECT_EQ(rate_limit_error(d).details["level"], "ipv6_provider");
}

TEST(RateLimit, AddressForms) {
  RateLimitConfig cfg = only(Category::general, {{1, 1}, {}});
  cfg.ban.enabled = false;
  RateLimiter rl(cfg);
  ASSERT_TRUE(rl.check(Category::general, "192.0.2.77", kT0).allowed());
  EXPECT_FALSE(rl.check(Category::general, "::ffff:192.0.2.77", kT0).allowed());  // IPv4-mapped = same client
  ASSERT_TRUE(rl.check(Category::general, "[2001:db8::5]", kT0).allowed());
  EXPECT_FALSE(rl.check(Category::general, "2001:db8::5", kT0).allowed());
  ASSERT_TRUE(rl.check(Category::general, "fe80::1%eth0", kT0).allowed());
  EXPECT_FALSE(rl.check(Category::general, "fe80::1", kT0).allowed());
  // Unparsable text: its own key, distinct from other garbage.
  ASSERT_TRUE(rl.check(Category::general, "unknown", kT0).allowed());
  auto d = rl.check(Category::general, "unknown", kT0);
  EXPECT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.level, Level::ipv4_individual);
  EXPECT_TRUE(rl.check(Category::general, "unix:/run/cumulo.sock", kT0).allowed());
  EXPECT_TRUE(rl.check(Category::general, "", kT0).allowed());
}

// ---- headers and errors ----------------------------------------------------------------------------

TEST(RateLimit, HeadersAndErrorBodies) {
  RateLimiter rl;
  auto ok = rl.check(Category::auth, "192.0.2.200", kT0 + milliseconds(500));
  ASSERT_TRUE(ok.allowed());
  EXPECT_EQ(header(ok, "Retry-After"), "<absent>");
  EXPECT_EQ(header(ok, "X-RateLimit-Limit"), "5");  // the tightest tier: 5/s with 4 left
  EXPECT_EQ(header(ok, "X-RateLimit-Remaining"), "4");
  EXPECT_EQ(header(ok, "X-RateLimit-Reset"), "1700000001");
  EXPECT_EQ(header(ok, "X-RateLimit-Level"), "ipv4_individual");

  for (int i = 0; i < 4; ++i) rl.check(Category::auth, "192.0.2.200", kT0 + milliseconds(500));
  auto lim = rl.check(Category::auth, "192.0.2.200", kT0 + milliseconds(500));
  ASSERT_EQ(lim.outcome, Outcome::limited);
  EXPECT_EQ(header(lim, "Retry-After"), "1");
  EXPECT_EQ(header(lim, "X-RateLimit-Limit"), "5");
  EXPECT_EQ(header(lim, "X-RateLimit-Remaining"), "0");
  EXPECT_EQ(header(lim, "X-RateLimit-Reset"), "1700000001");  // 0.5 s + 0.2 s, rounded up
  auto e = rl.check(Category::auth, "192.0.2.200", kT0 + milliseconds(500));
  auto err = rate_limit_error(e);
  EXPECT_EQ(err.status, 429u);
  EXPECT_EQ(err.code, "E-RATE-LIMITED");
  EXPECT_EQ(err.details, (nlohmann::json{{"level", "ipv4_individual"}, {"retryAfter", 1}}));

  Decision banned;
  banned.outcome = Outcome::banned;
  banned.retry_after = 321;
  auto bh = rate_limit_headers(banned);
  ASSERT_EQ(bh.size(), 1u);
  EXPECT_EQ(bh[0], (std::pair<std::string, std::string>{"Retry-After", "321"}));
  auto be = rate_limit_error(banned);
  EXPECT_EQ(be.status, 403u);
  EXPECT_EQ(be.code, "E-RATE-BANNED");
  EXPECT_EQ(be.details, (nlohmann::json{{"remainingSecs", 321}}));

  EXPECT_EQ(parse_category("websocket"), Category::websocket);
  EXPECT_EQ(parse_category("dav"), std::nullopt);
}

// ---- bans -------------------------------------------------------------------------------------------

RateLimitConfig ban_config() {
  RateLimitConfig cfg = only(Category::auth, {{1, 1}, {}});
  cfg.ban = {true, 3, seconds(60), seconds(600)};
  return cfg;
}

TEST(RateLimit, BanStartsAtThresholdAndEnds) {
  RateLimiter rl(ban_config());
  const std::string ip = "203.0.113.9";
  ASSERT_TRUE(rl.check(Category::auth, ip, kT0).allowed());
  EXPECT_EQ(rl.check(Category::auth, ip, kT0).outcome, Outcome::limited);  // refusal 1
  EXPECT_EQ(rl.check(Category::auth, ip, kT0).outcome, Outcome::limited);  // refusal 2
  auto d = rl.check(Category::auth, ip, kT0);                              // refusal 3 → ban
  ASSERT_EQ(d.outcome, Outcome::banned);
  EXPECT_EQ(d.retry_after, 600);
  EXPECT_EQ(rl.ban_remaining(ip, kT0), seconds(600));

  // Banned everywhere, even in categories whose limits allow it; the neighbour /32 is not banned.
  auto g = rl.check(Category::general, ip, kT0 + seconds(100));
  ASSERT_EQ(g.outcome, Outcome::banned);
  EXPECT_EQ(g.retry_after, 500);
  EXPECT_TRUE(rl.check(Category::general, "203.0.113.10", kT0 + seconds(100)).allowed());

  auto st = rl.stats(kT0 + seconds(100));
  EXPECT_EQ(st.total_bans, 1u);
  EXPECT_EQ(st.active_bans, 1u);
  EXPECT_EQ(st.total_limited, 2u);
  EXPECT_EQ(st.total_banned, 2u);

  EXPECT_EQ(rl.check(Category::auth, ip, kT0 + seconds(600) - nanoseconds(1)).outcome, Outcome::banned);
  EXPECT_TRUE(rl.check(Category::auth, ip, kT0 + seconds(600)).allowed());
  EXPECT_EQ(rl.ban_remaining(ip, kT0 + seconds(600)), std::nullopt);
  EXPECT_EQ(rl.stats(kT0 + seconds(600)).active_bans, 0u);
}

TEST(RateLimit, RefusalsOutsideTheWindowDoNotBan) {
  RateLimiter rl(ban_config());
  const std::string ip = "203.0.113.20";
  for (int round = 0; round < 5; ++round) {
    const Time t = kT0 + seconds(61 * round);  // 2 refusals per window, never 3
    ASSERT_TRUE(rl.check(Category::auth, ip, t).allowed());
    ASSERT_EQ(rl.check(Category::auth, ip, t).outcome, Outcome::limited);
    ASSERT_EQ(rl.check(Category::auth, ip, t).outcome, Outcome::limited);
  }
  EXPECT_EQ(rl.stats(kT0).total_bans, 0u);
}

TEST(RateLimit, ExemptRoutesAreNotBanned) {
  RateLimiter rl(ban_config());
  const std::string ip = "203.0.113.30";
  ASSERT_TRUE(rl.check(Category::auth, ip, kT0, {.ban_exempt = true}).allowed());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(rl.check(Category::auth, ip, kT0, {.ban_exempt = true}).outcome, Outcome::limited);
  EXPECT_EQ(rl.ban_remaining(ip, kT0), std::nullopt);

  // A client banned elsewhere still reaches the recovery routes (under the normal limits).
  for (int i = 0; i < 4; ++i) rl.check(Category::auth, ip, kT0 + seconds(1));  // 1 allowed, 3 refused
  ASSERT_EQ(rl.check(Category::general, ip, kT0 + seconds(2)).outcome, Outcome::banned);
  EXPECT_TRUE(rl.check(Category::auth, ip, kT0 + seconds(2), {.ban_exempt = true}).allowed());
}

TEST(RateLimit, UnbanLiftsTheBan) {
  RateLimiter rl(ban_config());
  for (int i = 0; i < 4; ++i) rl.check(Category::auth, "203.0.113.40", kT0);
  ASSERT_TRUE(rl.ban_remaining("203.0.113.40", kT0));
  rl.unban("203.0.113.40");
  EXPECT_EQ(rl.ban_remaining("203.0.113.40", kT0), std::nullopt);
  EXPECT_TRUE(rl.check(Category::general, "203.0.113.40", kT0).allowed());
}

TEST(RateLimit, BansDisabled) {
  auto cfg = ban_config();
  cfg.ban.enabled = false;
  RateLimiter rl(cfg);
  for (int i = 0; i < 50; ++i) rl.check(Category::auth, "203.0.113.50", kT0);
  EXPECT_EQ(rl.check(Category::auth, "203.0.113.50", kT0).outcome, Outcome::limited);
  EXPECT_EQ(rl.stats(kT0).total_bans, 0u);
}

// ---- penalties --------------------------------------------------------------------------------------

TEST(RateLimit, PenalizeChargesTheAuthBuckets) {
  RateLimiter rl;  // auth 5/s, 60/h
  rl.penalize("192.0.2.150", kT0, 5);
  auto d = rl.check(Category::auth, "192.0.2.150", kT0);
  ASSERT_EQ(d.outcome, Outcome::limited);
  EXPECT_EQ(d.tier, Tier::short_term);
  EXPECT_TRUE(rl.check(Category::general, "192.0.2.150", kT0).allowed());  // other categories untouched
  EXPECT_TRUE(rl.check(Category::auth, "192.0.2.150", kT0 + milliseconds(200)).allowed());

  // The hourly tier is charged too: 60 failed logins' worth use up the hour.
  rl.penalize("198.51.100.160", kT0, 60);
  auto h = rl.check(Category::auth, "198.51.100.160", kT0 + seconds(15));
  ASSERT_EQ(h.outcome, Outcome::limited);
  EXPECT_EQ(h.tier, Tier::long_term);
  EXPECT_EQ(h.retry_after, 45);  // one hourly slot (60 s) after the penalty
  // The /24 carries the penalty as well.
  EXPECT_EQ(rl.check(Category::auth, "198.51.100.161", kT0 + seconds(15)).level, Level::ipv4_network);
}

// ---- memory -----------------------------------------------------------------------------------------

TEST(RateLimit, EvictionKeepsMemoryBounded) {
  auto cfg = RateLimitConfig::defaults();
  cfg.max_entries = 1000;
  RateLimiter rl(cfg);
  for (int i = 0; i < 20'000; ++i) {
    const std::string ip = std::to_string(10 + i % 200) + "." + std::to_string(i / 200 % 256) + ".0." + std::to_string(i % 7);
    rl.check(Category::general, ip, kT0 + milliseconds(i));
    ASSERT_LE(rl.size(), 1000u);
  }
  EXPECT_GT(rl.size(), 500u);  // shards fill up rather than starving
  EXPECT_EQ(rl.stats(kT0).cache_size, rl.size());
}

TEST(RateLimit, EvictsLeastRecentlyUsed) {
  RateLimitConfig cfg = only(Category::general, {{1, 1}, {}});
  cfg.ban.enabled = false;
  cfg.max_entries = 6;  // 3 IPv4 clients (2 keys each)
  cfg.shards = 1;
  RateLimiter rl(cfg);
  ASSERT_TRUE(rl.check(Category::general, "10.0.1.1", kT0).allowed());
  ASSERT_TRUE(rl.check(Category::general, "10.0.2.1", kT0).allowed());
  ASSERT_TRUE(rl.check(Category::general, "10.0.3.1", kT0).allowed());
  ASSERT_FALSE(rl.check(Category::general, "10.0.1.1", kT0).allowed());  // 10.0.1.1 is now the most recent
  ASSERT_TRUE(rl.check(Category::general, "10.0.4.1", kT0).allowed());   // evicts 10.0.2.x, the oldest
  EXPECT_EQ(rl.size(), 6u);
  EXPECT_FALSE(rl.check(Category::general, "10.0.1.1", kT0).allowed());  // kept
  EXPECT_TRUE(rl.check(Category::general, "10.0.2.1", kT0).allowed());   // forgotten, so fresh
}

TEST(RateLimit, IdleEntriesExpireButBansStay) {
  RateLimitConfig cfg = ban_config();
  cfg.ban.duration = hours(3);
  RateLimiter rl(cfg);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rl.check(Category::auth, "10.9." + std::to_string(i) + ".1", kT0).allowed());
  for (int i = 0; i < 4; ++i) rl.check(Category::auth, "10.8.0.1", kT0);  // banned for 3 h
  ASSERT_EQ(rl.size(), 203u);                                             // 101 clients × 2 + the ban record
  rl.sweep(kT0 + seconds(3600));
  EXPECT_EQ(rl.size(), 203u);  // not idle for longer than the TTL yet
  rl.sweep(kT0 + seconds(3601));
  EXPECT_EQ(rl.size(), 1u);
  EXPECT_EQ(rl.check(Category::general, "10.8.0.1", kT0 + seconds(3601)).outcome, Outcome::banned);
}

// ---- concurrency ------------------------------------------------------------------------------------

TEST(RateLimit, ConcurrentChecksAreExact) {
  RateLimitConfig cfg = only(Category::general, {{1000, 1000}, {}});
  cfg.ban.enabled = false;
  RateLimiter rl(cfg);
  std::atomic<int> allowed_same{0}, allowed_spread{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (rl.check(Category::general, "192.0.2.33", kT0).allowed()) allowed_same.fetch_add(1);
        // Distinct /24s spread over the shards; each client sends 20 (under its limit).
        const std::string ip = "10." + std::to_string(t) + "." + std::to_string(i % 100) + ".1";
        if (rl.check(Category::general, ip, kT0).allowed()) allowed_spread.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed_same.load(), 1000);  // exactly the burst, whatever the interleaving
  EXPECT_EQ(allowed_spread.load(), 8000);
}

// ---- login lockout ----------------------------------------------------------------------------------

TEST(Lockout, LocksAtExactlyMaxFailuresAndReleases) {
  LoginLockout lo;  // 5 failures, 900 s
  for (int i = 1; i <= 4; ++i) {
    auto s = lo.failure("alice.example", kT0 + seconds(i));
    EXPECT_FALSE(s.locked) << i;
    EXPECT_EQ(s.failures, static_cast<std::uint32_t>(i));
    EXPECT_FALSE(lo.check("alice.example", kT0 + seconds(i)).locked);
  }
  auto s = lo.failure("alice.example", kT0 + seconds(5));
  ASSERT_TRUE(s.locked);
  EXPECT_EQ(s.remaining_secs, 900);
  EXPECT_EQ(lo.check("alice.example", kT0 + seconds(305)).remaining_secs, 600);
  EXPECT_FALSE(lo.check("bob.example", kT0 + seconds(305)).locked);

  // Failures during the lock neither extend it nor count towards the next one.
  EXPECT_EQ(lo.failure("alice.example", kT0 + seconds(800)).remaining_secs, 105);
  EXPECT_TRUE(lo.check("alice.example", kT0 + seconds(905) - nanoseconds(1)).locked);
  auto after = lo.check("alice.example", kT0 + seconds(905));
  EXPECT_FALSE(after.locked);
  EXPECT_EQ(after.failures, 0u);
  // A fresh run of failures is needed to lock again.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(lo.failure("alice.example", kT0 + seconds(910 + i)).locked);
  EXPECT_TRUE(lo.failure("alice.example", kT0 + seconds(920)).locked);
}

TEST(Lockout, ReleasesWithoutACheckInBetween) {
  LoginLockout lo({.max_failures = 2, .lock_seconds = seconds(60)});
  lo.failure("carol.example", kT0);
  ASSERT_TRUE(lo.failure("carol.example", kT0).locked);
  auto s = lo.failure("carol.example", kT0 + seconds(60));  // first failure after the lock: counts as 1
  EXPECT_FALSE(s.locked);
  EXPECT_EQ(s.failures, 1u);
}

TEST(Lockout, SuccessResetsTheCount) {
  LoginLockout lo;
  for (int i = 0; i < 4; ++i) lo.failure("dave.example", kT0);
  lo.success("dave.example");
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(lo.failure("dave.example", kT0).locked);
  EXPECT_TRUE(lo.failure("dave.example", kT0).locked);
}

TEST(Lockout, StaleFailuresAreForgotten) {
  LoginLockout lo({.max_failures = 3, .lock_seconds = seconds(900), .failure_memory = seconds(3600)});
  lo.failure("erin.example", kT0);
  lo.failure("erin.example", kT0);
  EXPECT_EQ(lo.failure("erin.example", kT0 + seconds(3601)).failures, 1u);
  EXPECT_EQ(lo.size(), 1u);
  EXPECT_FALSE(lo.check("erin.example", kT0 + seconds(3601 + 3601)).locked);
  EXPECT_EQ(lo.size(), 0u);
}

TEST(Lockout, BoundedEntries) {
  LoginLockout lo({.max_entries = 100});
  for (int i = 0; i < 1000; ++i) lo.failure("user" + std::to_string(i), kT0);
  EXPECT_EQ(lo.size(), 100u);
  EXPECT_EQ(lo.check("user999", kT0).failures, 1u);  // recent ones are kept
  EXPECT_EQ(lo.check("user0", kT0).failures, 0u);
}

TEST(Lockout, ConcurrentFailuresCountExactly) {
  LoginLockout lo({.max_failures = 100, .lock_seconds = seconds(60)});
  std::atomic<int> locking{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto s = lo.failure("frank.example", kT0);
        if (s.locked && s.failures == 100) locking.fetch_add(1);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(locking.load(), 200 - 99);  // every failure from the 100th on sees the lock with 100 counted
  EXPECT_TRUE(lo.check("frank.example", kT0).locked);
}

}  // namespace
}  // namespace cumulo::ratelimit
