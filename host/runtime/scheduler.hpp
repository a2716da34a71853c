// Persistent task scheduler (spec runtime.md §1).
//
// Tasks are records in a TaskStore; the scheduler keeps an in-memory view of
// the pending ones and runs each on the WorkerPool lane of its priority once
// every dependency has finished and the clock has reached its next_at.
//
// Threading: one scheduler thread owns timers, launches and all status
// writes. Workers only hand results back to it. Every status change is
// persisted before it is acted on (waking dependents, re-timing), so a crash
// never loses a completion; at worst a task runs again (tasks must be idempotent).
// Store errors never take the scheduler down: the write is retried with a
// real-time backoff and the affected task is held until it succeeds.
#pragma once

#include "runtime/cron.hpp"
#include "runtime/task_store.hpp"
#include "runtime/worker_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace cumulo::runtime {

// ---- Clocks ------------------------------------------------------------------

class Clock {
 public:
  using Listener = std::function<void()>;
  using ListenerId = std::uint64_t;

  virtual ~Clock() = default;
  virtual std::int64_t now_ms() const = 0;  // Unix ms

  /// True if time passes by itself, so waiters may sleep until a real
  /// deadline. Clocks that only move when told (ManualClock) return false and
  /// must call their listeners after every change instead.
  virtual bool advances_on_its_own() const { return true; }

  /// Observing a clock does not change its time, hence const. Listeners run on
  /// the thread that changes the clock and must not add or remove listeners.
  virtual ListenerId add_listener(Listener) const { return 0; }
  /// After this returns, the listener is not running and will not be called again.
  virtual void remove_listener(ListenerId) const {}
};

class SystemClock : public Clock {
 public:
  std::int64_t now_ms() const override;
};

/// Test clock: time moves only through set()/advance(), which then call the
/// listeners (the scheduler re-evaluates its timers without sleeping).
class ManualClock : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 0) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  bool advances_on_its_own() const override { return false; }
  ListenerId add_listener(Listener fn) const override;
  void remove_listener(ListenerId id) const override;

  void set(std::int64_t ms);
  void advance(std::int64_t ms);

 private:
  void notify_listeners() const;

  std::atomic<std::int64_t> now_;
  // Separate from now_ so that now_ms() never blocks while listeners run.
  mutable std::mutex listeners_mu_;
  mutable std::map<ListenerId, Listener> listeners_;
  mutable ListenerId next_listener_ = 1;
};

// ---- Task functions ----------------------------------------------------------

enum class TaskOutcome { Done, Retry, Fail };

struct TaskResult {
  TaskOutcome outcome = TaskOutcome::Done;
  std::string detail;  // output for Done, error text otherwise

  static TaskResult ok(std::string out = {});
  static TaskResult retry(std::string err);
  static TaskResult fail(std::string err);
};

struct TaskContext {
  std::int64_t id;
  const std::string& kind;
  const std::string& input;
  int attempt;  // failed attempts before this run
};

/// Runs on the worker pool lane of the task's priority. An exception counts as
/// TaskResult::retry(what()), i.e. a retry if the task has a policy, else a failure.
using TaskFn = std::function<TaskResult(const TaskContext&)>;

/// Wait before retry number `attempt` (1 = first retry): min_wait·2^(attempt−1)
/// capped at max_wait, in seconds. Never overflows.
std::int64_t retry_delay_s(const RetryPolicy& policy, int attempt);

// ---- Scheduler ---------------------------------------------------------------

class Scheduler {
 public:
  /// The pool, store and clock must outlive the scheduler (stop it before
  /// shutting the pool down).
  Scheduler(TaskStore& store, WorkerPool& pool, const Clock& clock);
  ~Scheduler();  // stop()

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Adds or replaces the function for a kind; allowed before or after start().
  void register_kind(std::string kind, TaskFn fn);

