#include "runtime/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace cumulo::runtime {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Real-time backoff for store/pool errors.
constexpr milliseconds kMinBackoff{100};
constexpr milliseconds kMaxBackoff{30'000};
// Longest real-time sleep against a SystemClock deadline; bounds the error if
// the wall clock is stepped while we wait on the steady clock.
constexpr std::int64_t kMaxRealWaitMs = 60'000;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t sat_add(std::int64_t a, std::int64_t b) {  // b >= 0
  return a > kInt64Max - b ? kInt64Max : a + b;
}

std::int64_t sat_mul_1000(std::int64_t s) { return s > kInt64Max / 1000 ? kInt64Max : s * 1000; }

// First cron time strictly after now_ms, in ms; -1 if none.
std::int64_t next_cron_ms(const CronSchedule& cron, std::int64_t now_ms) {
  const std::int64_t s = cron.next_after(floor_div(now_ms, 1000));
  return s < 0 ? -1 : s * 1000;
}

void validate_policy(const RetryPolicy& p) {
  if (p.min_wait_s < 0 || p.max_wait_s < p.min_wait_s)
    throw std::invalid_argument("retry policy needs 0 <= min_wait_s <= max_wait_s");
  if (p.max_attempts < 1) throw std::invalid_argument("retry policy needs max_attempts >= 1");
}

milliseconds next_backoff(milliseconds current) { return std::clamp(current * 2, kMinBackoff, kMaxBackoff); }

}  // namespace

// ---- Clocks ------------------------------------------------------------------

std::int64_t SystemClock::now_ms() const {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Clock::ListenerId ManualClock::add_listener(Listener fn) const {
  std::lock_guard lk(listeners_mu_);
  const ListenerId id = next_listener_++;
  listeners_.emplace(id, std::move(fn));
  return id;
}

void ManualClock::remove_listener(ListenerId id) const {
  // Taking the lock also waits out a notify_listeners() in progress.
  std::lock_guard lk(listeners_mu_);
  listeners_.erase(id);
}

void ManualClock::set(std::int64_t ms) {
  now_.store(ms);
  notify_listeners();
}

void ManualClock::advance(std::int64_t ms) {
  now_.fetch_add(ms);
  notify_listeners();
}

void ManualClock::notify_listeners() const {
  std::lock_guard lk(listeners_mu_);
  for (const auto& [id, fn] : listeners_) fn();
}

// ---- Results and backoff -----------------------------------------------------

TaskResult TaskResult::ok(std::string out) { return {TaskOutcome::Done, std::move(out)}; }
TaskResult TaskResult::retry(std::string err) { return {TaskOutcome::Retry, std::move(err)}; }
TaskResult TaskResult::fail(std::string err) { return {TaskOutcome::Fail, std::move(err)}; }

std::int64_t retry_delay_s(const RetryPolicy& policy, int attempt) {
  std::int64_t wait = std::max<std::int64_t>(policy.min_wait_s, 0);
  const std::int64_t cap = std::max<std::int64_t>(policy.max_wait_s, 0);
  for (int i = 1; i < attempt && wait < cap; ++i) wait = wait > kInt64Max / 2 ? kInt64Max : wait * 2;
  return std::min(wait, cap);
}

// ---- Builder -----------------------------------------------------------------

Scheduler::Builder::Builder(Scheduler& s, std::string kind) : sched_(&s) { rec_.kind = std::move(kind); }

Scheduler::Builder& Scheduler::Builder::input(std::string v) {
  rec_.input = std::move(v);
  return *this;
}
Scheduler::Builder& Scheduler::Builder::key(std::string v) {
  rec_.key = std::move(v);
  return *this;
}
Scheduler::Builder& Scheduler::Builder::depend_on(std::vector<std::int64_t> ids) {
  rec_.deps.insert(rec_.deps.end(), ids.begin(), ids.end());
  return *this;
}
Scheduler::Builder& Scheduler::Builder::retry(RetryPolicy p) {
  rec_.retry = p;
  return *this;
}
Scheduler::Builder& Scheduler::Builder::priority(Priority p) {
  rec_.priority = p;
  return *this;
}
Scheduler::Builder& Scheduler::Builder::cron(std::string expr) {
  rec_.cron = std::move(expr);
  return *this;
}
Scheduler::Builder& Scheduler::Builder::at_ms(std::int64_t ms) {
  at_ms_ = ms;
  return *this;
}
std::int64_t Scheduler::Builder::schedule() { return sched_->schedule_task(*this); }

Scheduler::Builder Scheduler::task(std::string kind) { return Builder(*this, std::move(kind)); }

// ---- Job guard ---------------------------------------------------------------

// Travels with the job into the pool. If the pool destroys the job without
// running it, the destructor still reports back, so stop() never waits forever.
struct Scheduler::JobGuard {
  Scheduler* owner;
  std::int64_t task_id;
  bool armed = true;

  JobGuard(Scheduler* s, std::int64_t id) : owner(s), task_id(id) {}
  JobGuard(const JobGuard&) = delete;
  JobGuard& operator=(const JobGuard&) = delete;
  ~JobGuard() {
    if (armed) owner->on_job_done(task_id, std::nullopt);
  }
  void finish(TaskResult r) {
    armed = false;
    owner->on_job_done(task_id, std::move(r));
  }
};

// ---- Lifecycle ---------------------------------------------------------------

Scheduler::Scheduler(TaskStore& store, WorkerPool& pool, const Clock& clock)
    : store_(store), pool_(pool), clock_(clock) {
  listener_id_ = clock_.add_listener([this] { notify_clock_changed(); });
}

Scheduler::~Scheduler() {
  try {
    stop();
  } catch (const std::exception& e) {
    spdlog::error("scheduler: stop() failed in destructor: {}", e.what());
  }
}

void Scheduler::start() {
  std::lock_guard stop_lk(stop_mu_);
  std::lock_guard lk(mu_);
  if (stopping_) {
    spdlog::warn("scheduler: start() after stop() ignored");
    return;
  }
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { run_loop(); });
}

