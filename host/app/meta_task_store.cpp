#include "app/meta_task_store.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace cumulo::app {

using json = nlohmann::json;

plugins::MetaHandle MetaTaskStore::handle() const {
  auto h = meta_();
  if (!h || !h.has_tasks()) throw std::runtime_error("the default profile's meta adapter has no tasks part");
  return h;
}

int64_t MetaTaskStore::create(runtime::TaskRecord& rec) {
  json j = runtime::task_to_json(rec);
  j.erase("id");  // the adapter assigns ids
  auto out = json::parse(handle().create_task(j.dump()));
  rec.id = out.at("id").get<int64_t>();
  return rec.id;
}

void MetaTaskStore::update(const runtime::TaskRecord& rec) {
  json full = runtime::task_to_json(rec);
  json patch = json::object();
  for (const char* k : {"status", "nextAt", "attempt", "error", "output"})
    if (full.contains(k)) patch[k] = full[k];
  handle().update_task(rec.id, patch.dump());
}

std::optional<runtime::TaskRecord> MetaTaskStore::get(int64_t id) {
  auto s = handle().get_task(id);
  if (s.empty()) return std::nullopt;
  return runtime::task_from_json(json::parse(s));
}

std::vector<runtime::TaskRecord> MetaTaskStore::list_pending() {
  auto arr = json::parse(handle().list_pending_tasks());
  std::vector<runtime::TaskRecord> out;
  for (const auto& j : arr) out.push_back(runtime::task_from_json(j));
  return out;
}

void MetaTaskStore::remove(int64_t id) {
  try {
    handle().delete_task(id);
  } catch (const plugins::PluginError& e) {
    if (e.code() != CM_NOT_FOUND) throw;  // already gone is fine
  }
}

}  // namespace cumulo::app
