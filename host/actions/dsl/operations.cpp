// Hook operations (spec/reference-implementation.md §2.3) plus `status` and
// `stop`, their load-time structural check, and the hook runner with its
// operation, time and foreach budgets.
#include <chrono>
#include <string>
#include <string_view>

#include "actions/dsl/internal.hpp"

namespace cumulo::actions::dsl {

namespace detail {

namespace {

enum class Kind {
  kExpr,        // any expression
  kVar,         // a variable name to assign
  kOps,         // a nested operation list
  kProfileSet,  // update_profile.set {field: expr}
  kUpdateSet,   // update_action.set {field: expr | {set|increment|decrement: expr}}
  kCases,       // switch.cases {value: ops}
  kExprList,    // merge.objects [expr…]
  kPath,        // get.from: a bare path, or an expression
  kLevel,       // log.level literal
  kStatus,      // status.value: expression, checked when literal
  kIgnored,     // accepted for reference compatibility, unused (token)
};

struct Field {
  std::string_view name;
  Kind kind;
  bool required;
};

struct OpSpec {
  std::string_view name;
  std::vector<Field> fields;
};

const std::vector<OpSpec>& op_specs() {
  static const std::vector<OpSpec> specs = {
      {"update_profile", {{"target", Kind::kExpr, true}, {"set", Kind::kProfileSet, true}}},
      {"get_profile", {{"target", Kind::kExpr, true}, {"as", Kind::kVar, true}}},
      {"create_action",
       {{"type", Kind::kExpr, true},
        {"subtype", Kind::kExpr, false},
        {"audience", Kind::kExpr, false},
        {"parent", Kind::kExpr, false},
        {"subject", Kind::kExpr, false},
        {"content", Kind::kExpr, false},
        {"attachments", Kind::kExpr, false},
        {"visibility", Kind::kExpr, false},
        {"flags", Kind::kExpr, false},
        {"as", Kind::kVar, false}}},
      {"get_action", {{"key", Kind::kExpr, false}, {"action_id", Kind::kExpr, false}, {"as", Kind::kVar, true}}},
      {"update_action", {{"target", Kind::kExpr, true}, {"set", Kind::kUpdateSet, true}}},
      {"delete_action", {{"target", Kind::kExpr, true}}},
      {"if", {{"condition", Kind::kExpr, true}, {"then", Kind::kOps, true}, {"else", Kind::kOps, false}}},
      {"switch", {{"value", Kind::kExpr, true}, {"cases", Kind::kCases, true}, {"default", Kind::kOps, false}}},
      {"foreach", {{"array", Kind::kExpr, true}, {"as", Kind::kVar, false}, {"do", Kind::kOps, true}}},
      {"return", {{"value", Kind::kExpr, false}}},
      {"set", {{"var", Kind::kVar, true}, {"value", Kind::kExpr, true}}},
      {"get", {{"var", Kind::kVar, true}, {"from", Kind::kPath, true}}},
      {"merge", {{"objects", Kind::kExprList, true}, {"as", Kind::kVar, true}}},
      {"broadcast_to_followers", {{"action_id", Kind::kExpr, true}, {"token", Kind::kIgnored, false}}},
      {"send_to_audience", {{"action_id", Kind::kExpr, true}, {"audience", Kind::kExpr, true}, {"token", Kind::kIgnored, false}}},
      {"create_notification", {{"user", Kind::kExpr, true}, {"type", Kind::kExpr, true}, {"action_id", Kind::kExpr, true}, {"priority", Kind::kExpr, false}}},
      {"log", {{"level", Kind::kLevel, false}, {"message", Kind::kExpr, true}}},
      {"abort", {{"error", Kind::kExpr, true}, {"code", Kind::kExpr, false}}},
      {"status", {{"value", Kind::kStatus, true}}},
      {"stop", {}},
  };
  return specs;
}

const OpSpec* find_op(std::string_view name) {
  for (const auto& s : op_specs())
    if (s.name == name) return &s;
  return nullptr;
}

template <size_t N>
bool one_of(std::string_view v, const std::string_view (&options)[N]) {
  for (auto o : options)
    if (o == v) return true;
  return false;
}

constexpr std::string_view kProfileFields[] = {"name", "following", "connected", "follower", "status"};
constexpr std::string_view kUpdateFields[] = {"status", "subject", "reactions", "comments", "comments_ts", "x"};
constexpr std::string_view kLevels[] = {"error", "warn", "info", "debug", "trace"};
constexpr std::string_view kNativeResultKeys[] = {"ops", "vars", "status", "return", "stop"};

bool literal_string(const json& v) { return v.is_string() && v.get_ref<const std::string&>().find('{') == std::string::npos; }

// {"set": e} / {"increment": e} / {"decrement": e}, else nullptr.
const char* update_wrapper(const json& v) {
  if (!v.is_object() || v.size() != 1) return nullptr;
  const std::string& k = v.begin().key();
  if (k == "set") return "set";
  if (k == "increment") return "increment";
  if (k == "decrement") return "decrement";
  return nullptr;
}

[[noreturn]] void bad(const std::string& path, const std::string& problem) { throw DefinitionError(path + ": " + problem); }

void check_field(const Field& f, const json& v, const std::string& path, const Limits& limits, int& count) {
  switch (f.kind) {
    case Kind::kExpr:
      check_expression(v, path, limits);
      break;
    case Kind::kVar: {
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) bad(path, "must be a variable name");
      const std::string& n = v.get_ref<const std::string&>();
      if (!valid_path(n) || n.find('.') != std::string::npos || n.find('-') != std::string::npos) bad(path, "invalid variable name \"" + n + "\"");
      if (is_scope_root(n)) bad(path, "\"" + n + "\" is a reserved name");
      break;
    }
    case Kind::kOps:
      check_ops(v, path, limits, count);
      break;
    case Kind::kProfileSet:
      if (!v.is_object() || v.empty()) bad(path, "must be a non-empty object");
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!one_of(it.key(), kProfileFields)) bad(path + "." + it.key(), "unknown profile field (name, following, connected, follower, status)");
        check_expression(*it, path + "." + it.key(), limits);
      }
      break;
    case Kind::kUpdateSet:
      if (!v.is_object() || v.empty()) bad(path, "must be a non-empty object");
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string sub = path + "." + it.key();
        if (!one_of(it.key(), kUpdateFields)) bad(sub, "unknown action field (status, subject, reactions, comments, comments_ts, x)");
        const char* w = update_wrapper(*it);
        const json& e = w ? it->begin().value() : *it;
        check_expression(e, w ? sub + "." + w : sub, limits);
        if (it.key() == "status" && literal_string(e) && !status_letter(e, false))
          bad(sub, "unknown status " + e.dump() + " (A C N D P or confirmation/notification/active/deleted/pending)");
      }
      break;
    case Kind::kCases:
      if (!v.is_object()) bad(path, "must be an object {value: [operations]}");
      for (auto it = v.begin(); it != v.end(); ++it) check_ops(*it, path + "." + it.key(), limits, count);
      break;
    case Kind::kExprList:
      if (!v.is_array() || v.empty()) bad(path, "must be a non-empty array");
      for (size_t i = 0; i < v.size(); ++i) check_expression(v[i], path + "[" + std::to_string(i) + "]", limits);
      break;
    case Kind::kPath:
      if (literal_string(v)) {
        if (!valid_path(v.get_ref<const std::string&>())) bad(path, "invalid path " + v.dump());
      } else {
        check_expression(v, path, limits);
      }
      break;
    case Kind::kLevel:
      if (!v.is_string() || !one_of(v.get_ref<const std::string&>(), kLevels)) bad(path, "must be one of error, warn, info, debug, trace");
      break;
    case Kind::kStatus:
      check_expression(v, path, limits);
      if (literal_string(v) && !status_letter(v, true)) bad(path, "unknown status " + v.dump() + " (A C N D or active/confirmation/notification/deleted)");
      break;
    case Kind::kIgnored:
      break;
  }
}

}  // namespace