void Scheduler::stop() {
  std::lock_guard stop_lk(stop_mu_);
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    wake();
  }
  // Timers no longer matter once stopping; unhook from the clock first.
  if (listener_id_ != 0) {
    clock_.remove_listener(listener_id_);
    listener_id_ = 0;
  }
  if (thread_.joinable()) {
    thread_.join();  // the thread exits once running tasks have reported and been persisted
  } else {
    // Never started: still try to persist what schedule() queued (failed dependencies).
    std::unique_lock lk(mu_);
    flush_updates(lk, true);
  }
}

void Scheduler::register_kind(std::string kind, TaskFn fn) {
  if (!fn) throw std::invalid_argument("register_kind: empty task function for '" + kind + "'");
  std::lock_guard lk(mu_);
  warned_kinds_.erase(kind);
  registry_[std::move(kind)] = std::move(fn);
  wake();  // tasks of this kind may be waiting
}

void Scheduler::notify_clock_changed() {
  std::lock_guard lk(mu_);
  wake();
}

void Scheduler::wake() {
  wake_ = true;
  cv_.notify_one();
}

std::optional<TaskRecord> Scheduler::get(std::int64_t id) { return store_.get(id); }

std::optional<TaskRecord> Scheduler::wait_for(std::int64_t id, std::string_view statuses,
                                              std::chrono::milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    std::uint64_t seen;
    {
      std::lock_guard lk(mu_);
      seen = version_;
    }
    // Status writes reach the store before version_ moves, so reading the
    // store after sampling the version cannot miss a change.
    try {
      auto rec = store_.get(id);
      if (rec && statuses.find(rec->status) != std::string_view::npos) return rec;
    } catch (const std::exception& e) {
      spdlog::warn("scheduler: wait_for({}) could not read the store: {}", id, e.what());
    }
    std::unique_lock lk(mu_);
    if (!status_cv_.wait_until(lk, deadline, [&] { return version_ != seen; })) return std::nullopt;
  }
}

// ---- Scheduling --------------------------------------------------------------

