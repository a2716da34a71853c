// PowCounters (spec/actions-federation.md §9) with explicit times: violation
// levels, decay by one per 3600 s, the 10 cap, the /24 and IPv6 /64 network
// level, and LRU eviction at capacity.
#include <gtest/gtest.h>

#include "actions/pow.hpp"

using cumulo::actions::PowCounters;
using V = PowCounters::Violation;

namespace {
constexpr int64_t T0 = 1'700'000'000;
constexpr int64_t H = PowCounters::kDecaySeconds;
}  // namespace

TEST(PowCounters, RequirementDecaysOnePerHour) {
  PowCounters p;
  EXPECT_EQ(p.required("192.0.2.7", T0), 0);
  p.penalize("192.0.2.7", V::kRejected, T0);
  p.penalize("192.0.2.7", V::kRejected, T0 + 10);
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10), 2);
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10 + H - 1), 2);
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10 + H), 1);
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10 + 2 * H - 1), 1);
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10 + 2 * H), 0);
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10 + 50 * H), 0);
  // Decay counts from the last violation: a new one restarts the hour.
  p.penalize("192.0.2.7", V::kRejected, T0 + 10 + H);  // 1 left, +1 → 2
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10 + 2 * H - 1), 2);
  EXPECT_EQ(p.required("192.0.2.7", T0 + 10 + 2 * H), 1);
  // Time going backwards (another clock) never raises or lowers it.
  EXPECT_EQ(p.required("192.0.2.7", T0), 2);
}

TEST(PowCounters, SuffixCheck) {
  EXPECT_TRUE(PowCounters::satisfies("abc", 0));
  EXPECT_TRUE(PowCounters::satisfies("abc", -1));
  EXPECT_TRUE(PowCounters::satisfies("xyzA", 1));
  EXPECT_FALSE(PowCounters::satisfies("xyzA", 2));
  EXPECT_TRUE(PowCounters::satisfies("xyAA", 2));
  EXPECT_FALSE(PowCounters::satisfies("xyAa", 2));
  EXPECT_FALSE(PowCounters::satisfies("A", 2));
  EXPECT_TRUE(PowCounters::satisfies("AA", 2));
}

TEST(PowCounters, CappedAtTen) {
  PowCounters p;
  for (int i = 0; i < 25; ++i) p.penalize("198.51.100.1", V::kSignatureFailure, T0);
  EXPECT_EQ(p.required("198.51.100.1", T0), PowCounters::kMaxCounter);
  EXPECT_EQ(p.required("198.51.100.1", T0 + 3 * H), PowCounters::kMaxCounter - 3);
  EXPECT_EQ(p.required("198.51.100.1", T0 + 10 * H), 0);
}

TEST(PowCounters, NetworkLevelIpv4Slash24) {
  PowCounters p;
  // Individual only: the neighbour is not affected.
  p.penalize("203.0.113.5", V::kRejected, T0);
  EXPECT_EQ(p.required("203.0.113.5", T0), 1);
  EXPECT_EQ(p.required("203.0.113.77", T0), 0);
  // Network only (a failed PoW check): every address of the /24.
  p.penalize("203.0.113.5", V::kPowCheckFailed, T0);
  p.penalize("203.0.113.6", V::kPowCheckFailed, T0);
  EXPECT_EQ(p.required("203.0.113.77", T0), 2);
  EXPECT_EQ(p.required("203.0.113.5", T0), 2);  // max(individual 1, network 2)
  EXPECT_EQ(p.required("203.0.114.5", T0), 0);  // another /24
  // Both levels (signature failure, duplicate pending).
  p.penalize("203.0.113.9", V::kSignatureFailure, T0);
  p.penalize("203.0.113.9", V::kDuplicatePending, T0);
  EXPECT_EQ(p.required("203.0.113.9", T0), 4);    // network 2 + 2
  EXPECT_EQ(p.required("203.0.113.200", T0), 4);  // the same /24
  EXPECT_EQ(p.required("203.0.113.200", T0 + 4 * H), 0);
}

TEST(PowCounters, Ipv6Slash64) {
  PowCounters p;
  p.penalize("2001:db8:1:2:aaaa::1", V::kRejected, T0);
  // Individual IPv6 tracking is per /64: another host of the same /64 counts.
  EXPECT_EQ(p.required("2001:db8:1:2:bbbb::9", T0), 1);
  EXPECT_EQ(p.required("2001:db8:1:3::1", T0), 0);
  // Individual and network are the same /64: one violation counts once.
  p.penalize("2001:db8:1:2::5", V::kSignatureFailure, T0);
  EXPECT_EQ(p.required("2001:db8:1:2::1", T0), 2);
  p.penalize("2001:db8:1:2::5", V::kPowCheckFailed, T0);
  EXPECT_EQ(p.required("2001:db8:1:2::1", T0), 2);  // network /64: 1, individual /64: 2
  EXPECT_EQ(p.required("2001:db8:1:2::1", T0 + 2 * H), 0);
  // An IPv4-style text that is neither: tracked as given, never crashes.
  p.penalize("not-an-ip", V::kRejected, T0);
  EXPECT_EQ(p.required("not-an-ip", T0), 1);
}

TEST(PowCounters, LruEvictsLeastRecentlyPenalised) {
  PowCounters p(/*individual*/ 3, /*network*/ 2);
  p.penalize("10.0.1.1", V::kRejected, T0);
  p.penalize("10.0.2.1", V::kRejected, T0);
  p.penalize("10.0.3.1", V::kRejected, T0);
  p.penalize("10.0.1.1", V::kRejected, T0 + 1);  // 10.0.1.1 is the most recent again
  p.penalize("10.0.4.1", V::kRejected, T0 + 2);  // evicts 10.0.2.1
  EXPECT_EQ(p.required("10.0.1.1", T0 + 2), 2);
  EXPECT_EQ(p.required("10.0.2.1", T0 + 2), 0);
  EXPECT_EQ(p.required("10.0.3.1", T0 + 2), 1);
  EXPECT_EQ(p.required("10.0.4.1", T0 + 2), 1);
  // Network level: capacity 2.
  p.penalize("10.1.1.1", V::kPowCheckFailed, T0);
  p.penalize("10.1.2.1", V::kPowCheckFailed, T0);
  p.penalize("10.1.3.1", V::kPowCheckFailed, T0);  // evicts 10.1.1.0/24
  EXPECT_EQ(p.required("10.1.1.99", T0), 0);
  EXPECT_EQ(p.required("10.1.2.99", T0), 1);
  EXPECT_EQ(p.required("10.1.3.99", T0), 1);
}

TEST(PowCounters, DefaultCapacitiesHoldManyAddresses) {
  PowCounters p;
  for (int i = 0; i < 60000; ++i) {
    const std::string ip = "10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) + "." + std::to_string(i % 256);
    p.penalize(ip, V::kRejected, T0);
  }
  // 50,000 individual entries: the first 10,000 are gone, the rest remain.
  EXPECT_EQ(p.required("10.0.0.0", T0), 0);
  EXPECT_EQ(p.required("10.0.39.15", T0), 0);   // #9999
  EXPECT_EQ(p.required("10.0.39.16", T0), 1);   // #10000
  EXPECT_EQ(p.required("10.0.234.95", T0), 1);  // #59999
}
