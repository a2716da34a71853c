// Definitions: load-time validation (spec/actions-federation.md §4.7,
// reference-implementation.md §2.4), action validation against a definition,
// key patterns and the JSON view of an action.
#include <cctype>
#include <regex>
#include <set>
#include <string>

#include "actions/dsl/internal.hpp"

namespace cumulo::actions::dsl {

namespace {

using detail::text;

// std::regex matches recursively (one stack frame chain per input character
// in libstdc++) and overflows the stack at a few tens of KB of input: a
// remote peer could crash the server with one long content string. Inputs
// longer than this are rejected instead of matched.
constexpr size_t kMaxPatternInput = 1024;

const std::regex& type_re() {
  static const std::regex re("^[A-Z][A-Z0-9]{1,15}(:[A-Z][A-Z0-9]{0,15})?$");
  return re;
}
const std::regex& version_re() {
  static const std::regex re(R"(^\d+\.\d+(\.\d+)?$)");
  return re;
}
const std::regex& subtype_re() {
  static const std::regex re("^[A-Z][A-Z0-9]{0,15}$");
  return re;
}

class Loader {
 public:
  explicit Loader(const json& j) : j_(j) {
    if (j.is_object() && j.contains("type") && j["type"].is_string()) name_ = j["type"].get<std::string>();
  }

  Definition run() {
    if (!j_.is_object()) fail("", "a definition must be a JSON object");
    Definition d;
    d.source = j_;
    auto type = j_.find("type");
    if (type == j_.end() || !type->is_string()) fail("type", "required string");
    if (!std::regex_match(name_, type_re())) fail("type", "must match ^[A-Z][A-Z0-9]{1,15}(:[A-Z][A-Z0-9]{0,15})?$");
    d.type = name_;
    auto version = j_.find("version");
    if (version == j_.end() || !version->is_string()) fail("version", "required string");
    d.version = version->get<std::string>();
    if (!std::regex_match(d.version, version_re())) fail("version", "must match ^\\d+\\.\\d+(\\.\\d+)?$");
    if (auto it = j_.find("subtypes"); it != j_.end() && !it->is_null()) load_subtypes(*it, d);
    if (auto it = j_.find("fields"); it != j_.end() && !it->is_null()) load_fields(*it, d);
    if (auto it = j_.find("schema"); it != j_.end() && !it->is_null()) {
      if (!it->is_object()) fail("schema", "must be an object");
      for (auto s = it->begin(); s != it->end(); ++s)
        if (s.key() != "content") fail("schema." + s.key(), "unknown key (only \"content\" is described)");
      if (auto c = it->find("content"); c != it->end() && !c->is_null()) {
        check_schema(*c, "schema.content", true);
        d.content_schema = *c;
      }
    }
    if (auto it = j_.find("behavior"); it != j_.end() && !it->is_null()) load_behavior(*it, d.behavior);
    if (auto it = j_.find("key_pattern"); it != j_.end() && !it->is_null()) {
      if (!it->is_string()) fail("key_pattern", "must be a string");
      d.key_pattern = it->get<std::string>();
      check_key_pattern(*d.key_pattern);
    }
    if (auto it = j_.find("hooks"); it != j_.end() && !it->is_null()) load_hooks(*it, d);
    // description, metadata, permissions, search and unknown keys are
    // informational: kept in `source`, never read here (forward compatible).
    return d;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    std::string who = name_.empty() ? "?" : name_;
    throw DefinitionError(path.empty() ? who + ": " + problem : who + ": " + path + ": " + problem);
  }

  void load_subtypes(const json& s, Definition& d) {
    if (!s.is_object()) fail("subtypes", "must be an object {NAME: description}");
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!std::regex_match(it.key(), subtype_re())) fail("subtypes." + it.key(), "subtype names must match ^[A-Z][A-Z0-9]{0,15}$");
      if (!it->is_string()) fail("subtypes." + it.key(), "description must be a string");
      d.subtypes[it.key()] = it->get<std::string>();
    }
  }

