// Action types as the host sees them: the DSL definitions every loaded
// `action-type` plugin instance provides (design.md §3), validated when they
// load. A broken definition is refused with a logged reason and never hides
// the others; two plugins defining one type: the first keeps it. The
// registry follows plugin reloads (types added, replaced, removed at
// runtime) by rebuilding whenever the set of extension instances changes.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actions/dsl/dsl.hpp"
#include "plugins/adapters.hpp"

namespace cumulo::app {
class Backends;
struct Extensions;
}  // namespace cumulo::app

namespace cumulo::actions {

struct ActionType {
  dsl::Definition def;
  plugins::ActionTypeHandle plugin;  // keeps the defining library alive while in use
  std::string plugin_name;           // e.g. "actions-core"
};

class TypeRegistry {
 public:
  explicit TypeRegistry(app::Backends& backends);

  /// The definition for `type` ("REACT:LIKE"): the full string, then the
  /// base type; nullptr if no plugin defines it.
  std::shared_ptr<const ActionType> find(std::string_view type);

  struct Snapshot {
    std::map<std::string, std::shared_ptr<const ActionType>> types;
    std::map<std::string, std::string> errors;  // "<plugin>: <type or #index>" → reason
  };
  std::shared_ptr<const Snapshot> snapshot();

 private:
  app::Backends& backends_;
  std::mutex mu_;
  std::shared_ptr<const app::Extensions> seen_;  // extension set the snapshot was built from
  std::shared_ptr<const Snapshot> snap_;
};

}  // namespace cumulo::actions
