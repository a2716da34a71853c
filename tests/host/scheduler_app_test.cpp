// The scheduler persists through the embedded profile's meta-sqlite (SDK calls):
// a task scheduled by one host process runs in the next one.
#include <gtest/gtest.h>

#include <atomic>

#include "runtime/scheduler.hpp"
#include "support/fixture.hpp"

using namespace cumulo;
using namespace cumulo::test;
using json = nlohmann::json;

TEST(SchedulerApp, TaskSurvivesRestart) {
  TempDir shared;
  json cfg = {{"dataDir", (shared.path / "data").string()}};
  int64_t id = 0, dep = 0;
  {
    TestHost first(cfg, builtin_plugins());
    auto* s = first.app().scheduler();
    ASSERT_NE(s, nullptr);
    // No function for this kind in this process: the tasks stay pending.
    dep = s->task("test.restart").input("first").schedule();
    id = s->task("test.restart").input("second").depend_on({dep}).schedule();
    EXPECT_EQ(s->get(id)->status, 'P');
    first.stop();
  }
  TestHost second(cfg, builtin_plugins());
  auto* s = second.app().scheduler();
  ASSERT_NE(s, nullptr);
  std::mutex mu;
  std::vector<std::string> order;
  s->register_kind("test.restart", [&](const runtime::TaskContext& c) {
    std::lock_guard lk(mu);
    order.push_back(c.input);
    return runtime::TaskResult::ok("done " + c.input);
  });
  auto rec = s->wait_for(id, "FE", std::chrono::seconds(10));
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, 'F');
  EXPECT_EQ(rec->output, "done second");
  std::lock_guard lk(mu);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
  // The state is in the plugin's database, not only in memory.
  EXPECT_TRUE(fs::exists(shared.path / "data" / "meta.db"));
}
