#include "runtime/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace cumulo::runtime;
using namespace std::chrono_literals;

namespace {

constexpr auto kDeadline = 10s;
constexpr std::int64_t kT0 = 1704067230000;  // 2024-01-01T00:00:30Z

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

// What task functions did, in order.
class RunLog {
 public:
  struct Run {
    std::string what;
    int attempt;
    std::int64_t at_ms;
  };
  void add(std::string what, int attempt = 0, std::int64_t at_ms = 0) {
    std::lock_guard lk(mu_);
    runs_.push_back({std::move(what), attempt, at_ms});
    cv_.notify_all();
  }
  bool wait_size(std::size_t n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, kDeadline, [&] { return runs_.size() >= n; });
  }
  std::vector<Run> runs() {
    std::lock_guard lk(mu_);
    return runs_;
  }
  std::vector<std::string> names() {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& r : runs_) out.push_back(r.what);
    return out;
  }
  std::size_t size() {
    std::lock_guard lk(mu_);
    return runs_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Run> runs_;
};

// MemoryTaskStore that lets tests wait for writes and inject failures.
class ObservedStore : public MemoryTaskStore {
 public:
  void update(const TaskRecord& rec) override {
    if (take(fail_updates)) throw std::runtime_error("injected update failure");
    MemoryTaskStore::update(rec);
    { std::lock_guard lk(mu_); }  // orders this write before the notification
    cv_.notify_all();
  }
  std::vector<TaskRecord> list_pending() override {
    if (take(fail_lists)) throw std::runtime_error("injected list failure");
    return MemoryTaskStore::list_pending();
  }
  /// Waits until the stored record of `id` satisfies `pred`.
  bool wait_record(std::int64_t id, const std::function<bool(const TaskRecord&)>& pred) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, kDeadline, [&] {
      auto r = MemoryTaskStore::get(id);
      return r && pred(*r);
    });
  }

  std::atomic<int> fail_updates{0};
  std::atomic<int> fail_lists{0};

 private:
  static bool take(std::atomic<int>& n) {
    int v = n.load();
    while (v > 0 && !n.compare_exchange_weak(v, v - 1)) {
    }
    return v > 0;
  }
  std::mutex mu_;
  std::condition_variable cv_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { make_scheduler(); }

  void make_scheduler() {
    sched = std::make_unique<Scheduler>(store, *pool, clock);
    sched->register_kind("probe", [](const TaskContext&) { return TaskResult::ok(); });
  }
  void use_pool(std::size_t high, std::size_t medium, std::size_t low) {
    sched.reset();
    pool = std::make_unique<WorkerPool>(high, medium, low);
    make_scheduler();
  }

  // A Low task due now has finished: the scheduler has evaluated its timers at
  // the current clock time at least once since the clock last moved. With a
  // single-queue pool (1,0,0) anything launched in the same pass ran before it.
  void barrier() {
    const std::int64_t id = sched->task("probe").priority(Priority::Low).schedule();
    ASSERT_TRUE(sched->wait_for(id, "F", kDeadline).has_value()) << "scheduler did not run the probe";
  }

  TaskRecord wait_status(std::int64_t id, std::string_view statuses) {
    auto r = sched->wait_for(id, statuses, kDeadline);
    EXPECT_TRUE(r.has_value()) << "task " << id << " never reached status [" << statuses << "]";
    return r.value_or(TaskRecord{});
  }

  TaskRecord stored(std::int64_t id) {
    auto r = store.get(id);
    EXPECT_TRUE(r.has_value());
    return r.value_or(TaskRecord{});
  }

  // Declaration order = reverse destruction order: the scheduler goes first.
  ManualClock clock{kT0};
  ObservedStore store;
  std::unique_ptr<WorkerPool> pool = std::make_unique<WorkerPool>(1, 2, 1);
  std::unique_ptr<Scheduler> sched;
  RunLog log;
};

}  // namespace

// ---- Retry delay and store codec ------------------------------------------------

