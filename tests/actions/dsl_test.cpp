// The action-type DSL engine on its own: every expression operator, every
// operation, every limit and load-time rule. The world is a recording fake
// Env (the engine's own interface), so each test sees exactly which calls a
// hook made and with which evaluated arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>

#include "actions/dsl/dsl.hpp"
#include "error_of.hpp"

namespace {

using namespace cumulo::actions::dsl;
using namespace nlohmann::literals;
using ::testing::HasSubstr;

// ---- fixtures ------------------------------------------------------------------

ActionFields sample_action() {
  ActionFields a;
  a.action_id = "a1~self";
  a.type = "POLL";
  a.subtype = "OPEN";
  a.issuer = "alice.test";
  a.audience = "bob.test";
  a.parent = "a1~parent";
  a.content = R"({"question":"Tea?","options":["yes","no"],"n":3,"meta":{"lang":"en","none":null}})"_json;
  a.attachments = std::vector<std::string>{"f1~one", "f1~two"};
  a.created_at = 1700000000;
  a.flags = "RC";
  a.visibility = 'F';
  return a;
}

struct Fixture {
  ActionFields action = sample_action();
  Scope scope;
  Fixture() {
    scope.action = &action;
    scope.context = {{"tenant_id", 7}, {"tenant_tag", "alice.test"}, {"tenant_type", "person"}};
    scope.vars = {{"x", 5}, {"s", "str"}, {"nul", nullptr}, {"obj", {{"k", "v"}}}};
  }
  json eval(const json& e, const Limits& l = {}) { return evaluate(e, scope, l); }
};

json eval(const json& e) { return Fixture().eval(e); }

std::string eval_error(const json& e) {
  return error_of<HookError>([&] { eval(e); });
}

// Records every call as {"call": name, …args}; returns canned data.
class FakeEnv : public Env {
 public:
  std::vector<json> calls;
  json profiles = json::object();
  json actions = json::object();  // by "key:…" or "id:…"
  std::function<json(const std::string&, const json&)> native;
  std::string fail_in;                // method that throws
  std::string fail_kind = "runtime";  // runtime | validation | hook

  std::string create_action(const json& spec) override {
    record("create_action", {{"spec", spec}});
    return "a1~new" + std::to_string(calls.size());
  }
  json get_action(const json& selector) override {
    record("get_action", {{"selector", selector}});
    std::string k = selector.contains("key") ? "key:" + selector["key"].get<std::string>() : "id:" + selector["action_id"].get<std::string>();
    return actions.contains(k) ? actions[k] : json();
  }
  void update_action(const std::string& target, const json& set) override { record("update_action", {{"target", target}, {"set", set}}); }
  void delete_action(const std::string& target) override { record("delete_action", {{"target", target}}); }
  json get_profile(const std::string& id_tag) override {
    record("get_profile", {{"id_tag", id_tag}});
    return profiles.contains(id_tag) ? profiles[id_tag] : json();
  }
  void update_profile(const std::string& id_tag, const json& set) override { record("update_profile", {{"id_tag", id_tag}, {"set", set}}); }
  void broadcast_to_followers(const std::string& action_id) override { record("broadcast_to_followers", {{"action_id", action_id}}); }
  void send_to_audience(const std::string& action_id, const std::string& audience) override {
    record("send_to_audience", {{"action_id", action_id}, {"audience", audience}});
  }
  void create_notification(const std::string& user, const std::string& type, const std::string& action_id, const std::string& priority) override {
    record("create_notification", {{"user", user}, {"type", type}, {"action_id", action_id}, {"priority", priority}});
  }
  void log(const std::string& level, const std::string& message) override { record("log", {{"level", level}, {"message", message}}); }
  json run_native(const std::string& name, const json& input) override {
    record("run_native", {{"name", name}, {"input", input}});
    return native ? native(name, input) : json();
  }

