// hello-action: the smallest action-type plugin — one DSL definition (HELLO)
// and one native hook that answers with a log operation. It keeps no state, so
// it is trivially thread-safe.
#include <cumulo/sdk.hpp>

#include <string>
#include <string_view>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::ActionType;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

class HelloAction final : public ActionType {
 public:
  explicit HelloAction(std::string_view /*options_json: none needed*/) {}

  Status definitions(const Sink& out) override {
    return emit(out, R"([{"type":"HELLO","version":"1.0","fields":{"content":"required"},"behavior":{"allow_unknown":true},
                          "hooks":{"on_receive":"native:greet"}}])");
  }

  Status run_hook(const Tenant& /*tn*/, std::string_view hook, std::string_view /*input_json*/, const Sink& out) override {
    // The host passes the name after "native:".
    if (hook != "greet") return Status::NotFound("hello-action has no hook named " + std::string(hook));
    return emit(out, R"({"ops":[{"op":"log","message":"hello"}]})");
  }

 private:
  static Status emit(const Sink& out, std::string_view text) {
    return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
  }
};

}  // namespace

CUMULO_PLUGIN("hello-action", HELLO_VERSION, "Sample: the HELLO action type", CM_KIND_ACTION_TYPE) {
  reg.add<HelloAction>("hello-action");
}