  class Builder {
   public:
    Builder& input(std::string v);
    Builder& key(std::string v);  // dedup: an existing pending task of this kind and key wins
    Builder& depend_on(std::vector<std::int64_t> ids);  // appends
    Builder& retry(RetryPolicy p);
    Builder& priority(Priority p);
    Builder& cron(std::string expr);
    Builder& at_ms(std::int64_t ms);
    /// Persists, then enqueues; returns the task id (the existing one on a dedup
    /// hit). Throws std::invalid_argument for an invalid cron expression or
    /// retry policy, an unknown dependency id, or a dependency cycle; store
    /// errors propagate as thrown by the store.
    std::int64_t schedule();

   private:
    friend class Scheduler;
    Builder(Scheduler& s, std::string kind);

    Scheduler* sched_;
    TaskRecord rec_;
    std::optional<std::int64_t> at_ms_;
  };

  Builder task(std::string kind);

  /// Starts the scheduler thread, which loads all pending tasks from the store
  /// (retrying if the store fails) and resumes them. Tasks of unregistered
  /// kinds stay pending and are logged. Only the first call has an effect.
  void start();

  /// Stops timers and launches, waits for running tasks to finish and persists
  /// their results. Idempotent; the scheduler cannot be restarted.
  void stop();

  /// Straight from the store (may throw what the store throws).
  std::optional<TaskRecord> get(std::int64_t id);

  /// Blocks until task `id` has a status listed in `statuses` (e.g. "FE") or
  /// the timeout passes; returns the record, or nullopt on timeout.
  std::optional<TaskRecord> wait_for(std::int64_t id, std::string_view statuses, std::chrono::milliseconds timeout);

  /// Re-evaluate timers now. ManualClock calls this through its listener hook.
  void notify_clock_changed();

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  struct Entry {
    TaskRecord rec;
    std::optional<CronSchedule> cron;
    std::set<std::int64_t> waiting_on;  // dependencies not finished yet
    bool running = false;    // launched, result not yet persisted
    bool finishing = false;  // a final status is queued for the store: never launch again
  };
  struct Completion {
    std::int64_t id;
    std::optional<TaskResult> result;  // nullopt: the pool dropped the job unrun
  };
  struct JobGuard;

  std::int64_t schedule_task(const Builder& b);
  void run_loop();
  bool load_pending(std::unique_lock<std::mutex>& lk);
  // `ext`: statuses of dependencies not in tasks_ ('\0' = not in the store).
  void resolve_deps(std::int64_t id, Entry& e, const std::unordered_map<std::int64_t, char>& ext);  // mu_ held
  void fail_cycles();                                            // mu_ held
  bool reaches(const std::vector<std::int64_t>& from, std::int64_t target);  // mu_ held
  void drain_completions();                                      // mu_ held
  void flush_updates(std::unique_lock<std::mutex>& lk, bool final_attempt);
  void apply(const TaskRecord& rec);                             // mu_ held
  void fail_task(Entry& e, std::string error);                   // mu_ held
  void launch_due(std::unique_lock<std::mutex>& lk);
  void wait_for_work(std::unique_lock<std::mutex>& lk);
  void on_job_done(std::int64_t id, std::optional<TaskResult> result);
  void wake();  // mu_ held

  TaskStore& store_;
  WorkerPool& pool_;
  const Clock& clock_;
  Clock::ListenerId listener_id_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;         // scheduler thread
  std::condition_variable status_cv_;  // wait_for() callers
  std::uint64_t version_ = 0;          // bumped after every applied status write
  bool wake_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool loaded_ = false;

  std::unordered_map<std::string, TaskFn> registry_;
  std::unordered_set<std::string> warned_kinds_;
  std::map<std::int64_t, Entry> tasks_;  // pending tasks known to this scheduler
  std::unordered_map<std::int64_t, std::vector<std::int64_t>> dependents_;  // dep id → waiting task ids
  std::deque<Completion> completions_;
  std::deque<TaskRecord> updates_;  // status writes not yet persisted, in order
  std::size_t in_flight_ = 0;       // jobs handed to the pool and not yet reported back

  // Real-time backoff after store or pool errors (independent of the task clock).
  std::chrono::milliseconds store_backoff_{0};
  SteadyTime store_retry_at_{};
  SteadyTime load_retry_at_{};
  SteadyTime launch_retry_at_{};

  std::mutex stop_mu_;  // serializes stop() callers around join()
  std::thread thread_;
};

}  // namespace cumulo::runtime