  void load_fields(const json& f, Definition& d) {
    if (!f.is_object()) fail("fields", "must be an object");
    for (auto it = f.begin(); it != f.end(); ++it) {
      Presence* target = nullptr;
      if (it.key() == "content") target = &d.content;
      if (it.key() == "audience") target = &d.audience;
      if (it.key() == "parent") target = &d.parent;
      if (it.key() == "subject") target = &d.subject;
      if (it.key() == "attachments") target = &d.attachments;
      if (!target) fail("fields." + it.key(), "unknown field (content, audience, parent, subject, attachments)");
      if (it->is_null()) continue;
      if (*it == "required") {
        *target = Presence::kRequired;
      } else if (*it == "forbidden") {
        *target = Presence::kForbidden;
      } else {
        fail("fields." + it.key(), "must be \"required\", \"forbidden\" or null");
      }
    }
  }

  void check_length(const json& s, const std::string& path) {
    std::optional<int64_t> lo, hi;
    for (const char* k : {"min_length", "max_length"}) {
      auto it = s.find(k);
      if (it == s.end()) continue;
      if (!it->is_number_integer() || it->get<int64_t>() < 0) fail(path + "." + k, "must be a non-negative integer");
      (k[1] == 'i' ? lo : hi) = it->get<int64_t>();
    }
    if (lo && hi && *lo > *hi) fail(path, "min_length " + std::to_string(*lo) + " exceeds max_length " + std::to_string(*hi));
  }

