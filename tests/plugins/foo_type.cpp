// foo-type: an action-type plugin for the federation tests (conformance
// scenario 27). It defines FOO in the DSL — accepted from anyone, with an
// on_receive hook that logs, sets a variable, stamps the stored row with it
// and raises one notification, so a test can see that the hook ran, and how
// many times. Loaded at run time into a node that did not know FOO.
#include <cumulo/sdk.hpp>

#include <string>
#include <string_view>

namespace {

using cumulo::sdk::ActionType;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

constexpr std::string_view kDefinitions = R"([{
  "type": "FOO",
  "version": "1.0",
  "description": "Test type: proves that a plugin type loaded at run time federates",
  "fields": {"content": "required", "parent": "forbidden", "attachments": "forbidden"},
  "schema": {"content": {"type": "string", "min_length": 1, "max_length": 1000}},
  "behavior": {"allow_unknown": true},
  "hooks": {
    "on_receive": [
      {"op": "log", "level": "info", "message": "FOO {action_id} from {issuer}"},
      {"op": "set", "var": "seen", "value": {"concat": ["foo:", "{issuer}"]}},
      {"op": "update_action", "target": "{action_id}", "set": {"x": {"fooSeen": "{seen}"}}},
      {"op": "create_notification", "user": "{context.tenant_tag}", "type": "foo", "action_id": "{action_id}"}
    ]
  },
  "permissions": {"can_create": "authenticated", "can_receive": "any", "requires_following": false, "requires_connected": false}
}])";

class FooType final : public ActionType {
 public:
  explicit FooType(std::string_view /*options_json*/) {}

  Status definitions(const Sink& out) override {
    return out.write(kDefinitions) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
  }

  Status run_hook(const Tenant& /*tn*/, std::string_view hook, std::string_view /*input_json*/, const Sink& /*out*/) override {
    return Status::NotFound("foo-type has no native hook " + std::string(hook));
  }
};

}  // namespace

CUMULO_PLUGIN("foo-type", "1.0.0", "Test: the FOO action type (federation scenario 27)", CM_KIND_ACTION_TYPE) {
  reg.add<FooType>("foo-type");
}
