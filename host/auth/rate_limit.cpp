#include "auth/rate_limit.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace cumulo::ratelimit {

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;
constexpr std::int64_t kSecondNs = kNsPerSec;
constexpr std::int64_t kHourNs = 3600 * kNsPerSec;
// Keeps T * burst and T * weight far from int64 overflow (T <= 1 h).
constexpr std::uint32_t kMaxBurst = 1'000'000;

std::int64_t to_ns(Time t) { return t.time_since_epoch().count(); }
std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
std::int64_t ceil_secs(std::int64_t ns) { return ceil_div(ns, kNsPerSec); }

// ---- addresses --------------------------------------------------------------------------------------

enum class Family : std::uint8_t { v4, v6, other };

struct Addr {
  Family family = Family::other;
  std::array<std::uint8_t, 16> bytes{};
};

std::uint64_t fnv1a(std::string_view s, std::uint64_t basis) {
  std::uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

Addr parse_addr(std::string_view ip) {
  Addr a;
  std::string_view s = ip;
  // "[v6]" as written in URLs and some proxy headers; "%zone" of link-local addresses.
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (auto pct = s.find('%'); pct != std::string_view::npos) s = s.substr(0, pct);
  char buf[INET6_ADDRSTRLEN + 1];
  if (!s.empty() && s.size() < sizeof buf) {
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, buf, &v4) == 1) {
      a.family = Family::v4;
      std::memcpy(a.bytes.data(), &v4, 4);
      return a;
    }
    if (inet_pton(AF_INET6, buf, &v6) == 1) {
      static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (std::memcmp(v6.s6_addr, kMapped, 12) == 0) {  // ::ffff:a.b.c.d is the IPv4 client
        a.family = Family::v4;
        std::memcpy(a.bytes.data(), v6.s6_addr + 12, 4);
      } else {
        a.family = Family::v6;
        std::memcpy(a.bytes.data(), v6.s6_addr, 16);
      }
      return a;
    }
  }
  // Unparsable (unix socket peer, "unknown"…): a key of its own, from a 128-bit hash of the text.
  std::uint64_t h1 = fnv1a(ip, 0xcbf29ce484222325ULL), h2 = fnv1a(ip, 0x84222325cbf29ce4ULL);
  std::memcpy(a.bytes.data(), &h1, 8);
  std::memcpy(a.bytes.data() + 8, &h2, 8);
  return a;
}

// ---- keys -------------------------------------------------------------------------------------------

constexpr std::uint8_t kOffenderKind = 0xff;  // Key::kind of ban records (category-independent)
constexpr std::uint8_t kOtherLevel = 0xfe;    // Key::level of unparsable addresses

struct Key {
  std::array<std::uint8_t, 16> prefix{};  // address masked to the level's prefix length
  std::uint8_t kind = 0;                  // Category or kOffenderKind
  std::uint8_t level = 0;                 // Level or kOtherLevel
  bool operator==(const Key&) const = default;
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

struct KeyHash {
  std::size_t operator()(const Key& k) const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, k.prefix.data(), 8);
    std::memcpy(&b, k.prefix.data() + 8, 8);
    return static_cast<std::size_t>(mix(a ^ mix(b ^ (std::uint64_t{k.kind} << 8 | k.level))));
  }
};

// Prefix length in bytes: /32, /24, /64, /48.
std::size_t prefix_bytes(Level l) {
  switch (l) {
    case Level::ipv4_individual:
      return 4;
    case Level::ipv4_network:
      return 3;
    case Level::ipv6_subnet:
      return 8;
    case Level::ipv6_provider:
      return 6;
  }
  return 16;
}

Key make_key(const Addr& a, std::uint8_t kind, Level l) {
  Key k;
  k.kind = kind;
  if (a.family == Family::other) {
    k.prefix = a.bytes;
    k.level = kOtherLevel;
    return k;
  }
  std::memcpy(k.prefix.data(), a.bytes.data(), prefix_bytes(l));
  k.level = static_cast<std::uint8_t>(l);
  return k;
}