  // One function for the top-level content schema and for properties/items:
  // the top level may not be an array (the reference's rule), properties may.
  void check_schema(const json& s, const std::string& path, bool top) {
    if (!s.is_object()) fail(path, "a schema must be an object");
    auto t = s.find("type");
    if (t == s.end() || !t->is_string()) fail(path + ".type", "required string");
    const std::string type = t->get<std::string>();
    std::set<std::string> allowed = {"type", "description"};
    if (type == "string") {
      allowed.insert({"min_length", "max_length", "pattern", "enum"});
    } else if (type == "number") {
      allowed.insert("enum");
    } else if (type == "object") {
      allowed.insert({"properties", "required"});
    } else if (type == "array" && !top) {
      allowed.insert({"min_length", "max_length", "items"});
    } else if (type != "boolean" && type != "json") {
      fail(path + ".type",
           "unknown type \"" + type + (top ? "\" (string, number, boolean, object, json)" : "\" (string, number, boolean, array, object, json)"));
    }
    for (auto it = s.begin(); it != s.end(); ++it)
      if (!allowed.count(it.key())) fail(path + "." + it.key(), "not allowed for type " + type);
    check_length(s, path);
    if (auto p = s.find("pattern"); p != s.end()) {
      if (!p->is_string()) fail(path + ".pattern", "must be a string");
      try {
        std::regex re(p->get<std::string>(), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        fail(path + ".pattern", std::string("invalid regular expression: ") + e.what());
      }
    }
    if (auto e = s.find("enum"); e != s.end()) {
      if (!e->is_array() || e->empty()) fail(path + ".enum", "must be a non-empty array");
      for (size_t i = 0; i < e->size(); ++i)
        if (type == "string" ? !(*e)[i].is_string() : !(*e)[i].is_number()) fail(path + ".enum[" + std::to_string(i) + "]", "must be a " + type);
    }
    if (type == "array") {
      auto items = s.find("items");
      if (items == s.end()) fail(path + ".items", "arrays must declare items");
      check_schema(*items, path + ".items", false);
    }
    if (auto props = s.find("properties"); props != s.end()) {
      if (!props->is_object()) fail(path + ".properties", "must be an object");
      for (auto it = props->begin(); it != props->end(); ++it) check_schema(*it, path + ".properties." + it.key(), false);
    }
    if (auto req = s.find("required"); req != s.end()) {
      if (!req->is_array()) fail(path + ".required", "must be an array of property names");
      auto props = s.find("properties");
      for (size_t i = 0; i < req->size(); ++i) {
        const json& n = (*req)[i];
        if (!n.is_string()) fail(path + ".required[" + std::to_string(i) + "]", "must be a string");
        // A required name that no property declares is almost surely a typo.
        if (props != s.end() && !props->contains(n.get<std::string>()))
          fail(path + ".required[" + std::to_string(i) + "]", "\"" + n.get<std::string>() + "\" is not a declared property");
      }
    }
  }

  void load_behavior(const json& b, Behavior& out) {
    if (!b.is_object()) fail("behavior", "must be an object");
    struct Flag {
      const char* name;
      bool Behavior::*field;
    };
    static constexpr Flag kFlags[] = {{"broadcast", &Behavior::broadcast},
                                      {"allow_unknown", &Behavior::allow_unknown},
                                      {"ephemeral", &Behavior::ephemeral},
                                      {"approvable", &Behavior::approvable},
                                      {"requires_subscription", &Behavior::requires_subscription},
                                      {"deliver_subject", &Behavior::deliver_subject},
                                      {"deliver_to_subject_owner", &Behavior::deliver_to_subject_owner},
                                      {"subscribable", &Behavior::subscribable},
                                      {"relay_children", &Behavior::relay_children},
                                      {"local_only", &Behavior::local_only},
                                      {"requires_acceptance", &Behavior::requires_acceptance}};
    for (auto it = b.begin(); it != b.end(); ++it) {
      const std::string& k = it.key();
      const std::string path = "behavior." + k;
      if (it->is_null()) continue;
      bool known = false;
      for (const auto& f : kFlags) {
        if (k != f.name) continue;
        if (!it->is_boolean()) fail(path, "must be a boolean");
        out.*f.field = it->get<bool>();
        known = true;
      }
      if (known) continue;
      if (k == "default_flags") {
        if (!it->is_string()) fail(path, "must be a string");
        std::string f = it->get<std::string>();
        std::set<char> seen;
        for (char c : f) {
          if (std::string_view("RrCcOo").find(c) == std::string_view::npos) fail(path, std::string("unknown flag '") + c + "' (R/r C/c O/o)");
          char up = static_cast<char>(c & ~0x20);
          if (!seen.insert(up).second) fail(path, std::string("flag '") + up + "' given twice");
        }
        out.default_flags = f;
      } else if (k == "default_visibility") {
        if (!it->is_string() || it->get<std::string>().size() != 1 || std::string_view("PV2FCS").find(it->get<std::string>()[0]) == std::string_view::npos)
          fail(path, "must be one of P V 2 F C S");
        out.default_visibility = it->get<std::string>()[0];
      } else if (k == "gated_by_parent_flag" || k == "gated_by_subject_flag") {
        if (!it->is_string() || it->get<std::string>().size() != 1 || it->get<std::string>()[0] < 'A' || it->get<std::string>()[0] > 'Z')
          fail(path, "must be a single uppercase letter");
        (k == "gated_by_parent_flag" ? out.gated_by_parent_flag : out.gated_by_subject_flag) = it->get<std::string>()[0];
      } else if (k == "ttl") {
        if (!it->is_number_integer() || it->get<int64_t>() < 0) fail(path, "must be a non-negative integer");
        out.ttl = it->get<int64_t>();
      } else if (k == "sync" || k == "federated") {
        // Reserved by the reference and unused; accepted so its definitions load.
      } else {
        // A misspelt flag ("brodcast") would otherwise silently change delivery.
        fail(path, "unknown behavior flag");
      }
    }
  }

  void check_key_pattern(const std::string& p) {
    size_t pos = 0;
    int vars = 0;
    while ((pos = p.find('{', pos)) != std::string::npos) {
      size_t close = p.find('}', pos);
      if (close == std::string::npos) fail("key_pattern", "unclosed '{'");
      std::string var = p.substr(pos + 1, close - pos - 1);
      bool ok = var == "type" || var == "issuer" || var == "audience" || var == "parent" || var == "subject" ||
                (var.starts_with("content.") && detail::valid_path(var));
      if (!ok) fail("key_pattern", "unknown variable {" + var + "} (type, issuer, audience, parent, subject, content.<path>)");
      ++vars;
      pos = close + 1;
    }
    if (vars == 0) fail("key_pattern", "must contain at least one {variable}");
  }

  static bool valid_native_name(const std::string& n) {
    if (n.empty()) return false;
    for (char c : n)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
  }

  void load_slot(const json& s, const std::string& path, HookSlot& slot) {
    auto dsl = [&](const json& ops, const std::string& p) {
      if (!ops.is_array()) fail(p, "an operation list must be an array");
      int count = 0;
      Limits limits;
      detail::check_ops(ops, name_ + ": " + p, limits, count);
      if (count > limits.max_operations) fail(p, "more than " + std::to_string(limits.max_operations) + " operations (" + std::to_string(count) + ")");
      if (!ops.empty()) slot.ops = ops;
    };
    if (s.is_null()) return;
    if (s.is_array()) return dsl(s, path);
    if (s.is_string()) {
      std::string v = s.get<std::string>();
      if (!v.starts_with("native:") || !valid_native_name(v.substr(7))) fail(path, "a string slot must be \"native:<name>\"");
      slot.native = v.substr(7);
      return;
    }
    if (!s.is_object()) fail(path, "must be an operation list, \"native:<name>\", {\"dsl\",\"native\"} or null");
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (it.key() == "dsl") {
        if (!it->is_null()) dsl(*it, path + ".dsl");
      } else if (it.key() == "native") {
        if (it->is_null()) continue;
        if (!it->is_string() || !valid_native_name(it->get<std::string>())) fail(path + ".native", "must be a hook name ([A-Za-z0-9_.-]+)");
        slot.native = it->get<std::string>();
      } else {
        fail(path + "." + it.key(), "unknown key (dsl, native)");
      }
    }
  }