std::int64_t Scheduler::schedule_task(const Builder& b) {
  TaskRecord rec = b.rec_;
  if (rec.kind.empty()) throw std::invalid_argument("task kind must not be empty");
  if (rec.retry) validate_policy(*rec.retry);
  std::optional<CronSchedule> cron;
  if (!rec.cron.empty()) {
    std::string err;
    cron = CronSchedule::parse(rec.cron, &err);
    if (!cron) throw std::invalid_argument("invalid cron expression '" + rec.cron + "': " + err);
    rec.cron = cron->str();
  }
  std::sort(rec.deps.begin(), rec.deps.end());
  rec.deps.erase(std::unique(rec.deps.begin(), rec.deps.end()), rec.deps.end());

  const std::int64_t now = clock_.now_ms();
  rec.id = 0;
  rec.status = 'P';
  rec.attempt = 0;
  rec.output.clear();
  rec.error.clear();
  rec.created_at_ms = now;
  if (b.at_ms_) {
    rec.next_at_ms = *b.at_ms_;
  } else if (cron) {
    rec.next_at_ms = next_cron_ms(*cron, now);
    if (rec.next_at_ms < 0) throw std::invalid_argument("cron expression '" + rec.cron + "' never fires");
  } else {
    rec.next_at_ms = now;
  }

  // Held across validation, create and registration, so no dependency can
  // change status between being checked and being waited on.
  std::lock_guard lk(mu_);
  std::unordered_map<std::int64_t, char> dep_status;  // deps not in tasks_
  for (std::int64_t d : rec.deps) {
    if (tasks_.count(d)) continue;
    auto dep = store_.get(d);
    if (!dep) throw std::invalid_argument("unknown dependency id " + std::to_string(d));
    dep_status[d] = dep->status;
  }

  const std::int64_t id = store_.create(rec);
  if (rec.id != id || tasks_.count(id)) {
    // Dedup hit: the existing task stays as it is. Refuse only if the caller
    // asked it to wait for something that (transitively) waits for it.
    if (std::binary_search(rec.deps.begin(), rec.deps.end(), id) || reaches(rec.deps, id))
      throw std::invalid_argument("dependency cycle: existing task " + std::to_string(id) + " with key '" + rec.key +
                                  "' cannot depend on its own dependents");
    spdlog::debug("scheduler: {} task with key '{}' already pending as {}", rec.kind, rec.key, id);
    return id;
  }

  Entry& e = tasks_[id];
  e.rec = std::move(rec);
  e.cron = std::move(cron);
  resolve_deps(id, e, dep_status);
  wake();
  return id;
}

void Scheduler::resolve_deps(std::int64_t id, Entry& e, const std::unordered_map<std::int64_t, char>& ext) {
  std::vector<std::int64_t> deps = e.rec.deps;
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  std::optional<std::int64_t> failed;
  for (std::int64_t d : deps) {
    char st = 'P';  // anything we track in memory is still pending
    if (!tasks_.count(d)) {
      auto it = ext.find(d);
      st = it == ext.end() ? '\0' : it->second;
    }
    if (st == 'P') {
      e.waiting_on.insert(d);
      dependents_[d].push_back(id);
    } else if (st == 'E') {
      if (!failed) failed = d;
    } else if (st != 'F') {
      // Gone from the store: finished tasks are purged after a while, so treat it as done.
      spdlog::debug("scheduler: task {} depends on {}, which no longer exists; treating it as finished", id, d);
    }
  }
  if (failed) fail_task(e, "dependency " + std::to_string(*failed) + " failed");
}

bool Scheduler::reaches(const std::vector<std::int64_t>& from, std::int64_t target) {
  std::vector<std::int64_t> stack(from.begin(), from.end());
  std::unordered_set<std::int64_t> seen;
  while (!stack.empty()) {
    const std::int64_t n = stack.back();
    stack.pop_back();
    if (n == target) return true;
    if (!seen.insert(n).second) continue;
    if (auto it = tasks_.find(n); it != tasks_.end()) {
      stack.insert(stack.end(), it->second.waiting_on.begin(), it->second.waiting_on.end());
    } else if (auto rec = store_.get(n); rec && rec->status == 'P') {
      // Pending but not loaded yet (before start()): follow the stored edges.
      stack.insert(stack.end(), rec->deps.begin(), rec->deps.end());
    }
  }
  return false;
}

void Scheduler::fail_task(Entry& e, std::string error) {
  e.finishing = true;
  TaskRecord r = e.rec;
  r.status = 'E';
  r.error = std::move(error);
  spdlog::warn("scheduler: task {} ({}) failed: {}", r.id, r.kind, r.error);
  updates_.push_back(std::move(r));
  wake();
}

