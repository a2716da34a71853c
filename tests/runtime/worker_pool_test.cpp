#include "runtime/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cumulo::runtime;
using namespace std::chrono_literals;

namespace {

constexpr auto kDeadline = 10s;

// A door jobs wait at; gives up after the deadline so a failing test cannot hang.
class Gate {
 public:
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, kDeadline, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts events; tests wait for a count with a deadline.
class Counter {
 public:
  void add(std::optional<Priority> lane = std::nullopt) {
    std::lock_guard lk(mu_);
    ++n_;
    if (lane) lanes_.push_back(*lane);
    cv_.notify_all();
  }
  bool wait_for(int n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, kDeadline, [&] { return n_ >= n; });
  }
  std::vector<Priority> lanes() {
    std::lock_guard lk(mu_);
    return lanes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
  std::vector<Priority> lanes_;
};

template <class T>
T get_or_fail(std::future<T>& f) {
  if (f.wait_for(kDeadline) != std::future_status::ready) throw std::runtime_error("future timed out");
  return f.get();
}

}  // namespace

TEST(WorkerPool, FuturesReturnValues) {
  WorkerPool pool;
  auto a = pool.submit(Priority::High, [] { return 42; });
  auto b = pool.submit(Priority::Medium, [] { return std::string("hello"); });
  auto c = pool.submit(Priority::Low, [p = std::make_unique<int>(7)] { return *p * 2; });  // move-only callable
  std::atomic<bool> ran{false};
  auto d = pool.submit(Priority::Low, [&] { ran = true; });
  EXPECT_EQ(get_or_fail(a), 42);
  EXPECT_EQ(get_or_fail(b), "hello");
  EXPECT_EQ(get_or_fail(c), 14);
  ASSERT_EQ(d.wait_for(kDeadline), std::future_status::ready);
  d.get();
  EXPECT_TRUE(ran);
}

TEST(WorkerPool, ExceptionReachesFutureAndCountsAsFailed) {
  WorkerPool pool;
  auto f = pool.submit(Priority::Medium, []() -> int { throw std::runtime_error("boom"); });
  ASSERT_EQ(f.wait_for(kDeadline), std::future_status::ready);
  EXPECT_THROW(
      {
        try {
          f.get();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "boom");
          throw;
        }
      },
      std::runtime_error);
  pool.shutdown();  // joins, so the counters are final
  EXPECT_EQ(pool.stats().jobs_failed, 1u);
  EXPECT_EQ(pool.stats().jobs_completed, 0u);
}

TEST(WorkerPool, LowJobsRunOnLowLane) {
  WorkerPool pool(1, 2, 1);
  for (int i = 0; i < 20; ++i) {
    auto f = pool.submit(Priority::Low, [] { return WorkerPool::current_lane(); });
    auto lane = get_or_fail(f);
    ASSERT_TRUE(lane.has_value());
    EXPECT_EQ(*lane, Priority::Low);
  }
  for (int i = 0; i < 20; ++i) {
    auto f = pool.submit(Priority::Medium, [] { return WorkerPool::current_lane(); });
    auto lane = get_or_fail(f);
    ASSERT_TRUE(lane.has_value());
    EXPECT_NE(*lane, Priority::High) << "the High lane must not take Medium jobs";
  }
  EXPECT_FALSE(WorkerPool::current_lane().has_value()) << "the test thread is not a worker";
}

TEST(WorkerPool, BlockedMediumLaneDoesNotStopHighJobs) {
  WorkerPool pool(1, 2, 1);
  Gate gate;
  Counter started;
  // Three blocking Medium jobs occupy both Medium threads and the Low thread
  // (Low lanes also take Medium work).
  for (int i = 0; i < 3; ++i)
    pool.post(Priority::Medium, [&] {
      started.add(WorkerPool::current_lane());
      gate.wait();
    });
  ASSERT_TRUE(started.wait_for(3));
  for (Priority lane : started.lanes()) EXPECT_NE(lane, Priority::High);

  pool.post(Priority::Medium, [] {});  // must wait: no Medium-capable thread is free
  auto high = pool.submit(Priority::High, [] { return WorkerPool::current_lane(); });
  auto lane = get_or_fail(high);
  gate.open();
  ASSERT_TRUE(lane.has_value());
  EXPECT_EQ(*lane, Priority::High);
}

TEST(WorkerPool, HighLaneDoesNotTakeLowerWork) {
  WorkerPool pool(1, 1, 0);  // no Low lane: Low jobs are promoted to Medium
  Gate gate;
  Counter started;
  pool.post(Priority::Medium, [&] {
    started.add();
    gate.wait();
  });
  ASSERT_TRUE(started.wait_for(1));
  std::atomic<bool> medium_ran{false};
  std::atomic<int> medium_lane{-1};
  pool.post(Priority::Medium, [&] {
    medium_lane = static_cast<int>(WorkerPool::current_lane().value_or(Priority::High));
    medium_ran = true;
  });
  // The High thread is idle; when this probe has run, it has passed over the
  // queued Medium job at least once.
  auto probe = pool.submit(Priority::High, [] { return WorkerPool::current_lane(); });
  EXPECT_EQ(get_or_fail(probe), Priority::High);
  EXPECT_FALSE(medium_ran);
  EXPECT_EQ(pool.stats().medium_queue_depth, 1u);
  gate.open();
  pool.shutdown();
  EXPECT_TRUE(medium_ran);
  EXPECT_EQ(medium_lane.load(), static_cast<int>(Priority::Medium)) << "the idle High thread took Medium work";
}

