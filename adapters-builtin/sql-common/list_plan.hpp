// The filter of a list call translated to SQL once: callers repeat the same
// few filters (the first page of a feed), so parsing the JSON and building
// the statement text every call is wasted work. The memo is process-wide
// (the translation depends on the filter text only), bounded, and keeps
// no filter with a "cursor" (every page has its own).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "sql-common/record.hpp"

namespace cumulo::sqlc {

struct ListPlan {
  std::string sql;            // the whole statement; "?" 1 is the tenant
  std::vector<Param> params;  // "?" 2, 3, … (the limit + 1 last)
  int64_t limit = 0;          // rows in a page
  bool reusable = true;       // false: not worth keeping (e.g. a cursor page)
};

class ListPlanCache {
 public:
  /// The plan of `filter`: the kept one, or build() (which validates and
  /// throws CM_INVALID like any filter parsing; nothing is kept then).
  template <class Build>
  std::shared_ptr<const ListPlan> get(std::string_view filter, Build&& build) {
    {
      std::lock_guard lk(mu_);
      if (auto it = plans_.find(filter); it != plans_.end()) return it->second;
    }
    auto plan = std::make_shared<const ListPlan>(build());
    if (plan->reusable && filter.size() <= kMaxFilterBytes) {
      std::lock_guard lk(mu_);
      if (plans_.size() < kMaxPlans) plans_.emplace(std::string(filter), plan);
    }
    return plan;
  }

 private:
  static constexpr size_t kMaxPlans = 128;
  static constexpr size_t kMaxFilterBytes = 1024;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const ListPlan>, Hash, std::equal_to<>> plans_;
};

/// Binds the tenant as parameter 1 and the plan's parameters after it.
template <class Stmt>
void bind_plan(Stmt& st, int64_t tn_id, const ListPlan& p) {
  st.bind(1, tn_id);
  int i = 2;
  for (const auto& v : p.params) {
    if (auto* n = std::get_if<int64_t>(&v))
      st.bind(i++, *n);
    else
      st.bind(i++, std::string_view(std::get<std::string>(v)));
  }
}

}  // namespace cumulo::sqlc