// Tasks that can never become ready because they sit on, or behind, a cycle
// (only possible with records written outside this scheduler) fail at load.
void Scheduler::fail_cycles() {
  std::unordered_map<std::int64_t, std::size_t> indegree;
  std::vector<std::int64_t> ready;
  for (const auto& [id, e] : tasks_) {
    std::size_t n = 0;
    for (std::int64_t d : e.waiting_on) n += tasks_.count(d);
    indegree[id] = n;
    if (n == 0) ready.push_back(id);
  }
  while (!ready.empty()) {
    const std::int64_t id = ready.back();
    ready.pop_back();
    auto it = dependents_.find(id);
    if (it == dependents_.end()) continue;
    for (std::int64_t dep : it->second) {
      auto d = indegree.find(dep);
      if (d != indegree.end() && d->second > 0 && --d->second == 0) ready.push_back(dep);
    }
  }
  for (const auto& [id, n] : indegree) {
    if (n == 0) continue;
    Entry& e = tasks_.at(id);
    if (!e.finishing && !e.running) fail_task(e, "dependency cycle");
  }
}

// ---- Scheduler thread --------------------------------------------------------

void Scheduler::run_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    wake_ = false;
    if (!loaded_ && !stopping_ && steady_clock::now() >= load_retry_at_) load_pending(lk);
    drain_completions();
    flush_updates(lk, false);
    if (stopping_) {
      if (in_flight_ == 0 && completions_.empty()) {
        flush_updates(lk, true);
        return;
      }
    } else if (loaded_) {
      launch_due(lk);
    }
    wait_for_work(lk);
  }
}

bool Scheduler::load_pending(std::unique_lock<std::mutex>& lk) {
  std::vector<TaskRecord> recs;
  std::unordered_map<std::int64_t, char> dep_status;  // deps outside the pending set
  lk.unlock();
  try {
    recs = store_.list_pending();
    std::unordered_set<std::int64_t> pending_ids;
    for (const auto& r : recs) pending_ids.insert(r.id);
    for (const auto& r : recs)
      for (std::int64_t d : r.deps)
        if (!pending_ids.count(d) && !dep_status.count(d)) {
          auto dep = store_.get(d);
          dep_status[d] = dep ? dep->status : '\0';
        }
  } catch (const std::exception& e) {
    lk.lock();
    store_backoff_ = next_backoff(store_backoff_);
    load_retry_at_ = steady_clock::now() + store_backoff_;
    spdlog::error("scheduler: loading pending tasks failed: {}; retrying in {} ms", e.what(), store_backoff_.count());
    return false;
  }
  lk.lock();
  store_backoff_ = milliseconds{0};

  std::vector<std::int64_t> added;
  for (auto& r : recs) {
    if (r.status != 'P' || tasks_.count(r.id)) continue;  // scheduled by us before the load
    const std::int64_t id = r.id;
    tasks_[id].rec = std::move(r);
    added.push_back(id);
  }
  std::map<std::string, int> unregistered;
  for (std::int64_t id : added) {
    Entry& e = tasks_.at(id);
    if (!e.rec.cron.empty()) {
      std::string err;
      e.cron = CronSchedule::parse(e.rec.cron, &err);
      if (!e.cron) {
        fail_task(e, "invalid cron expression '" + e.rec.cron + "': " + err);
        continue;
      }
    }
    resolve_deps(id, e, dep_status);
    if (!registry_.count(e.rec.kind)) ++unregistered[e.rec.kind];
  }
  fail_cycles();
  for (const auto& [kind, n] : unregistered) {
    spdlog::warn("scheduler: {} pending task(s) of unregistered kind '{}' stay pending until it is registered", n, kind);
    warned_kinds_.insert(kind);
  }
  spdlog::info("scheduler: resumed {} pending task(s)", added.size());
  loaded_ = true;
  return true;
}

