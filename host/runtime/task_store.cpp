#include "runtime/task_store.hpp"

#include <limits>
#include <stdexcept>

namespace cumulo::runtime {

// ---- MemoryTaskStore ---------------------------------------------------------

std::int64_t MemoryTaskStore::create(TaskRecord& rec) {
  std::lock_guard lk(mu_);
  if (!rec.key.empty()) {
    for (const auto& [id, t] : tasks_)
      if (t.status == 'P' && t.kind == rec.kind && t.key == rec.key) return id;
  }
  rec.id = next_id_++;
  tasks_.emplace(rec.id, rec);
  return rec.id;
}

void MemoryTaskStore::update(const TaskRecord& rec) {
  std::lock_guard lk(mu_);
  auto it = tasks_.find(rec.id);
  if (it == tasks_.end()) throw std::runtime_error("task " + std::to_string(rec.id) + " not found");
  TaskRecord& t = it->second;
  t.status = rec.status;
  t.next_at_ms = rec.next_at_ms;
  t.attempt = rec.attempt;
  t.error = rec.error;
  t.output = rec.output;
}

std::optional<TaskRecord> MemoryTaskStore::get(std::int64_t id) {
  std::lock_guard lk(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  return it->second;
}

std::vector<TaskRecord> MemoryTaskStore::list_pending() {
  std::lock_guard lk(mu_);
  std::vector<TaskRecord> out;
  for (const auto& [id, t] : tasks_)
    if (t.status == 'P') out.push_back(t);
  return out;
}

void MemoryTaskStore::remove(std::int64_t id) {
  std::lock_guard lk(mu_);
  tasks_.erase(id);
}

std::size_t MemoryTaskStore::size() const {
  std::lock_guard lk(mu_);
  return tasks_.size();
}

// ---- JSON codec --------------------------------------------------------------

namespace {

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("task json: " + what); }

const nlohmann::json* field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::int64_t as_int64(const nlohmann::json& v, const std::string& name) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      bad("'" + name + "' is out of range");
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (!v.is_number_integer()) bad("'" + name + "' must be an integer");
  return v.get<std::int64_t>();
}

int as_int(const nlohmann::json& v, const std::string& name) {
  const std::int64_t x = as_int64(v, name);
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) bad("'" + name + "' is out of range");
  return static_cast<int>(x);
}

std::string as_string(const nlohmann::json& v, const std::string& name) {
  if (!v.is_string()) bad("'" + name + "' must be a string");
  return v.get<std::string>();
}

}  // namespace

nlohmann::json task_to_json(const TaskRecord& rec) {
  nlohmann::json j = {
      {"id", rec.id},
      {"kind", rec.kind},
      {"key", rec.key},
      {"status", std::string(1, rec.status)},
      {"priority", to_string(rec.priority)},
      {"nextAt", rec.next_at_ms},
      {"attempt", rec.attempt},
      {"cron", rec.cron},
      {"deps", rec.deps},
      {"input", rec.input},
      {"output", rec.output},
      {"error", rec.error},
      {"createdAt", rec.created_at_ms},
  };
  if (rec.retry)
    j["retry"] = {{"minWait", rec.retry->min_wait_s}, {"maxWait", rec.retry->max_wait_s}, {"times", rec.retry->max_attempts}};
  return j;
}

TaskRecord task_from_json(const nlohmann::json& j) {
  if (!j.is_object()) bad("expected an object");
  TaskRecord rec;

  const auto* kind = field(j, "kind");
  if (!kind) bad("missing 'kind'");
  rec.kind = as_string(*kind, "kind");
  if (rec.kind.empty()) bad("'kind' must not be empty");

  if (const auto* v = field(j, "id")) rec.id = as_int64(*v, "id");
  if (const auto* v = field(j, "key"); v && !v->is_null()) rec.key = as_string(*v, "key");
  if (const auto* v = field(j, "status")) {
    const std::string s = as_string(*v, "status");
    if (s != "P" && s != "F" && s != "E") bad("'status' must be \"P\", \"F\" or \"E\", got \"" + s + "\"");
    rec.status = s[0];
  }
  if (const auto* v = field(j, "priority")) {
    const std::string s = as_string(*v, "priority");
    if (s == "high") rec.priority = Priority::High;
    else if (s == "medium") rec.priority = Priority::Medium;
    else if (s == "low") rec.priority = Priority::Low;
    else bad("'priority' must be \"high\", \"medium\" or \"low\", got \"" + s + "\"");
  }
  if (const auto* v = field(j, "nextAt")) rec.next_at_ms = as_int64(*v, "nextAt");
  if (const auto* v = field(j, "attempt")) {
    rec.attempt = as_int(*v, "attempt");
    if (rec.attempt < 0) bad("'attempt' must not be negative");
  }
  if (const auto* v = field(j, "retry"); v && !v->is_null()) {
    if (!v->is_object()) bad("'retry' must be an object or null");
    RetryPolicy p;
    if (const auto* x = field(*v, "minWait")) p.min_wait_s = as_int64(*x, "retry.minWait");
    if (const auto* x = field(*v, "maxWait")) p.max_wait_s = as_int64(*x, "retry.maxWait");
    if (const auto* x = field(*v, "times")) p.max_attempts = as_int(*x, "retry.times");
    if (p.min_wait_s < 0 || p.max_wait_s < p.min_wait_s) bad("'retry' needs 0 <= minWait <= maxWait");
    if (p.max_attempts < 1) bad("'retry.times' must be at least 1");
    rec.retry = p;
  }
  if (const auto* v = field(j, "cron"); v && !v->is_null()) rec.cron = as_string(*v, "cron");
  if (const auto* v = field(j, "deps"); v && !v->is_null()) {
    if (!v->is_array()) bad("'deps' must be an array of task ids");
    for (std::size_t i = 0; i < v->size(); ++i) rec.deps.push_back(as_int64((*v)[i], "deps[" + std::to_string(i) + "]"));
  }
  if (const auto* v = field(j, "input"); v && !v->is_null()) rec.input = as_string(*v, "input");
  if (const auto* v = field(j, "output"); v && !v->is_null()) rec.output = as_string(*v, "output");
  if (const auto* v = field(j, "error"); v && !v->is_null()) rec.error = as_string(*v, "error");
  if (const auto* v = field(j, "createdAt")) rec.created_at_ms = as_int64(*v, "createdAt");
  return rec;
}

}  // namespace cumulo::runtime
