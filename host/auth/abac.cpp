#include "auth/abac.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cumulo::auth {

namespace {

using json = nlohmann::json;

bool contains(const Array& a, std::string_view v) { return std::find(a.begin(), a.end(), v) != a.end(); }

// "file:read" → {"file", "read"}; nullopt unless exactly one ':' between two non-empty parts.
std::optional<std::pair<std::string_view, std::string_view>> split_action(std::string_view action) {
  auto colon = action.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == action.size()) return std::nullopt;
  auto op = action.substr(colon + 1);
  if (op.find(':') != std::string_view::npos) return std::nullopt;
  return std::pair{action.substr(0, colon), op};
}

// Text of a String or Char (In / Contains compare identities and codes).
std::optional<std::string> text_of(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* c = std::get_if<Char>(&v)) return std::string(1, c->c);
  if (auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  return std::nullopt;
}

bool equal(const Value& a, const Value& b) {
  if (a.index() == b.index()) return a == b;
  // A Char equals the one-character string ('P' == "P").
  auto* ca = std::get_if<Char>(&a);
  auto* cb = std::get_if<Char>(&b);
  auto* sa = std::get_if<std::string>(&a);
  auto* sb = std::get_if<std::string>(&b);
  if (ca && sb) return sb->size() == 1 && (*sb)[0] == ca->c;
  if (cb && sa) return sa->size() == 1 && (*sa)[0] == cb->c;
  return false;
}

// The subject's level towards the object's owner (§8.3).
int effective_level(const Subject& s, const Object& o) {
  if (s.anonymous()) return kLevelPublic;
  if (!o.owner.empty() && s.id_tag == o.owner) return kLevelOwner;
  return std::clamp(s.access_level.value_or(kLevelVerified), int{kLevelNone}, int{kLevelConnected});
}

struct Ctx {
  const Subject& s;
  std::string_view action;
  const Object& o;
  const Env& env;
};

std::optional<Value> resolve(const Ctx& c, std::string_view key) {
  if (key.starts_with("subject.")) {
    auto k = key.substr(8);
    if (k == "id_tag") return c.s.anonymous() ? std::nullopt : std::optional<Value>(c.s.id_tag);
    if (k == "authenticated") return Value(!c.s.anonymous());
    if (k == "roles") return Value(Array(c.s.roles));
    if (k == "access_level") return Value(int64_t{effective_level(c.s, c.o)});
    return std::nullopt;
  }
  if (key == "env.now") return Value(c.env.now);
  if (key == "action") return Value(std::string(c.action));
  if (key == "resource" || key == "operation") {
    auto parts = split_action(c.action);
    if (!parts) return std::nullopt;
    return Value(std::string(key == "resource" ? parts->first : parts->second));
  }
  return c.o.get_attr(key);
}

std::optional<Value> operand(const Ctx& c, const Operand& op) {
  if (auto* v = std::get_if<Value>(&op)) return *v;
  const auto& r = std::get<Ref>(op);
  auto v = resolve(c, r.key);
  if (!v || r.offset == 0) return v;
  if (auto* n = std::get_if<int64_t>(&*v)) return Value(*n + r.offset);
  return std::nullopt;  // an offset applies to numbers only
}

bool eval(const Condition& cond, const Ctx& c) {
  using Op = Condition::Op;
  switch (cond.op) {
    case Op::And:
      // An empty And/Or matches nothing: a rule never applies to everything by accident.
      return !cond.children.empty() && std::all_of(cond.children.begin(), cond.children.end(), [&](const Condition& x) { return eval(x, c); });
    case Op::Or:
      return std::any_of(cond.children.begin(), cond.children.end(), [&](const Condition& x) { return eval(x, c); });
    case Op::HasRole:
      return c.s.has_role(cond.attr);
    default:
      break;
  }
  // A missing attribute (or operand) makes every comparison false.
  auto left = resolve(c, cond.attr);
  auto right = operand(c, cond.value);
  if (!left || !right) return false;
  switch (cond.op) {
    case Op::Equals:
      return equal(*left, *right);
    case Op::NotEquals:
      return !equal(*left, *right);
    case Op::GreaterThan:
    case Op::LessThan:
    case Op::GreaterThanOrEqual:
    case Op::LessThanOrEqual: {
      auto* a = std::get_if<int64_t>(&*left);
      auto* b = std::get_if<int64_t>(&*right);
      if (!a || !b) return false;
      if (cond.op == Op::GreaterThan) return *a > *b;
      if (cond.op == Op::LessThan) return *a < *b;
      if (cond.op == Op::GreaterThanOrEqual) return *a >= *b;
      return *a <= *b;
    }
    case Op::Contains:
    case Op::NotContains: {
      auto* arr = std::get_if<Array>(&*left);
      auto needle = text_of(*right);
      if (!arr || !needle) return false;
      return contains(*arr, *needle) == (cond.op == Op::Contains);
    }
    case Op::In: {
      auto* arr = std::get_if<Array>(&*right);
      auto needle = text_of(*left);
      return arr && needle && contains(*arr, *needle);
    }
    default:
      return false;
  }
}