// The levels a family is counted at; unparsable addresses only at the individual one.
struct Levels {
  std::array<Level, 2> at{};
  std::size_t n = 0;
};
Levels levels_of(Family f) {
  switch (f) {
    case Family::v4:
      return {{Level::ipv4_individual, Level::ipv4_network}, 2};
    case Family::v6:
      return {{Level::ipv6_subnet, Level::ipv6_provider}, 2};
    case Family::other:
      break;
  }
  return {{Level::ipv4_individual, Level::ipv4_individual}, 1};
}

// Shard by the network prefix: every key of one request (both levels, the ban record) shares the shard.
std::uint64_t shard_hash(const Addr& a) {
  Key k = make_key(a, 0, a.family == Family::v6 ? Level::ipv6_provider : Level::ipv4_network);
  return KeyHash{}(k);
}

// ---- GCRA -------------------------------------------------------------------------------------------

struct Meter {
  std::int64_t interval = 0;  // emission interval T, ns
  std::int64_t burst = 1;
  std::uint32_t rate = 0;
  bool enabled() const { return rate > 0; }
};

Meter meter(const TierLimit& t, std::int64_t period_ns) {
  Meter m;
  if (t.rate == 0) return m;
  m.rate = t.rate;
  m.interval = std::max<std::int64_t>(1, period_ns / t.rate);
  m.burst = std::clamp<std::int64_t>(t.burst, 1, kMaxBurst);
  return m;
}

}  // namespace

// ---- names ------------------------------------------------------------------------------------------

std::string_view category_name(Category c) {
  switch (c) {
    case Category::auth:
      return "auth";
    case Category::federation:
      return "federation";
    case Category::general:
      return "general";
    case Category::websocket:
      return "websocket";
    case Category::search:
      return "search";
  }
  return "general";
}

std::optional<Category> parse_category(std::string_view name) {
  for (std::size_t i = 0; i < kCategoryCount; ++i) {
    auto c = static_cast<Category>(i);
    if (category_name(c) == name) return c;
  }
  return std::nullopt;
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::ipv4_individual:
      return "ipv4_individual";
    case Level::ipv4_network:
      return "ipv4_network";
    case Level::ipv6_subnet:
      return "ipv6_subnet";
    case Level::ipv6_provider:
      return "ipv6_provider";
  }
  return "ipv4_individual";
}

RateLimitConfig RateLimitConfig::defaults() {
  RateLimitConfig c;
  auto set = [&c](Category cat, std::uint32_t per_sec, std::uint32_t per_hour) {
    for (auto& lv : c.at(cat).levels) lv = LevelLimits{{per_sec, per_sec}, {per_hour, per_hour}};
  };
  set(Category::auth, 5, 60);
  set(Category::federation, 100, 1000);
  set(Category::general, 300, 5000);
  set(Category::websocket, 100, 1000);
  set(Category::search, 30, 1000);
  return c;
}

// ---- decisions → HTTP -------------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> rate_limit_headers(const Decision& d) {
  std::vector<std::pair<std::string, std::string>> h;
  if (d.outcome != Outcome::allowed) h.emplace_back("Retry-After", std::to_string(d.retry_after));
  if (d.outcome != Outcome::banned && d.limit > 0) {
    h.emplace_back("X-RateLimit-Limit", std::to_string(d.limit));
    h.emplace_back("X-RateLimit-Remaining", std::to_string(d.remaining));
    h.emplace_back("X-RateLimit-Reset", std::to_string(d.reset_unix));
    h.emplace_back("X-RateLimit-Level", std::string(level_name(d.level)));
  }
  return h;
}

RateLimitError rate_limit_error(const Decision& d) {
  switch (d.outcome) {
    case Outcome::limited:
      return {429, "E-RATE-LIMITED", "Too many requests", {{"level", std::string(level_name(d.level))}, {"retryAfter", d.retry_after}}};
    case Outcome::banned:
      return {403, "E-RATE-BANNED", "Temporarily banned after too many requests", {{"remainingSecs", d.retry_after}}};
    case Outcome::allowed:
      break;
  }
  return {};
}

// ---- the limiter ------------------------------------------------------------------------------------

