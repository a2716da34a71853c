// The scheduler's persistence through the meta adapter's tasks part
// (design.md §5): every state change goes through the SDK, so tasks survive
// kill -9 on whatever backend the default profile uses.
#pragma once

#include <functional>
#include <memory>

#include "plugins/adapters.hpp"
#include "runtime/task_store.hpp"

namespace cumulo::app {

class MetaTaskStore : public runtime::TaskStore {
 public:
  /// `meta` is re-read on every call so a rebind (plugin swap) is followed.
  explicit MetaTaskStore(std::function<plugins::MetaHandle()> meta) : meta_(std::move(meta)) {}

  int64_t create(runtime::TaskRecord& rec) override;
  void update(const runtime::TaskRecord& rec) override;
  std::optional<runtime::TaskRecord> get(int64_t id) override;
  std::vector<runtime::TaskRecord> list_pending() override;
  void remove(int64_t id) override;

 private:
  plugins::MetaHandle handle() const;
  std::function<plugins::MetaHandle()> meta_;
};

}  // namespace cumulo::app