// Grant of a confining token scope for (resource, object id): 'W', 'R' or 0.
// Entries look like `file:f1~abc:R`; other words ("read write") do not confine.
struct ScopeGrant {
  bool confined = false;
  char grant = 0;
};
ScopeGrant scope_grant(const std::optional<std::string>& scope, std::string_view resource, const std::string& object_id) {
  ScopeGrant g;
  if (!scope) return g;
  std::istringstream in(*scope);
  std::string word;
  while (in >> word) {
    auto first = word.find(':');
    auto last = word.rfind(':');
    if (first == std::string::npos || first == last || last + 2 != word.size()) continue;
    char mode = word.back();
    if (mode != 'R' && mode != 'W') continue;
    g.confined = true;
    if (!object_id.empty() && std::string_view(word).substr(0, first) == resource && std::string_view(word).substr(first + 1, last - first - 1) == object_id &&
        g.grant != 'W')
      g.grant = mode;
  }
  return g;
}

bool is_admin(const Subject& s) { return s.has_role("SADM") || s.has_role("admin"); }

int max_rank(const Array& roles) {
  int r = -1;
  for (const auto& x : roles) r = std::max(r, community_rank(x));
  return r;
}

Decision deny(const Subject& s, std::string_view action, const Object& o, std::string reason) {
  spdlog::debug("abac deny: subject={} action={} object={} reason={}", s.anonymous() ? std::string("(anonymous)") : s.id_tag, action, o.id, reason);
  return {false, std::move(reason)};
}

Decision allow(std::string reason) { return {true, std::move(reason)}; }

std::string rule_name(const Rule& r, const char* fallback) { return r.description.empty() ? fallback : r.description; }

// The default rules (§8.7 step 4 with the [impl] restrictions).
Decision defaults(const Subject& s, std::string_view action, std::string_view op, const Object& o) {
  const int level = effective_level(s, o);
  if (level == kLevelOwner) return allow("owner");
  if (s.has_role("leader")) return allow("leader role");
  if (level == kLevelNone) return deny(s, action, o, "subject is blocked");

  if (op == "read") {
    for (const auto& g : o.shared_with)
      if (!s.anonymous() && g.id_tag == s.id_tag) return allow("shared with subject");
    auto need = [&](int required, const char* what) {
      return level >= required ? allow(std::string("visibility ") + what) : deny(s, action, o, std::string("visibility ") + what + " not satisfied");
    };
    switch (o.visibility.value_or('\0')) {
      case 'P':
        return need(kLevelPublic, "P");
      case 'V':
        return need(kLevelVerified, "V");
      case '2':
        return deny(s, action, o, "visibility 2 (second degree) is reserved");
      case 'F':
        return need(kLevelFollower, "F");
      case 'C':
        return need(kLevelConnected, "C");
      case 'S':
        if (!s.anonymous() && contains(o.members, s.id_tag)) return allow("visibility S: member");
        return deny(s, action, o, "visibility S: not a member");
      default:
        // NULL and any unknown code are Direct (secure default).
        if (!s.anonymous() && contains(o.audience, s.id_tag)) return allow("direct: in audience");
        return deny(s, action, o, "direct: not owner nor in audience");
    }
  }
  if (op == "update" || op == "delete" || op == "write") {
    for (const auto& g : o.shared_with)
      if (!s.anonymous() && g.id_tag == s.id_tag && g.write) return allow("write grant");
    return deny(s, action, o, "needs ownership or a write grant");
  }
  if (op == "create") return s.anonymous() ? deny(s, action, o, "create needs authentication") : allow("authenticated create");
  if (op == "admin") {
    if (s.anonymous()) return deny(s, action, o, "admin needs authentication");
    if (is_admin(s)) return allow("server admin");
    const int rank = max_rank(s.roles);
    if (rank < community_rank("moderator")) return deny(s, action, o, "admin needs moderator or higher");
    // A moderator acts only on members ranked below them (profile objects carry `roles`).
    if (auto target = o.get_attr("roles")) {
      auto* arr = std::get_if<Array>(&*target);
      if (arr && max_rank(*arr) >= rank) return deny(s, action, o, "target ranks at or above the subject");
    }
    return allow("community moderator");
  }
  return deny(s, action, o, "unknown operation");
}

}  // namespace