namespace {

struct Entry {
  Key key;
  std::int64_t last_seen = 0;
  std::array<std::int64_t, 2> tat{};  // theoretical arrival time per Tier; 0 = idle
  // Offender records only:
  std::int64_t window_start = 0;
  std::int64_t banned_until = 0;
  std::uint32_t violations = 0;
  // LRU links (most recently used at the head). unordered_map nodes never move, so pointers are stable.
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

}  // namespace

struct RateLimiter::Shard {
  std::mutex mu;
  std::unordered_map<Key, Entry, KeyHash> map;
  Entry* head = nullptr;
  Entry* tail = nullptr;
  std::size_t capacity = 0;
  std::int64_t ttl_ns = 0;

  void unlink(Entry* e) {
    (e->prev ? e->prev->next : head) = e->next;
    (e->next ? e->next->prev : tail) = e->prev;
    e->prev = e->next = nullptr;
  }
  void push_front(Entry* e) {
    e->next = head;
    e->prev = nullptr;
    if (head) head->prev = e;
    head = e;
    if (!tail) tail = e;
  }
  void erase(Entry* e) {
    unlink(e);
    Key k = e->key;  // copy: erase() must not read a key from the node it destroys
    map.erase(k);
  }

  Entry* find(const Key& k) {
    auto it = map.find(k);
    return it == map.end() ? nullptr : &it->second;
  }

  // Drops idle entries from the cold end. A still-banned record is moved to the front instead: the
  // ban must outlive the idle TTL. Bounded so one request never does much work.
  void expire(std::int64_t now, std::size_t budget) {
    while (tail && budget-- > 0 && now - tail->last_seen > ttl_ns) {
      Entry* e = tail;
      if (e->banned_until > now) {
        unlink(e);
        push_front(e);
      } else {
        erase(e);
      }
    }
  }

  // Finds or creates the entry and marks it most recently used. Callers touch at most 3 keys per
  // operation and capacity >= 4, so eviction never removes an entry the caller still holds.
  Entry& touch(const Key& k, std::int64_t now) {
    Entry* e = find(k);
    if (e) {
      unlink(e);
    } else {
      expire(now, 4);
      while (map.size() >= capacity && tail) erase(tail);
      e = &map.try_emplace(k).first->second;
      e->key = k;
    }
    push_front(e);
    e->last_seen = now;
    return *e;
  }
};

RateLimiter::RateLimiter(RateLimitConfig config) : config_(std::move(config)) {
  config_.max_entries = std::max<std::size_t>(config_.max_entries, 4);
  std::size_t n = std::clamp<std::size_t>(config_.shards, 1, config_.max_entries / 4);
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Shard>();
    s->capacity = config_.max_entries / n;
    s->ttl_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.entry_ttl).count();
    shards_.push_back(std::move(s));
  }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::shard_for(std::uint64_t hash) { return *shards_[hash % shards_.size()]; }

