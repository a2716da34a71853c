// Persistent task records and the storage interface behind the scheduler
// (spec runtime.md §1.3). The production store lives on the MetaAdapter and
// uses the JSON codec below; MemoryTaskStore is for tests.
#pragma once

#include "runtime/worker_pool.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cumulo::runtime {

struct RetryPolicy {
  std::int64_t min_wait_s = 60;
  std::int64_t max_wait_s = 3600;
  int max_attempts = 10;  // total runs, including the first one
};

struct TaskRecord {
  std::int64_t id = 0;
  std::string kind;
  std::string key;     // dedup key, may be empty
  char status = 'P';   // 'P' pending, 'F' finished, 'E' error (failed permanently)
  Priority priority = Priority::Medium;
  std::int64_t next_at_ms = 0;  // earliest run time (Unix ms)
  int attempt = 0;              // failed attempts so far
  std::optional<RetryPolicy> retry;
  std::string cron;  // empty = one-shot
  std::vector<std::int64_t> deps;
  std::string input, output, error;
  std::int64_t created_at_ms = 0;
};

/// Persistence interface. Implementations must be thread-safe and report
/// failures by throwing (std::runtime_error or a subclass).
class TaskStore {
 public:
  virtual ~TaskStore() = default;
  /// Stores a new task, sets rec.id and returns it. If rec.key is non-empty and
  /// a pending task of the same kind has that key, returns that task's id,
  /// stores nothing and leaves `rec` unchanged (so a caller passing rec.id == 0
  /// can tell the two cases apart).
  virtual std::int64_t create(TaskRecord& rec) = 0;
  /// Writes status, next_at_ms, attempt, error and output of an existing task.
  /// Throws if the task does not exist.
  virtual void update(const TaskRecord& rec) = 0;
  virtual std::optional<TaskRecord> get(std::int64_t id) = 0;
  /// All tasks with status 'P', ordered by id.
  virtual std::vector<TaskRecord> list_pending() = 0;
  /// Removes a task; no-op if it does not exist.
  virtual void remove(std::int64_t id) = 0;
};

/// In-memory store for tests and tools. Methods are virtual through TaskStore,
/// so tests can subclass it to inject failures or observe writes.
class MemoryTaskStore : public TaskStore {
 public:
  std::int64_t create(TaskRecord& rec) override;
  void update(const TaskRecord& rec) override;
  std::optional<TaskRecord> get(std::int64_t id) override;
  std::vector<TaskRecord> list_pending() override;
  void remove(std::int64_t id) override;

  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::int64_t, TaskRecord> tasks_;
  std::int64_t next_id_ = 1;
};

/// "P"/"F"/"E" status, "high"/"medium"/"low" priority; see task_from_json.
nlohmann::json task_to_json(const TaskRecord& rec);

/// Inverse of task_to_json. Keys: id, kind, key, status, priority, nextAt (ms),
/// attempt, retry {minWait, maxWait, times} (absent or null = no policy), cron,
/// deps [..], input, output, error, createdAt. Only `kind` is required; missing
/// keys take TaskRecord's defaults. Throws std::invalid_argument naming the
/// offending key on anything malformed.
TaskRecord task_from_json(const nlohmann::json& j);

}  // namespace cumulo::runtime