bool Subject::has_role(std::string_view r) const { return std::find(roles.begin(), roles.end(), r) != roles.end(); }

std::optional<Value> Object::get_attr(std::string_view key) const {
  if (key == "id") return id.empty() ? std::nullopt : std::optional<Value>(id);
  if (key == "owner") return owner.empty() ? std::nullopt : std::optional<Value>(owner);
  if (key == "visibility") return visibility ? std::optional<Value>(Char{*visibility}) : std::nullopt;
  if (key == "audience") return Value(audience);
  if (key == "members" || key == "subscribers") return Value(members);
  if (key == "shared_with") {
    Array a;
    for (const auto& g : shared_with) a.push_back(g.id_tag);
    return Value(std::move(a));
  }
  if (key == "created_at") return created_at ? std::optional<Value>(*created_at) : std::nullopt;
  if (key == "expires_at") return expires_at ? std::optional<Value>(*expires_at) : std::nullopt;
  if (key == "size") return size ? std::optional<Value>(*size) : std::nullopt;
  if (auto it = custom.find(key); it != custom.end()) return it->second;
  return std::nullopt;
}

int community_rank(std::string_view role) {
  static constexpr std::string_view kRanks[] = {"public", "follower", "supporter", "contributor", "moderator", "leader"};
  for (int i = 0; i < 6; ++i)
    if (kRanks[i] == role) return i;
  return -1;
}

bool evaluate(const Condition& c, const Subject& s, std::string_view action, const Object& o, const Env& env) { return eval(c, Ctx{s, action, o, env}); }

Decision decide(const Subject& subject, std::string_view action, const Object& o, const Env& env, const Policy& top, const Policy& bottom) {
  auto parts = split_action(action);
  if (!parts) return deny(subject, action, o, "invalid action (want resource:operation)");
  const auto [resource, op] = *parts;

  // A confining token scope (`file:{id}:R|W`) grants what it names; for
  // anything else the caller counts as anonymous.
  const ScopeGrant sg = scope_grant(subject.scope, resource, o.id);
  Subject confined;
  const Subject* s = &subject;
  if (sg.confined && !sg.grant) {
    confined.id_tag = subject.id_tag;
    s = &confined;
  }

  for (const auto& r : top) {
    if (r.effect != Effect::Deny && r.effect != Effect::DenyWrite) continue;
    if (r.effect == Effect::DenyWrite && op == "read") continue;
    if (evaluate(r.condition, *s, action, o, env)) return deny(*s, action, o, "top policy: " + rule_name(r, "deny"));
  }
  if (sg.grant && (op == "read" || (sg.grant == 'W' && (op == "update" || op == "delete" || op == "write")))) return allow("token scope");
  for (const auto& r : bottom) {
    if (r.effect != Effect::Allow && r.effect != Effect::AllowDelete) continue;
    if (r.effect == Effect::AllowDelete && op != "delete") continue;
    if (evaluate(r.condition, *s, action, o, env)) return allow("bottom policy: " + rule_name(r, "allow"));
  }
  return defaults(*s, action, op, o);
}

// ---- relationships ------------------------------------------------------------