 private:
  void record(const std::string& name, json args) {
    args["call"] = name;
    calls.push_back(args);
    if (fail_in != name) return;
    if (fail_kind == "validation") throw ValidationError("env says no");
    if (fail_kind == "hook") throw HookError("env hook error");
    throw std::runtime_error("boom");
  }
};

HookSlot slot(const json& ops) { return HookSlot{ops, std::nullopt}; }

struct Harness : Fixture {
  FakeEnv env;
  HookResult run(const json& ops, const Limits& l = {}) { return run_hook(slot(ops), "on_create", scope, env, l); }
  HookResult run_slot(const HookSlot& s, const Limits& l = {}) { return run_hook(s, "on_receive", scope, env, l); }
  std::string hook_error(const json& ops, const Limits& l = {}) {
    return error_of<HookError>([&] { run(ops, l); });
  }
};

json minimal(json extra = json::object()) {
  json d = {{"type", "POLL"}, {"version", "1.0"}};
  d.update(extra);
  return d;
}

std::string def_error(const json& d) {
  return error_of<DefinitionError>([&] { parse_definition(d); });
}
std::string op_error(const json& ops) { return def_error(minimal({{"hooks", {{"on_create", ops}}}})); }

// ---- expressions: literals, templates, paths --------------------------------

TEST(DslExpression, LiteralsEvaluateToThemselves) {
  EXPECT_EQ(eval(nullptr), json());
  EXPECT_EQ(eval(true), json(true));
  EXPECT_EQ(eval(42), json(42));
  EXPECT_EQ(eval(1.5), json(1.5));
  EXPECT_EQ(eval("plain text"), json("plain text"));
}

TEST(DslExpression, WholeStringTemplateKeepsType) {
  EXPECT_EQ(eval("{content.n}"), json(3));
  EXPECT_EQ(eval("{content.options}"), R"(["yes","no"])"_json);
  EXPECT_EQ(eval("{content.meta}"), R"({"lang":"en","none":null})"_json);
  EXPECT_EQ(eval("{is_inbound}"), json(false));
  EXPECT_EQ(eval("{x}"), json(5));
}

TEST(DslExpression, InterpolationStringifies) {
  EXPECT_EQ(eval("q={content.question} n={content.n} nul=[{nul}] o={content.options}"), json(R"(q=Tea? n=3 nul=[] o=["yes","no"])"));
  EXPECT_EQ(eval("{issuer}/{audience}"), json("alice.test/bob.test"));
}

TEST(DslExpression, BracesThatAreNotPathsAreLiteral) {
  EXPECT_EQ(eval("{}"), json("{}"));
  EXPECT_EQ(eval("{not a path}"), json("{not a path}"));
  EXPECT_EQ(eval("a { b"), json("a { b"));
  EXPECT_EQ(eval(R"({"json": true})"), json(R"({"json": true})"));
  EXPECT_EQ(eval("{{x}}"), json("{5}"));
}

TEST(DslExpression, ActionRoots) {
  EXPECT_EQ(eval("{action_id}"), json("a1~self"));
  EXPECT_EQ(eval("{type}"), json("POLL"));
  EXPECT_EQ(eval("{subtype}"), json("OPEN"));
  EXPECT_EQ(eval("{parent}"), json("a1~parent"));
  EXPECT_EQ(eval("{subject}"), json());
  EXPECT_EQ(eval("{attachments}"), R"(["f1~one","f1~two"])"_json);
  EXPECT_EQ(eval("{created_at}"), json(1700000000));
  EXPECT_EQ(eval("{expires_at}"), json());
  EXPECT_EQ(eval("{flags}"), json("RC"));
  EXPECT_EQ(eval("{visibility}"), json("F"));
}

TEST(DslExpression, ContextAndDirectionRoots) {
  Fixture f;
  EXPECT_EQ(f.eval("{context.tenant_tag}"), json("alice.test"));
  EXPECT_EQ(f.eval("{context.tenant_id}"), json(7));
  EXPECT_EQ(f.eval("{is_outbound}"), json(true));
  f.scope.inbound = true;
  EXPECT_EQ(f.eval("{is_inbound}"), json(true));
  EXPECT_EQ(f.eval("{is_outbound}"), json(false));
}

TEST(DslExpression, ScopeWithoutActionReadsNull) {
  Scope s;
  EXPECT_EQ(evaluate("{content.x}", s), json());
  EXPECT_EQ(evaluate("{issuer}", s), json());
}

TEST(DslExpression, VariablesAndUnknownVariable) {
  EXPECT_EQ(eval("{obj.k}"), json("v"));
  EXPECT_THAT(eval_error("{nope}"), HasSubstr("unknown variable \"nope\""));
  EXPECT_THAT(eval_error("x={nope.a}"), HasSubstr("unknown variable"));
  EXPECT_THROW(Scope().root("nope"), HookError);
}

TEST(DslExpression, TraversalIntoNullOrMissingIsNull) {
  EXPECT_EQ(eval("{nul.a.b}"), json());
  EXPECT_EQ(eval("{content.missing.deeper}"), json());
  EXPECT_EQ(eval("{content.meta.none.x}"), json());
}

TEST(DslExpression, TraversalIntoNonObjectFails) {
  EXPECT_THAT(eval_error("{content.question.length}"), HasSubstr("non-object"));
  EXPECT_THROW(eval("{content.options.0}"), HookError);
  EXPECT_THROW(eval("{x.y}"), HookError);
}

// ---- expressions: operators ---------------------------------------------------

TEST(DslOperators, EqNeUseJsonEqualityWithNumericNumbers) {
  EXPECT_EQ(eval(R"({"eq":[1, 1.0]})"_json), json(true));
  EXPECT_EQ(eval(R"({"eq":["{x}", 5]})"_json), json(true));
  EXPECT_EQ(eval(R"({"eq":["1", 1]})"_json), json(false));
  EXPECT_EQ(eval(R"({"eq":[null, "{nul}"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"eq":["{content.options}", ["yes","no"]]})"_json), json(true));
  EXPECT_EQ(eval(R"({"eq":[{"a":[1]}, {"a":[1.0]}]})"_json), json(true));
  EXPECT_EQ(eval(R"({"ne":["a", "b"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"ne":[2, 2.0]})"_json), json(false));
}

TEST(DslOperators, OrderingCoercesNumbers) {
  EXPECT_EQ(eval(R"({"gt":[2, 1]})"_json), json(true));
  EXPECT_EQ(eval(R"({"gt":[1, 1]})"_json), json(false));
  EXPECT_EQ(eval(R"({"gte":[1, 1.0]})"_json), json(true));
  EXPECT_EQ(eval(R"({"lt":["1.5", 2]})"_json), json(true));
  EXPECT_EQ(eval(R"({"lte":["{x}", "5"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"lt":["-3", "-2e0"]})"_json), json(true));
}

TEST(DslOperators, OrderingRejectsNonNumbers) {
  EXPECT_THAT(eval_error(R"({"gt":["abc", 1]})"_json), HasSubstr("gt: not a number: \"abc\""));
  EXPECT_THROW(eval(R"({"lt":[true, 1]})"_json), HookError);
  EXPECT_THROW(eval(R"({"gte":[null, 1]})"_json), HookError);
  EXPECT_THROW(eval(R"({"lte":["", 1]})"_json), HookError);
  EXPECT_THROW(eval(R"({"lt":["12abc", 1]})"_json), HookError);
  EXPECT_THROW(eval(R"({"lt":[[1], 1]})"_json), HookError);
}

TEST(DslOperators, AndOrShortCircuitAndReturnBool) {
  EXPECT_EQ(eval(R"({"and":[1, "x"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"and":[1, 0]})"_json), json(false));
  EXPECT_EQ(eval(R"({"and":[]})"_json), json(true));
  EXPECT_EQ(eval(R"({"or":[0, "", "y"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"or":[]})"_json), json(false));
  // The unknown variable is never evaluated.
  EXPECT_EQ(eval(R"({"and":[false, "{nope}"]})"_json), json(false));
  EXPECT_EQ(eval(R"({"or":[true, "{nope}"]})"_json), json(true));
  EXPECT_THROW(eval(R"({"and":[true, "{nope}"]})"_json), HookError);
}

TEST(DslOperators, NotTakesOneOperand) {
  EXPECT_EQ(eval(R"({"not": true})"_json), json(false));
  EXPECT_EQ(eval(R"({"not": ["{nul}"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"not": {"eq":[1,2]}})"_json), json(true));
  EXPECT_THAT(eval_error(R"({"not": [1, 2]})"_json), HasSubstr("not expects one operand"));
}

TEST(DslOperators, AddAndMultiplyAreNary) {
  EXPECT_EQ(eval(R"({"add":[1, 2, "{x}"]})"_json), json(8));
  EXPECT_TRUE(eval(R"({"add":[1, 2]})"_json).is_number_integer());
  EXPECT_EQ(eval(R"({"add":[0.5, 0.25]})"_json), json(0.75));
  EXPECT_EQ(eval(R"({"add":["2", 3]})"_json), json(5));
  EXPECT_EQ(eval(R"({"add":[]})"_json), json(0));
  EXPECT_EQ(eval(R"({"multiply":[2, 3, 4]})"_json), json(24));
  EXPECT_EQ(eval(R"({"multiply":[2, 0.5]})"_json), json(1));
  EXPECT_THROW(eval(R"({"add":[1, "one"]})"_json), HookError);
}

TEST(DslOperators, SubtractAndDivideAreBinary) {
  EXPECT_EQ(eval(R"({"subtract":[10, 4]})"_json), json(6));
  EXPECT_EQ(eval(R"({"subtract":[1, 1.5]})"_json), json(-0.5));
  EXPECT_EQ(eval(R"({"divide":[10, 4]})"_json), json(2.5));
  EXPECT_EQ(eval(R"({"divide":[9, "3"]})"_json), json(3));
  EXPECT_THAT(eval_error(R"({"subtract":[1, 2, 3]})"_json), HasSubstr("2 operands"));
  EXPECT_THROW(eval(R"({"divide":[1]})"_json), HookError);
}

TEST(DslOperators, DivideByZeroFails) {
  EXPECT_THAT(eval_error(R"({"divide":[1, 0]})"_json), HasSubstr("division by zero"));
  EXPECT_THROW(eval(R"({"divide":[0, 0.0]})"_json), HookError);
}

TEST(DslOperators, NonFiniteResultsFail) {
  EXPECT_THAT(eval_error(R"({"multiply":[1e308, 10]})"_json), HasSubstr("not a finite number"));
  EXPECT_THROW(eval(R"({"add":[1e308, 1e308]})"_json), HookError);
  EXPECT_THROW(eval(R"({"subtract":[-1e308, 1e308]})"_json), HookError);
  // NaN and infinity never enter as strings either.
  EXPECT_THROW(eval(R"({"add":["nan", 1]})"_json), HookError);
  EXPECT_THROW(eval(R"({"gt":["inf", 1]})"_json), HookError);
}

TEST(DslOperators, ConcatStringifies) {
  EXPECT_EQ(eval(R"({"concat":["a", 1, null, true, [1], "{content.question}"]})"_json), json("a1true[1]Tea?"));
  EXPECT_EQ(eval(R"({"concat":[]})"_json), json(""));
  EXPECT_THROW(eval(R"({"concat":"a"})"_json), HookError);
}

TEST(DslOperators, ContainsOnStringsAndArrays) {
  EXPECT_EQ(eval(R"({"contains":["hello world", "lo w"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"contains":["hello", "x"]})"_json), json(false));
  EXPECT_EQ(eval(R"({"contains":["{content.options}", "no"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"contains":[[1, 2], 2.0]})"_json), json(true));
  EXPECT_EQ(eval(R"({"contains":[[1, 2], "2"]})"_json), json(false));
  EXPECT_EQ(eval(R"({"contains":["{nul}", "a"]})"_json), json(false));
  EXPECT_EQ(eval(R"({"contains":["a5", "{x}"]})"_json), json(true));
  EXPECT_THAT(eval_error(R"({"contains":[{"a":1}, "a"]})"_json), HasSubstr("contains"));
}

TEST(DslOperators, StartsWithEndsWith) {
  EXPECT_EQ(eval(R"({"startswith":["{issuer}", "alice"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"startswith":["alice", "bob"]})"_json), json(false));
  EXPECT_EQ(eval(R"({"endswith":["{issuer}", ".test"]})"_json), json(true));
  EXPECT_EQ(eval(R"({"endswith":["abc", "b"]})"_json), json(false));
  EXPECT_EQ(eval(R"({"endswith":[null, "b"]})"_json), json(false));
  EXPECT_THROW(eval(R"({"startswith":[12, "1"]})"_json), HookError);
  EXPECT_THROW(eval(R"({"endswith":[["a"], "a"]})"_json), HookError);
}

TEST(DslOperators, IfThenElseIsLazy) {
  EXPECT_EQ(eval(R"({"if": {"gt":["{x}", 1]}, "then": "big", "else": "{nope}"})"_json), json("big"));
  EXPECT_EQ(eval(R"({"if": 0, "then": "{nope}", "else": "small"})"_json), json("small"));
  EXPECT_EQ(eval(R"({"if": false, "then": 1})"_json), json());
  EXPECT_THAT(eval_error(R"({"if": true})"_json), HasSubstr("if without then"));
}

TEST(DslOperators, CoalesceReturnsFirstNonNull) {
  EXPECT_EQ(eval(R"({"coalesce":["{nul}", "{content.missing}", 0, "{nope}"]})"_json), json(0));
  EXPECT_EQ(eval(R"({"coalesce":[null, "{nul}"]})"_json), json());
  EXPECT_EQ(eval(R"({"coalesce":[]})"_json), json());
}

TEST(DslOperators, LiteralContainersEvaluateElementWise) {
  EXPECT_EQ(eval(R"(["{x}", {"add":[1,1]}, "s"])"_json), R"([5, 2, "s"])"_json);
  EXPECT_EQ(eval(R"({"a": "{x}", "b": {"c": "{s}"}})"_json), R"({"a":5,"b":{"c":"str"}})"_json);
  // Several keys, or one unknown key: a literal object, not an operator.
  EXPECT_EQ(eval(R"({"eq": [1, 1], "other": 2})"_json), R"({"eq":[1,1],"other":2})"_json);
  EXPECT_EQ(eval(R"({"frobnicate": "{x}"})"_json), R"({"frobnicate":5})"_json);
  EXPECT_EQ(eval(R"({"if": 1, "then": 2, "extra": 3})"_json), R"({"if":1,"then":2,"extra":3})"_json);
}

TEST(DslOperators, OperandShapesAreChecked) {
  EXPECT_THROW(eval(R"({"eq": 1})"_json), HookError);
  EXPECT_THROW(eval(R"({"eq": [1]})"_json), HookError);
  EXPECT_THROW(eval(R"({"and": true})"_json), HookError);
  EXPECT_THROW(eval(R"({"coalesce": "x"})"_json), HookError);
  EXPECT_THROW(eval(R"({"contains": ["a"]})"_json), HookError);
}

TEST(DslOperators, Truthiness) {
  for (const json& f : {json(), json(false), json(0), json(0.0), json(""), json::array(), json::object()}) EXPECT_FALSE(truthy(f)) << f;
  for (const json& t : {json(true), json(1), json(-0.5), json("0"), R"([0])"_json, R"({"a":null})"_json}) EXPECT_TRUE(truthy(t)) << t;
}

// ---- expressions: limits and the structural check --------------------------------

json nested_not(int depth) {
  json e = true;
  for (int i = 1; i < depth; ++i) e = json{{"not", e}};
  return e;
}

TEST(DslLimits, ExpressionDepth) {
  EXPECT_NO_THROW(eval(nested_not(50)));
  EXPECT_THAT(eval_error(nested_not(51)), HasSubstr("expression too deep"));
  Limits l;
  l.max_depth = 3;
  EXPECT_THROW(Fixture().eval(R"([[[1]]])"_json, l), HookError);
  EXPECT_NO_THROW(Fixture().eval(R"([[1]])"_json, l));
}

TEST(DslLimits, ExpressionNodes) {
  json ok = json::array(), big = json::array();
  for (int i = 0; i < 99; ++i) ok.push_back(i);  // 1 array node + 99
  for (int i = 0; i < 100; ++i) big.push_back(i);
  EXPECT_NO_THROW(eval(ok));
  EXPECT_THAT(eval_error(big), HasSubstr("too many nodes"));
  // Each top-level expression gets a fresh budget.
  Fixture f;
  EXPECT_NO_THROW(f.eval(ok));
  EXPECT_NO_THROW(f.eval(ok));
}

TEST(DslLimits, CheckExpressionReportsPath) {
  EXPECT_NO_THROW(check_expression(R"({"if": {"eq": ["{a}", 1]}, "then": {"concat": ["x", "{b}"]}})"_json, "T: w"));
  EXPECT_EQ(error_of<DefinitionError>([] { check_expression(R"({"and": [true, {"eq": [1]}]})"_json, "T: hooks.on_create[0].condition"); }),
            "T: hooks.on_create[0].condition.and[1]: eq expects an array of 2 operands");
  EXPECT_THAT(error_of<DefinitionError>([] { check_expression(nested_not(51), "T: w"); }), HasSubstr("expression too deep"));
  json big = json::array();
  for (int i = 0; i < 100; ++i) big.push_back(i);
  EXPECT_THAT(error_of<DefinitionError>([&] { check_expression(big, "T: w"); }), HasSubstr("too many nodes"));
  // Unknown variables are a runtime matter: variables are assigned by operations.
  EXPECT_NO_THROW(check_expression("{whatever.x}", "T: w"));
}

TEST(DslLimits, CheckExpressionVisitsBothBranches) {
  EXPECT_THROW(check_expression(R"({"if": true, "then": 1, "else": {"divide": [1]}})"_json, "T: w"), DefinitionError);
  EXPECT_THROW(check_expression(R"({"coalesce": [1, {"not": [1, 2]}]})"_json, "T: w"), DefinitionError);
}

// ---- operations -------------------------------------------------------------------

TEST(DslOps, UpdateProfile) {
  Harness r;
  r.run(R"([{"op":"update_profile","target":"{issuer}","set":{"following":true,"name":"{content.question}"}}])"_json);
  ASSERT_EQ(r.env.calls.size(), 1u);
  EXPECT_EQ(r.env.calls[0], R"({"call":"update_profile","id_tag":"alice.test","set":{"following":true,"name":"Tea?"}})"_json);
}

TEST(DslOps, GetProfileStoresVariable) {
  Harness r;
  r.env.profiles["bob.test"] = {{"id_tag", "bob.test"}, {"connected", true}};
  auto res = r.run(R"([{"op":"get_profile","target":"{audience}","as":"p"},{"op":"get_profile","target":"nobody","as":"q"},
                       {"op":"set","var":"c","value":"{p.connected}"}])"_json);
  EXPECT_EQ(res.vars["p"]["id_tag"], "bob.test");
  EXPECT_TRUE(res.vars["q"].is_null());
  EXPECT_EQ(res.vars["c"], true);
}