Decision RateLimiter::check(Category category, std::string_view ip, Time now_tp, CheckOptions options) {
  const std::int64_t now = to_ns(now_tp);
  const Addr addr = parse_addr(ip);
  const Levels lv = levels_of(addr.family);
  const auto& limits = config_.at(category);
  const bool bans = config_.ban.enabled && !options.ban_exempt;
  const Key offender_key = make_key(addr, kOffenderKind, lv.at[0]);

  Shard& sh = shard_for(shard_hash(addr));
  std::lock_guard lock(sh.mu);

  if (bans) {
    if (Entry* off = sh.find(offender_key); off && off->banned_until > now) {
      total_banned_.fetch_add(1, std::memory_order_relaxed);
      Decision d;
      d.outcome = Outcome::banned;
      d.retry_after = ceil_secs(off->banned_until - now);
      return d;
    }
  }

  // Phase 1: evaluate every level and tier without changing anything.
  std::array<Entry*, 2> entries{};
  std::array<std::array<std::int64_t, 2>, 2> new_tat{};
  std::int64_t worst_wait = 0;
  Decision best;  // allowed: the tier with the fewest remaining requests
  bool have_best = false;
  Decision refused;
  refused.outcome = Outcome::limited;

  for (std::size_t i = 0; i < lv.n; ++i) {
    const LevelLimits& ll = limits.at(lv.at[i]);
    const std::array<Meter, 2> meters{meter(ll.short_term, kSecondNs), meter(ll.long_term, kHourNs)};
    if (!meters[0].enabled() && !meters[1].enabled()) continue;  // unlimited level: keep no state
    entries[i] = &sh.touch(make_key(addr, static_cast<std::uint8_t>(category), lv.at[i]), now);
    for (std::size_t t = 0; t < 2; ++t) {
      const Meter& m = meters[t];
      if (!m.enabled()) continue;
      const std::int64_t tat = std::max(entries[i]->tat[t], now) + m.interval;
      const std::int64_t allow_at = tat - m.interval * m.burst;
      if (allow_at > now) {
        if (allow_at - now > worst_wait) {  // report the tier that keeps the client waiting longest
          worst_wait = allow_at - now;
          refused.level = lv.at[i];
          refused.tier = static_cast<Tier>(t);
          refused.limit = m.rate;
        }
        continue;
      }
      new_tat[i][t] = tat;
      const auto remaining = static_cast<std::uint32_t>((now - allow_at) / m.interval);
      if (!have_best || remaining < best.remaining) {
        have_best = true;
        best.level = lv.at[i];
        best.tier = static_cast<Tier>(t);
        best.limit = m.rate;
        best.remaining = remaining;
        best.reset_unix = ceil_secs(tat);
      }
    }
  }

  if (worst_wait > 0) {
    refused.retry_after = std::max<std::int64_t>(1, ceil_secs(worst_wait));
    refused.reset_unix = ceil_secs(now + worst_wait);
    if (bans) {
      Entry& off = sh.touch(offender_key, now);
      if (now - off.window_start > std::chrono::duration_cast<std::chrono::nanoseconds>(config_.ban.window).count()) {
        off.window_start = now;
        off.violations = 0;
      }
      if (++off.violations >= config_.ban.threshold) {
        off.violations = 0;
        off.banned_until = now + std::chrono::duration_cast<std::chrono::nanoseconds>(config_.ban.duration).count();
        total_bans_.fetch_add(1, std::memory_order_relaxed);
        total_banned_.fetch_add(1, std::memory_order_relaxed);
        Decision d;
        d.outcome = Outcome::banned;
        d.retry_after = std::max<std::int64_t>(1, ceil_secs(off.banned_until - now));
        return d;
      }
    }
    total_limited_.fetch_add(1, std::memory_order_relaxed);
    return refused;
  }

  // Phase 2: every level and tier agreed; charge them all.
  for (std::size_t i = 0; i < lv.n; ++i)
    for (std::size_t t = 0; t < 2; ++t)
      if (entries[i] && new_tat[i][t] != 0) entries[i]->tat[t] = new_tat[i][t];
  return best;
}

void RateLimiter::penalize(std::string_view ip, Time now_tp, std::uint32_t weight) {
  if (weight == 0) return;
  const std::int64_t now = to_ns(now_tp);
  const std::int64_t w = std::min(weight, kMaxBurst);
  const Addr addr = parse_addr(ip);
  const Levels lv = levels_of(addr.family);
  const auto& limits = config_.at(Category::auth);
  Shard& sh = shard_for(shard_hash(addr));
  std::lock_guard lock(sh.mu);
  for (std::size_t i = 0; i < lv.n; ++i) {
    const LevelLimits& ll = limits.at(lv.at[i]);
    const std::array<Meter, 2> meters{meter(ll.short_term, kSecondNs), meter(ll.long_term, kHourNs)};
    if (!meters[0].enabled() && !meters[1].enabled()) continue;
    Entry& e = sh.touch(make_key(addr, static_cast<std::uint8_t>(Category::auth), lv.at[i]), now);
    for (std::size_t t = 0; t < 2; ++t)
      if (meters[t].enabled()) e.tat[t] = std::max(e.tat[t], now) + meters[t].interval * w;
  }
}

std::optional<std::chrono::seconds> RateLimiter::ban_remaining(std::string_view ip, Time now_tp) {
  const std::int64_t now = to_ns(now_tp);
  const Addr addr = parse_addr(ip);
  const Key k = make_key(addr, kOffenderKind, levels_of(addr.family).at[0]);
  Shard& sh = shard_for(shard_hash(addr));
  std::lock_guard lock(sh.mu);
  if (Entry* e = sh.find(k); e && e->banned_until > now) return std::chrono::seconds(ceil_secs(e->banned_until - now));
  return std::nullopt;
}

