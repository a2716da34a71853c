// Graceful shutdown: a request in flight when stop() begins completes with
// 200; new connections are refused afterwards.
#include <gtest/gtest.h>

#include <future>

#include "support/fixture.hpp"

using namespace cumulo::test;
using json = nlohmann::json;

TEST(Shutdown, DrainsInFlightRequests) {
  json cfg = {{"profiles", {{"embedded", {{"blob", {{"factory", "slow-blob"}, {"options", {{"ms", 400}}}}}}}}}};
  TestHost host(cfg, {test_plugins() / "slow.so"});
  const uint16_t port = host.port();
  auto inflight = std::async(std::launch::async, [&] {
    Req q;
    q.target = "/ready";
    return http(port, q);
  });
  ASSERT_TRUE(eventually([&] { return host.app().active_requests() > 0; }));
  host.stop();  // returns once drained
  auto r = inflight.get();
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  Req q;
  q.target = "/health";
  EXPECT_FALSE(http(port, q).ok);  // listener closed
}