TEST(DslOps, CreateActionPassesEvaluatedSpec) {
  Harness r;
  auto res = r.run(R"([{"op":"create_action","type":"STAT","parent":"{action_id}","audience":"{subject}",
                        "content":{"votes":{"add":["{x}",1]}},"attachments":["f1~a"],"visibility":"P","flags":"r","as":"stat"}])"_json);
  ASSERT_EQ(r.env.calls.size(), 1u);
  // audience evaluated to null and is dropped: absent and null are the same.
  EXPECT_EQ(r.env.calls[0]["spec"], R"({"type":"STAT","parent":"a1~self","content":{"votes":6},"attachments":["f1~a"],"visibility":"P","flags":"r"})"_json);
  EXPECT_EQ(res.vars["stat"], "a1~new1");
}

TEST(DslOps, CreateActionSplitsTypeAndSubtype) {
  Harness r;
  r.run(R"([{"op":"create_action","type":"REACT:LIKE","subject":"{action_id}"},{"op":"create_action","type":"A:B","subtype":"C"}])"_json);
  EXPECT_EQ(r.env.calls[0]["spec"], R"({"type":"REACT","subtype":"LIKE","subject":"a1~self"})"_json);
  EXPECT_EQ(r.env.calls[1]["spec"], R"({"type":"A:B","subtype":"C"})"_json);
}

TEST(DslOps, CreateActionTypeErrors) {
  Harness r;
  EXPECT_THAT(r.hook_error(R"([{"op":"create_action","type":"{nul}"}])"_json), HasSubstr("type must be a non-empty string"));
  EXPECT_THAT(r.hook_error(R"([{"op":"create_action","type":"X","attachments":[1]}])"_json), HasSubstr("attachments"));
  EXPECT_THAT(r.hook_error(R"([{"op":"create_action","type":"X","audience":5}])"_json), HasSubstr("audience must be a string"));
  EXPECT_TRUE(r.env.calls.empty());
}

TEST(DslOps, GetActionByKeyAndById) {
  Harness r;
  r.env.actions["key:STAT:a1~self"] = {{"action_id", "a1~stat"}};
  r.env.actions["id:a1~parent"] = {{"action_id", "a1~parent"}, {"type", "POST"}};
  auto res = r.run(R"([{"op":"get_action","key":"STAT:{action_id}","as":"st"},{"op":"get_action","action_id":"{parent}","as":"par"},
                       {"op":"get_action","action_id":"a1~none","as":"none"}])"_json);
  EXPECT_EQ(r.env.calls[0]["selector"], R"({"key":"STAT:a1~self"})"_json);
  EXPECT_EQ(r.env.calls[1]["selector"], R"({"action_id":"a1~parent"})"_json);
  EXPECT_EQ(res.vars["st"]["action_id"], "a1~stat");
  EXPECT_EQ(res.vars["par"]["type"], "POST");
  EXPECT_TRUE(res.vars["none"].is_null());
}

TEST(DslOps, UpdateActionFieldsAndWrappers) {
  Harness r;
  auto res = r.run(R"([{"op":"update_action","target":"{parent}","set":{"status":"confirmation","comments":{"set":{"add":["{x}",1]}},
                        "comments_ts":"{created_at}","reactions":"L3","subject":null,"x":{"role":"admin"}}}])"_json);
  EXPECT_EQ(
      r.env.calls[0],
      R"({"call":"update_action","target":"a1~parent","set":{"status":"C","comments":6,"comments_ts":1700000000,"reactions":"L3","subject":null,"x":{"role":"admin"}}})"_json);
  // Another action's status is not this hook's resting status.
  EXPECT_FALSE(res.status.has_value());
}

TEST(DslOps, UpdateActionOnSelfSetsResultStatus) {
  Harness r;
  for (auto [given, letter] :
       std::vector<std::pair<std::string, char>>{{"A", 'A'}, {"active", 'A'}, {"notification", 'N'}, {"deleted", 'D'}, {"pending", 'P'}, {"C", 'C'}}) {
    auto res = r.run(json::array({{{"op", "update_action"}, {"target", "{action_id}"}, {"set", {{"status", given}}}}}));
    ASSERT_TRUE(res.status) << given;
    EXPECT_EQ(*res.status, letter) << given;
    EXPECT_EQ(r.env.calls.back()["set"]["status"], std::string(1, letter));
  }
  EXPECT_THAT(r.hook_error(R"([{"op":"update_action","target":"x","set":{"status":"{s}"}}])"_json), HasSubstr("unknown status"));
}

TEST(DslOps, UpdateActionRejectsIncrementsAndBadTypes) {
  Harness r;
  EXPECT_THAT(r.hook_error(R"([{"op":"update_action","target":"x","set":{"comments":{"increment":1}}}])"_json),
              HasSubstr("increment is not supported for field \"comments\""));
  EXPECT_THAT(r.hook_error(R"([{"op":"update_action","target":"x","set":{"comments":{"decrement":1}}}])"_json), HasSubstr("decrement"));
  EXPECT_THAT(r.hook_error(R"([{"op":"update_action","target":"x","set":{"comments":"many"}}])"_json), HasSubstr("comments must be an integer"));
  EXPECT_THAT(r.hook_error(R"([{"op":"update_action","target":"x","set":{"comments":-1}}])"_json), HasSubstr("negative"));
  EXPECT_THAT(r.hook_error(R"([{"op":"update_action","target":"x","set":{"x":"str"}}])"_json), HasSubstr("x must be an object"));
  EXPECT_TRUE(r.env.calls.empty());
}

TEST(DslOps, DeleteAction) {
  Harness r;
  r.run(R"([{"op":"delete_action","target":"{parent}"}])"_json);
  EXPECT_EQ(r.env.calls[0], R"({"call":"delete_action","target":"a1~parent"})"_json);
  EXPECT_THAT(r.hook_error(R"([{"op":"delete_action","target":"{subject}"}])"_json), HasSubstr("target must be a non-empty string"));
}

TEST(DslOps, IfRunsOneBranch) {
  Harness r;
  auto res = r.run(R"([{"op":"if","condition":{"gt":["{x}",3]},"then":[{"op":"set","var":"r","value":"then"}],"else":[{"op":"set","var":"r","value":"else"}]},
                       {"op":"if","condition":"{nul}","then":[{"op":"set","var":"t","value":1}]}])"_json);
  EXPECT_EQ(res.vars["r"], "then");
  EXPECT_FALSE(res.vars.contains("t"));
  res = r.run(R"([{"op":"if","condition":false,"then":[],"else":[{"op":"set","var":"r","value":"else"}]}])"_json);
  EXPECT_EQ(res.vars["r"], "else");
}

