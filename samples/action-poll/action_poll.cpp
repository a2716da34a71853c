// action-poll: the POLL action type of spec/actions-federation.md §4.8 as a
// third-party `action-type` plugin. The type is data — poll.json, [impl]-form
// definitions of POLL and POLL:VOTE with DSL hooks, embedded at build time —
// plus one native hook, `tally` (poll_tally.hpp), for what the DSL cannot do:
// check the option against the number of options and count the votes. The
// plugin keeps no state, so it is trivially thread-safe. See README.md.
#include <cumulo/sdk.hpp>
#include <nlohmann/json.hpp>

#include "action_poll_definitions.hpp"
#include "poll_tally.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

#ifndef ACTION_POLL_VERSION
#define ACTION_POLL_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::ActionType;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

class ActionPoll final : public ActionType {
 public:
  explicit ActionPoll(std::string_view /*options_json: none*/) {}

  // The JSON array of poll.json, as is: the host validates it when it loads.
  Status definitions(const Sink& out) override { return emit(out, action_poll::kDefinitions); }

  // `hook` is the name after "native:" in the slot; the input is
  // {"hook","action","context","vars"} and the answer {"ops","status","stop",…}
  // (host/actions/dsl/dsl.hpp, Env::run_native).
  Status run_hook(const Tenant& /*tn*/, std::string_view hook, std::string_view input_json, const Sink& out) override {
    if (hook != "tally") return Status::NotFound("action-poll has no native hook named " + std::string(hook));
    const auto input = nlohmann::json::parse(input_json, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded()) return Status::Invalid("tally: the input is not JSON");
    try {
      return emit(out, action_poll::tally(input).dump());
    } catch (const std::invalid_argument& e) {
      return Status::Invalid(e.what());
    }
  }

 private:
  static Status emit(const Sink& out, std::string_view text) { return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away"); }
};

}  // namespace

CUMULO_PLUGIN("action-poll", ACTION_POLL_VERSION, "Sample: polls (POLL, POLL:VOTE) with a native vote tally", CM_KIND_ACTION_TYPE) {
  reg.add<ActionPoll>("action-poll");
}