void check_ops(const json& ops, const std::string& where, const Limits& limits, int& count) {
  if (!ops.is_array()) bad(where, "an operation list must be an array");
  for (size_t i = 0; i < ops.size(); ++i) {
    const std::string path = where + "[" + std::to_string(i) + "]";
    const json& op = ops[i];
    ++count;
    if (!op.is_object()) bad(path, "an operation must be an object");
    auto name = op.find("op");
    if (name == op.end() || !name->is_string()) bad(path + ".op", "required string");
    const OpSpec* spec = find_op(name->get_ref<const std::string&>());
    if (!spec) bad(path + ".op", "unknown operation " + name->dump());
    for (auto it = op.begin(); it != op.end(); ++it) {
      if (it.key() == "op") continue;
      bool known = false;
      for (const auto& f : spec->fields) known = known || f.name == it.key();
      // Misspelt fields ("els", "conditon") would otherwise be dropped silently.
      if (!known) bad(path + "." + it.key(), "unknown field for \"" + std::string(spec->name) + "\"");
    }
    for (const auto& f : spec->fields) {
      auto it = op.find(std::string(f.name));
      if (it == op.end()) {
        if (f.required) bad(path + "." + std::string(f.name), "required field missing");
        continue;
      }
      check_field(f, *it, path + "." + std::string(f.name), limits, count);
    }
    if (spec->name == "get_action" && op.contains("key") == op.contains("action_id")) bad(path, "get_action needs exactly one of key, action_id");
  }
}

}  // namespace detail