TEST(DslOps, SwitchMatchesStringifiedValue) {
  Harness r;
  json ops = R"([{"op":"switch","value":"{x}","cases":{"5":[{"op":"set","var":"r","value":"five"}],"6":[{"op":"set","var":"r","value":"six"}]},
                  "default":[{"op":"set","var":"r","value":"other"}]}])"_json;
  EXPECT_EQ(r.run(ops).vars["r"], "five");
  r.scope.vars["x"] = 7;
  EXPECT_EQ(r.run(ops).vars["r"], "other");
  r.scope.vars.erase("r");
  auto res = r.run(R"([{"op":"switch","value":"{subtype}","cases":{"CLOSED":[{"op":"set","var":"r","value":1}]}}])"_json);
  EXPECT_FALSE(res.vars.contains("r"));
}

TEST(DslOps, ForeachDefaultsToItemAndRestoresIt) {
  Harness r;
  auto res = r.run(R"([{"op":"set","var":"acc","value":""},
                       {"op":"foreach","array":"{content.options}","do":[{"op":"set","var":"acc","value":"{acc}{item},"}]}])"_json);
  EXPECT_EQ(res.vars["acc"], "yes,no,");
  EXPECT_FALSE(res.vars.contains("item"));
  res = r.run(R"([{"op":"set","var":"o","value":"outer"},{"op":"foreach","array":[1,2],"as":"o","do":[{"op":"log","message":"{o}"}]}])"_json);
  EXPECT_EQ(res.vars["o"], "outer");
  EXPECT_EQ(r.env.calls.back()["message"], "2");
}

TEST(DslOps, ForeachOverNullAndNonArray) {
  Harness r;
  EXPECT_NO_THROW(r.run(R"([{"op":"foreach","array":"{content.missing}","do":[{"op":"log","message":"x"}]}])"_json));
  EXPECT_TRUE(r.env.calls.empty());
  EXPECT_THAT(r.hook_error(R"([{"op":"foreach","array":"{content.question}","do":[]}])"_json), HasSubstr("foreach: array must be an array"));
}

TEST(DslOps, ReturnEndsRunWithValue) {
  Harness r;
  auto res = r.run(R"([{"op":"return","value":{"ok":"{x}"}},{"op":"log","message":"never"}])"_json);
  ASSERT_TRUE(res.return_value);
  EXPECT_EQ(*res.return_value, R"({"ok":5})"_json);
  EXPECT_TRUE(r.env.calls.empty());
  EXPECT_TRUE(res.continue_processing);
  res = r.run(R"([{"op":"return"}])"_json);
  EXPECT_FALSE(res.return_value);
}

TEST(DslOps, ReturnInsideNestedListsEndsEverything) {
  Harness r;
  auto res = r.run(R"([{"op":"foreach","array":[1,2,3],"do":[{"op":"log","message":"{item}"},
                         {"op":"if","condition":{"eq":["{item}",2]},"then":[{"op":"return","value":"{item}"}]}]},
                       {"op":"log","message":"after"}])"_json);
  EXPECT_EQ(r.env.calls.size(), 2u);
  EXPECT_EQ(*res.return_value, json(2));
}

TEST(DslOps, SetAndGet) {
  Harness r;
  auto res = r.run(R"([{"op":"set","var":"lit","value":"content.question"},{"op":"get","var":"q","from":"content.question"},
                       {"op":"get","var":"e","from":{"concat":["{s}","!"]}},{"op":"get","var":"m","from":"content.missing"}])"_json);
  EXPECT_EQ(res.vars["lit"], "content.question");
  EXPECT_EQ(res.vars["q"], "Tea?");
  EXPECT_EQ(res.vars["e"], "str!");
  EXPECT_TRUE(res.vars["m"].is_null());
  EXPECT_THAT(r.hook_error(R"([{"op":"get","var":"z","from":"nope.a"}])"_json), HasSubstr("unknown variable"));
}

TEST(DslOps, MergeIsShallow) {
  Harness r;
  auto res = r.run(R"([{"op":"merge","objects":[{"a":1,"b":{"x":1}},"{nul}","{obj}",{"b":{"y":2}}],"as":"m"}])"_json);
  EXPECT_EQ(res.vars["m"], R"({"a":1,"b":{"y":2},"k":"v"})"_json);
  EXPECT_THAT(r.hook_error(R"([{"op":"merge","objects":["{x}"],"as":"m"}])"_json), HasSubstr("merge: not an object"));
}

TEST(DslOps, BroadcastToFollowers) {
  Harness r;
  r.run(R"([{"op":"broadcast_to_followers","action_id":"{action_id}","token":"ignored"}])"_json);
  EXPECT_EQ(r.env.calls[0], R"({"call":"broadcast_to_followers","action_id":"a1~self"})"_json);
}

TEST(DslOps, SendToAudience) {
  Harness r;
  r.run(R"([{"op":"send_to_audience","action_id":"{action_id}","audience":"{audience}"}])"_json);
  EXPECT_EQ(r.env.calls[0], R"({"call":"send_to_audience","action_id":"a1~self","audience":"bob.test"})"_json);
  EXPECT_THAT(r.hook_error(R"([{"op":"send_to_audience","action_id":"{action_id}","audience":"{subject}"}])"_json), HasSubstr("audience"));
}

TEST(DslOps, CreateNotification) {
  Harness r;
  r.run(R"([{"op":"create_notification","user":"{context.tenant_tag}","type":"poll","action_id":"{action_id}"},
            {"op":"create_notification","user":"u","type":"t","action_id":"a","priority":"high"}])"_json);
  EXPECT_EQ(r.env.calls[0], R"({"call":"create_notification","user":"alice.test","type":"poll","action_id":"a1~self","priority":"normal"})"_json);
  EXPECT_EQ(r.env.calls[1]["priority"], "high");
}

TEST(DslOps, Log) {
  Harness r;
  r.run(R"([{"op":"log","message":"got {content.n} from {issuer}"},{"op":"log","level":"warn","message":{"add":[1,2]}}])"_json);
  EXPECT_EQ(r.env.calls[0], R"({"call":"log","level":"info","message":"got 3 from alice.test"})"_json);
  EXPECT_EQ(r.env.calls[1], R"({"call":"log","level":"warn","message":"3"})"_json);
}

TEST(DslOps, AbortThrowsValidationError) {
  Harness r;
  auto msg =
      error_of<ValidationError>([&] { r.run(R"([{"op":"abort","error":"too many options: {content.n}","code":"E-POLL"},{"op":"log","message":"x"}])"_json); });
  EXPECT_EQ(msg, "too many options: 3");
  EXPECT_TRUE(r.env.calls.empty());
}

TEST(DslOps, StatusSetsResultStatus) {
  Harness r;
  auto res = r.run(R"([{"op":"status","value":"C"}])"_json);
  EXPECT_EQ(res.status, 'C');
  res = r.run(R"([{"op":"status","value":{"if":"{is_inbound}","then":"N","else":"deleted"}}])"_json);
  EXPECT_EQ(res.status, 'D');
  EXPECT_THAT(r.hook_error(R"([{"op":"status","value":"{s}"}])"_json), HasSubstr("status: unknown status"));
  // P is not a resting status.
  r.scope.vars["s"] = "P";
  EXPECT_THROW(r.run(R"([{"op":"status","value":"{s}"}])"_json), HookError);
}

TEST(DslOps, StopEndsRunAndSkipsProcessing) {
  Harness r;
  auto res = r.run(R"([{"op":"log","message":"a"},{"op":"stop"},{"op":"log","message":"b"}])"_json);
  EXPECT_FALSE(res.continue_processing);
  EXPECT_EQ(r.env.calls.size(), 1u);
  EXPECT_FALSE(res.return_value);
}

TEST(DslOps, DefaultResult) {
  Harness r;
  auto res = r.run(json::array());
  EXPECT_TRUE(res.continue_processing);
  EXPECT_FALSE(res.status);
  EXPECT_FALSE(res.return_value);
  EXPECT_EQ(res.vars, r.scope.vars);
  EXPECT_NO_THROW(run_hook(HookSlot{}, "on_accept", r.scope, r.env));
}

TEST(DslOps, EnvExceptionsAreWrapped) {
  Harness r;
  r.env.fail_in = "get_profile";
  EXPECT_EQ(r.hook_error(R"([{"op":"get_profile","target":"bob","as":"p"}])"_json), "get_profile: boom");
  r.env.fail_in = "create_action";
  EXPECT_EQ(r.hook_error(R"([{"op":"create_action","type":"X"}])"_json), "create_action: boom");
  r.env.fail_kind = "validation";
  EXPECT_EQ(error_of<ValidationError>([&] { r.run(R"([{"op":"create_action","type":"X"}])"_json); }), "env says no");
  r.env.fail_kind = "hook";
  EXPECT_EQ(r.hook_error(R"([{"op":"create_action","type":"X"}])"_json), "env hook error");
}

TEST(DslOps, MalformedSlotIsRejectedAtRunTime) {
  Harness r;
  EXPECT_THAT(r.hook_error(R"([{"op":"frobnicate"}])"_json), HasSubstr("unknown operation"));
  EXPECT_THAT(r.hook_error(R"([{"op":"set","var":"x"}])"_json), HasSubstr("on_create[0].value: required field missing"));
}

// ---- operation limits ------------------------------------------------------------------

json logs(int n) {
  json ops = json::array();
  for (int i = 0; i < n; ++i) ops.push_back({{"op", "log"}, {"message", "m"}});
  return ops;
}

TEST(DslLimits, HundredOperationsAllowed) {
  Harness r;
  EXPECT_NO_THROW(r.run(logs(100)));
  EXPECT_EQ(r.env.calls.size(), 100u);
}

TEST(DslLimits, HundredAndFirstOperationFails) {
  Harness r;
  EXPECT_EQ(r.hook_error(logs(101)), "operation limit (100) exceeded");
  EXPECT_EQ(r.env.calls.size(), 100u);
}