  void load_hooks(const json& h, Definition& d) {
    if (!h.is_object()) fail("hooks", "must be an object");
    for (auto it = h.begin(); it != h.end(); ++it) {
      HookSlot* slot = nullptr;
      if (it.key() == "on_create") slot = &d.on_create;
      if (it.key() == "on_receive") slot = &d.on_receive;
      if (it.key() == "on_accept") slot = &d.on_accept;
      if (it.key() == "on_reject") slot = &d.on_reject;
      if (!slot) fail("hooks." + it.key(), "unknown hook (on_create, on_receive, on_accept, on_reject)");
      load_slot(*it, "hooks." + it.key(), *slot);
    }
  }

  const json& j_;
  std::string name_;
};

// ---- validate_action ----------------------------------------------------------

class Validator {
 public:
  explicit Validator(const Definition& d) : d_(d) {}

  [[noreturn]] void fail(const std::string& path, const std::string& problem) const { throw ValidationError(d_.type + ": " + path + ": " + problem); }

  void value(const json& s, const json& v, const std::string& path) {
    const std::string& type = s["type"].get_ref<const std::string&>();
    if (type == "json") return;
    if (type == "string") {
      if (!v.is_string()) fail(path, "expected a string");
      const std::string& str = v.get_ref<const std::string&>();
      if (auto m = s.find("min_length"); m != s.end() && str.size() < m->get<size_t>())
        fail(path, "shorter than " + std::to_string(m->get<size_t>()) + " bytes");
      if (auto m = s.find("max_length"); m != s.end() && str.size() > m->get<size_t>())
        fail(path, "longer than " + std::to_string(m->get<size_t>()) + " bytes");
      if (auto p = s.find("pattern"); p != s.end()) {
        if (str.size() > kMaxPatternInput) fail(path, "longer than " + std::to_string(kMaxPatternInput) + " bytes, too long to match its pattern");
        if (!std::regex_match(str, std::regex(p->get<std::string>(), std::regex::ECMAScript))) fail(path, "does not match the pattern");
      }
      check_enum(s, v, path);
    } else if (type == "number") {
      if (!v.is_number()) fail(path, "expected a number");
      check_enum(s, v, path);
    } else if (type == "boolean") {
      if (!v.is_boolean()) fail(path, "expected a boolean");
    } else if (type == "array") {
      if (!v.is_array()) fail(path, "expected an array");
      if (auto m = s.find("min_length"); m != s.end() && v.size() < m->get<size_t>()) fail(path, "fewer than " + std::to_string(m->get<size_t>()) + " items");
      if (auto m = s.find("max_length"); m != s.end() && v.size() > m->get<size_t>()) fail(path, "more than " + std::to_string(m->get<size_t>()) + " items");
      for (size_t i = 0; i < v.size(); ++i) value(s["items"], v[i], path + "[" + std::to_string(i) + "]");
    } else if (type == "object") {
      if (!v.is_object()) fail(path, "expected an object");
      // Null counts as absent: clients send "x": null for an unset field.
      if (auto req = s.find("required"); req != s.end())
        for (const auto& n : *req) {
          auto it = v.find(n.get<std::string>());
          if (it == v.end() || it->is_null()) fail(path + "." + n.get<std::string>(), "required");
        }
      if (auto props = s.find("properties"); props != s.end())
        for (auto p = props->begin(); p != props->end(); ++p) {
          auto it = v.find(p.key());
          if (it != v.end() && !it->is_null()) value(*p, *it, path + "." + p.key());
        }
    }
  }