TEST(RetryDelay, DoublesFromMinAndCapsAtMax) {
  const RetryPolicy p{10, 3600, 5};
  EXPECT_EQ(retry_delay_s(p, 1), 10);
  EXPECT_EQ(retry_delay_s(p, 2), 20);
  EXPECT_EQ(retry_delay_s(p, 3), 40);
  EXPECT_EQ(retry_delay_s(p, 4), 80);
  EXPECT_EQ(retry_delay_s(RetryPolicy{10, 15, 5}, 2), 15);
  EXPECT_EQ(retry_delay_s(RetryPolicy{60, 3600, 10}, 7), 3600);
  EXPECT_EQ(retry_delay_s(RetryPolicy{60, 3600, 10}, 1000), 3600) << "no overflow";
}

TEST(TaskStoreJson, RoundTrip) {
  TaskRecord r;
  r.id = 42;
  r.kind = "action.delivery";
  r.key = "deliver-a1~x-bob";
  r.status = 'E';
  r.priority = Priority::Low;
  r.next_at_ms = 1704067230123;
  r.attempt = 3;
  r.retry = RetryPolicy{10, 43200, 50};
  r.cron = "0 4 * * *";
  r.deps = {7, 9};
  r.input = R"({"a":1})";
  r.output = "out";
  r.error = "dependency 7 failed";
  r.created_at_ms = 1704067000000;

  const nlohmann::json j = task_to_json(r);
  EXPECT_EQ(j.at("status"), "E");
  EXPECT_EQ(j.at("priority"), "low");
  EXPECT_EQ(j.at("nextAt"), 1704067230123);
  EXPECT_EQ(j.at("retry").at("minWait"), 10);
  EXPECT_EQ(j.at("retry").at("maxWait"), 43200);
  EXPECT_EQ(j.at("retry").at("times"), 50);
  EXPECT_EQ(j.at("deps"), nlohmann::json::array({7, 9}));
  EXPECT_EQ(j.at("createdAt"), 1704067000000);

  const TaskRecord b = task_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(b.id, r.id);
  EXPECT_EQ(b.kind, r.kind);
  EXPECT_EQ(b.key, r.key);
  EXPECT_EQ(b.status, r.status);
  EXPECT_EQ(b.priority, r.priority);
  EXPECT_EQ(b.next_at_ms, r.next_at_ms);
  EXPECT_EQ(b.attempt, r.attempt);
  ASSERT_TRUE(b.retry.has_value());
  EXPECT_EQ(b.retry->min_wait_s, 10);
  EXPECT_EQ(b.retry->max_wait_s, 43200);
  EXPECT_EQ(b.retry->max_attempts, 50);
  EXPECT_EQ(b.cron, r.cron);
  EXPECT_EQ(b.deps, r.deps);
  EXPECT_EQ(b.input, r.input);
  EXPECT_EQ(b.output, r.output);
  EXPECT_EQ(b.error, r.error);
  EXPECT_EQ(b.created_at_ms, r.created_at_ms);

  TaskRecord plain;
  plain.kind = "file.gc";
  const nlohmann::json pj = task_to_json(plain);
  EXPECT_FALSE(pj.contains("retry"));
  EXPECT_EQ(pj.at("priority"), "medium");
  EXPECT_FALSE(task_from_json(pj).retry.has_value());
  EXPECT_FALSE(task_from_json(nlohmann::json{{"kind", "x"}, {"retry", nullptr}}).retry.has_value());
}

TEST(TaskStoreJson, RejectsBadInputWithClearMessages) {
  auto message = [](const nlohmann::json& j) -> std::string {
    try {
      task_from_json(j);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    ADD_FAILURE() << "accepted " << j.dump();
    return {};
  };
  EXPECT_NE(message(nlohmann::json::array()).find("expected an object"), std::string::npos);
  EXPECT_NE(message({{"id", 1}}).find("missing 'kind'"), std::string::npos);
  EXPECT_NE(message({{"kind", 5}}).find("'kind' must be a string"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"status", "X"}}).find("'status'"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"priority", "urgent"}}).find("'priority'"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"nextAt", "soon"}}).find("'nextAt' must be an integer"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"nextAt", 1.5}}).find("'nextAt'"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"deps", {1, "two"}}}).find("'deps[1]'"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"deps", 3}}).find("'deps'"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"retry", {{"times", 0}}}}).find("retry.times"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"retry", {{"minWait", 10}, {"maxWait", 5}}}}).find("minWait"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"attempt", -1}}).find("'attempt'"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"attempt", 1LL << 40}}).find("out of range"), std::string::npos);
  EXPECT_NE(message({{"kind", "x"}, {"id", 18446744073709551615ULL}}).find("'id' is out of range"), std::string::npos);
}