TEST(DslLimits, NestedOperationsCount) {
  Harness r;
  json items = json::array();
  for (int i = 0; i < 50; ++i) items.push_back(i);
  // foreach itself (1) + 50 × (if + log) = 101.
  json ops = json::array({{{"op", "foreach"}, {"array", items}, {"do", R"([{"op":"if","condition":true,"then":[{"op":"log","message":"{item}"}]}])"_json}}});
  EXPECT_EQ(r.hook_error(ops), "operation limit (100) exceeded");
  EXPECT_EQ(r.env.calls.size(), 49u);
  items.erase(items.size() - 1);  // 1 + 49 × 2 = 99
  ops[0]["array"] = items;
  r.env.calls.clear();
  EXPECT_NO_THROW(r.run(ops));
}

TEST(DslLimits, CustomOperationLimit) {
  Harness r;
  Limits l;
  l.max_operations = 3;
  EXPECT_NO_THROW(r.run(logs(3), l));
  EXPECT_EQ(r.hook_error(logs(4), l), "operation limit (3) exceeded");
}

TEST(DslLimits, ForeachItemLimit) {
  Harness r;
  json hundred = json::array(), more = json::array();
  for (int i = 0; i < 100; ++i) hundred.push_back(i);
  more = hundred;
  more.push_back(100);
  // Through a variable: a 100-element literal would exceed the node limit.
  r.scope.vars["hundred"] = hundred;
  r.scope.vars["more"] = more;
  Limits l;
  l.max_operations = 1000;
  EXPECT_NO_THROW(r.run(R"([{"op":"foreach","array":"{hundred}","do":[{"op":"log","message":"{item}"}]}])"_json, l));
  EXPECT_EQ(r.env.calls.size(), 100u);
  EXPECT_THAT(r.hook_error(R"([{"op":"foreach","array":"{more}","do":[]}])"_json, l), HasSubstr("101 items exceed the limit (100)"));
  l.max_foreach = 2;
  EXPECT_THROW(r.run(R"([{"op":"foreach","array":[1,2,3],"do":[]}])"_json, l), HookError);
}

TEST(DslLimits, TimeLimitIsCheckedBeforeEachOperation) {
  Harness r;
  Limits l;
  l.max_time = std::chrono::milliseconds(0);
  EXPECT_EQ(r.hook_error(logs(50), l), "time limit exceeded");
  EXPECT_TRUE(r.env.calls.empty());
  // Native hooks are subject to the same clock.
  HookSlot s{std::nullopt, std::string("poll")};
  EXPECT_EQ(error_of<HookError>([&] { r.run_slot(s, l); }), "time limit exceeded");
  EXPECT_TRUE(r.env.calls.empty());
}

TEST(DslLimits, ExpressionLimitsApplyInsideOperations) {
  Harness r;
  json big = json::array();
  for (int i = 0; i < 100; ++i) big.push_back(i);
  EXPECT_THAT(r.hook_error(json::array({{{"op", "set"}, {"var", "v"}, {"value", big}}})), HasSubstr("too many nodes"));
}

// ---- native hooks ---------------------------------------------------------------------

TEST(DslNative, ReceivesInputAndAppliesResult) {
  Harness r;
  r.env.native = [](const std::string&, const json& in) {
    EXPECT_EQ(in["vars"]["dsl"], "first");
    return json{{"vars", {{"from_native", in["action"]["content"]["n"]}}},
                {"ops", R"([{"op":"log","message":"native op {from_native}"}])"_json},
                {"status", "C"},
                {"return", {{"r", 1}}},
                {"stop", true}};
  };
  HookSlot s{R"([{"op":"set","var":"dsl","value":"first"}])"_json, std::string("poll_receive")};
  auto res = r.run_slot(s);
  ASSERT_EQ(r.env.calls.size(), 2u);
  const json& in = r.env.calls[0]["input"];
  EXPECT_EQ(r.env.calls[0]["name"], "poll_receive");
  EXPECT_EQ(in["hook"], "on_receive");
  EXPECT_EQ(in["action"]["action_id"], "a1~self");
  EXPECT_EQ(in["context"]["tenant_tag"], "alice.test");
  EXPECT_EQ(r.env.calls[1]["message"], "native op 3");
  EXPECT_EQ(res.vars["from_native"], 3);
  EXPECT_EQ(res.status, 'C');
  EXPECT_EQ(*res.return_value, R"({"r":1})"_json);
  EXPECT_FALSE(res.continue_processing);
}

TEST(DslNative, NullResultChangesNothing) {
  Harness r;
  auto res = r.run_slot(HookSlot{std::nullopt, std::string("n")});
  EXPECT_TRUE(res.continue_processing);
  EXPECT_FALSE(res.status);
  EXPECT_EQ(r.env.calls.size(), 1u);
}

TEST(DslNative, OpsShareTheOperationBudget) {
  Harness r;
  r.env.native = [](const std::string&, const json&) { return json{{"ops", logs(2)}}; };
  EXPECT_NO_THROW(r.run_slot(HookSlot{logs(98), std::string("n")}));
  EXPECT_EQ(error_of<HookError>([&] { r.run_slot(HookSlot{logs(99), std::string("n")}); }), "operation limit (100) exceeded");
}

TEST(DslNative, SkippedAfterReturnOrStop) {
  Harness r;
  r.run_slot(HookSlot{R"([{"op":"return"}])"_json, std::string("n")});
  r.run_slot(HookSlot{R"([{"op":"stop"}])"_json, std::string("n")});
  EXPECT_TRUE(r.env.calls.empty());
}

TEST(DslNative, BadResultsAreHookErrors) {
  Harness r;
  HookSlot s{std::nullopt, std::string("n")};
  r.env.native = [](const std::string&, const json&) { return json("nope"); };
  EXPECT_THAT(error_of<HookError>([&] { r.run_slot(s); }), HasSubstr("result must be an object"));
  r.env.native = [](const std::string&, const json&) { return json{{"stauts", "A"}}; };
  EXPECT_THAT(error_of<HookError>([&] { r.run_slot(s); }), HasSubstr("unknown result key \"stauts\""));
  r.env.native = [](const std::string&, const json&) { return json{{"ops", R"([{"op":"nope"}])"_json}}; };
  EXPECT_THAT(error_of<HookError>([&] { r.run_slot(s); }), HasSubstr("native n: ops[0].op: unknown operation"));
  r.env.native = [](const std::string&, const json&) { return json{{"status", "Q"}}; };
  EXPECT_THAT(error_of<HookError>([&] { r.run_slot(s); }), HasSubstr("unknown status"));
  r.env.native = [](const std::string&, const json&) { return json{{"vars", 1}}; };
  EXPECT_THAT(error_of<HookError>([&] { r.run_slot(s); }), HasSubstr("vars must be an object"));
  r.env.native = [](const std::string&, const json&) -> json { throw std::runtime_error("plugin crashed"); };
  EXPECT_EQ(error_of<HookError>([&] { r.run_slot(s); }), "native n: plugin crashed");
  r.env.native = [](const std::string&, const json&) -> json { throw ValidationError("plugin rejects"); };
  EXPECT_EQ(error_of<ValidationError>([&] { r.run_slot(s); }), "plugin rejects");
}

// ---- definitions: valid forms ------------------------------------------------------------

json poll_definition() {
  return R"({
    "type": "POLL", "version": "1.2.0", "description": "A poll", "metadata": {"category": "content"},
    "subtypes": {"OPEN": "accepting votes", "DEL": "deleted"},
    "fields": {"content": "required", "audience": null, "parent": "forbidden", "subject": "forbidden", "attachments": "forbidden"},
    "schema": {"content": {"type": "object", "required": ["question", "options"], "properties": {
      "question": {"type": "string", "min_length": 1, "max_length": 200},
      "options": {"type": "array", "min_length": 2, "max_length": 10, "items": {"type": "string", "max_length": 100}},
      "closes": {"type": "number"}, "multi": {"type": "boolean"}, "extra": {"type": "json"},
      "kind": {"type": "string", "enum": ["single", "multi"], "pattern": "^[a-z]+$"},
      "meta": {"type": "object", "properties": {"lang": {"type": "string"}}}}}},
    "behavior": {"broadcast": true, "approvable": true, "default_flags": "rCo", "default_visibility": "F",
                 "gated_by_parent_flag": "C", "ttl": 30, "sync": true, "federated": false, "requires_acceptance": true},
    "key_pattern": "{type}:{issuer}:{content.question}",
    "hooks": {
      "on_create": [{"op": "broadcast_to_followers", "action_id": "{action_id}"}],
      "on_receive": {"dsl": [{"op": "log", "message": "vote"}], "native": "poll_receive"},
      "on_accept": "native:poll_accept",
      "on_reject": null},
    "permissions": {"can_create": "authenticated"},
    "search": {"v": 1, "title": ["content.question"]},
    "x-future": 1
  })"_json;
}

TEST(DslDefinition, FullExampleLoads) {
  Definition d = parse_definition(poll_definition());
  EXPECT_EQ(d.type, "POLL");
  EXPECT_EQ(d.version, "1.2.0");
  EXPECT_EQ(d.subtypes.size(), 2u);
  EXPECT_EQ(d.content, Presence::kRequired);
  EXPECT_EQ(d.audience, Presence::kOptional);
  EXPECT_EQ(d.parent, Presence::kForbidden);
  EXPECT_EQ(d.attachments, Presence::kForbidden);
  ASSERT_TRUE(d.content_schema);
  EXPECT_EQ((*d.content_schema)["type"], "object");
  EXPECT_TRUE(d.behavior.broadcast);
  EXPECT_TRUE(d.behavior.approvable);
  EXPECT_TRUE(d.behavior.requires_acceptance);
  EXPECT_FALSE(d.behavior.ephemeral);
  EXPECT_EQ(d.behavior.default_flags, "rCo");
  EXPECT_EQ(d.behavior.default_visibility, 'F');
  EXPECT_EQ(d.behavior.gated_by_parent_flag, 'C');
  EXPECT_EQ(d.behavior.ttl, 30);
  EXPECT_EQ(d.key_pattern, "{type}:{issuer}:{content.question}");
  ASSERT_TRUE(d.on_create.ops);
  EXPECT_FALSE(d.on_create.native);
  EXPECT_TRUE(d.on_receive.ops);
  EXPECT_EQ(d.on_receive.native, "poll_receive");
  EXPECT_FALSE(d.on_accept.ops);
  EXPECT_EQ(d.on_accept.native, "poll_accept");
  EXPECT_TRUE(d.on_reject.empty());
  EXPECT_EQ(d.source, poll_definition());
}