namespace {

using detail::text;

class Runner {
 public:
  Runner(Scope& scope, Env& env, const Limits& limits, HookResult& result)
      : scope_(scope), env_(env), limits_(limits), result_(result), start_(std::chrono::steady_clock::now()) {}

  // kEnd: `return` or `stop` ended the whole run (native part included).
  enum class Flow { kNext, kEnd };

  Flow run_list(const json& ops) {
    for (const auto& op : ops)
      if (run_op(op) == Flow::kEnd) return Flow::kEnd;
    return Flow::kNext;
  }

  void check_time() const {
    // >= so that max_time 0 deterministically refuses the first operation.
    if (std::chrono::steady_clock::now() - start_ >= limits_.max_time) throw HookError("time limit exceeded");
  }

  void run_native(const std::string& name, std::string_view hook) {
    check_time();
    json input = {{"hook", hook}, {"action", scope_.action ? action_json(*scope_.action) : json()}, {"context", scope_.context}, {"vars", scope_.vars}};
    const std::string who = "native " + name;
    json out = call(who, [&] { return env_.run_native(name, input); });
    // The native hook cannot be interrupted; its time still counts.
    check_time();
    if (out.is_null()) return;
    if (!out.is_object()) throw HookError(who + ": result must be an object");
    for (auto it = out.begin(); it != out.end(); ++it)
      if (!detail::one_of(it.key(), detail::kNativeResultKeys)) throw HookError(who + ": unknown result key \"" + it.key() + "\"");
    if (auto v = out.find("vars"); v != out.end() && !v->is_null()) {
      if (!v->is_object()) throw HookError(who + ": vars must be an object");
      for (auto it = v->begin(); it != v->end(); ++it) scope_.vars[it.key()] = *it;
    }
    if (auto ops = out.find("ops"); ops != out.end() && !ops->is_null()) {
      try {
        int ignored = 0;
        detail::check_ops(*ops, who + ": ops", limits_, ignored);
      } catch (const DefinitionError& e) {
        throw HookError(e.what());
      }
      run_list(*ops);
    }
    if (auto s = out.find("status"); s != out.end() && !s->is_null()) {
      auto letter = detail::status_letter(*s, true);
      if (!letter) throw HookError(who + ": unknown status " + s->dump());
      result_.status = letter;
    }
    if (auto r = out.find("return"); r != out.end()) result_.return_value = *r;
    if (auto s = out.find("stop"); s != out.end() && !s->is_null()) {
      if (!s->is_boolean()) throw HookError(who + ": stop must be a boolean");
      if (s->get<bool>()) result_.continue_processing = false;
    }
  }

 private:
  json ev(const json& e) const { return evaluate(e, scope_, limits_); }

  // Env failures other than our own error types become HookErrors naming the
  // operation, so callers handle exactly two exception types.
  template <class F>
  auto call(const std::string& op, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const ValidationError&) {
      throw;
    } catch (const HookError&) {
      throw;
    } catch (const std::exception& e) {
      throw HookError(op + ": " + e.what());
    } catch (...) {
      throw HookError(op + ": unknown error");
    }
  }