TEST(MemoryTaskStore, DedupLeavesRecordUntouched) {
  MemoryTaskStore s;
  TaskRecord a;
  a.kind = "mail";
  a.key = "k";
  const std::int64_t id = s.create(a);
  EXPECT_EQ(a.id, id);
  TaskRecord b;
  b.kind = "mail";
  b.key = "k";
  EXPECT_EQ(s.create(b), id);
  EXPECT_EQ(b.id, 0) << "a dedup hit stores nothing and leaves rec alone";
  EXPECT_EQ(s.size(), 1u);
  TaskRecord upd = *s.get(id);
  upd.status = 'F';
  s.update(upd);
  EXPECT_NE(s.create(b), id) << "only pending tasks deduplicate";
  TaskRecord missing;
  missing.id = 999;
  EXPECT_THROW(s.update(missing), std::runtime_error);
}

// ---- Scheduler --------------------------------------------------------------------

TEST_F(SchedulerTest, RunsOneShotTaskWithInput) {
  sched->register_kind("echo", [&](const TaskContext& ctx) {
    log.add(ctx.kind + ":" + ctx.input, ctx.attempt);
    return TaskResult::ok("got " + ctx.input);
  });
  sched->start();
  const std::int64_t id = sched->task("echo").input("hello").schedule();
  const TaskRecord r = wait_status(id, "F");
  EXPECT_EQ(r.output, "got hello");
  EXPECT_EQ(r.attempt, 0);
  EXPECT_EQ(log.names(), std::vector<std::string>{"echo:hello"});
  EXPECT_EQ(r.created_at_ms, kT0);
}

TEST_F(SchedulerTest, DependencyOrder) {
  Gate gate_a;
  std::atomic<char> a_seen{'?'}, b_seen{'?'};
  std::int64_t a = 0, b = 0;
  sched->register_kind("a", [&](const TaskContext&) {
    log.add("A");
    gate_a.wait();
    return TaskResult::ok();
  });
  sched->register_kind("b", [&](const TaskContext&) {
    log.add("B");
    return TaskResult::ok();
  });
  sched->register_kind("c", [&](const TaskContext&) {
    // What the store says about the dependencies when C starts.
    a_seen = sched->get(a).value_or(TaskRecord{}).status;
    b_seen = sched->get(b).value_or(TaskRecord{}).status;
    log.add("C");
    return TaskResult::ok();
  });
  a = sched->task("a").schedule();
  b = sched->task("b").schedule();
  const std::int64_t c = sched->task("c").depend_on({a, b}).schedule();
  sched->start();

  wait_status(b, "F");
  ASSERT_TRUE(log.wait_size(2));  // A is running, blocked at its gate
  EXPECT_EQ(stored(c).status, 'P');
  gate_a.open();
  wait_status(c, "F");
  const auto names = log.names();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names.back(), "C");
  EXPECT_EQ(a_seen.load(), 'F');
  EXPECT_EQ(b_seen.load(), 'F');
}