TEST(DslDefinition, HookLookup) {
  Definition d = parse_definition(poll_definition());
  EXPECT_EQ(&d.hook("on_create"), &d.on_create);
  EXPECT_EQ(&d.hook("on_reject"), &d.on_reject);
  EXPECT_THROW(d.hook("on_delete"), std::out_of_range);
}

TEST(DslDefinition, MinimalAndSubtypedTypes) {
  EXPECT_NO_THROW(parse_definition(minimal()));
  EXPECT_EQ(parse_definition(minimal({{"type", "IDP:REG"}})).type, "IDP:REG");
  EXPECT_NO_THROW(parse_definition(minimal({{"type", "AB"}, {"version", "10.20"}})));
  // An empty operation list is no operations at all.
  EXPECT_TRUE(parse_definition(minimal({{"hooks", {{"on_create", json::array()}}}})).on_create.empty());
}

TEST(DslDefinition, MustBeAnObject) { EXPECT_EQ(def_error(json::array()), "?: a definition must be a JSON object"); }

TEST(DslDefinition, TypeRules) {
  EXPECT_EQ(def_error({{"version", "1.0"}}), "?: type: required string");
  EXPECT_THAT(def_error(minimal({{"type", "poll"}})), HasSubstr("poll: type: must match"));
  EXPECT_THAT(def_error(minimal({{"type", "P"}})), HasSubstr("type: must match"));
  EXPECT_THAT(def_error(minimal({{"type", "ABCDEFGHIJKLMNOPQ"}})), HasSubstr("type: must match"));
  EXPECT_THAT(def_error(minimal({{"type", "A:B:C"}})), HasSubstr("type: must match"));
  EXPECT_THAT(def_error(minimal({{"type", "IDP:"}})), HasSubstr("type: must match"));
}

TEST(DslDefinition, VersionRules) {
  EXPECT_EQ(def_error({{"type", "POLL"}}), "POLL: version: required string");
  EXPECT_EQ(def_error(minimal({{"version", 1}})), "POLL: version: required string");
  EXPECT_THAT(def_error(minimal({{"version", "1"}})), HasSubstr("POLL: version: must match"));
  EXPECT_THAT(def_error(minimal({{"version", "1.0.0.0"}})), HasSubstr("version: must match"));
  EXPECT_THAT(def_error(minimal({{"version", "v1.0"}})), HasSubstr("version: must match"));
}

TEST(DslDefinition, SubtypeRules) {
  EXPECT_THAT(def_error(minimal({{"subtypes", {{"img", "x"}}}})), HasSubstr("POLL: subtypes.img: subtype names must match"));
  EXPECT_THAT(def_error(minimal({{"subtypes", {{"IMG", 1}}}})), HasSubstr("subtypes.IMG: description must be a string"));
  EXPECT_THAT(def_error(minimal({{"subtypes", json::array({"IMG"})}})), HasSubstr("subtypes: must be an object"));
}

TEST(DslDefinition, FieldRules) {
  EXPECT_EQ(def_error(minimal({{"fields", {{"contents", "required"}}}})),
            "POLL: fields.contents: unknown field (content, audience, parent, subject, attachments)");
  EXPECT_EQ(def_error(minimal({{"fields", {{"audience", "optional"}}}})), "POLL: fields.audience: must be \"required\", \"forbidden\" or null");
  EXPECT_THAT(def_error(minimal({{"fields", {{"audience", true}}}})), HasSubstr("fields.audience"));
  EXPECT_THAT(def_error(minimal({{"fields", "all"}})), HasSubstr("fields: must be an object"));
}

json with_schema(const json& content) { return minimal({{"schema", {{"content", content}}}}); }

TEST(DslDefinition, SchemaTypes) {
  for (const char* t : {"string", "number", "boolean", "object", "json"}) EXPECT_NO_THROW(parse_definition(with_schema({{"type", t}}))) << t;
  EXPECT_THAT(def_error(with_schema({{"type", "array"}, {"items", {{"type", "string"}}}})), HasSubstr("schema.content.type: unknown type \"array\""));
  EXPECT_THAT(def_error(with_schema({{"type", "integer"}})), HasSubstr("unknown type \"integer\""));
  EXPECT_THAT(def_error(with_schema({{"max_length", 3}})), HasSubstr("schema.content.type: required string"));
  EXPECT_THAT(def_error(minimal({{"schema", {{"body", {{"type", "string"}}}}}})), HasSubstr("schema.body: unknown key"));
}

TEST(DslDefinition, SchemaLengths) {
  EXPECT_EQ(def_error(with_schema({{"type", "string"}, {"min_length", 5}, {"max_length", 2}})), "POLL: schema.content: min_length 5 exceeds max_length 2");
  EXPECT_THAT(def_error(with_schema({{"type", "string"}, {"max_length", -1}})), HasSubstr("schema.content.max_length: must be a non-negative integer"));
  EXPECT_THAT(def_error(with_schema({{"type", "string"}, {"min_length", 1.5}})), HasSubstr("min_length: must be a non-negative integer"));
  EXPECT_THAT(def_error(with_schema({{"type", "number"}, {"max_length", 3}})), HasSubstr("schema.content.max_length: not allowed for type number"));
}

TEST(DslDefinition, SchemaPatternMustCompile) {
  EXPECT_NO_THROW(parse_definition(with_schema({{"type", "string"}, {"pattern", "^[a-z]+$"}})));
  EXPECT_THAT(def_error(with_schema({{"type", "string"}, {"pattern", "([a-z"}})), HasSubstr("schema.content.pattern: invalid regular expression"));
  EXPECT_THAT(def_error(with_schema({{"type", "string"}, {"pattern", 5}})), HasSubstr("pattern: must be a string"));
}

TEST(DslDefinition, SchemaEnum) {
  EXPECT_THAT(def_error(with_schema({{"type", "string"}, {"enum", json::array()}})), HasSubstr("schema.content.enum: must be a non-empty array"));
  EXPECT_THAT(def_error(with_schema({{"type", "string"}, {"enum", {"a", 1}}})), HasSubstr("schema.content.enum[1]: must be a string"));
  EXPECT_NO_THROW(parse_definition(with_schema({{"type", "number"}, {"enum", {1, 2.5}}})));
  EXPECT_THAT(def_error(with_schema({{"type", "boolean"}, {"enum", {true}}})), HasSubstr("not allowed for type boolean"));
}

TEST(DslDefinition, SchemaObjectProperties) {
  auto obj = [](json props, json req = json::array()) { return with_schema({{"type", "object"}, {"properties", props}, {"required", req}}); };
  EXPECT_THAT(def_error(obj({{"tags", {{"type", "array"}}}})), HasSubstr("schema.content.properties.tags.items: arrays must declare items"));
  EXPECT_THAT(def_error(obj({{"n", {{"type", "date"}}}})), HasSubstr("properties.n.type: unknown type \"date\""));
  EXPECT_THAT(def_error(obj({{"n", {{"type", "string"}}}}, {"name"})), HasSubstr("schema.content.required[0]: \"name\" is not a declared property"));
  EXPECT_THAT(def_error(obj({{"n", {{"type", "string"}, {"maxLength", 3}}}})), HasSubstr("properties.n.maxLength: not allowed for type string"));
  EXPECT_THAT(def_error(obj({{"t", {{"type", "array"}, {"items", {{"type", "array"}}}}}})), HasSubstr("properties.t.items.items: arrays must declare items"));
  EXPECT_THAT(def_error(obj({{"t", {{"type", "array"}, {"items", {{"type", "string"}}}, {"min_length", 3}, {"max_length", 1}}}})),
              HasSubstr("properties.t: min_length 3 exceeds max_length 1"));
  EXPECT_THAT(def_error(with_schema({{"type", "object"}, {"required", "name"}})), HasSubstr("required: must be an array"));
  EXPECT_THAT(def_error(with_schema({{"type", "string"}, {"properties", json::object()}})), HasSubstr("not allowed for type string"));
}

TEST(DslDefinition, BehaviorFlags) {
  auto beh = [](json b) { return minimal({{"behavior", b}}); };
  EXPECT_EQ(def_error(beh({{"brodcast", true}})), "POLL: behavior.brodcast: unknown behavior flag");
  EXPECT_EQ(def_error(beh({{"broadcast", "yes"}})), "POLL: behavior.broadcast: must be a boolean");
  EXPECT_THAT(def_error(beh({{"default_visibility", "X"}})), HasSubstr("behavior.default_visibility: must be one of P V 2 F C S"));
  EXPECT_THAT(def_error(beh({{"default_visibility", "PV"}})), HasSubstr("default_visibility"));
  EXPECT_THAT(def_error(beh({{"gated_by_subject_flag", "r"}})), HasSubstr("behavior.gated_by_subject_flag: must be a single uppercase letter"));
  EXPECT_THAT(def_error(beh({{"gated_by_parent_flag", "CC"}})), HasSubstr("single uppercase letter"));
  EXPECT_THAT(def_error(beh({{"default_flags", "rx"}})), HasSubstr("behavior.default_flags: unknown flag 'x'"));
  EXPECT_THAT(def_error(beh({{"default_flags", "rR"}})), HasSubstr("flag 'R' given twice"));
  EXPECT_THAT(def_error(beh({{"ttl", "30"}})), HasSubstr("behavior.ttl: must be a non-negative integer"));
  EXPECT_THAT(def_error(beh("all")), HasSubstr("behavior: must be an object"));
  Definition d = parse_definition(beh(R"({"allow_unknown":true,"ephemeral":true,"requires_subscription":true,"deliver_subject":true,
    "deliver_to_subject_owner":true,"subscribable":true,"relay_children":true,"local_only":true,"default_visibility":"2",
    "gated_by_subject_flag":"R","broadcast":null})"_json));
  EXPECT_TRUE(d.behavior.allow_unknown && d.behavior.ephemeral && d.behavior.requires_subscription && d.behavior.deliver_subject &&
              d.behavior.deliver_to_subject_owner && d.behavior.subscribable && d.behavior.relay_children && d.behavior.local_only);
  EXPECT_FALSE(d.behavior.broadcast);
  EXPECT_EQ(d.behavior.default_visibility, '2');
  EXPECT_EQ(d.behavior.gated_by_subject_flag, 'R');
}