Relation relation_from_profile(std::string_view profile_json) {
  Relation r;
  if (profile_json.empty()) return r;
  json p = json::parse(profile_json, nullptr, false);
  if (!p.is_object()) return r;
  auto flag = [&](const char* k) {
    auto it = p.find(k);
    return it != p.end() && ((it->is_boolean() && it->get<bool>()) || (it->is_number_integer() && it->get<int64_t>() != 0));
  };
  auto st = p.find("status");
  if (st != p.end() && st->is_string() && *st == "B") {
    r.level = kLevelNone;  // blocked: no level, no community roles
    return r;
  }
  // connected "R" is a request only; true is the mutual connection.
  auto conn = p.find("connected");
  if (conn != p.end() && conn->is_boolean() && conn->get<bool>())
    r.level = kLevelConnected;
  else if (flag("follower"))
    r.level = kLevelFollower;
  if (auto roles = p.find("roles"); roles != p.end() && roles->is_array())
    for (const auto& x : *roles)
      if (x.is_string()) r.roles.push_back(x.get<std::string>());
  return r;
}

RelationshipResolver::RelationshipResolver(plugins::MetaHandle meta, std::chrono::milliseconds ttl, Clock clock)
    : meta_(std::move(meta)), ttl_(ttl), clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

std::optional<Relation> RelationshipResolver::cached(uint32_t tn, const std::string& id_tag, std::chrono::steady_clock::time_point now) {
  std::lock_guard lk(mu_);
  auto it = cache_.find({tn, id_tag});
  if (it == cache_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    cache_.erase(it);
    return std::nullopt;
  }
  return it->second.rel;
}

void RelationshipResolver::store(uint32_t tn, const std::string& id_tag, Relation rel, std::chrono::steady_clock::time_point now) {
  std::lock_guard lk(mu_);
  cache_[{tn, id_tag}] = Entry{std::move(rel), now + ttl_};
}

Relation RelationshipResolver::relation(const plugins::TenantRef& tn, const std::string& id_tag) {
  const auto now = clock_();
  if (auto r = cached(tn.tn_id, id_tag, now)) return *r;
  ++lookups_;
  Relation r = relation_from_profile(meta_.get_profile(tn, id_tag));
  store(tn.tn_id, id_tag, r, now);
  return r;
}

std::map<std::string, Relation> RelationshipResolver::relations(const plugins::TenantRef& tn, const std::vector<std::string>& id_tags) {
  const auto now = clock_();
  std::map<std::string, Relation> out;
  std::vector<std::string> missing;
  for (const auto& t : id_tags) {
    if (out.count(t)) continue;
    if (auto r = cached(tn.tn_id, t, now))
      out[t] = *r;
    else if (std::find(missing.begin(), missing.end(), t) == missing.end())
      missing.push_back(t);
  }
  constexpr size_t kBatch = 1000;  // list_profiles' maximum limit
  for (size_t i = 0; i < missing.size(); i += kBatch) {
    const size_t n = std::min(kBatch, missing.size() - i);
    json ids = json::array();
    for (size_t j = 0; j < n; ++j) ids.push_back(missing[i + j]);
    ++lookups_;
    json res = json::parse(meta_.list_profiles(tn, json{{"idTags", ids}, {"limit", n}}.dump()));
    if (auto p = res.find("profiles"); p != res.end() && p->is_array())
      for (const auto& rec : *p)
        if (rec.contains("idTag") && rec["idTag"].is_string()) out[rec["idTag"].get<std::string>()] = relation_from_profile(rec.dump());
    for (size_t j = 0; j < n; ++j) {
      const auto& t = missing[i + j];
      store(tn.tn_id, t, out[t], now);  // no profile = a verified stranger
    }
  }
  return out;
}

Subject RelationshipResolver::enrich(const plugins::TenantRef& tn, Subject s) {
  if (s.anonymous()) return s;
  Relation r = relation(tn, s.id_tag);
  s.access_level = r.level;
  for (auto& role : r.roles)
    if (!s.has_role(role)) s.roles.push_back(std::move(role));
  return s;
}

void RelationshipResolver::invalidate(const std::string& id_tag) {
  std::lock_guard lk(mu_);
  std::erase_if(cache_, [&](const auto& kv) { return kv.first.second == id_tag; });
}

}  // namespace cumulo::auth
