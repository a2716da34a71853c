// Per-IP rate limiting (GCRA) with repeat-offender bans, and per-account login lockout.
// spec/runtime.md §8, spec/rest-api.md §1.6 and §1.10.
//
// Time is always passed in (`now`), never read here, so callers and tests control it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cumulo::ratelimit {

/// Wall-clock instant with nanosecond resolution; `std::chrono::system_clock::now()` converts to it.
/// Wall clock (not steady) because `X-RateLimit-Reset` is a Unix time.
using Time = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

enum class Category : std::uint8_t { auth, federation, general, websocket, search };
inline constexpr std::size_t kCategoryCount = 5;

/// "auth", "federation", "general", "websocket", "search".
std::string_view category_name(Category c);
std::optional<Category> parse_category(std::string_view name);

/// Aggregation levels: IPv4 /32 and /24, IPv6 /64 and /48.
enum class Level : std::uint8_t { ipv4_individual, ipv4_network, ipv6_subnet, ipv6_provider };
inline constexpr std::size_t kLevelCount = 4;

/// The `X-RateLimit-Level` value: "ipv4_individual", "ipv4_network", "ipv6_subnet", "ipv6_provider".
std::string_view level_name(Level l);

enum class Tier : std::uint8_t { short_term, long_term };

/// One GCRA meter: `rate` requests per period (second or hour, by tier) with up to `burst` requests at
/// once from an idle start. rate == 0 disables the tier. burst == 0 is treated as 1.
struct TierLimit {
  std::uint32_t rate = 0;
  std::uint32_t burst = 0;
};

struct LevelLimits {
  TierLimit short_term;  // per second
  TierLimit long_term;   // per hour
};

struct CategoryLimits {
  std::array<LevelLimits, kLevelCount> levels{};  // indexed by Level
  LevelLimits& at(Level l) { return levels[static_cast<std::size_t>(l)]; }
  const LevelLimits& at(Level l) const { return levels[static_cast<std::size_t>(l)]; }
};

/// Repeat offenders: `threshold` refusals of one client address (IPv4 /32, IPv6 /64) within `window`
/// ban that address from every category for `duration`.
struct BanPolicy {
  bool enabled = true;
  std::uint32_t threshold = 20;
  std::chrono::seconds window{60};
  std::chrono::seconds duration{900};
};

/// Everything is a setting; the host fills this from its config. `defaults()` = [impl] values;
/// a default-constructed config has every meter off (start from defaults() and override).
struct RateLimitConfig {
  std::array<CategoryLimits, kCategoryCount> categories{};  // indexed by Category
  BanPolicy ban;
  std::size_t max_entries = 100'000;     // tracked keys (buckets + offender records), all shards together
  std::chrono::seconds entry_ttl{3600};  // idle keys are dropped after this
  std::size_t shards = 32;               // lock striping; capped at max_entries

  CategoryLimits& at(Category c) { return categories[static_cast<std::size_t>(c)]; }
  const CategoryLimits& at(Category c) const { return categories[static_cast<std::size_t>(c)]; }

  /// [impl] limits at every level (runtime.md §8.2), burst = rate for both tiers:
  /// auth 5/s 60/h, federation 100/s 1000/h, general 300/s 5000/h, websocket 100/s 1000/h,
  /// search 30/s 1000/h (our choice; [impl] gives no number).
  static RateLimitConfig defaults();
};

enum class Outcome : std::uint8_t { allowed, limited, banned };

/// Result of RateLimiter::check. For `limited`, level/tier/limit/reset describe the tier that refused
/// (the one with the longest wait). For `allowed`, they describe the tightest tier (fewest remaining).
struct Decision {
  Outcome outcome = Outcome::allowed;
  Level level = Level::ipv4_individual;
  Tier tier = Tier::short_term;
  std::uint32_t limit = 0;       // the tier's rate per period (0: no tier is configured)
  std::uint32_t remaining = 0;   // requests that would pass this tier right now
  std::int64_t reset_unix = 0;   // Unix seconds when the tier is full again (limited: when a retry passes)
  std::int64_t retry_after = 0;  // limited: seconds until a retry passes; banned: remaining ban seconds
  bool allowed() const { return outcome == Outcome::allowed; }
};

/// Response headers for a decision: `Retry-After` (limited, banned) and `X-RateLimit-Limit`,
/// `-Remaining`, `-Reset`, `-Level` (allowed, limited; omitted when no tier applied).
std::vector<std::pair<std::string, std::string>> rate_limit_headers(const Decision& d);