TEST(DslDefinition, KeyPattern) {
  auto kp = [](json p) { return minimal({{"key_pattern", p}}); };
  EXPECT_NO_THROW(parse_definition(kp("{type}:{subject}:{issuer}:{audience}:{parent}:{content.a.b}")));
  EXPECT_EQ(def_error(kp("static")), "POLL: key_pattern: must contain at least one {variable}");
  EXPECT_THAT(def_error(kp("{type}:{iss}")), HasSubstr("key_pattern: unknown variable {iss}"));
  EXPECT_THAT(def_error(kp("{content}")), HasSubstr("unknown variable {content}"));
  EXPECT_THAT(def_error(kp("{type")), HasSubstr("key_pattern: unclosed '{'"));
  EXPECT_THAT(def_error(kp(5)), HasSubstr("key_pattern: must be a string"));
}

TEST(DslDefinition, HookSlotForms) {
  auto hook = [](json h) { return minimal({{"hooks", h}}); };
  EXPECT_EQ(def_error(hook({{"on_delete", nullptr}})), "POLL: hooks.on_delete: unknown hook (on_create, on_receive, on_accept, on_reject)");
  EXPECT_THAT(def_error(hook({{"on_create", "poll_create"}})), HasSubstr("hooks.on_create: a string slot must be \"native:<name>\""));
  EXPECT_THAT(def_error(hook({{"on_create", "native:"}})), HasSubstr("native:<name>"));
  EXPECT_THAT(def_error(hook({{"on_create", {{"dsl", json::array()}, {"natve", "x"}}}})), HasSubstr("hooks.on_create.natve: unknown key (dsl, native)"));
  EXPECT_THAT(def_error(hook({{"on_create", {{"native", "bad name"}}}})), HasSubstr("hooks.on_create.native: must be a hook name"));
  EXPECT_THAT(def_error(hook({{"on_create", {{"dsl", "ops"}}}})), HasSubstr("hooks.on_create.dsl: an operation list must be an array"));
  EXPECT_THAT(def_error(hook({{"on_create", 5}})), HasSubstr("hooks.on_create: must be an operation list"));
  EXPECT_THAT(def_error(hook(json::array())), HasSubstr("hooks: must be an object"));
}

TEST(DslDefinition, OperationListErrorsNameThePath) {
  EXPECT_EQ(op_error(R"([{"op":"log","message":"a"},{"op":"log","message":"b"},{"op":"frobnicate"}])"_json),
            "POLL: hooks.on_create[2].op: unknown operation \"frobnicate\"");
  EXPECT_EQ(op_error(R"([{"message":"a"}])"_json), "POLL: hooks.on_create[0].op: required string");
  EXPECT_EQ(op_error(R"(["log"])"_json), "POLL: hooks.on_create[0]: an operation must be an object");
  EXPECT_EQ(op_error(R"([{"op":"get_profile","target":"x"}])"_json), "POLL: hooks.on_create[0].as: required field missing");
  EXPECT_EQ(op_error(R"([{"op":"if","condition":true,"then":[],"els":[]}])"_json), "POLL: hooks.on_create[0].els: unknown field for \"if\"");
  EXPECT_EQ(op_error(R"([{"op":"if","condition":true,"then":[{"op":"foreach","array":[],"do":[{"op":"set","var":"x"}]}]}])"_json),
            "POLL: hooks.on_create[0].then[0].do[0].value: required field missing");
  EXPECT_EQ(op_error(R"([{"op":"if","condition":{"gt":[1]},"then":[]}])"_json), "POLL: hooks.on_create[0].condition: gt expects an array of 2 operands");
  EXPECT_THAT(op_error(R"({"dsl":[{"op":"stop","now":true}]})"_json), HasSubstr("hooks.on_create.dsl[0].now: unknown field"));
}

TEST(DslDefinition, OperationFieldRules) {
  EXPECT_THAT(op_error(R"([{"op":"set","var":"content","value":1}])"_json), HasSubstr("hooks.on_create[0].var: \"content\" is a reserved name"));
  EXPECT_THAT(op_error(R"([{"op":"set","var":"a.b","value":1}])"_json), HasSubstr("invalid variable name \"a.b\""));
  EXPECT_THAT(op_error(R"([{"op":"foreach","array":[],"as":"","do":[]}])"_json), HasSubstr("as: must be a variable name"));
  EXPECT_THAT(op_error(R"([{"op":"log","level":"fatal","message":"x"}])"_json), HasSubstr("level: must be one of error, warn, info, debug, trace"));
  EXPECT_THAT(op_error(R"([{"op":"status","value":"P"}])"_json), HasSubstr("hooks.on_create[0].value: unknown status \"P\""));
  EXPECT_NO_THROW(parse_definition(minimal({{"hooks", {{"on_create", R"([{"op":"status","value":"{s}"}])"_json}}}})));
  EXPECT_THAT(op_error(R"([{"op":"update_action","target":"x","set":{"statuss":"A"}}])"_json), HasSubstr("set.statuss: unknown action field"));
  EXPECT_THAT(op_error(R"([{"op":"update_action","target":"x","set":{"status":"archived"}}])"_json), HasSubstr("set.status: unknown status"));
  EXPECT_THAT(op_error(R"([{"op":"update_action","target":"x","set":{}}])"_json), HasSubstr("set: must be a non-empty object"));
  EXPECT_THAT(op_error(R"([{"op":"update_action","target":"x","set":{"comments":{"increment":{"eq":1}}}}])"_json),
              HasSubstr("set.comments.increment: eq expects"));
  EXPECT_THAT(op_error(R"([{"op":"update_profile","target":"x","set":{"nick":"y"}}])"_json), HasSubstr("set.nick: unknown profile field"));
  EXPECT_THAT(op_error(R"([{"op":"get_action","key":"k","action_id":"a","as":"v"}])"_json), HasSubstr("exactly one of key, action_id"));
  EXPECT_THAT(op_error(R"([{"op":"get_action","as":"v"}])"_json), HasSubstr("exactly one of key, action_id"));
  EXPECT_THAT(op_error(R"([{"op":"switch","value":1,"cases":{"1":{"op":"log"}}}])"_json), HasSubstr("cases.1: an operation list must be an array"));
  EXPECT_THAT(op_error(R"([{"op":"merge","objects":[],"as":"m"}])"_json), HasSubstr("objects: must be a non-empty array"));
  EXPECT_THAT(op_error(R"([{"op":"get","var":"v","from":"a..b"}])"_json), HasSubstr("from: invalid path"));
}

TEST(DslDefinition, AtMostHundredOperationsCountedRecursively) {
  EXPECT_NO_THROW(parse_definition(minimal({{"hooks", {{"on_create", logs(100)}}}})));
  EXPECT_EQ(op_error(logs(101)), "POLL: hooks.on_create: more than 100 operations (101)");
  // 1 if + 50 + 50 in the branches = 101.
  json nested = json::array({{{"op", "if"}, {"condition", true}, {"then", logs(50)}, {"else", logs(50)}}});
  EXPECT_THAT(op_error(nested), HasSubstr("more than 100 operations (101)"));
  EXPECT_THAT(def_error(minimal({{"hooks", {{"on_accept", {{"dsl", logs(101)}}}}}})), HasSubstr("hooks.on_accept.dsl: more than 100 operations"));
}

