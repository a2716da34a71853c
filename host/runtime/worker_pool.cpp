#include "runtime/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

namespace cumulo::runtime {

namespace {
// Lets a job (and shutdown()) know which pool and lane it runs on.
thread_local const WorkerPool* tl_pool = nullptr;
thread_local Priority tl_lane = Priority::Medium;
}  // namespace

const char* to_string(Priority p) noexcept {
  switch (p) {
    case Priority::High: return "high";
    case Priority::Medium: return "medium";
    case Priority::Low: return "low";
  }
  return "medium";
}

WorkerPool::WorkerPool(std::size_t high, std::size_t medium, std::size_t low) : sizes_{high, medium, low} {
  if (high + medium + low == 0) throw std::invalid_argument("WorkerPool needs at least one thread");
  threads_.reserve(high + medium + low);
  try {
    for (Priority lane : {Priority::High, Priority::Medium, Priority::Low})
      for (std::size_t i = 0; i < sizes_[idx(lane)]; ++i) threads_.emplace_back([this, lane] { worker_loop(lane); });
  } catch (...) {
    // Thread creation failed part-way: stop the ones that started before rethrowing.
    shutdown();
    throw;
  }
}

WorkerPool::~WorkerPool() {
  try {
    shutdown();
  } catch (const std::exception& e) {
    spdlog::error("WorkerPool destroyed from inside one of its jobs: {}", e.what());
  }
}

std::size_t WorkerPool::lane_size(Priority lane) const noexcept { return sizes_[idx(lane)]; }

Priority WorkerPool::effective(Priority p) const noexcept {
  if (p == Priority::Low && sizes_[idx(Priority::Low)] == 0) p = Priority::Medium;
  if (p == Priority::Medium && sizes_[idx(Priority::Medium)] == 0 && sizes_[idx(Priority::Low)] == 0)
    p = Priority::High;
  return p;
}

void WorkerPool::post(Priority p, std::function<void()> job) {
  if (!job) throw std::invalid_argument("WorkerPool::post: empty job");
  p = effective(p);
  {
    std::lock_guard lk(mu_);
    if (stopping_) throw std::runtime_error("WorkerPool is shut down");
    queues_[idx(p)].push_back(std::move(job));
  }
  // Wake every lane allowed to take this priority. notify_all is deliberate:
  // with a handful of threads the extra wake-ups are cheap, and it rules out a
  // lost wake-up when a woken thread grabs a different job than the one posted.
  lane_cv_[idx(Priority::Low)].notify_all();
  if (p != Priority::Low) lane_cv_[idx(Priority::Medium)].notify_all();
  if (p == Priority::High) lane_cv_[idx(Priority::High)].notify_all();
}

bool WorkerPool::has_work_for(Priority lane) const {
  for (std::size_t q = 0; q <= idx(lane); ++q)
    if (!queues_[q].empty()) return true;
  return false;
}

WorkerPool::Job WorkerPool::take_for(Priority lane) {
  // Queues are indexed High=0 < Medium=1 < Low=2: scan from the most urgent.
  for (std::size_t q = 0; q <= idx(lane); ++q) {
    if (!queues_[q].empty()) {
      Job job = std::move(queues_[q].front());
      queues_[q].pop_front();
      return job;
    }
  }
  return {};
}

void WorkerPool::worker_loop(Priority lane) {
  tl_pool = this;
  tl_lane = lane;
  std::unique_lock lk(mu_);
  for (;;) {
    lane_cv_[idx(lane)].wait(lk, [&] { return stopping_ || has_work_for(lane); });
    Job job = take_for(lane);
    if (!job) {
      if (stopping_) return;  // drained everything this lane may take
      continue;
    }
    lk.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    bool ok = true;
    try {
      job();
    } catch (const std::exception& e) {
      ok = false;
      spdlog::warn("worker pool ({} lane): job threw: {}", to_string(lane), e.what());
    } catch (...) {
      ok = false;
      spdlog::warn("worker pool ({} lane): job threw a non-std exception", to_string(lane));
    }
    // Destroy the job (and its captures) before taking the lock again.
    job = nullptr;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    exec_us_.fetch_add(static_cast<std::uint64_t>(us.count()), std::memory_order_relaxed);
    (ok ? completed_ : failed_).fetch_add(1, std::memory_order_relaxed);
    lk.lock();
  }
}

WorkerPoolStats WorkerPool::stats() const {
  WorkerPoolStats s;
  {
    std::lock_guard lk(mu_);
    s.high_queue_depth = queues_[idx(Priority::High)].size();
    s.medium_queue_depth = queues_[idx(Priority::Medium)].size();
    s.low_queue_depth = queues_[idx(Priority::Low)].size();
  }
  s.jobs_completed = completed_.load(std::memory_order_relaxed);
  s.jobs_failed = failed_.load(std::memory_order_relaxed);
  s.total_execution_us = exec_us_.load(std::memory_order_relaxed);
  return s;
}

void WorkerPool::shutdown() {
  if (tl_pool == this) throw std::logic_error("WorkerPool::shutdown called from one of its own jobs");
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  for (auto& cv : lane_cv_) cv.notify_all();
  std::lock_guard join_lk(join_mu_);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

std::optional<Priority> WorkerPool::current_lane() noexcept {
  if (tl_pool == nullptr) return std::nullopt;
  return tl_lane;
}

}  // namespace cumulo::runtime