/// The error to answer for a refused decision (rest-api.md §1.6):
/// limited → 429 E-RATE-LIMITED {level, retryAfter}; banned → 403 E-RATE-BANNED {remainingSecs}.
struct RateLimitError {
  unsigned status = 0;
  std::string code;
  std::string message;
  nlohmann::json details;
};
RateLimitError rate_limit_error(const Decision& d);

struct CheckOptions {
  /// "No ban" recovery routes: a banned client still gets through (subject to the normal limits) and
  /// refusals here do not count towards a ban.
  bool ban_exempt = false;
};

struct RateLimitStats {
  std::uint64_t total_limited = 0;  // refusals (429)
  std::uint64_t total_banned = 0;   // requests answered with a ban (403)
  std::uint64_t total_bans = 0;     // bans started
  std::size_t active_bans = 0;
  std::size_t cache_size = 0;
};

/// Thread-safe. One mutex per shard; the shard is chosen by the network prefix, so every key a request
/// touches is in one shard and a check takes exactly one lock.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimitConfig config = RateLimitConfig::defaults());
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  /// Counts one request of `category` from `ip` (textual IPv4/IPv6; "[::1]" and "%zone" are accepted,
  /// IPv4-mapped IPv6 counts as IPv4; anything unparsable is its own key at the ipv4_individual level).
  /// A request passes only if every level and both tiers allow it; a refusal consumes nothing.
  Decision check(Category category, std::string_view ip, Time now, CheckOptions options = {});

  /// Adds `weight` requests' worth of cost to the auth buckets of `ip` at every level (failed logins).
  /// Never refuses; it makes the next auth checks refuse sooner.
  void penalize(std::string_view ip, Time now, std::uint32_t weight = 1);

  /// Remaining ban of `ip`, if banned.
  std::optional<std::chrono::seconds> ban_remaining(std::string_view ip, Time now);
  /// Lifts a ban and forgets the address's refusal count (admin action).
  void unban(std::string_view ip);

  /// Drops idle keys (no request for entry_ttl and nothing pending). Inserting does this too, per shard;
  /// call it from a periodic task to release memory of quiet shards.
  void sweep(Time now);

  std::size_t size() const;
  /// active_bans scans every shard: meant for the metrics endpoint, not the hot path.
  RateLimitStats stats(Time now) const;
  const RateLimitConfig& config() const { return config_; }

  struct Shard;  // implementation detail (public for the .cpp's helpers)

 private:
  Shard& shard_for(std::uint64_t hash);

  RateLimitConfig config_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> total_limited_{0};
  std::atomic<std::uint64_t> total_banned_{0};
  std::atomic<std::uint64_t> total_bans_{0};
};

// ---------------------------------------------------------------------------------------------------

struct LockoutConfig {
  std::uint32_t max_failures = 5;             // consecutive failures that lock the account
  std::chrono::seconds lock_seconds{900};     // how long the lock lasts
  std::chrono::seconds failure_memory{3600};  // failures older than this (no new one since) are forgotten
  std::size_t max_entries = 100'000;          // tracked accounts; the least recently failed goes first
};

struct LockoutStatus {
  bool locked = false;
  std::int64_t remaining_secs = 0;  // > 0 while locked
  std::uint32_t failures = 0;       // consecutive failures counted so far (0 after a lock ends)
};

/// Per-account (tenant idTag) lockout after repeated wrong passwords. Thread-safe.
/// Callers: check() before verifying the password (locked → refuse without verifying), then
/// failure() or success().
class LoginLockout {
 public:
  explicit LoginLockout(LockoutConfig config = {});

  LockoutStatus check(std::string_view id_tag, Time now);
  /// Records a failed password check; the max_failures-th consecutive one locks the account.
  /// Failures while locked are not counted (the lock is not extended).
  LockoutStatus failure(std::string_view id_tag, Time now);
  /// A correct password: forget the failures.
  void success(std::string_view id_tag);

  std::size_t size() const;
  const LockoutConfig& config() const { return config_; }

 private:
  struct Entry {
    std::string id_tag;
    std::uint32_t failures = 0;
    std::int64_t last_failure_ns = 0;
    std::int64_t locked_until_ns = 0;
  };
  using List = std::list<Entry>;     // most recent failure first
  void expire(std::int64_t now_ns);  // mutex held
  LockoutStatus status_of(const Entry& e, std::int64_t now_ns) const;

  LockoutConfig config_;
  mutable std::mutex mutex_;
  List order_;
  std::unordered_map<std::string_view, List::iterator> index_;  // views into order_'s strings
};

}  // namespace cumulo::ratelimit