TEST(WorkerPool, HighJobsRunWhenOnlyLowThreadIsFree) {
  WorkerPool pool(1, 2, 1);
  // One blocker per thread; each waits at the gate of the lane it landed on.
  Gate gates[3];
  Counter started;
  for (int i = 0; i < 4; ++i)
    pool.post(Priority::High, [&] {
      auto lane = WorkerPool::current_lane();
      started.add(lane);
      gates[static_cast<int>(lane.value_or(Priority::High))].wait();
    });
  ASSERT_TRUE(started.wait_for(4));
  gates[static_cast<int>(Priority::Low)].open();  // frees only the Low thread
  auto f = pool.submit(Priority::High, [] { return WorkerPool::current_lane(); });
  auto lane = get_or_fail(f);
  gates[0].open();
  gates[1].open();
  ASSERT_TRUE(lane.has_value());
  EXPECT_EQ(*lane, Priority::Low);
}

class WorkerPoolLane : public ::testing::TestWithParam<Priority> {};

TEST_P(WorkerPoolLane, ExceptionsDoNotKillTheLane) {
  // A pool with a single thread, on the lane under test.
  const Priority lane = GetParam();
  WorkerPool pool(lane == Priority::High, lane == Priority::Medium, lane == Priority::Low);
  for (int i = 0; i < 5; ++i) pool.post(lane, [] { throw std::runtime_error("job failure"); });
  pool.post(lane, [] { throw 17; });  // not derived from std::exception
  auto f = pool.submit(lane, [] { return WorkerPool::current_lane(); });
  EXPECT_EQ(get_or_fail(f), lane);
  pool.shutdown();
  const auto s = pool.stats();
  EXPECT_EQ(s.jobs_failed, 6u);
  EXPECT_EQ(s.jobs_completed, 1u);
}

INSTANTIATE_TEST_SUITE_P(AllLanes, WorkerPoolLane, ::testing::Values(Priority::High, Priority::Medium, Priority::Low),
                         [](const ::testing::TestParamInfo<Priority>& p) { return std::string(to_string(p.param)); });

TEST(WorkerPool, ShutdownDrainsQueuedJobs) {
  std::atomic<int> done{0};
  WorkerPool pool(1, 1, 1);
  Gate gate;
  Counter started;
  // Hold every thread so that all jobs below are still queued at shutdown().
  for (int i = 0; i < 3; ++i)
    pool.post(Priority::High, [&] {
      started.add();
      gate.wait();
    });
  ASSERT_TRUE(started.wait_for(3));
  for (int i = 0; i < 30; ++i)
    pool.post(static_cast<Priority>(i % 3), [&] { done.fetch_add(1); });
  const auto before = pool.stats();
  EXPECT_EQ(before.high_queue_depth + before.medium_queue_depth + before.low_queue_depth, 30u);
  EXPECT_EQ(before.low_queue_depth, 10u);
  gate.open();
  pool.shutdown();
  EXPECT_EQ(done.load(), 30);
  pool.shutdown();  // idempotent
  EXPECT_THROW(pool.post(Priority::High, [] {}), std::runtime_error);
  const auto after = pool.stats();
  EXPECT_EQ(after.jobs_completed, 33u);
  EXPECT_EQ(after.high_queue_depth + after.medium_queue_depth + after.low_queue_depth, 0u);
  EXPECT_GT(after.total_execution_us, 0u);  // the blockers waited at the gate
}

TEST(WorkerPool, DestructorDrains) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(0, 0, 1);
    for (int i = 0; i < 50; ++i) pool.post(Priority::Low, [&] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 50);
}

TEST(WorkerPool, RejectsEmptyPoolAndEmptyJob) {
  EXPECT_THROW(WorkerPool(0, 0, 0), std::invalid_argument);
  WorkerPool pool(1, 0, 0);
  EXPECT_THROW(pool.post(Priority::High, nullptr), std::invalid_argument);
  // No Medium or Low lane: lower priorities are promoted so they still run.
  auto f = pool.submit(Priority::Low, [] { return WorkerPool::current_lane(); });
  EXPECT_EQ(get_or_fail(f), Priority::High);
}

TEST(WorkerPool, ShutdownFromInsideAJobIsRejected) {
  WorkerPool pool(1, 0, 0);
  auto f = pool.submit(Priority::High, [&] { pool.shutdown(); });
  ASSERT_EQ(f.wait_for(kDeadline), std::future_status::ready);
  EXPECT_THROW(f.get(), std::logic_error);
}
