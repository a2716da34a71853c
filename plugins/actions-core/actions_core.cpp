// actions-core: the built-in Cloudillo action types (CONN, FLLW, POST, …) as
// an ordinary action-type plugin, written exactly as a third party would
// write one. Every type is data — an [impl]-form definition whose hooks are
// DSL operation lists (types/<TYPE>.json, embedded at build time) — so the
// plugin keeps no state, has no native hooks and is trivially thread-safe.
// See README.md for what each hook does and why.
#include <cumulo/sdk.hpp>

#include "actions_core_types.hpp"

#include <cstddef>
#include <string>
#include <string_view>

#ifndef ACTIONS_CORE_VERSION
#define ACTIONS_CORE_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::ActionType;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

/// The JSON array of all definitions, built once.
const std::string& definitions_json() {
  static const std::string json = [] {
    std::size_t size = 2;
    for (std::string_view def : cumulo::actions_core::kTypeDefinitions) size += def.size() + 1;
    std::string out;
    out.reserve(size);
    out += '[';
    bool first = true;
    for (std::string_view def : cumulo::actions_core::kTypeDefinitions) {
      if (!first) out += ',';
      first = false;
      out += def;
    }
    out += ']';
    return out;
  }();
  return json;
}

class ActionsCore final : public ActionType {
 public:
  explicit ActionsCore(std::string_view /*options_json: none*/) {}

  Status definitions(const Sink& out) override { return out.write(definitions_json()) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away"); }

  // Every hook is a DSL operation list; no slot names a native hook.
  Status run_hook(const Tenant& /*tn*/, std::string_view hook, std::string_view /*input_json*/, const Sink& /*out*/) override {
    return Status::NotFound("actions-core has no native hook named " + std::string(hook));
  }
};

}  // namespace

CUMULO_PLUGIN("actions-core", ACTIONS_CORE_VERSION, "Built-in Cloudillo action types (CONN, FLLW, POST, MSG, …)", CM_KIND_ACTION_TYPE) {
  reg.add<ActionsCore>("actions-core");
}