  std::string str(const json& op, const char* field, const std::string& name) const {
    json v = ev(op.at(field));
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) throw HookError(name + ": " + field + " must be a non-empty string, got " + v.dump());
    return v.get<std::string>();
  }

  Flow run_op(const json& op) {
    check_time();
    if (++ops_ > limits_.max_operations) throw HookError("operation limit (" + std::to_string(limits_.max_operations) + ") exceeded");
    const std::string name = op.at("op").get<std::string>();
    json& vars = scope_.vars;

    if (name == "update_profile") {
      std::string target = str(op, "target", name);
      json set = json::object();
      for (auto it = op["set"].begin(); it != op["set"].end(); ++it) set[it.key()] = ev(*it);
      call(name, [&] { env_.update_profile(target, set); });
    } else if (name == "get_profile") {
      std::string target = str(op, "target", name);
      vars[op["as"].get<std::string>()] = call(name, [&] { return env_.get_profile(target); });
    } else if (name == "create_action") {
      create_action(op, name);
    } else if (name == "get_action") {
      const char* by = op.contains("key") ? "key" : "action_id";
      json selector = {{by, str(op, by, name)}};
      vars[op["as"].get<std::string>()] = call(name, [&] { return env_.get_action(selector); });
    } else if (name == "update_action") {
      update_action(op, name);
    } else if (name == "delete_action") {
      std::string target = str(op, "target", name);
      call(name, [&] { env_.delete_action(target); });
    } else if (name == "if") {
      if (truthy(ev(op["condition"]))) return run_list(op["then"]);
      if (op.contains("else")) return run_list(op["else"]);
    } else if (name == "switch") {
      std::string key = text(ev(op["value"]));
      if (auto c = op["cases"].find(key); c != op["cases"].end()) return run_list(*c);
      if (op.contains("default")) return run_list(op["default"]);
    } else if (name == "foreach") {
      return run_foreach(op);
    } else if (name == "return") {
      if (op.contains("value")) result_.return_value = ev(op["value"]);
      return Flow::kEnd;
    } else if (name == "set") {
      vars[op["var"].get<std::string>()] = ev(op["value"]);
    } else if (name == "get") {
      const json& from = op["from"];
      // A bare string is a path ("content.name"); `set` would take it as a literal.
      vars[op["var"].get<std::string>()] = detail::literal_string(from) ? ev("{" + from.get<std::string>() + "}") : ev(from);
    } else if (name == "merge") {
      json merged = json::object();
      for (const auto& e : op["objects"]) {
        json o = ev(e);
        if (o.is_null()) continue;
        if (!o.is_object()) throw HookError("merge: not an object: " + o.dump());
        for (auto it = o.begin(); it != o.end(); ++it) merged[it.key()] = *it;
      }
      vars[op["as"].get<std::string>()] = std::move(merged);
    } else if (name == "broadcast_to_followers") {
      std::string id = str(op, "action_id", name);
      call(name, [&] { env_.broadcast_to_followers(id); });
    } else if (name == "send_to_audience") {
      std::string id = str(op, "action_id", name), aud = str(op, "audience", name);
      call(name, [&] { env_.send_to_audience(id, aud); });
    } else if (name == "create_notification") {
      std::string user = str(op, "user", name), type = str(op, "type", name), id = str(op, "action_id", name);
      std::string priority = op.contains("priority") ? str(op, "priority", name) : "normal";
      call(name, [&] { env_.create_notification(user, type, id, priority); });
    } else if (name == "log") {
      std::string level = op.contains("level") ? op["level"].get<std::string>() : "info";
      std::string message = text(ev(op["message"]));
      call(name, [&] { env_.log(level, message); });
    } else if (name == "abort") {
      throw ValidationError(text(ev(op["error"])));
    } else if (name == "status") {
      json v = ev(op["value"]);
      auto letter = detail::status_letter(v, true);
      if (!letter) throw HookError("status: unknown status " + v.dump());
      result_.status = letter;
    } else if (name == "stop") {
      result_.continue_processing = false;
      return Flow::kEnd;
    } else {
      throw HookError("unknown operation \"" + name + "\"");
    }
    return Flow::kNext;
  }

  void create_action(const json& op, const std::string& name) {
    json spec = json::object();
    for (auto it = op.begin(); it != op.end(); ++it) {
      if (it.key() == "op" || it.key() == "as") continue;
      json v = ev(*it);
      // Absent and null are the same to the create pipeline.
      if (v.is_null()) continue;
      if (it.key() == "attachments") {
        if (!v.is_array()) throw HookError(name + ": attachments must be an array of strings");
        for (const auto& a : v)
          if (!a.is_string()) throw HookError(name + ": attachments must be an array of strings");
      } else if (it.key() != "content" && !v.is_string()) {
        throw HookError(name + ": " + it.key() + " must be a string, got " + v.dump());
      }
      spec[it.key()] = std::move(v);
    }
    if (!spec.contains("type") || spec["type"].get_ref<const std::string&>().empty()) throw HookError(name + ": type must be a non-empty string");
    // "POST:IMG" is how types are written everywhere else; split it for the
    // pipeline unless a subtype is given separately.
    std::string type = spec["type"].get<std::string>();
    if (auto colon = type.find(':'); colon != std::string::npos && !spec.contains("subtype")) {
      spec["type"] = type.substr(0, colon);
      spec["subtype"] = type.substr(colon + 1);
    }
    std::string id = call(name, [&] { return env_.create_action(spec); });
    if (op.contains("as")) scope_.vars[op["as"].get<std::string>()] = id;
  }

  void update_action(const json& op, const std::string& name) {
    std::string target = str(op, "target", name);
    json set = json::object();
    for (auto it = op["set"].begin(); it != op["set"].end(); ++it) {
      const std::string& field = it.key();
      const char* w = detail::update_wrapper(*it);
      // [impl] rejects increments for every field it supports; so do we,
      // rather than guessing at read-modify-write semantics.
      if (w && std::string_view(w) != "set") throw HookError(name + ": " + w + " is not supported for field \"" + field + "\"");
      json v = ev(w ? it->begin().value() : *it);
      if (field == "status") {
        auto letter = detail::status_letter(v, false);
        if (!letter) throw HookError(name + ": unknown status " + v.dump());
        v = std::string(1, *letter);
      } else if (field == "subject" && !v.is_null() && !v.is_string()) {
        throw HookError(name + ": subject must be a string or null");
      } else if (field == "reactions" && !v.is_null() && !v.is_string()) {
        throw HookError(name + ": reactions must be a string");
      } else if ((field == "comments" || field == "comments_ts") && !v.is_number_integer()) {
        throw HookError(name + ": " + field + " must be an integer");
      } else if (field == "comments" && v.get<int64_t>() < 0) {
        throw HookError(name + ": comments must not be negative");
      } else if (field == "x" && !v.is_object()) {
        throw HookError(name + ": x must be an object");
      }
      set[field] = std::move(v);
    }
    call(name, [&] { env_.update_action(target, set); });
    // Updating our own status is how a hook picks the resting status too.
    if (scope_.action && target == scope_.action->action_id && set.contains("status")) result_.status = set["status"].get<std::string>()[0];
  }

  Flow run_foreach(const json& op) {
    json items = ev(op["array"]);
    if (items.is_null()) return Flow::kNext;  // a missing optional list loops zero times
    if (!items.is_array()) throw HookError("foreach: array must be an array, got " + items.dump());
    if (items.size() > static_cast<size_t>(limits_.max_foreach))
      throw HookError("foreach: " + std::to_string(items.size()) + " items exceed the limit (" + std::to_string(limits_.max_foreach) + ")");
    const std::string var = op.contains("as") ? op["as"].get<std::string>() : "item";
    // The loop variable is scoped to the loop: restore what it shadowed.
    std::optional<json> saved;
    if (auto it = scope_.vars.find(var); it != scope_.vars.end()) saved = *it;
    Flow flow = Flow::kNext;
    for (const auto& item : items) {
      scope_.vars[var] = item;
      if ((flow = run_list(op["do"])) == Flow::kEnd) break;
    }
    if (saved) {
      scope_.vars[var] = *saved;
    } else {
      scope_.vars.erase(var);
    }
    return flow;
  }

  Scope& scope_;
  Env& env_;
  const Limits& limits_;
  HookResult& result_;
  std::chrono::steady_clock::time_point start_;
  int ops_ = 0;
};

}  // namespace

HookResult run_hook(const HookSlot& slot, std::string_view hook_name, Scope& scope, Env& env, const Limits& limits) {
  HookResult result;
  Runner runner(scope, env, limits, result);
  Runner::Flow flow = Runner::Flow::kNext;
  if (slot.ops) {
    // Slots are normally validated at load, but a HookSlot is a plain struct:
    // re-check so the runner can rely on the structure.
    try {
      int ignored = 0;
      detail::check_ops(*slot.ops, std::string(hook_name), limits, ignored);
    } catch (const DefinitionError& e) {
      throw HookError(e.what());
    }
    flow = runner.run_list(*slot.ops);
  }
  if (flow == Runner::Flow::kNext && slot.native) runner.run_native(*slot.native, hook_name);
  result.vars = scope.vars;
  return result;
}

}  // namespace cumulo::actions::dsl