void Scheduler::drain_completions() {
  if (completions_.empty()) return;
  const std::int64_t now = clock_.now_ms();
  while (!completions_.empty()) {
    Completion c = std::move(completions_.front());
    completions_.pop_front();
    auto it = tasks_.find(c.id);
    if (it == tasks_.end()) continue;
    Entry& e = it->second;
    if (!c.result) {
      e.running = false;
      spdlog::warn("scheduler: worker pool dropped task {} unrun; it will be launched again", c.id);
      continue;
    }
    TaskRecord r = e.rec;
    const TaskResult& res = *c.result;
    // Recurring tasks stay pending with a fresh attempt count after every run.
    auto reschedule_cron = [&] {
      if (!e.cron) return false;
      const std::int64_t next = next_cron_ms(*e.cron, now);
      if (next < 0) return false;
      r.status = 'P';
      r.attempt = 0;
      r.next_at_ms = next;
      return true;
    };
    if (res.outcome == TaskOutcome::Done) {
      r.output = res.detail;
      r.error.clear();
      if (!reschedule_cron()) r.status = 'F';
    } else {
      r.error = res.detail;
      r.attempt += 1;
      if (res.outcome == TaskOutcome::Retry && r.retry && r.attempt < r.retry->max_attempts) {
        r.next_at_ms = sat_add(now, sat_mul_1000(retry_delay_s(*r.retry, r.attempt)));
        spdlog::info("scheduler: task {} ({}) attempt {} failed: {}; retrying at {} ms", r.id, r.kind, r.attempt,
                     r.error, r.next_at_ms);
      } else if (!reschedule_cron()) {
        r.status = 'E';
        spdlog::warn("scheduler: task {} ({}) failed permanently after {} attempt(s): {}", r.id, r.kind, r.attempt,
                     r.error);
      }
    }
    if (r.status != 'P') e.finishing = true;
    updates_.push_back(std::move(r));
  }
}

void Scheduler::flush_updates(std::unique_lock<std::mutex>& lk, bool final_attempt) {
  while (!updates_.empty()) {
    if (!final_attempt && steady_clock::now() < store_retry_at_) return;
    // Only this thread pops, so the front stays put while the lock is released.
    TaskRecord r = updates_.front();
    lk.unlock();
    bool ok = false, gone = false;
    std::string err;
    try {
      store_.update(r);
      ok = true;
    } catch (const std::exception& e) {
      err = e.what();
      try {
        gone = !store_.get(r.id).has_value();
      } catch (const std::exception&) {
        // Store is down altogether: keep the update and back off.
      }
    }
    lk.lock();
    if (ok || gone) {
      updates_.pop_front();
      store_backoff_ = milliseconds{0};
      if (gone) {
        // Removed behind our back: forget it, and let dependents go on as for a purged task.
        spdlog::warn("scheduler: task {} vanished from the store; dropping it", r.id);
        if (r.status == 'P') r.status = 'F';
      }
      apply(r);
      continue;
    }
    if (final_attempt) {
      spdlog::error("scheduler: could not persist status '{}' of task {} at shutdown ({}); it will run again", r.status,
                    r.id, err);
      updates_.pop_front();
      continue;
    }
    store_backoff_ = next_backoff(store_backoff_);
    store_retry_at_ = steady_clock::now() + store_backoff_;
    spdlog::error("scheduler: persisting task {} failed: {}; retrying in {} ms", r.id, err, store_backoff_.count());
    return;
  }
}

// Acts on a status that is now in the store.
void Scheduler::apply(const TaskRecord& rec) {
  auto it = tasks_.find(rec.id);
  if (it != tasks_.end()) {
    if (rec.status == 'P') {
      it->second.rec = rec;
      it->second.running = false;
      it->second.finishing = false;
    } else {
      tasks_.erase(it);
      if (auto d = dependents_.find(rec.id); d != dependents_.end()) {
        const std::vector<std::int64_t> waiting = std::move(d->second);
        dependents_.erase(d);
        for (std::int64_t w : waiting) {
          auto dep = tasks_.find(w);
          if (dep == tasks_.end()) continue;
          if (rec.status == 'F') dep->second.waiting_on.erase(rec.id);
          else if (!dep->second.finishing && !dep->second.running)
            fail_task(dep->second, "dependency " + std::to_string(rec.id) + " failed");
        }
      }
    }
  }
  ++version_;
  status_cv_.notify_all();
}