 private:
  void check_enum(const json& s, const json& v, const std::string& path) const {
    auto e = s.find("enum");
    if (e == s.end()) return;
    for (const auto& allowed : *e)
      if (detail::json_equal(allowed, v)) return;
    fail(path, "not one of the allowed values");
  }

  const Definition& d_;
};

// json::empty() is false for every scalar, strings included: test "" apart.
bool empty_json(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  return v.is_null() || ((v.is_array() || v.is_object()) && v.empty());
}

}  // namespace

const HookSlot& Definition::hook(std::string_view name) const {
  if (name == "on_create") return on_create;
  if (name == "on_receive") return on_receive;
  if (name == "on_accept") return on_accept;
  if (name == "on_reject") return on_reject;
  throw std::out_of_range("unknown hook \"" + std::string(name) + "\"");
}

Definition parse_definition(const json& j) { return Loader(j).run(); }

void validate_action(const Definition& def, const ActionFields& a) {
  Validator v(def);
  auto presence = [&](Presence p, bool present, const char* field) {
    if (p == Presence::kRequired && !present) v.fail(field, "required");
    if (p == Presence::kForbidden && present) v.fail(field, "forbidden");
  };
  auto has = [](const std::optional<std::string>& s) { return s && !s->empty(); };
  // DEL carries no content: a deletion of a POST must not need the post text.
  const bool del = a.subtype && *a.subtype == "DEL";
  if (!del) presence(def.content, a.content && !empty_json(*a.content), "content");
  presence(def.audience, has(a.audience), "audience");
  presence(def.parent, has(a.parent), "parent");
  presence(def.subject, has(a.subject), "subject");
  presence(def.attachments, a.attachments && !a.attachments->empty(), "attachments");
  if (!del && def.content_schema && a.content && !a.content->is_null()) v.value(*def.content_schema, *a.content, "content");
}

std::string expand_key(std::string_view pattern, const ActionFields& a) {
  std::string out;
  size_t at = 0;
  while (at < pattern.size()) {
    size_t open = pattern.find('{', at);
    size_t close = open == std::string_view::npos ? open : pattern.find('}', open);
    if (close == std::string_view::npos) break;
    out.append(pattern.substr(at, open - at));
    std::string_view var = pattern.substr(open + 1, close - open - 1);
    auto opt = [](const std::optional<std::string>& s) { return s ? *s : std::string(); };
    if (var == "type") {
      out += a.type;
    } else if (var == "issuer") {
      out += a.issuer;
    } else if (var == "audience") {
      out += opt(a.audience);
    } else if (var == "parent") {
      out += opt(a.parent);
    } else if (var == "subject") {
      out += opt(a.subject);
    } else if (var.starts_with("content.") && a.content) {
      const json* cur = &*a.content;
      auto segs = detail::split_path(var.substr(8));
      for (const auto& s : segs) {
        if (!cur->is_object() || !cur->contains(s)) {
          cur = nullptr;
          break;
        }
        cur = &(*cur)[s];
      }
      if (cur) out += text(*cur);
    }
    at = close + 1;
  }
  if (at < pattern.size()) out.append(pattern.substr(at));
  return out;
}

json action_json(const ActionFields& a) {
  auto opt = [](const std::optional<std::string>& s) { return s ? json(*s) : json(); };
  return {{"action_id", a.action_id},
          {"type", a.type},
          {"subtype", opt(a.subtype)},
          {"issuer", a.issuer},
          {"audience", opt(a.audience)},
          {"parent", opt(a.parent)},
          {"subject", opt(a.subject)},
          {"content", a.content ? *a.content : json()},
          {"attachments", a.attachments ? json(*a.attachments) : json()},
          {"created_at", a.created_at},
          {"expires_at", a.expires_at ? json(*a.expires_at) : json()},
          {"flags", opt(a.flags)},
          {"visibility", a.visibility ? json(std::string(1, *a.visibility)) : json()}};
}

}  // namespace cumulo::actions::dsl