TEST_F(SchedulerTest, DependencyOnFinishedTaskRunsAtOnce) {
  sched->register_kind("job", [&](const TaskContext& ctx) {
    log.add(ctx.input);
    return TaskResult::ok();
  });
  sched->start();
  const std::int64_t a = sched->task("job").input("a").schedule();
  wait_status(a, "F");
  const std::int64_t b = sched->task("job").input("b").depend_on({a, a}).schedule();
  wait_status(b, "F");
  EXPECT_EQ(log.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(stored(b).deps, std::vector<std::int64_t>{a}) << "duplicate deps are collapsed";
}

TEST_F(SchedulerTest, DependencyFailurePropagates) {
  sched->register_kind("bad", [&](const TaskContext&) {
    log.add("bad");
    return TaskResult::fail("nope");
  });
  sched->register_kind("never", [&](const TaskContext&) {
    log.add("never");
    return TaskResult::ok();
  });
  const std::int64_t a = sched->task("bad").schedule();
  const std::int64_t b = sched->task("never").depend_on({a}).schedule();
  const std::int64_t c = sched->task("never").depend_on({b}).schedule();
  sched->start();

  EXPECT_EQ(wait_status(c, "E").error, "dependency " + std::to_string(b) + " failed");
  EXPECT_EQ(stored(b).status, 'E');
  EXPECT_EQ(stored(b).error, "dependency " + std::to_string(a) + " failed");
  EXPECT_EQ(stored(a).error, "nope");
  EXPECT_EQ(stored(a).attempt, 1);

  // Depending on a task that has already failed fails at once.
  const std::int64_t d = sched->task("never").depend_on({a}).schedule();
  EXPECT_EQ(wait_status(d, "E").error, "dependency " + std::to_string(a) + " failed");
  barrier();
  EXPECT_EQ(log.names(), std::vector<std::string>{"bad"});
}

TEST_F(SchedulerTest, RetryWithBackoff) {
  use_pool(1, 0, 0);  // one thread, one FIFO queue: launch order = run order
  std::atomic<int> runs{0};
  sched->register_kind("flaky", [&](const TaskContext& ctx) {
    log.add("flaky", ctx.attempt, clock.now_ms());
    const int n = ++runs;
    return n <= 2 ? TaskResult::retry("boom " + std::to_string(n)) : TaskResult::ok("done");
  });
  const std::int64_t id = sched->task("flaky").retry(RetryPolicy{10, 3600, 5}).schedule();
  sched->start();

  ASSERT_TRUE(store.wait_record(id, [](const TaskRecord& r) { return r.attempt == 1; }));
  TaskRecord r = stored(id);
  EXPECT_EQ(r.status, 'P');
  EXPECT_EQ(r.next_at_ms, kT0 + 10'000) << "first retry waits min_wait";
  EXPECT_EQ(r.error, "boom 1");

  clock.advance(9'999);
  barrier();
  EXPECT_EQ(runs.load(), 1) << "ran before min_wait elapsed";
  clock.advance(1);

  ASSERT_TRUE(store.wait_record(id, [](const TaskRecord& rec) { return rec.attempt == 2; }));
  r = stored(id);
  EXPECT_EQ(r.next_at_ms, kT0 + 10'000 + 20'000) << "second retry waits 2·min_wait";
  EXPECT_EQ(r.error, "boom 2");
  EXPECT_EQ(runs.load(), 2);

  clock.advance(19'999);
  barrier();
  EXPECT_EQ(runs.load(), 2) << "ran before 2·min_wait elapsed";
  clock.advance(1);

  r = wait_status(id, "F");
  EXPECT_EQ(r.output, "done");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.attempt, 2);
  EXPECT_EQ(runs.load(), 3);
  const auto rs = log.runs();
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].attempt, 0);
  EXPECT_EQ(rs[1].attempt, 1);
  EXPECT_EQ(rs[2].attempt, 2);
  EXPECT_EQ(rs[0].at_ms, kT0);
  EXPECT_EQ(rs[1].at_ms, kT0 + 10'000);
  EXPECT_EQ(rs[2].at_ms, kT0 + 30'000);
}

TEST_F(SchedulerTest, RetryExhaustionFailsTask) {
  std::atomic<int> runs{0};
  sched->register_kind("doomed", [&](const TaskContext&) {
    ++runs;
    return TaskResult::retry("still down");
  });
  const std::int64_t id = sched->task("doomed").retry(RetryPolicy{1, 1, 3}).schedule();
  sched->start();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_TRUE(store.wait_record(id, [&](const TaskRecord& r) { return r.attempt == attempt; }));
    clock.advance(1'000);
  }
  const TaskRecord r = wait_status(id, "E");
  EXPECT_EQ(r.error, "still down");
  EXPECT_EQ(r.attempt, 3);
  EXPECT_EQ(runs.load(), 3) << "max_attempts counts every run";
}

TEST_F(SchedulerTest, ExceptionsRetryWithPolicyElseFail) {
  std::atomic<int> runs{0};
  sched->register_kind("throws", [&](const TaskContext&) -> TaskResult {
    ++runs;
    throw std::runtime_error("kaboom");
  });
  sched->register_kind("fails_on_retry_without_policy", [&](const TaskContext&) {
    ++runs;
    return TaskResult::retry("transient");
  });
  sched->start();

  const std::int64_t plain = sched->task("throws").schedule();
  EXPECT_EQ(wait_status(plain, "E").error, "kaboom");
  EXPECT_EQ(runs.load(), 1);

  const std::int64_t no_policy = sched->task("fails_on_retry_without_policy").schedule();
  EXPECT_EQ(wait_status(no_policy, "E").error, "transient");
  EXPECT_EQ(runs.load(), 2);

  const std::int64_t with_policy = sched->task("throws").retry(RetryPolicy{5, 5, 2}).schedule();
  ASSERT_TRUE(store.wait_record(with_policy, [](const TaskRecord& r) { return r.attempt == 1; }));
  EXPECT_EQ(stored(with_policy).status, 'P');
  clock.advance(5'000);
  EXPECT_EQ(wait_status(with_policy, "E").error, "kaboom");
  EXPECT_EQ(runs.load(), 4);
}

TEST_F(SchedulerTest, CronFiresAndStaysPending) {
  std::atomic<int> ticks{0};
  sched->register_kind("tick", [&](const TaskContext&) { return TaskResult::ok("tick " + std::to_string(++ticks)); });
  const std::int64_t id = sched->task("tick").cron("*  * * * *").schedule();
  TaskRecord r = stored(id);
  EXPECT_EQ(r.next_at_ms, kT0 + 30'000) << "next minute boundary after 00:00:30";
  EXPECT_EQ(r.cron, "* * * * *");
  sched->start();
  barrier();
  EXPECT_EQ(ticks.load(), 0);

  clock.advance(30'000);  // 00:01:00
  ASSERT_TRUE(store.wait_record(id, [](const TaskRecord& rec) { return rec.next_at_ms == kT0 + 90'000; }));
  r = stored(id);
  EXPECT_EQ(r.status, 'P');
  EXPECT_EQ(r.attempt, 0);
  EXPECT_EQ(r.output, "tick 1");
  EXPECT_EQ(ticks.load(), 1);

  clock.advance(60'000);  // 00:02:00
  ASSERT_TRUE(store.wait_record(id, [](const TaskRecord& rec) { return rec.next_at_ms == kT0 + 150'000; }));
  EXPECT_EQ(ticks.load(), 2);

  // A long jump fires once (no catch-up burst) and re-times from now.
  clock.advance(10 * 60'000 + 5'000);  // 00:12:05
  ASSERT_TRUE(store.wait_record(id, [](const TaskRecord& rec) { return rec.next_at_ms == kT0 + 12 * 60'000 + 30'000; }));
  barrier();
  EXPECT_EQ(ticks.load(), 3);
  EXPECT_EQ(stored(id).status, 'P');
}

TEST_F(SchedulerTest, CronFailureAndRetryExhaustionReschedule) {
  std::atomic<int> runs{0};
  sched->register_kind("nightly", [&](const TaskContext&) {
    ++runs;
    return TaskResult::retry("backend down");
  });
  // Daily at 04:00, with two attempts per day.
  const std::int64_t id = sched->task("nightly").cron("0 4 * * *").retry(RetryPolicy{60, 60, 2}).schedule();
  const std::int64_t four_am = kT0 - 30'000 + 4 * 3'600'000;
  EXPECT_EQ(stored(id).next_at_ms, four_am);
  sched->start();
  clock.set(four_am);
  ASSERT_TRUE(store.wait_record(id, [](const TaskRecord& r) { return r.attempt == 1; }));
  EXPECT_EQ(stored(id).next_at_ms, four_am + 60'000);
  clock.advance(60'000);
  ASSERT_TRUE(store.wait_record(id, [&](const TaskRecord& r) { return r.next_at_ms == four_am + 86'400'000; }));
  const TaskRecord r = stored(id);
  EXPECT_EQ(r.status, 'P') << "a failed cron task waits for its next slot";
  EXPECT_EQ(r.attempt, 0);
  EXPECT_EQ(r.error, "backend down");
  EXPECT_EQ(runs.load(), 2);
}

TEST_F(SchedulerTest, InvalidSchedulesAreRejected) {
  EXPECT_THROW(sched->task("x").cron("61 * * * *").schedule(), std::invalid_argument);
  EXPECT_THROW(sched->task("x").cron("0 0 30 2 *").schedule(), std::invalid_argument) << "never fires";
  EXPECT_THROW(sched->task("x").retry(RetryPolicy{10, 5, 3}).schedule(), std::invalid_argument);
  EXPECT_THROW(sched->task("x").retry(RetryPolicy{1, 5, 0}).schedule(), std::invalid_argument);
  EXPECT_THROW(sched->task("").schedule(), std::invalid_argument);
  try {
    sched->task("x").cron("* * * * 9").schedule();
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("day-of-week"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store.size(), 0u) << "nothing stored for rejected tasks";
}

TEST_F(SchedulerTest, UnknownDependencyAndCyclesAreRejected) {
  const std::int64_t a = sched->task("k").key("x").at_ms(kT0 + 1'000'000).schedule();
  const std::int64_t b = sched->task("other").depend_on({a}).schedule();
  const std::size_t stored_before = store.size();

  try {
    sched->task("other").depend_on({a, 9999}).schedule();
    ADD_FAILURE() << "accepted an unknown dependency";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown dependency id 9999"), std::string::npos) << e.what();
  }
  // The next id does not exist yet either, so a task cannot name itself.
  EXPECT_THROW(sched->task("other").depend_on({b + 1}).schedule(), std::invalid_argument);

  // A key that resolves to A, asked to wait for A itself or for B (which waits for A).
  EXPECT_THROW(sched->task("k").key("x").depend_on({a}).schedule(), std::invalid_argument);
  try {
    sched->task("k").key("x").depend_on({b}).schedule();
    ADD_FAILURE() << "accepted a cycle";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store.size(), stored_before);
  // Without a cycle the dedup hit simply returns the existing task.
  const std::int64_t unrelated = sched->task("other").schedule();
  EXPECT_EQ(sched->task("k").key("x").depend_on({unrelated}).schedule(), a);
}

TEST_F(SchedulerTest, CyclesInStoreFailAtStart) {
  // Records written by something else, with edges the builder would refuse.
  auto put = [&](std::vector<std::int64_t> deps) {
    TaskRecord r;
    r.kind = "job";
    r.deps = std::move(deps);
    r.next_at_ms = kT0;
    return store.create(r);
  };
  const std::int64_t t1 = put({2});
  const std::int64_t t2 = put({1});
  const std::int64_t t3 = put({1});  // behind the cycle
  const std::int64_t t4 = put({4});  // waits for itself
  const std::int64_t t5 = put({});
  ASSERT_EQ(t5, 5);
  sched->register_kind("job", [&](const TaskContext& ctx) {
    log.add(std::to_string(ctx.id));
    return TaskResult::ok();
  });
  sched->start();
  for (std::int64_t id : {t1, t2, t3, t4}) EXPECT_NE(wait_status(id, "E").error.find("cycle"), std::string::npos);
  wait_status(t5, "F");
  barrier();
  EXPECT_EQ(log.names(), std::vector<std::string>{"5"});
}

TEST_F(SchedulerTest, DedupKey) {
  // Not started yet: everything stays pending.
  const std::int64_t a = sched->task("mail").key("k1").input("first").schedule();
  EXPECT_EQ(sched->task("mail").key("k1").input("second").schedule(), a);
  EXPECT_EQ(stored(a).input, "first");
  EXPECT_NE(sched->task("other").key("k1").schedule(), a) << "keys are per kind";
  EXPECT_NE(sched->task("mail").key("k2").schedule(), a);
  EXPECT_NE(sched->task("mail").schedule(), sched->task("mail").schedule()) << "no key, no dedup";

  sched->register_kind("mail", [&](const TaskContext& ctx) {
    log.add(ctx.input);
    return TaskResult::ok();
  });
  sched->start();
  wait_status(a, "F");
  const std::int64_t again = sched->task("mail").key("k1").input("third").schedule();
  EXPECT_NE(again, a) << "finished tasks do not block their key";
  wait_status(again, "F");
}

TEST_F(SchedulerTest, SurvivesRestart) {
  std::atomic<int> runs{0};
  auto job = [&](const TaskContext& ctx) {
    ++runs;
    log.add(ctx.input);
    return TaskResult::ok();
  };
  sched->register_kind("job", job);
  const std::int64_t a = sched->task("job").input("a").at_ms(kT0 + 60'000).schedule();
  const std::int64_t b = sched->task("job").input("b").depend_on({a}).schedule();
  sched->start();
  barrier();
  EXPECT_EQ(runs.load(), 0);
  sched.reset();  // stop + destroy before anything ran

  make_scheduler();
  sched->register_kind("job", job);
  sched->start();
  barrier();
  EXPECT_EQ(runs.load(), 0);
  clock.advance(60'000);
  wait_status(b, "F");
  EXPECT_EQ(stored(a).status, 'F');
  barrier();
  EXPECT_EQ(runs.load(), 2) << "each task ran exactly once";
  EXPECT_EQ(log.names(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SchedulerTest, RestartResumesRetryState) {
  use_pool(1, 0, 0);
  std::atomic<int> runs{0};
  auto flaky = [&](const TaskContext& ctx) {
    log.add("run", ctx.attempt, clock.now_ms());
    return ++runs == 1 ? TaskResult::retry("first") : TaskResult::ok();
  };
  sched->register_kind("flaky", flaky);
  const std::int64_t id = sched->task("flaky").retry(RetryPolicy{30, 300, 5}).schedule();
  sched->start();
  ASSERT_TRUE(store.wait_record(id, [](const TaskRecord& r) { return r.attempt == 1; }));
  sched.reset();

  make_scheduler();
  sched->register_kind("flaky", flaky);
  sched->start();
  clock.advance(29'999);
  barrier();
  EXPECT_EQ(runs.load(), 1) << "the persisted backoff survives a restart";
  clock.advance(1);
  EXPECT_EQ(wait_status(id, "F").attempt, 1);
  const auto rs = log.runs();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[1].attempt, 1);
  EXPECT_EQ(rs[1].at_ms, kT0 + 30'000);
}

TEST_F(SchedulerTest, UnregisteredKindStaysPendingUntilRegistered) {
  const std::int64_t id = sched->task("later").input("x").schedule();
  sched->start();
  barrier();
  EXPECT_EQ(stored(id).status, 'P');
  sched->register_kind("later", [](const TaskContext& ctx) { return TaskResult::ok(ctx.input + "!"); });
  EXPECT_EQ(wait_status(id, "F").output, "x!");
}

TEST_F(SchedulerTest, DueTasksLaunchInPriorityThenCreationOrder) {
  use_pool(1, 0, 0);  // one FIFO queue: the pool keeps the scheduler's order
  sched->register_kind("rec", [&](const TaskContext& ctx) {
    log.add(ctx.input);
    return TaskResult::ok();
  });
  const std::int64_t t = kT0 + 1'000;
  sched->task("rec").input("L").priority(Priority::Low).at_ms(t).schedule();
  sched->task("rec").input("M1").at_ms(t).schedule();
  sched->task("rec").input("H").priority(Priority::High).at_ms(t).schedule();
  sched->task("rec").input("M2").at_ms(t - 500).schedule();  // due earlier, created later
  sched->start();
  barrier();
  EXPECT_EQ(log.size(), 0u);
  clock.advance(1'000);
  ASSERT_TRUE(log.wait_size(4));
  EXPECT_EQ(log.names(), (std::vector<std::string>{"H", "M1", "M2", "L"}));
}

TEST_F(SchedulerTest, TasksRunOnTheirPriorityLane) {
  std::mutex mu;
  std::vector<std::pair<std::string, std::optional<Priority>>> lanes;
  sched->register_kind("where", [&](const TaskContext& ctx) {
    std::lock_guard lk(mu);
    lanes.emplace_back(ctx.input, WorkerPool::current_lane());
    return TaskResult::ok();
  });
  sched->start();
  const std::int64_t low = sched->task("where").input("low").priority(Priority::Low).schedule();
  const std::int64_t med = sched->task("where").input("medium").schedule();
  wait_status(low, "F");
  wait_status(med, "F");
  std::lock_guard lk(mu);
  for (const auto& [what, lane] : lanes) {
    ASSERT_TRUE(lane.has_value());
    if (what == "low") {
      EXPECT_EQ(*lane, Priority::Low);
    } else {
      EXPECT_NE(*lane, Priority::High);
    }
  }
}

TEST_F(SchedulerTest, SurvivesStoreFailures) {
  std::atomic<int> runs{0};
  sched->register_kind("job", [&](const TaskContext&) {
    ++runs;
    return TaskResult::ok("persisted");
  });
  const std::int64_t id = sched->task("job").schedule();
  store.fail_lists = 1;
  store.fail_updates = 2;
  sched->start();
  const TaskRecord r = wait_status(id, "F");
  EXPECT_EQ(r.output, "persisted");
  EXPECT_EQ(runs.load(), 1) << "a failed write is retried, not the task";
  EXPECT_EQ(store.fail_updates.load(), 0);
  EXPECT_EQ(store.fail_lists.load(), 0);
}

TEST_F(SchedulerTest, TaskRemovedFromStoreWhileRunning) {
  sched->register_kind("self_removing", [&](const TaskContext& ctx) {
    store.remove(ctx.id);
    return TaskResult::ok();
  });
  sched->register_kind("after", [](const TaskContext&) { return TaskResult::ok(); });
  sched->start();
  const std::int64_t a = sched->task("self_removing").at_ms(kT0 + 1).schedule();
  const std::int64_t b = sched->task("after").depend_on({a}).schedule();
  clock.advance(1);
  wait_status(b, "F");
  EXPECT_FALSE(store.get(a).has_value());
}

// Tells the test when stop() has begun: the scheduler unhooks from its clock
// before it waits for running tasks.
class SpyClock : public ManualClock {
 public:
  using ManualClock::ManualClock;
  void remove_listener(ListenerId id) const override {
    ManualClock::remove_listener(id);
    if (on_remove) on_remove();
  }
  std::function<void()> on_remove;
};

TEST_F(SchedulerTest, StopWaitsForRunningTasksAndPersists) {
  SpyClock spy{kT0};
  Gate gate;
  auto s = std::make_unique<Scheduler>(store, *pool, spy);
  s->register_kind("slow", [&](const TaskContext&) {
    log.add("started");
    gate.wait();
    return TaskResult::ok("slow done");
  });
  const std::int64_t id = s->task("slow").schedule();
  s->start();
  ASSERT_TRUE(log.wait_size(1));
  spy.on_remove = [&] { gate.open(); };  // release the task only once stop() is under way
  s->stop();
  const TaskRecord r = stored(id);
  EXPECT_EQ(r.status, 'F') << "stop() returned before the running task's result was stored";
  EXPECT_EQ(r.output, "slow done");
  s->stop();   // idempotent
  s->start();  // ignored after stop
  const std::int64_t later = s->task("slow").schedule();
  EXPECT_EQ(stored(later).status, 'P') << "scheduling after stop() only persists";
  s.reset();
  EXPECT_EQ(stored(later).status, 'P');
}

TEST_F(SchedulerTest, ManualClockListenersAreRemoved) {
  sched.reset();  // must unregister from the clock
  clock.advance(1);  // would touch a dead scheduler otherwise (ASan)
  make_scheduler();
}

TEST(SchedulerSystemClock, WaitsForRealDeadline) {
  SystemClock sys;
  MemoryTaskStore st;
  WorkerPool pool(1, 1, 1);
  Scheduler sched(st, pool, sys);
  std::atomic<std::int64_t> ran_at{0};
  sched.register_kind("job", [&](const TaskContext&) {
    ran_at = sys.now_ms();
    return TaskResult::ok();
  });
  sched.start();
  const std::int64_t due = sys.now_ms() + 50;
  const std::int64_t id = sched.task("job").at_ms(due).schedule();
  ASSERT_TRUE(sched.wait_for(id, "F", kDeadline).has_value());
  EXPECT_GE(ran_at.load(), due);
  EXPECT_FALSE(sched.wait_for(id, "E", 1ms).has_value()) << "wait_for times out on other statuses";
}