void Scheduler::launch_due(std::unique_lock<std::mutex>& lk) {
  if (steady_clock::now() < launch_retry_at_) return;
  const std::int64_t now = clock_.now_ms();

  std::vector<Entry*> due;
  for (auto& [id, e] : tasks_) {
    if (e.running || e.finishing || !e.waiting_on.empty() || e.rec.next_at_ms > now) continue;
    if (!registry_.count(e.rec.kind)) {
      if (warned_kinds_.insert(e.rec.kind).second)
        spdlog::warn("scheduler: no function registered for kind '{}'; its tasks stay pending", e.rec.kind);
      continue;
    }
    due.push_back(&e);
  }
  if (due.empty()) return;
  // Spec: when several tasks are due, priority first, then creation order.
  std::sort(due.begin(), due.end(), [](const Entry* a, const Entry* b) {
    if (a->rec.priority != b->rec.priority) return a->rec.priority < b->rec.priority;
    if (a->rec.created_at_ms != b->rec.created_at_ms) return a->rec.created_at_ms < b->rec.created_at_ms;
    return a->rec.id < b->rec.id;
  });

  struct Launch {
    std::int64_t id;
    Priority priority;
    TaskFn fn;
    std::string kind, input;
    int attempt;
  };
  std::vector<Launch> launches;
  launches.reserve(due.size());
  for (Entry* e : due) {
    e->running = true;
    ++in_flight_;
    launches.push_back({e->rec.id, e->rec.priority, registry_.at(e->rec.kind), e->rec.kind, e->rec.input, e->rec.attempt});
  }

  // Post without holding mu_: a pool that drops a job runs JobGuard's
  // destructor, which takes mu_.
  lk.unlock();
  std::size_t posted = 0;
  std::string err;
  for (; posted < launches.size(); ++posted) {
    Launch& l = launches[posted];
    auto guard = std::make_shared<JobGuard>(this, l.id);
    try {
      pool_.post(l.priority, [guard, fn = std::move(l.fn), kind = std::move(l.kind), input = std::move(l.input),
                              id = l.id, attempt = l.attempt] {
        TaskResult result;
        try {
          result = fn(TaskContext{id, kind, input, attempt});
        } catch (const std::exception& e) {
          result = TaskResult::retry(e.what());
        } catch (...) {
          result = TaskResult::retry("unknown exception");
        }
        guard->finish(std::move(result));
      });
    } catch (const std::exception& e) {
      guard->armed = false;  // we undo the launch below ourselves
      err = e.what();
      break;
    }
  }
  lk.lock();
  if (posted < launches.size()) {
    for (std::size_t i = posted; i < launches.size(); ++i) {
      if (auto it = tasks_.find(launches[i].id); it != tasks_.end()) it->second.running = false;
      --in_flight_;
    }
    launch_retry_at_ = steady_clock::now() + std::chrono::seconds(1);
    spdlog::error("scheduler: worker pool refused {} task(s): {}; retrying in 1 s", launches.size() - posted, err);
  }
}

void Scheduler::wait_for_work(std::unique_lock<std::mutex>& lk) {
  const auto steady_now = steady_clock::now();
  std::optional<steady_clock::time_point> deadline;
  auto consider = [&](steady_clock::time_point t) {
    if (!deadline || t < *deadline) deadline = t;
  };
  if (!updates_.empty()) consider(store_retry_at_);
  if (!stopping_ && !loaded_) consider(load_retry_at_);
  if (!stopping_ && loaded_) {
    if (launch_retry_at_ > steady_now) {
      consider(launch_retry_at_);
    } else if (clock_.advances_on_its_own()) {
      // Manual clocks wake us through notify_clock_changed() instead.
      std::optional<std::int64_t> earliest;
      for (const auto& [id, e] : tasks_) {
        if (e.running || e.finishing || !e.waiting_on.empty() || !registry_.count(e.rec.kind)) continue;
        if (!earliest || e.rec.next_at_ms < *earliest) earliest = e.rec.next_at_ms;
      }
      if (earliest) {
        const std::int64_t delay = std::clamp<std::int64_t>(*earliest - clock_.now_ms(), 0, kMaxRealWaitMs);
        consider(steady_now + milliseconds{delay});
      }
    }
  }
  if (deadline)
    cv_.wait_until(lk, *deadline, [this] { return wake_; });
  else
    cv_.wait(lk, [this] { return wake_; });
}

void Scheduler::on_job_done(std::int64_t id, std::optional<TaskResult> result) {
  std::lock_guard lk(mu_);
  completions_.push_back({id, std::move(result)});
  --in_flight_;
  // Notify while still holding the lock: once it is released, stop() may
  // return and the scheduler may be destroyed.
  wake();
}

}  // namespace cumulo::runtime