void RateLimiter::unban(std::string_view ip) {
  const Addr addr = parse_addr(ip);
  const Key k = make_key(addr, kOffenderKind, levels_of(addr.family).at[0]);
  Shard& sh = shard_for(shard_hash(addr));
  std::lock_guard lock(sh.mu);
  if (Entry* e = sh.find(k)) sh.erase(e);
}

void RateLimiter::sweep(Time now_tp) {
  const std::int64_t now = to_ns(now_tp);
  for (auto& s : shards_) {
    std::lock_guard lock(s->mu);
    s->expire(now, s->map.size());
  }
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    n += s->map.size();
  }
  return n;
}

RateLimitStats RateLimiter::stats(Time now_tp) const {
  const std::int64_t now = to_ns(now_tp);
  RateLimitStats st;
  st.total_limited = total_limited_.load(std::memory_order_relaxed);
  st.total_banned = total_banned_.load(std::memory_order_relaxed);
  st.total_bans = total_bans_.load(std::memory_order_relaxed);
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    st.cache_size += s->map.size();
    for (const auto& [k, e] : s->map)
      if (k.kind == kOffenderKind && e.banned_until > now) ++st.active_bans;
  }
  return st;
}

// ---- login lockout ----------------------------------------------------------------------------------

LoginLockout::LoginLockout(LockoutConfig config) : config_(std::move(config)) {
  config_.max_failures = std::max<std::uint32_t>(config_.max_failures, 1);
  config_.max_entries = std::max<std::size_t>(config_.max_entries, 1);
}

LockoutStatus LoginLockout::status_of(const Entry& e, std::int64_t now) const {
  LockoutStatus s;
  s.failures = e.failures;
  if (e.locked_until_ns > now) {
    s.locked = true;
    s.remaining_secs = std::max<std::int64_t>(1, ceil_secs(e.locked_until_ns - now));
  }
  return s;
}

// order_ is sorted by last failure (failures while locked do not move an entry), so expired entries
// sit at the back. An entry still locked there stops the scan; it expires on a later call.
void LoginLockout::expire(std::int64_t now) {
  const std::int64_t memory = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.failure_memory).count();
  while (!order_.empty()) {
    Entry& e = order_.back();
    if (e.locked_until_ns > now || now - e.last_failure_ns <= memory) break;
    index_.erase(e.id_tag);
    order_.pop_back();
  }
}

LockoutStatus LoginLockout::check(std::string_view id_tag, Time now_tp) {
  const std::int64_t now = to_ns(now_tp);
  std::lock_guard lock(mutex_);
  expire(now);
  auto it = index_.find(id_tag);
  if (it == index_.end()) return {};
  Entry& e = *it->second;
  if (e.locked_until_ns != 0 && e.locked_until_ns <= now) {  // the lock has run out: start afresh
    order_.erase(it->second);
    index_.erase(it);
    return {};
  }
  return status_of(e, now);
}

LockoutStatus LoginLockout::failure(std::string_view id_tag, Time now_tp) {
  const std::int64_t now = to_ns(now_tp);
  const std::int64_t memory = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.failure_memory).count();
  std::lock_guard lock(mutex_);
  expire(now);
  auto it = index_.find(id_tag);
  if (it == index_.end()) {
    while (order_.size() >= config_.max_entries) {
      index_.erase(order_.back().id_tag);
      order_.pop_back();
    }
    Entry fresh;
    fresh.id_tag = std::string(id_tag);
    order_.push_front(std::move(fresh));
    it = index_.emplace(order_.front().id_tag, order_.begin()).first;
  }
  Entry& e = *it->second;
  if (e.locked_until_ns > now) return status_of(e, now);
  if (e.locked_until_ns != 0 || now - e.last_failure_ns > memory) {  // previous lock over or failures stale
    e.failures = 0;
    e.locked_until_ns = 0;
  }
  ++e.failures;
  e.last_failure_ns = now;
  if (e.failures >= config_.max_failures) {
    e.locked_until_ns = now + std::chrono::duration_cast<std::chrono::nanoseconds>(config_.lock_seconds).count();
  }
  order_.splice(order_.begin(), order_, it->second);
  return status_of(e, now);
}

void LoginLockout::success(std::string_view id_tag) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(id_tag);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

std::size_t LoginLockout::size() const {
  std::lock_guard lock(mutex_);
  return order_.size();
}

}  // namespace cumulo::ratelimit
