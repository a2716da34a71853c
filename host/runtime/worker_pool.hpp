// Priority worker pool for CPU-heavy and blocking work (spec runtime.md §2).
//
// Three lanes of OS threads. A lane consumes its own priority and every
// higher one, so urgent work is never stuck behind slow background jobs:
//   High lane   → High
//   Medium lane → High, then Medium
//   Low lane    → High, then Medium, then Low
// Idle threads block on condition variables; nothing polls.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace cumulo::runtime {

enum class Priority { High, Medium, Low };

/// "high" / "medium" / "low".
const char* to_string(Priority p) noexcept;

struct WorkerPoolStats {
  std::size_t high_queue_depth = 0;
  std::size_t medium_queue_depth = 0;
  std::size_t low_queue_depth = 0;
  std::uint64_t jobs_completed = 0;      // returned normally
  std::uint64_t jobs_failed = 0;         // threw an exception
  std::uint64_t total_execution_us = 0;  // wall time spent inside jobs, all lanes
};

class WorkerPool {
 public:
  /// Lane sizes (spec default 1/2/1). At least one thread in total is required.
  /// A priority that no lane can take is promoted: without a Low lane, Low
  /// jobs queue as Medium; without Medium and Low lanes, everything is High.
  explicit WorkerPool(std::size_t high = 1, std::size_t medium = 2, std::size_t low = 1);
  ~WorkerPool();  // shutdown()

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues a job. An exception escaping the job is caught and counted in
  /// jobs_failed; the thread keeps serving. Throws std::runtime_error after shutdown().
  void post(Priority p, std::function<void()> job);

  /// Queues `f` and returns a future for its result (or its exception, which
  /// also counts the job as failed). F may be move-only.
  template <class F>
  auto submit(Priority p, F f) -> std::future<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    struct State {
      std::promise<R> promise;
      F fn;
    };
    // shared_ptr because std::function needs a copyable callable.
    auto state = std::make_shared<State>(State{std::promise<R>{}, std::move(f)});
    auto fut = state->promise.get_future();
    post(p, [state] {
      try {
        if constexpr (std::is_void_v<R>) {
          state->fn();
          state->promise.set_value();
        } else {
          state->promise.set_value(state->fn());
        }
      } catch (...) {
        state->promise.set_exception(std::current_exception());
        throw;  // so the pool counts it as failed
      }
    });
    return fut;
  }

  WorkerPoolStats stats() const;

  /// Stops accepting jobs, lets the threads drain everything already queued,
  /// then joins them. Idempotent and safe to call from several threads; must
  /// not be called from inside a job (throws std::logic_error).
  void shutdown();

  /// The lane of the calling thread if it is a worker of any WorkerPool.
  static std::optional<Priority> current_lane() noexcept;

  std::size_t lane_size(Priority lane) const noexcept;

 private:
  using Job = std::function<void()>;

  void worker_loop(Priority lane);
  bool has_work_for(Priority lane) const;  // mu_ held
  Job take_for(Priority lane);             // mu_ held; empty if none
  Priority effective(Priority p) const noexcept;
  static std::size_t idx(Priority p) noexcept { return static_cast<std::size_t>(p); }

  std::size_t sizes_[3];

  mutable std::mutex mu_;
  std::deque<Job> queues_[3];
  // One condition variable per lane so a Low post never wakes High threads.
  std::condition_variable lane_cv_[3];
  bool stopping_ = false;

  std::mutex join_mu_;  // serializes concurrent shutdown() callers
  std::vector<std::thread> threads_;

  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> exec_us_{0};
};

}  // namespace cumulo::runtime