TEST(DslDefinition, EveryOperationHasAValidForm) {
  EXPECT_NO_THROW(parse_definition(minimal({{"hooks", {{"on_create", R"([
    {"op":"update_profile","target":"{issuer}","set":{"name":"n","following":true,"connected":"R","follower":false,"status":"A"}},
    {"op":"get_profile","target":"{issuer}","as":"p"},
    {"op":"create_action","type":"STAT","subtype":"X","audience":"a","parent":"p","subject":"s","content":{},"attachments":[],"visibility":"P","flags":"r","as":"id"},
    {"op":"get_action","key":"k","as":"a"},
    {"op":"update_action","target":"{id}","set":{"status":"A","subject":"s","reactions":"L1","comments":{"set":1},"comments_ts":2,"x":{}}},
    {"op":"delete_action","target":"{id}"},
    {"op":"if","condition":true,"then":[],"else":[]},
    {"op":"switch","value":"{x}","cases":{"a":[]},"default":[]},
    {"op":"foreach","array":[],"as":"i","do":[]},
    {"op":"return","value":1},
    {"op":"set","var":"v","value":1},
    {"op":"get","var":"w","from":"content.x"},
    {"op":"merge","objects":[{}],"as":"m"},
    {"op":"broadcast_to_followers","action_id":"{action_id}","token":"t"},
    {"op":"send_to_audience","action_id":"{action_id}","audience":"b","token":"t"},
    {"op":"create_notification","user":"u","type":"t","action_id":"a","priority":"high"},
    {"op":"log","level":"debug","message":"m"},
    {"op":"abort","error":"e","code":"E"},
    {"op":"status","value":"active"},
    {"op":"stop"}])"_json}}}})));
}

TEST(DslDefinition, DefinitionHooksRunThroughTheEngine) {
  Definition d = parse_definition(poll_definition());
  Harness r;
  r.env.native = [](const std::string&, const json&) { return json{{"status", "N"}}; };
  auto res = run_hook(d.hook("on_receive"), "on_receive", r.scope, r.env);
  ASSERT_EQ(r.env.calls.size(), 2u);
  EXPECT_EQ(r.env.calls[0]["call"], "log");
  EXPECT_EQ(r.env.calls[1]["call"], "run_native");
  EXPECT_EQ(res.status, 'N');
}

// ---- validate_action ---------------------------------------------------------------------

Definition poll() { return parse_definition(poll_definition()); }

ActionFields valid_poll() {
  ActionFields a;
  a.action_id = "a1~p";
  a.type = "POLL";
  a.issuer = "alice.test";
  a.content = R"({"question":"Tea?","options":["yes","no"]})"_json;
  return a;
}

std::string invalid(const Definition& d, const ActionFields& a) {
  return error_of<ValidationError>([&] { validate_action(d, a); });
}

TEST(DslValidate, ValidActionPasses) {
  EXPECT_NO_THROW(validate_action(poll(), valid_poll()));
  ActionFields a = valid_poll();
  a.content = R"({"question":"Q","options":["a","b"],"closes":1.5,"multi":true,"extra":{"any":[1]},"kind":"single","meta":{"lang":"en"},"more":1})"_json;
  EXPECT_NO_THROW(validate_action(poll(), a));
}

TEST(DslValidate, RequiredContent) {
  ActionFields a = valid_poll();
  a.content.reset();
  EXPECT_EQ(invalid(poll(), a), "POLL: content: required");
  a.content = json();
  EXPECT_EQ(invalid(poll(), a), "POLL: content: required");
  Definition s = parse_definition(minimal({{"fields", {{"content", "required"}}}}));
  a.content = "";
  EXPECT_EQ(invalid(s, a), "POLL: content: required");
  a.content = 0;
  EXPECT_NO_THROW(validate_action(s, a));
}

TEST(DslValidate, ForbiddenFields) {
  ActionFields a = valid_poll();
  a.parent = "a1~x";
  EXPECT_EQ(invalid(poll(), a), "POLL: parent: forbidden");
  a.parent.reset();
  a.subject = "a1~y";
  EXPECT_EQ(invalid(poll(), a), "POLL: subject: forbidden");
  a.subject.reset();
  a.attachments = std::vector<std::string>{"f1~a"};
  EXPECT_EQ(invalid(poll(), a), "POLL: attachments: forbidden");
  a.attachments = std::vector<std::string>{};
  EXPECT_NO_THROW(validate_action(poll(), a));
  Definition f = parse_definition(minimal({{"fields", {{"content", "forbidden"}}}}));
  EXPECT_EQ(invalid(f, a), "POLL: content: forbidden");
}

TEST(DslValidate, RequiredReferenceFields) {
  Definition d =
      parse_definition(minimal({{"fields", {{"audience", "required"}, {"parent", "required"}, {"subject", "required"}, {"attachments", "required"}}}}));
  ActionFields a = valid_poll();
  EXPECT_EQ(invalid(d, a), "POLL: audience: required");
  a.audience = "";
  EXPECT_EQ(invalid(d, a), "POLL: audience: required");
  a.audience = "bob.test";
  EXPECT_EQ(invalid(d, a), "POLL: parent: required");
  a.parent = "a1~p";
  EXPECT_EQ(invalid(d, a), "POLL: subject: required");
  a.subject = "a1~s";
  a.attachments = std::vector<std::string>{};
  EXPECT_EQ(invalid(d, a), "POLL: attachments: required");
  a.attachments = std::vector<std::string>{"f1~a"};
  EXPECT_NO_THROW(validate_action(d, a));
}

TEST(DslValidate, DeleteSkipsContentButNotReferences) {
  Definition d = parse_definition(minimal({{"fields", {{"content", "required"}, {"audience", "required"}}}, {"schema", {{"content", {{"type", "string"}}}}}}));
  ActionFields a = valid_poll();
  a.subtype = "DEL";
  a.audience = "bob.test";
  a.content.reset();
  EXPECT_NO_THROW(validate_action(d, a));
  a.content = 42;  // would fail the schema
  EXPECT_NO_THROW(validate_action(d, a));
  a.audience.reset();
  EXPECT_EQ(invalid(d, a), "POLL: audience: required");
}

TEST(DslValidate, StringLengthsAreBytes) {
  Definition d = parse_definition(with_schema({{"type", "string"}, {"min_length", 2}, {"max_length", 4}}));
  ActionFields a = valid_poll();
  a.content = "ab";
  EXPECT_NO_THROW(validate_action(d, a));
  a.content = "a";
  EXPECT_EQ(invalid(d, a), "POLL: content: shorter than 2 bytes");
  a.content = "\xc3\xa9\xc3\xa9\xc3\xa9";  // 3 characters, 6 bytes
  EXPECT_EQ(invalid(d, a), "POLL: content: longer than 4 bytes");
  a.content = 5;
  EXPECT_EQ(invalid(d, a), "POLL: content: expected a string");
}

TEST(DslValidate, PatternMatchesWholeString) {
  Definition d = parse_definition(with_schema({{"type", "string"}, {"pattern", "[a-z]+"}}));
  ActionFields a = valid_poll();
  a.content = "abc";
  EXPECT_NO_THROW(validate_action(d, a));
  a.content = "abc1";
  EXPECT_EQ(invalid(d, a), "POLL: content: does not match the pattern");
  // Long inputs are refused, not matched: std::regex recursion would
  // overflow the stack on tens of KB.
  a.content = std::string(1024, 'a');  // the cap itself still matches (ASan builds too)
  EXPECT_NO_THROW(validate_action(d, a));
  a.content = std::string(1025, 'a');
  EXPECT_THAT(invalid(d, a), HasSubstr("too long to match its pattern"));
}

TEST(DslValidate, EnumAndScalarTypes) {
  ActionFields a = valid_poll();
  a.content = "maybe";
  EXPECT_EQ(invalid(parse_definition(with_schema({{"type", "string"}, {"enum", {"yes", "no"}}})), a), "POLL: content: not one of the allowed values");
  a.content = 2.0;
  EXPECT_NO_THROW(validate_action(parse_definition(with_schema({{"type", "number"}, {"enum", {1, 2}}})), a));
  a.content = "2";
  EXPECT_EQ(invalid(parse_definition(with_schema({{"type", "number"}})), a), "POLL: content: expected a number");
  EXPECT_EQ(invalid(parse_definition(with_schema({{"type", "boolean"}})), a), "POLL: content: expected a boolean");
  EXPECT_EQ(invalid(parse_definition(with_schema({{"type", "object"}})), a), "POLL: content: expected an object");
  a.content = R"([{"any":"thing"}])"_json;
  EXPECT_NO_THROW(validate_action(parse_definition(with_schema({{"type", "json"}})), a));
}

TEST(DslValidate, ObjectProperties) {
  ActionFields a = valid_poll();
  a.content = R"({"options":["a","b"]})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.question: required");
  a.content = R"({"question":null,"options":["a","b"]})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.question: required");
  a.content = R"({"question":"","options":["a","b"]})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.question: shorter than 1 bytes");
  a.content = R"({"question":"q","options":["a","b"],"multi":"yes"})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.multi: expected a boolean");
  a.content = R"({"question":"q","options":["a","b"],"kind":"Single"})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.kind: does not match the pattern");
  a.content = R"({"question":"q","options":["a","b"],"meta":{"lang":5}})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.meta.lang: expected a string");
  a.content = R"({"question":"q","options":["a","b"],"closes":null})"_json;
  EXPECT_NO_THROW(validate_action(poll(), a));
}

TEST(DslValidate, ArrayProperties) {
  ActionFields a = valid_poll();
  a.content = R"({"question":"q","options":["only"]})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.options: fewer than 2 items");
  a.content = R"({"question":"q","options":["1","2","3","4","5","6","7","8","9","10","11"]})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.options: more than 10 items");
  a.content = R"({"question":"q","options":["a",2]})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.options[1]: expected a string");
  a.content = R"({"question":"q","options":"a,b"})"_json;
  EXPECT_EQ(invalid(poll(), a), "POLL: content.options: expected an array");
}

// ---- expand_key and action_json ----------------------------------------------------------

TEST(DslKey, ExpandsFieldsWithBaseType) {
  ActionFields a = sample_action();
  a.type = "REACT";
  a.subtype = "LIKE";
  a.subject = "a1~s";
  EXPECT_EQ(expand_key("{type}:{subject}:{issuer}", a), "REACT:a1~s:alice.test");
  EXPECT_EQ(expand_key("{type}:{issuer}:{audience}:{parent}", a), "REACT:alice.test:bob.test:a1~parent");
}

TEST(DslKey, MissingValuesBecomeEmpty) {
  ActionFields a;
  a.type = "FLLW";
  a.issuer = "alice.test";
  EXPECT_EQ(expand_key("{type}:{issuer}:{audience}:{subject}:{content.x}", a), "FLLW:alice.test:::");
}

TEST(DslKey, ContentPaths) {
  ActionFields a = sample_action();
  a.type = "IDP";
  EXPECT_EQ(expand_key("{type}:{content.question}:{content.n}:{content.meta.lang}:{content.meta.none}:{content.nope.x}", a), "IDP:Tea?:3:en::");
  EXPECT_EQ(expand_key("k-{content.question.x}-{unknown}-end", a), "k---end");
  EXPECT_EQ(expand_key("no vars {unclosed", a), "no vars {unclosed");
}

TEST(DslKey, ActionJsonView) {
  json j = action_json(sample_action());
  EXPECT_EQ(j["action_id"], "a1~self");
  EXPECT_EQ(j["subtype"], "OPEN");
  EXPECT_TRUE(j["subject"].is_null());
  EXPECT_TRUE(j["expires_at"].is_null());
  EXPECT_EQ(j["visibility"], "F");
  EXPECT_EQ(j["attachments"].size(), 2u);
  EXPECT_EQ(j.size(), 13u);
}

}  // namespace
