// The action pipeline. Reading order: records and views, the hook Env,
// create, receive, audience + delivery, STAT aggregation, accept/reject.
#include "actions/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <unordered_map>

#include "api/envelope.hpp"
#include "api/iso_time.hpp"
#include "api/services.hpp"
#include "api/settings_registry.hpp"
#include "app/app.hpp"
#include "auth/remote_keys.hpp"
#include "identity/action_token.hpp"
#include "identity/content_id.hpp"
#include "net/http_client.hpp"
#include "plugins/meta_epoch.hpp"
#include "realtime/bus.hpp"
#include "runtime/scheduler.hpp"

namespace cumulo::actions {

using api::ApiError;
using api::TenantScope;
namespace dsl_ = cumulo::actions::dsl;

namespace {

constexpr const char* kDeliverTask = "action.deliver";
constexpr const char* kVerifyTask = "action.verify";
constexpr const char* kStatTask = "action.stat";
constexpr int kMaxHookNesting = 4;  // hooks creating actions whose hooks create actions…

ApiError invalid(const std::string& msg) { return ApiError(400, "E-VAL-INVALID", msg); }
ApiError denied(const std::string& msg) { return ApiError(403, "E-AUTH-NOPERM", msg); }

std::optional<std::string> opt_str(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return std::nullopt;
  return it->get<std::string>();
}

std::string base_type(std::string_view t) { return std::string(t.substr(0, t.find(':'))); }
std::optional<std::string> subtype_of(std::string_view t) {
  auto c = t.find(':');
  if (c == std::string_view::npos) return std::nullopt;
  return std::string(t.substr(c + 1));
}

// Canonical idTags only (§6.2 step 2): lower-case DNS names, never normalised.
bool canonical_id_tag(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'; });
}

// Flag string semantics ([impl]): R and C enabled unless their lowercase
// letter is present; O only when present.
bool flag_disabled(const std::optional<std::string>& flags, char upper) {
  if (!flags) return false;
  const char lower = static_cast<char>(upper - 'A' + 'a');
  return flags->find(lower) != std::string::npos;
}

// The members ActionFields and the signed claims share one to one.
template <class F>
void for_each_shared_member(F&& f) {
  using AF = dsl_::ActionFields;
  using AC = identity::ActionClaims;
  f(&AF::issuer, &AC::iss);
  f(&AF::audience, &AC::aud);
  f(&AF::parent, &AC::p);
  f(&AF::subject, &AC::sub);
  f(&AF::content, &AC::c);
  f(&AF::attachments, &AC::a);
  f(&AF::created_at, &AC::iat);
  f(&AF::expires_at, &AC::exp);
}

dsl_::ActionFields fields_of_claims(const identity::ActionClaims& c, const std::string& id) {
  dsl_::ActionFields a;
  a.action_id = id;
  a.type = base_type(c.t);
  a.subtype = subtype_of(c.t);
  for_each_shared_member([&](auto af, auto ac) { a.*af = c.*ac; });
  if (c.f && c.f->is_string()) a.flags = c.f->get<std::string>();
  if (c.v && !c.v->empty()) a.visibility = (*c.v)[0];
  return a;
}

// CONN carries proof of work (§9): without the suffix this IP owes, 428
// tells the sender which suffix to reach, and the IP's counter grows.
void require_pow(PowCounters& pow, const std::string& token, const std::string& ip, int64_t now) {
  const int n = pow.required(ip, now);
  if (PowCounters::satisfies(token, n)) return;
  pow.penalize(ip, PowCounters::Violation::kPowCheckFailed, now);
  const std::string suffix(static_cast<size_t>(n), 'A');
  throw ApiError(428, "E-POW-REQUIRED", "Proof of work required: the token must end with " + suffix, json{{"suffix", suffix}, {"required", n}});
}

// The inverse of fields_of_claims: what a created action signs.
identity::ActionClaims claims_of(const dsl_::ActionFields& a, const std::string& key_id) {
  identity::ActionClaims c;
  c.k = key_id;
  c.t = a.full_type();
  for_each_shared_member([&](auto af, auto ac) { c.*ac = a.*af; });
  if (a.flags) c.f = *a.flags;
  if (a.visibility) c.v = std::string(1, *a.visibility);
  return c;
}

dsl_::ActionFields fields_of_record(const json& r) {
  dsl_::ActionFields a;
  a.action_id = r.value("actionId", "");
  a.type = r.value("type", "");
  a.subtype = opt_str(r, "subType");
  a.issuer = r.value("issuerTag", "");
  a.audience = opt_str(r, "audience");
  a.parent = opt_str(r, "parentId");
  a.subject = opt_str(r, "subject");
  if (r.contains("content") && !r["content"].is_null()) a.content = r["content"];
  if (r.contains("attachments") && r["attachments"].is_array()) a.attachments = r["attachments"].get<std::vector<std::string>>();
  a.created_at = r.value("createdAt", int64_t{0});
  if (r.contains("expiresAt") && r["expiresAt"].is_number_integer()) a.expires_at = r["expiresAt"].get<int64_t>();
  a.flags = opt_str(r, "flags");
  if (auto v = opt_str(r, "visibility")) a.visibility = (*v)[0];
  return a;
}

json record_of(const dsl_::ActionFields& a, const std::string& key, const std::optional<std::string>& root, char status, const std::string& token) {
  json r = {{"actionId", a.action_id}, {"type", a.type}, {"issuerTag", a.issuer}, {"createdAt", a.created_at}, {"status", std::string(1, status)}};
  if (a.subtype) r["subType"] = *a.subtype;
  if (!key.empty()) r["key"] = key;
  if (a.parent) r["parentId"] = *a.parent;
  if (root) r["rootId"] = *root;
  if (a.audience) r["audience"] = *a.audience;
  if (a.subject) r["subject"] = *a.subject;
  if (a.content) r["content"] = *a.content;
  if (a.attachments) r["attachments"] = *a.attachments;
  if (a.visibility) r["visibility"] = std::string(1, *a.visibility);
  if (a.flags) r["flags"] = *a.flags;
  if (a.expires_at) r["expiresAt"] = *a.expires_at;
  if (!token.empty()) r["token"] = token;
  return r;
}

// The hook view of a stored record (dsl::action_json + status and x).
json hook_view(const json& rec) {
  json v = dsl_::action_json(fields_of_record(rec));
  v["status"] = rec.value("status", "A");
  v["x"] = rec.contains("x") && rec["x"].is_object() ? rec["x"] : json::object();
  return v;
}

char status_letter(const std::string& s) {
  if (s.size() == 1) return s[0];
  if (s == "confirmation") return 'C';
  if (s == "notification") return 'N';
  if (s == "active") return 'A';
  if (s == "pending") return 'P';
  if (s == "deleted") return 'D';
  return 'A';
}

// [impl] STAT reaction codes.
char reaction_code(const std::string& subtype) {
  static const std::map<std::string, char> codes = {{"LIKE", 'L'}, {"LOVE", 'V'}, {"LAUGH", 'H'}, {"WOW", 'W'}, {"SAD", 'S'}, {"ANGRY", 'A'}};
  auto it = codes.find(subtype);
  return it == codes.end() ? 'L' : it->second;
}

}  // namespace

// ---------------------------------------------------------------------------

// A read-through cache of values the engine reads from the meta adapter on
// every action (settings, profiles), keyed "<tn_id>/<name>". Any write to them
// through a MetaHandle in this process bumps plugins::meta_epoch(), which
// empties the cache; entries also expire after kTtl, which bounds staleness
// from another process writing the same store.
class MetaCache {
 public:
  static constexpr auto kTtl = std::chrono::seconds(5);
  static constexpr size_t kMaxEntries = 10000;

  template <class Load>
  json get(const std::string& key, Load&& load) {
    const auto epoch = plugins::meta_epoch();  // read before the store, so a write in between is noticed
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lk(mu_);
      if (epoch_ != epoch) {
        entries_.clear();
        epoch_ = epoch;
      }
      if (auto it = entries_.find(key); it != entries_.end() && it->second.expires > now) return it->second.value;
    }
    json v = load();
    std::lock_guard lk(mu_);
    if (epoch_ == epoch && plugins::meta_epoch() == epoch) {
      if (entries_.size() >= kMaxEntries) entries_.clear();
      entries_[key] = {v, now + kTtl};
    }
    return v;
  }

 private:
  struct Entry {
    json value;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex mu_;
  uint64_t epoch_ = 0;
  std::unordered_map<std::string, Entry> entries_;
};

struct Engine::Impl {
  Engine& e;
  app::App& app;
  api::Services& s;

  Impl(Engine& eng, app::App& a, api::Services& sv) : e(eng), app(a), s(sv) {}

  const app::FederationConfig& cfg() const { return app.config().federation; }
  int64_t now() const { return s.now(); }

  TenantScope scope(const std::string& id_tag) const {
    net::HttpRequest r;
    r.host = "cl-o." + id_tag;
    return s.tenant(r);
  }
  bool hosted_here(const std::string& id_tag) const { return app.backends().tenant(id_tag).has_value(); }

  // ---- storage helpers -------------------------------------------------------
  std::optional<json> get(const TenantScope& t, const std::string& id) const {
    auto text = t.meta().get_action(t.ref(), id);
    if (text.empty()) return std::nullopt;
    return json::parse(text);
  }
  std::vector<json> list(const TenantScope& t, json filter) const {
    std::vector<json> out;
    if (!filter.contains("limit")) filter["limit"] = 500;
    for (;;) {
      auto page = json::parse(t.meta().list_actions(t.ref(), filter.dump()));
      for (auto& a : page["actions"]) out.push_back(std::move(a));
      if (page["cursor"].is_null()) break;
      filter["cursor"] = page["cursor"];
    }
    return out;
  }
  std::optional<json> by_key(const TenantScope& t, const std::string& key) const {
    auto page = json::parse(t.meta().list_actions(t.ref(), json{{"key", key}, {"limit", 1}}.dump()));
    if (page["actions"].empty()) return std::nullopt;
    return page["actions"][0];
  }
  // A hook refused an action already stored: it never happened. The key goes
  // back to the action it superseded (`holder`), so a refused replacement —
  // a vote for an option that does not exist — loses nothing.
  void undo_store(const TenantScope& t, const std::string& id, const std::string& key, const std::optional<json>& holder) const {
    if (key.empty() || !holder) {
      t.meta().update_action(t.ref(), id, R"({"status":"D"})");
      return;
    }
    t.meta().update_action(t.ref(), id, json{{"status", "D"}, {"key", nullptr}}.dump());
    t.meta().update_action(t.ref(), holder->value("actionId", ""), json{{"status", holder->value("status", "A")}, {"key", key}}.dump());
  }
  // An active subscription of `who` to `target`. The key's holder may be a
  // rejected SUBS (status D, key kept) or the SUBS:DEL that ended it.
  bool subscribed(const TenantScope& t, const std::string& target, const std::string& who) const {
    auto sub = by_key(t, "SUBS:" + target + ":" + who);
    return sub && sub->value("status", "") == "A" && sub->value("subType", json("")) != json("DEL");
  }
  json profile(const TenantScope& t, const std::string& id_tag) const {
    return profile_cache.get(std::to_string(t.info.tn_id) + '/' + id_tag, [&] {
      auto text = t.meta().get_profile(t.ref(), id_tag);
      return text.empty() ? json(nullptr) : json::parse(text);
    });
  }
  static bool blocked(const json& prof) {
    if (!prof.is_object()) return false;
    const std::string st = prof.value("status", "");
    return st == "B" || st == "S" || st == "X";
  }
  // Settings and the sender's profile are read for every action, and each
  // read is an adapter call (an unset setting two). Both are cached per
  // tenant; see MetaCache.
  mutable MetaCache settings_cache, profile_cache;

  json setting(const TenantScope& t, const std::string& key) const {
    return settings_cache.get(std::to_string(t.info.tn_id) + '/' + key, [&] { return stored_setting(t, key); });
  }
  json stored_setting(const TenantScope& t, const std::string& key) const {
    // Tenant value, else the node-wide one (tn 0), else the registry default.
    for (const auto& ref : {t.ref(), plugins::TenantRef{0, ""}}) {
      try {
        auto v = t.meta().get_setting(ref, key);
        if (!v.empty()) return json::parse(v);
      } catch (const plugins::PluginError& ex) {
        if (ex.code() != CM_NOT_FOUND) throw;
      }
    }
    if (auto d = api::settings::find(key)) return d->dflt;
    return nullptr;
  }
  void patch_x(const TenantScope& t, const json& rec, const json& x_patch) const {
    json x = rec.contains("x") && rec["x"].is_object() ? rec["x"] : json::object();
    x.merge_patch(x_patch);
    t.meta().update_action(t.ref(), rec.value("actionId", ""), json{{"x", x}}.dump());
  }

  // ---- hooks -------------------------------------------------------------------
  class HookEnv;
  dsl_::HookResult run_hook(const TenantScope& t, const ActionType& type, const char* hook, const dsl_::ActionFields& a, bool inbound, int nesting);

  // ---- the pipelines -------------------------------------------------------------
  json create(const TenantScope& t, const json& req, int nesting);
  json process_inbound(const TenantScope& t, const std::string& token, const std::vector<std::string>& related, const std::string& ip, bool sync,
                       bool pre_approved);
  // process_inbound without its replay check on refusal: `id` is set once
  // known, `stored` once the store was attempted.
  json admit_inbound(const TenantScope& t, const std::string& token, const std::vector<std::string>& related, const std::string& ip, bool sync,
                     bool pre_approved, std::string& id, bool& stored);
  void after_store(const TenantScope& t, const ActionType& type, const json& rec, bool inbound, int nesting);
  void apply_deletion(const TenantScope& t, const dsl_::ActionFields& a);

  // ---- delivery --------------------------------------------------------------------
  void schedule_delivery(const TenantScope& t, const std::string& action_id, const std::string& to, const std::vector<std::string>& related,
                         const std::string& key_prefix);
  void deliver_new(const TenantScope& t, const ActionType& type, const json& rec);
  void subscriber_fanout(const TenantScope& t, const json& rec, int nesting);
  std::vector<std::string> followers(const TenantScope& t) const;
  runtime::TaskResult run_delivery(const runtime::TaskContext& ctx);
  std::optional<std::string> resign_for_pow(const TenantScope& t, const json& rec, const std::string& reply);
  runtime::TaskResult run_verify(const runtime::TaskContext& ctx);
  void send_ephemeral(const TenantScope& t, const std::string& token, const std::string& to);

  // ---- statistics ----------------------------------------------------------------------
  void maybe_schedule_stat(const TenantScope& t, const dsl_::ActionFields& a);
  runtime::TaskResult run_stat(const runtime::TaskContext& ctx);

  void publish(const TenantScope& t, const json& rec) {
    // The view costs profile lookups: not built when nobody listens (a socket
    // attaching meanwhile is like one attaching just after).
    if (s.bus.connections(t.info.id_tag) == 0) return;
    s.bus.publish(t.info.id_tag, "ACTION", e.view(t, rec));
  }
};

// ---- the Env hooks act through ---------------------------------------------------------

class Engine::Impl::HookEnv final : public dsl_::Env {
 public:
  HookEnv(Impl& impl, const TenantScope& t, const ActionType& type, int nesting) : impl_(impl), t_(t), type_(type), nesting_(nesting) {}

  std::string create_action(const json& spec) override {
    if (nesting_ >= kMaxHookNesting) throw dsl_::HookError("create_action: hooks nested too deep");
    json req = spec;
    auto rec = impl_.create(t_, req, nesting_ + 1);
    return rec.value("actionId", "");
  }
  json get_action(const json& sel) override {
    std::optional<json> rec;
    if (sel.contains("action_id") && sel["action_id"].is_string()) {
      rec = impl_.get(t_, sel["action_id"].get<std::string>());
    } else if (sel.contains("key") && sel["key"].is_string()) {
      rec = impl_.by_key(t_, sel["key"].get<std::string>());
    }
    if (!rec) return nullptr;
    const std::string st = rec->value("status", "A");
    if (sel.contains("key") && st != "A" && st != "C" && st != "N") return nullptr;
    return hook_view(*rec);
  }
  void update_action(const std::string& target, const json& set) override {
    auto rec = impl_.get(t_, target);
    if (!rec) throw dsl_::HookError("update_action: no action " + target);
    json patch = json::object(), x = json::object();
    for (auto& [k, v] : set.items()) {
      if (k == "status" && v.is_string())
        patch["status"] = std::string(1, status_letter(v.get<std::string>()));
      else if (k == "subject" && v.is_string())
        patch["subject"] = v;
      else if (k == "reactions")
        x["stat"]["r"] = v.is_null() ? json("") : v;
      else if (k == "comments")
        x["stat"]["c"] = v;
      else if (k == "comments_ts")
        x["stat"]["ct"] = v;
      else if (k == "x" && v.is_object())
        x.merge_patch(v);
    }
    if (!patch.empty()) t_.meta().update_action(t_.ref(), target, patch.dump());
    if (!x.empty()) impl_.patch_x(t_, *rec, x);
  }
  void delete_action(const std::string& target) override { t_.meta().update_action(t_.ref(), target, R"({"status":"D"})"); }
  json get_profile(const std::string& id_tag) override {
    json p = impl_.profile(t_, id_tag);
    if (!p.is_object()) return nullptr;
    return {{"id_tag", id_tag},
            {"name", p.value("name", "")},
            {"type", p.value("type", "")},
            {"profile_pic", p.value("profilePic", json(nullptr))},
            {"following", p.value("following", false)},
            {"follower", p.value("follower", false)},
            {"connected", p.value("connected", json(false))},
            {"status", p.value("status", json(nullptr))}};
  }
  void update_profile(const std::string& id_tag, const json& set) override {
    if (id_tag.empty() || id_tag == t_.info.id_tag) return;
    json p = {{"idTag", id_tag}};
    for (auto& [k, v] : set.items())
      if (k == "name" || k == "following" || k == "follower" || k == "connected" || k == "status") p[k] = v;
    if (impl_.profile(t_, id_tag).is_null()) {
      p["name"] = p.value("name", id_tag);
      p["type"] = "person";
    }
    t_.meta().upsert_profile(t_.ref(), p.dump());
    impl_.s.relationship_changed(id_tag);
  }
  void broadcast_to_followers(const std::string& action_id) override {
    for (const auto& f : impl_.followers(t_)) impl_.schedule_delivery(t_, action_id, f, {}, "delivery");
  }
  void send_to_audience(const std::string& action_id, const std::string& audience) override {
    if (audience != t_.info.id_tag) impl_.schedule_delivery(t_, action_id, audience, {}, "delivery");
  }
  void create_notification(const std::string& user, const std::string& type, const std::string& action_id, const std::string& priority) override {
    if (user != t_.info.id_tag) return;  // only the local tenant's bus
    impl_.s.bus.publish(t_.info.id_tag, "notification", json{{"type", type}, {"actionId", action_id}, {"priority", priority}});
  }
  void log(const std::string& level, const std::string& message) override {
    const auto lvl = spdlog::level::from_str(level);
    spdlog::log(lvl == spdlog::level::off ? spdlog::level::info : lvl, "[{} hook, {}] {}", type_.def.type, t_.info.id_tag, message);
  }
  json run_native(const std::string& name, const json& input) override {
    if (!type_.plugin) throw dsl_::HookError("native hook " + name + ": the defining plugin is gone");
    auto out = type_.plugin.run_hook(t_.ref(), name, input.dump());
    return out.empty() ? json::object() : json::parse(out);
  }

 private:
  Impl& impl_;
  const TenantScope& t_;
  const ActionType& type_;
  int nesting_;
};

dsl_::HookResult Engine::Impl::run_hook(const TenantScope& t, const ActionType& type, const char* hook, const dsl_::ActionFields& a, bool inbound,
                                        int nesting) {
  const auto& slot = type.def.hook(hook);
  if (slot.empty()) return {};
  dsl_::Scope sc;
  sc.action = &a;
  sc.inbound = inbound;
  sc.context = {{"tenant_id", t.info.tn_id},
                {"tenant_tag", t.info.id_tag},
                {"tenant_type", "person"},
                {"settings",
                 {{"connection_mode",
                   [&] {
                     json m = setting(t, "profile.connection_mode");
                     return (m == "A" || m == "I") ? m : json(nullptr);
                   }()},
                  {"allow_followers", setting(t, "profile.allow_followers") != json(false)},
                  {"auto_approve", setting(t, "profile.auto_approve_actions") == json(true)}}}};
  HookEnv env(*this, t, type, nesting);
  return dsl_::run_hook(slot, hook, sc, env);
}

// ---- create ----------------------------------------------------------------------------------

json Engine::Impl::create(const TenantScope& t, const json& req, int nesting) {
  if (!req.is_object()) throw invalid("Request body must be an object");
  const std::string me = t.info.id_tag;
  std::string type_str = req.value("type", "");
  if (auto sub = opt_str(req, "subType"); sub && type_str.find(':') == std::string::npos) type_str += ":" + *sub;
  if (auto sub = opt_str(req, "subtype"); sub && type_str.find(':') == std::string::npos) type_str += ":" + *sub;
  auto type = e.types_.find(type_str);
  if (!type) throw invalid("Action type not supported: " + type_str);
  const auto& def = type->def;
  const auto& beh = def.behavior;

  dsl_::ActionFields a;
  a.type = base_type(type_str);
  a.subtype = subtype_of(type_str);
  a.issuer = me;
  a.created_at = now();
  auto str = [&](std::initializer_list<const char*> names) -> std::optional<std::string> {
    for (auto n : names)
      if (auto v = opt_str(req, n)) return v;
    return std::nullopt;
  };
  a.audience = str({"audienceTag", "audience"});
  a.parent = str({"parentId", "parent"});
  a.subject = str({"subject"});
  if (req.contains("content") && !req["content"].is_null()) a.content = req["content"];
  if (req.contains("attachments") && req["attachments"].is_array() && !req["attachments"].empty()) {
    a.attachments.emplace();
    for (const auto& f : req["attachments"]) {
      if (!f.is_string()) throw invalid("attachments must be file ids");
      a.attachments->push_back(f.get<std::string>());
    }
  }
  if (req.contains("expiresAt") && !req["expiresAt"].is_null()) {
    auto exp = api::parse_time(req["expiresAt"]);
    if (!exp) throw invalid("expiresAt must be ISO-8601 or Unix seconds");
    a.expires_at = *exp;
  }
  a.flags = str({"flags"});
  if (!a.flags && beh.default_flags) a.flags = beh.default_flags;
  if (a.audience && !canonical_id_tag(*a.audience)) throw invalid("audienceTag is not a valid idTag: " + *a.audience);

  const bool is_del = a.subtype == "DEL";
  std::optional<json> parent, subject;
  if (a.parent) parent = get(t, *a.parent);
  if (a.subject && a.subject->rfind("a1~", 0) == 0) subject = get(t, *a.subject);

  // Audience defaults: a reaction (or any subject-bound non-broadcast type)
  // goes to the subject's owner; a non-broadcast child to its thread's home.
  if (!a.audience && !beh.broadcast) {
    if (parent)
      a.audience = opt_str(*parent, "audience") ? opt_str(*parent, "audience") : opt_str(*parent, "issuerTag");
    else if (subject && def.audience != dsl_::Presence::kForbidden)
      a.audience = opt_str(*subject, "issuerTag");
  }
  if (a.audience == me && (a.type == "REACT" || a.type == "CMNT")) a.audience.reset();  // own content: nobody to tell

  if (!beh.ephemeral) {
    if (!beh.allow_unknown && a.audience && *a.audience != me) {
      json p = profile(t, *a.audience);
      const bool known = p.is_object() && (p.value("following", false) || p.value("connected", json(false)) == json(true));
      if (!known) throw invalid("Unknown recipient " + *a.audience + ": follow or connect first");
    }
    if (beh.requires_subscription) {
      std::optional<std::string> target = a.subject ? a.subject : a.parent;
      std::optional<json> trec = target ? get(t, *target) : std::nullopt;
      if (trec && trec->value("issuerTag", "") != me) {
        const bool is_subscribed = subscribed(t, *target, me) || (trec->contains("rootId") && subscribed(t, trec->value("rootId", ""), me));
        if (!is_subscribed) throw invalid("Not subscribed to " + *target);
      }
    }
    if (!is_del) {
      if (beh.gated_by_parent_flag && parent && flag_disabled(opt_str(*parent, "flags"), *beh.gated_by_parent_flag))
        throw invalid(std::string("The parent does not allow this (flag ") + *beh.gated_by_parent_flag + " is off)");
      if (beh.gated_by_subject_flag && subject && flag_disabled(opt_str(*subject, "flags"), *beh.gated_by_subject_flag))
        throw invalid(std::string("The subject does not allow this (flag ") + *beh.gated_by_subject_flag + " is off)");
    }
  }
  // Visibility: explicit, parent's, subject's, type default, setting, F.
  if (auto v = str({"visibility"}); v && !v->empty()) {
    if (std::string("PV2FCS").find((*v)[0]) == std::string::npos || v->size() != 1) throw invalid("visibility must be one of P V 2 F C S");
    a.visibility = (*v)[0];
  } else if (parent && opt_str(*parent, "visibility")) {
    a.visibility = opt_str(*parent, "visibility")->at(0);
  } else if (subject && opt_str(*subject, "visibility")) {
    a.visibility = opt_str(*subject, "visibility")->at(0);
  } else if (beh.default_visibility) {
    a.visibility = beh.default_visibility;
  } else if (!a.audience || beh.broadcast) {
    json dv = setting(t, "profile.default_visibility");
    a.visibility = dv.is_string() && !dv.get<std::string>().empty() ? dv.get<std::string>()[0] : 'F';
  }
  if (a.flags && a.flags->find('O') != std::string::npos && a.visibility && *a.visibility != 'S') a.visibility = 'C';

  try {
    dsl_::validate_action(def, a);
  } catch (const dsl_::ValidationError& ex) {
    throw invalid(ex.what());
  }

  // Sign with the tenant's newest key; the id is the hash of the exact token.
  auto sk = s.keys.signing_key(t.info);
  auto token = identity::sign_action_token(claims_of(a, sk.key_id), *sk.key);
  if (!token) throw invalid("The action could not be signed (invalid UTF-8?)");
  a.action_id = identity::action_id(*token);

  if (beh.ephemeral) {
    // Never stored: local bus, then straight to the context's home (§2.11).
    json rec = record_of(a, "", std::nullopt, 'A', *token);
    publish(t, rec);
    std::set<std::string> to;
    if (a.audience && *a.audience != me) to.insert(*a.audience);
    if (subject && subject->value("issuerTag", "") != me) to.insert(subject->value("issuerTag", ""));
    // We are the context's home: straight to its subscribers (unless aimed at one user).
    if (subject && subject->value("issuerTag", "") == me && (!a.audience || *a.audience == me))
      for (const auto& sub : list(t, {{"type", "SUBS"}, {"subject", *a.subject}, {"status", "A"}}))
        if (sub.value("subType", json("")) != json("DEL") && sub.value("issuerTag", "") != me) to.insert(sub.value("issuerTag", ""));
    for (const auto& r : to) send_ephemeral(t, *token, r);
    e.stats_.created++;
    return rec;
  }

  std::optional<std::string> root;
  if (parent)
    root = opt_str(*parent, "rootId") ? opt_str(*parent, "rootId") : a.parent;
  else if (a.parent)
    root = a.parent;
  const std::string key = def.key_pattern ? dsl_::expand_key(*def.key_pattern, a) : "";
  // What this action supersedes, in case its hook refuses it (undo_store).
  const std::optional<json> holder = !key.empty() && !def.on_create.empty() ? by_key(t, key) : std::nullopt;
  json rec = record_of(a, key, root, 'A', *token);
  json stored = json::parse(t.meta().put_action(t.ref(), rec.dump()))["stored"];
  stored["token"] = *token;
  e.stats_.created++;

  try {
    auto hr = run_hook(t, *type, "on_create", a, false, nesting);
    if (hr.status == 'D') {  // refused by its hook: whatever it superseded comes back
      undo_store(t, a.action_id, key, holder);
      stored["status"] = "D";
    } else if (hr.status && *hr.status != 'A') {
      t.meta().update_action(t.ref(), a.action_id, json{{"status", std::string(1, *hr.status)}}.dump());
      stored["status"] = std::string(1, *hr.status);
    }
    if (!hr.continue_processing) return stored;
  } catch (const dsl_::ValidationError& ex) {
    undo_store(t, a.action_id, key, holder);
    throw invalid(ex.what());
  } catch (const std::exception& ex) {
    e.stats_.hooks_failed++;
    spdlog::warn("on_create of {} ({}) failed: {}", a.full_type(), a.action_id, ex.what());
  }
  after_store(t, *type, stored, false, nesting);
  if (!beh.local_only) deliver_new(t, *type, stored);
  return stored;
}

// Work common to created and received actions once the row is final.
void Engine::Impl::after_store(const TenantScope& t, const ActionType& type, const json& rec, bool inbound, int nesting) {
  auto a = fields_of_record(rec);
  if (a.subtype == "DEL") apply_deletion(t, a);
  maybe_schedule_stat(t, a);
  publish(t, rec);
  if (!type.def.behavior.local_only) subscriber_fanout(t, rec, nesting);
  (void)inbound;
}

// A …:DEL with a subject or parent of the same issuer marks that action D
// (keyed types are superseded by their key instead).
void Engine::Impl::apply_deletion(const TenantScope& t, const dsl_::ActionFields& a) {
  for (const auto& target : {a.subject, a.parent}) {
    if (!target) continue;
    auto rec = get(t, *target);
    if (rec && rec->value("issuerTag", "") == a.issuer && rec->value("type", "") == a.type) {
      t.meta().update_action(t.ref(), *target, R"({"status":"D"})");
      maybe_schedule_stat(t, fields_of_record(*rec));
    }
  }
}

// ---- receive ---------------------------------------------------------------------------------

// Idempotence (§6.2 step 8): a known id is answered 2xx, with no second row
// and no second hook run. The store's unique id catches a replay that passes
// every check again; one refused by a check it passed the first time (its
// key since expired, its sender since blocked…) is looked up before the
// refusal goes out. A new action, nearly every inbound one, so costs no read.
json Engine::Impl::process_inbound(const TenantScope& t, const std::string& token, const std::vector<std::string>& related, const std::string& ip, bool sync,
                                   bool pre_approved) {
  std::string id;
  bool stored = false;
  try {
    return admit_inbound(t, token, related, ip, sync, pre_approved, id, stored);
  } catch (const ApiError&) {
    if (!id.empty() && !stored && get(t, id)) return json::object();
    throw;
  }
}

json Engine::Impl::admit_inbound(const TenantScope& t, const std::string& token, const std::vector<std::string>& related, const std::string& ip, bool sync,
                                 bool pre_approved, std::string& id, bool& stored) {
  const std::string me = t.info.id_tag;
  auto parsed = identity::parse_action_token(token);
  if (!parsed) throw invalid(std::string("Malformed action token: ") + std::string(identity::to_string(parsed.error())));
  const auto& c = parsed->claims;
  const bool is_conn = c.t.rfind("CONN", 0) == 0;
  if (is_conn && !pre_approved) require_pow(e.pow_, token, ip, now());
  if (!canonical_id_tag(c.iss) || (c.aud && !canonical_id_tag(*c.aud))) throw invalid("Issuer or audience is not a canonical idTag");
  id = parsed->id();

  // A CONN replayed while pending raises its sender's PoW price (§9): CONNs
  // are looked up first.
  if (is_conn)
    if (auto known = get(t, id)) {
      if (known->value("status", "") == "C") e.pow_.penalize(ip, PowCounters::Violation::kDuplicatePending, now());
      return json::object();
    }

  // Key (cached, else fetched from https://cl-o.<iss>/api/me) and signature.
  auto& rk = s.remote_keys();
  auto look = rk.lookup(c.iss, c.k, now());
  if (!look.key) {
    if (look.miss == auth::RemoteKeys::Miss::kUnreachable) throw ApiError(503, "E-SYS-UNAVAIL", "Key of " + c.iss + " cannot be fetched now");
    throw ApiError(401, "E-AUTH-UNAUTH", "Key " + c.k + " of " + c.iss + " is not published");
  }
  auto err = identity::verify_action_token(*parsed, *look.key->key, now(), look.key->expires_at);
  if (err == identity::TokenError::kBadSignature) {
    // The key may have rotated: refetch once.
    auto fresh = rk.lookup(c.iss, c.k, now(), true);
    if (fresh.key) err = identity::verify_action_token(*parsed, *fresh.key->key, now(), fresh.key->expires_at);
  }
  if (err != identity::TokenError::kNone) {
    if (is_conn) e.pow_.penalize(ip, PowCounters::Violation::kSignatureFailure, now());
    if (err == identity::TokenError::kExpired) throw ApiError(400, "E-VAL-INVALID", "Action token expired");
    throw ApiError(401, "E-AUTH-UNAUTH", std::string("Action token rejected: ") + std::string(identity::to_string(err)));
  }

  auto type = e.types_.find(c.t);
  if (!type) throw invalid("Action type not supported: " + c.t);
  const auto& beh = type->def.behavior;
  auto a = fields_of_claims(c, id);
  try {
    dsl_::validate_action(type->def, a);
  } catch (const dsl_::ValidationError& ex) {
    throw invalid(ex.what());
  }

  std::optional<json> parent, subject;
  if (a.parent) parent = get(t, *a.parent);
  if (a.subject && a.subject->rfind("a1~", 0) == 0) subject = get(t, *a.subject);
  json iss_profile = profile(t, c.iss);
  if (blocked(iss_profile)) throw denied("Sender is blocked");
  if (!pre_approved) {
    if (!beh.allow_unknown) {
      bool ok = iss_profile.is_object() && (iss_profile.value("following", false) || iss_profile.value("connected", json(false)) == json(true));
      // R1: reactions/reposts of our own public content.
      if (!ok && (a.type == "REACT" || a.type == "REPOST") && subject && subject->value("issuerTag", "") == me && subject->value("visibility", "") == "P")
        ok = true;
      // R2: statistics about something we hold.
      if (!ok && a.type == "STAT" && parent) ok = true;
      // R3: an APRV relayed by the owner of a relay_children container.
      if (!ok && a.type == "APRV" && parent && parent->value("issuerTag", "") == c.iss) {
        auto pt = e.types_.find(parent->value("type", ""));
        ok = pt && pt->def.behavior.relay_children;
      }
      if (!ok) throw denied(c.iss + " is neither followed nor connected");
    }
    if (beh.requires_subscription) {
      std::optional<std::string> target = a.subject ? a.subject : a.parent;
      std::optional<json> trec = target ? get(t, *target) : std::nullopt;
      if (trec && trec->value("issuerTag", "") != c.iss) {
        const bool home = trec->value("issuerTag", "") == me;
        if (home && !subscribed(t, *target, c.iss)) throw denied(c.iss + " is not subscribed to " + *target);
        // Not our container: its home checked the subscription and relays.
      }
    }
    if (a.subtype != "DEL") {
      if (beh.gated_by_parent_flag && parent && flag_disabled(opt_str(*parent, "flags"), *beh.gated_by_parent_flag))
        throw invalid("The parent does not allow this");
      if (beh.gated_by_subject_flag && subject && flag_disabled(opt_str(*subject, "flags"), *beh.gated_by_subject_flag))
        throw invalid("The subject does not allow this");
    }
  }
  if (beh.ephemeral) {
    publish(t, record_of(a, "", std::nullopt, 'A', token));
    // The context's home forwards to its local subscribers' nodes too.
    if (subject && subject->value("issuerTag", "") == me)
      for (const auto& sub : list(t, {{"type", "SUBS"}, {"subject", *a.subject}, {"status", "A"}})) {
        const std::string who = sub.value("issuerTag", "");
        if (who != c.iss && who != me && sub.value("subType", json("")) != json("DEL")) send_ephemeral(t, token, who);
      }
    return json::object();
  }
  if (!a.visibility) {
    if (parent && opt_str(*parent, "visibility"))
      a.visibility = opt_str(*parent, "visibility")->at(0);
    else if (subject && opt_str(*subject, "visibility"))
      a.visibility = opt_str(*subject, "visibility")->at(0);
  }

  std::optional<std::string> root;
  if (parent)
    root = opt_str(*parent, "rootId") ? opt_str(*parent, "rootId") : a.parent;
  else if (a.parent)
    root = a.parent;
  std::string key = type->def.key_pattern ? dsl_::expand_key(*type->def.key_pattern, a) : "";
  // Without an on_receive hook the resting status is known now: one write.
  char initial = type->def.on_receive.empty() ? 'A' : 'V';
  std::optional<json> holder;  // what this action supersedes (undo_store)
  if (!key.empty()) {
    // A replay of an older token must not supersede the newer one. iat has
    // one-second resolution: on a tie the order is unknown, and a …:DEL
    // holder wins against a non-DEL newcomer (a late FLLW must not undo a
    // FLLW:DEL of the same second).
    if ((holder = by_key(t, key))) {
      const int64_t held = holder->value("createdAt", int64_t{0});
      const bool holder_del = holder->value("subType", json("")) == json("DEL");
      if (held > a.created_at || (held == a.created_at && holder_del && a.subtype != "DEL")) {
        key.clear();
        initial = 'D';
      }
    }
  }
  json rec = record_of(a, key, root, initial, token);
  stored = true;
  try {
    rec = json::parse(t.meta().put_action(t.ref(), rec.dump()))["stored"];
  } catch (const plugins::PluginError& ex) {
    if (ex.code() == CM_CONFLICT) return json::object();  // a replay, or a concurrent delivery of the same token
    throw;
  }
  rec["token"] = token;
  e.stats_.received++;
  if (initial == 'D') return json::object();

  json ret = json::object();
  char status = 'A';
  bool cont = true;
  try {
    auto hr = run_hook(t, *type, "on_receive", a, true, 0);
    if (hr.status) status = *hr.status;
    cont = hr.continue_processing;
    if (hr.return_value) ret = *hr.return_value;
  } catch (const dsl_::ValidationError& ex) {
    undo_store(t, id, key, holder);
    if (sync) throw invalid(ex.what());
    spdlog::info("inbound {} {} refused by its hook: {}", c.t, id, ex.what());
    return json::object();
  } catch (const std::exception& ex) {
    e.stats_.hooks_failed++;
    spdlog::warn("on_receive of {} ({}) failed: {}", c.t, id, ex.what());
    if (sync) throw invalid(std::string("Hook failed: ") + ex.what());
  }
  // Auto-approval (§11.5): approvable, addressed to us, from a connection.
  if (!sync && status == 'A' && beh.approvable && a.audience == me && c.iss != me && setting(t, "profile.auto_approve_actions") == json(true) &&
      iss_profile.is_object() && iss_profile.value("connected", json(false)) == json(true)) {
    try {
      create(t, json{{"type", "APRV"}, {"audience", c.iss}, {"subject", id}, {"visibility", "F"}}, 1);
    } catch (const std::exception& ex) {
      spdlog::warn("auto-approval of {} failed: {}", id, ex.what());
    }
  }
  if (status == 'D')  // refused by its hook: whatever it superseded comes back
    undo_store(t, id, key, holder);
  else if (status != initial)
    t.meta().update_action(t.ref(), id, json{{"status", std::string(1, status)}}.dump());
  rec["status"] = std::string(1, status);
  if (status != 'D' && cont) after_store(t, *type, rec, true, 0);

  // Related tokens, pre-approved — only the one the main action is about
  // (the [impl] APRV rule, applied to every main type: no smuggling).
  for (const auto& r : related) {
    auto rp = identity::parse_action_token(r);
    if (!rp) continue;
    if (!a.subject || rp->id() != *a.subject) {
      spdlog::info("related token {} ignored: not the subject of {}", rp->id(), id);
      continue;
    }
    try {
      process_inbound(t, r, {}, ip, true, true);
    } catch (const std::exception& ex) {
      spdlog::info("related token {} of {} refused: {}", rp->id(), id, ex.what());
    }
  }
  return ret;
}

// ---- audience and delivery (§10) ------------------------------------------------------------------

std::vector<std::string> Engine::Impl::followers(const TenantScope& t) const {
  std::vector<std::string> out;
  json f = {{"follower", true}, {"limit", 1000}};
  for (;;) {
    auto page = json::parse(t.meta().list_profiles(t.ref(), f.dump()));
    for (const auto& p : page["profiles"]) {
      const std::string id = p.value("idTag", "");
      if (id != t.info.id_tag && !blocked(p)) out.push_back(id);
    }
    if (page["cursor"].is_null()) break;
    f["cursor"] = page["cursor"];
  }
  return out;
}

void Engine::Impl::schedule_delivery(const TenantScope& t, const std::string& action_id, const std::string& to, const std::vector<std::string>& related,
                                     const std::string& key_prefix) {
  auto* sched = app.scheduler();
  if (!sched) {
    spdlog::error("no scheduler: {} not delivered to {}", action_id, to);
    return;
  }
  json in = {{"tn", t.info.id_tag}, {"id", action_id}, {"to", to}};
  if (!related.empty()) in["related"] = related;
  runtime::RetryPolicy rp{cfg().delivery_min_wait_s, cfg().delivery_max_wait_s, cfg().delivery_attempts};
  sched->task(kDeliverTask).input(in.dump()).key(key_prefix + ":" + action_id + ":" + to).retry(rp).priority(runtime::Priority::Medium).schedule();
}

// Recipients of a locally created action (§10.1 rules 2-4; rule 1 is
// subscriber_fanout, run for created and received actions alike).
void Engine::Impl::deliver_new(const TenantScope& t, const ActionType& type, const json& rec) {
  const std::string me = t.info.id_tag;
  auto a = fields_of_record(rec);
  const auto& beh = type.def.behavior;
  std::set<std::string> to;
  std::vector<std::string> related;
  std::optional<json> parent = a.parent ? get(t, *a.parent) : std::nullopt;
  std::optional<json> subject = a.subject && a.subject->rfind("a1~", 0) == 0 ? get(t, *a.subject) : std::nullopt;
  if (a.type == "APRV" && subject) {
    auto st = e.types_.find(subject->value("type", ""));
    if (st && st->def.behavior.broadcast) {
      for (auto& f : followers(t)) to.insert(f);
      const std::string author = subject->value("issuerTag", "");
      if (author != me) to.insert(author);
      related.push_back(*a.subject);
    } else if (a.audience && *a.audience != me) {
      to.insert(*a.audience);
    }
  } else if (beh.broadcast && !a.audience) {
    bool to_followers = true;
    if (parent) {
      auto pt = e.types_.find(parent->value("type", ""));
      to_followers = !pt || pt->def.behavior.broadcast;
    }
    if (to_followers)
      for (auto& f : followers(t)) to.insert(f);
  } else {
    if (a.audience && *a.audience != me) to.insert(*a.audience);
    if (beh.deliver_to_subject_owner && a.subject) {
      std::string owner = a.subject->rfind('@', 0) == 0 ? a.subject->substr(1) : subject ? subject->value("issuerTag", "") : "";
      if (!owner.empty() && owner != me) to.insert(owner);
    }
    if (beh.deliver_subject && subject) related.push_back(*a.subject);
  }
  for (const auto& r : to) {
    if (blocked(profile(t, r))) continue;
    schedule_delivery(t, a.action_id, r, related, "delivery");
  }
}

// Rule 1: the home node of a subscribable root fans children out to its
// subscribers; a relay_children root relays others' children pre-approved
// through an APRV it signs.
void Engine::Impl::subscriber_fanout(const TenantScope& t, const json& rec, int nesting) {
  const std::string me = t.info.id_tag;
  std::optional<json> cur = rec;
  std::optional<json> root;
  std::shared_ptr<const ActionType> root_type;
  for (int depth = 0; depth < 16 && cur; ++depth) {
    auto pid = opt_str(*cur, "parentId");
    if (!pid) break;
    cur = get(t, *pid);
    if (!cur) break;
    auto ty = e.types_.find(cur->value("type", ""));
    if (ty && ty->def.behavior.subscribable) {
      root = cur;
      root_type = ty;
      break;
    }
  }
  if (!root) return;
  const bool home = opt_str(*root, "audience") ? opt_str(*root, "audience") == me : root->value("issuerTag", "") == me;
  if (!home) return;
  const std::string root_id = root->value("actionId", "");
  const std::string issuer = rec.value("issuerTag", "");
  const std::string id = rec.value("actionId", "");
  if (issuer != me && root_type->def.behavior.relay_children) {
    if (rec.value("type", "") == "APRV") return;
    try {
      create(t, json{{"type", "APRV"}, {"subject", id}, {"parent", root_id}}, nesting + 1);
    } catch (const std::exception& ex) {
      spdlog::warn("relay APRV for {} failed: {}", id, ex.what());
    }
    return;
  }
  // Our own child (or the relay APRV): to every active subscriber but the
  // issuer, self and — for a relay — the relayed child's author.
  std::set<std::string> skip = {me, issuer};
  std::vector<std::string> related;
  if (rec.value("type", "") == "APRV" && opt_str(rec, "subject")) {
    if (auto child = get(t, rec.value("subject", ""))) skip.insert(child->value("issuerTag", ""));
    related.push_back(rec.value("subject", ""));
  }
  for (const auto& sub : list(t, {{"type", "SUBS"}, {"subject", root_id}, {"status", "A"}})) {
    if (sub.value("subType", json("")) == json("DEL")) continue;  // left (a SUBS:UPD still subscribes)
    const std::string who = sub.value("issuerTag", "");
    if (skip.count(who)) continue;
    schedule_delivery(t, id, who, related, "fanout");
  }
}

void Engine::Impl::send_ephemeral(const TenantScope& t, const std::string& token, const std::string& to) {
  // Not persisted by design (PRES): one attempt on the worker pool.
  app.workers().post(runtime::Priority::Low, [this, token, to, from = t.info.id_tag] {
    try {
      auto req = net::ClientRequest::post("https://cl-o." + to + "/api/inbox", json{{"token", token}}.dump(), "application/json");
      req.timeout_ms = cfg().request_timeout_ms;
      s.remote_keys().http().request(req);
    } catch (const std::exception& ex) {
      spdlog::debug("ephemeral action from {} to {} not sent: {}", from, to, ex.what());
    }
  });
}

runtime::TaskResult Engine::Impl::run_delivery(const runtime::TaskContext& ctx) {
  json in = json::parse(ctx.input);
  const std::string tn = in.value("tn", ""), id = in.value("id", ""), to = in.value("to", "");
  if (!hosted_here(tn)) return runtime::TaskResult::fail("tenant " + tn + " is not served here");
  auto t = scope(tn);
  auto rec = get(t, id);
  // A CONN re-signed for proof of work is delivered under its new id.
  for (int hop = 0; hop < 8 && rec && rec->contains("x") && (*rec)["x"].is_object() && (*rec)["x"].contains("resignedAs"); ++hop) {
    auto next = get(t, (*rec)["x"].value("resignedAs", ""));
    if (!next) break;
    rec = std::move(next);
  }
  if (!rec || !rec->contains("token")) return runtime::TaskResult::ok("action gone");
  json body = {{"token", (*rec)["token"]}};
  for (const auto& r : in.value("related", json::array())) {
    auto rr = get(t, r.get<std::string>());
    if (rr && rr->contains("token")) body["related"].push_back((*rr)["token"]);
  }
  auto send = [&] {
    auto req = net::ClientRequest::post("https://cl-o." + to + "/api/inbox", body.dump(), "application/json");
    req.timeout_ms = cfg().request_timeout_ms;
    req.max_body = 64 << 10;
    return s.remote_keys().http().request(req);
  };
  net::ClientResponse res;
  try {
    res = send();
    // §9: the receiver wants proof of work — re-sign our CONN until its
    // suffix matches (N ≤ 3), supersede our row with it and send that.
    if (res.status == 428) {
      if (auto tok = resign_for_pow(t, *rec, res.body)) {
        body["token"] = *tok;
        res = send();
        if (res.status == 428) return runtime::TaskResult::retry("HTTP 428 again after re-signing");
      }
    }
  } catch (const std::exception& ex) {
    spdlog::info("delivery of {} to {} (attempt {}): {}", id, to, ctx.attempt + 1, ex.what());
    return runtime::TaskResult::retry(ex.what());
  }
  if (res.status >= 200 && res.status < 300) {
    e.stats_.delivered++;
    spdlog::debug("delivered {} {} to {}", rec->value("type", ""), id, to);
    return runtime::TaskResult::ok(std::to_string(res.status));
  }
  if (res.status == 429 || res.status == 408 || res.status >= 500) return runtime::TaskResult::retry("HTTP " + std::to_string(res.status));
  e.stats_.delivery_failed++;
  spdlog::warn("delivery of {} to {} refused: HTTP {} {}", id, to, res.status, res.body.substr(0, 300));
  return runtime::TaskResult::fail("HTTP " + std::to_string(res.status) + " " + res.body.substr(0, 300));
}

// The sender side of §9: a 428 E-POW-REQUIRED names N; our own, still
// current CONN is re-signed (varying the "_" nonce) until the compact token
// ends with N 'A's, stored under its new id with the same key (the old row is
// superseded and points to it), and returned. nullopt: not ours to re-sign
// (not a CONN of this tenant, superseded, N unreadable or > 3). Throws when
// the search runs out of time (the task retries).
std::optional<std::string> Engine::Impl::resign_for_pow(const TenantScope& t, const json& rec, const std::string& reply) {
  constexpr int kMaxPow = 3;
  if (rec.value("type", "") != "CONN" || rec.value("issuerTag", "") != t.info.id_tag) return std::nullopt;
  if (rec.value("status", "") == "D" || !opt_str(rec, "key")) return std::nullopt;  // superseded meanwhile
  int n = 0;
  auto r = json::parse(reply, nullptr, false);
  if (r.is_object() && r.contains("error") && r["error"].is_object() && r["error"].contains("details") && r["error"]["details"].is_object()) {
    const json& d = r["error"]["details"];
    if (d.contains("required") && d["required"].is_number_integer())
      n = d["required"].get<int>();
    else if (d.contains("suffix") && d["suffix"].is_string())
      n = static_cast<int>(d["suffix"].get_ref<const std::string&>().size());
  }
  if (n <= 0 || n > kMaxPow) {
    spdlog::warn("CONN {}: the receiver wants proof of work N={} (we re-sign for 1..{})", rec.value("actionId", ""), n, kMaxPow);
    return std::nullopt;
  }
  auto parsed = identity::parse_action_token(rec.value("token", ""));
  if (!parsed) return std::nullopt;
  identity::ActionClaims c = parsed->claims;
  auto sk = s.keys.signing_key(t.info);
  c.k = sk.key_id;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::optional<std::string> token;
  for (uint64_t i = 0;; ++i) {
    c.nonce = std::to_string(i);
    token = identity::sign_action_token(c, *sk.key);
    if (!token) return std::nullopt;
    if (PowCounters::satisfies(*token, n)) break;
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) throw std::runtime_error("no proof of work found in time");
  }
  auto a = fields_of_record(rec);
  a.action_id = identity::action_id(*token);
  const std::string status = rec.value("status", "A");
  json nrec = record_of(a, rec.value("key", ""), opt_str(rec, "rootId"), status.empty() ? 'A' : status[0], *token);
  t.meta().put_action(t.ref(), nrec.dump());  // supersedes the old row (same key)
  patch_x(t, rec, json{{"resignedAs", a.action_id}});
  spdlog::info("CONN {} re-signed with proof of work {} as {}", rec.value("actionId", ""), n, a.action_id);
  return token;
}

runtime::TaskResult Engine::Impl::run_verify(const runtime::TaskContext& ctx) {
  json in = json::parse(ctx.input);
  const std::string tn = in.value("tn", "");
  if (!hosted_here(tn)) return runtime::TaskResult::fail("tenant " + tn + " is not served here");
  auto t = scope(tn);
  std::vector<std::string> related;
  for (const auto& r : in.value("related", json::array())) related.push_back(r.get<std::string>());
  try {
    process_inbound(t, in.value("token", ""), related, in.value("ip", ""), false, false);
    return runtime::TaskResult::ok();
  } catch (const ApiError& ex) {
    if (ex.status() == 503) return runtime::TaskResult::retry(ex.what());
    e.stats_.rejected++;
    spdlog::info("inbound action for {} rejected: {} {}", tn, ex.code(), ex.what());
    return runtime::TaskResult::fail(ex.code() + ": " + ex.what());
  }
}

// ---- statistics (§2.8) ----------------------------------------------------------------------

void Engine::Impl::maybe_schedule_stat(const TenantScope& t, const dsl_::ActionFields& a) {
  std::optional<std::string> target;
  if (a.type == "REACT" || a.type == "REPOST")
    target = a.subject;
  else if (a.type == "CMNT")
    target = a.parent;
  if (!target) return;
  auto rec = get(t, *target);
  if (!rec || rec->value("issuerTag", "") != t.info.id_tag) return;  // only the owner counts
  auto* sched = app.scheduler();
  if (!sched) return;
  // Coalesced: a pending task with this key absorbs further changes.
  sched->task(kStatTask)
      .input(json{{"tn", t.info.id_tag}, {"id", *target}}.dump())
      .key("stat:" + t.info.id_tag + ":" + *target)
      .at_ms((now() + cfg().stat_window_s) * 1000)
      .priority(runtime::Priority::Low)
      .schedule();
}

runtime::TaskResult Engine::Impl::run_stat(const runtime::TaskContext& ctx) {
  json in = json::parse(ctx.input);
  const std::string tn = in.value("tn", ""), id = in.value("id", "");
  if (!hosted_here(tn)) return runtime::TaskResult::fail("tenant gone");
  auto t = scope(tn);
  auto rec = get(t, id);
  if (!rec) return runtime::TaskResult::ok("gone");
  std::map<char, int64_t> by_code;
  int64_t total = 0, comments = 0, last_comment = 0, reposts = 0;
  for (const auto& r : list(t, {{"type", "REACT"}, {"subject", id}, {"status", "A"}})) {
    const std::string sub = r.value("subType", json("")).is_string() ? r.value("subType", "") : "";
    if (sub == "DEL") continue;
    ++by_code[reaction_code(sub.empty() ? "LIKE" : sub)];
    ++total;
  }
  for (const auto& r : list(t, {{"type", "CMNT"}, {"parentId", id}, {"status", "A"}})) {
    if (r.contains("subType") && r["subType"] == "DEL") continue;
    ++comments;
    last_comment = std::max(last_comment, r.value("createdAt", int64_t{0}));
  }
  for (const auto& r : list(t, {{"type", "REPOST"}, {"subject", id}, {"status", "A"}}))
    if (!(r.contains("subType") && r["subType"] == "DEL")) ++reposts;
  std::string rs;
  if (total > 0) {
    std::vector<std::pair<char, int64_t>> v(by_code.begin(), by_code.end());
    std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.second != y.second ? x.second > y.second : x.first < y.first; });
    rs = std::to_string(total);
    for (size_t i = 0; i < v.size() && i < 5; ++i) rs += "," + std::string(1, v[i].first) + std::to_string(v[i].second);
  }
  json content = {{"r", rs}, {"c", comments}, {"ct", last_comment}, {"rp", reposts}};
  patch_x(t, *rec, json{{"stat", content}});
  try {
    create(t, json{{"type", "STAT"}, {"parentId", id}, {"content", content}}, 1);
  } catch (const std::exception& ex) {
    return runtime::TaskResult::fail(std::string("STAT not created: ") + ex.what());
  }
  return runtime::TaskResult::ok(content.dump());
}

// ---------------------------------------------------------------------------------------------

Engine::Engine(app::App& app, api::Services& services) : impl_(std::make_unique<Impl>(*this, app, services)), types_(app.backends()) {
  if (auto* sched = app.scheduler()) register_tasks(*sched);
}

void Engine::register_tasks(runtime::Scheduler& sched) {
  sched.register_kind(kDeliverTask, [this](const runtime::TaskContext& c) { return impl_->run_delivery(c); });
  sched.register_kind(kVerifyTask, [this](const runtime::TaskContext& c) { return impl_->run_verify(c); });
  sched.register_kind(kStatTask, [this](const runtime::TaskContext& c) { return impl_->run_stat(c); });
}

Engine::~Engine() = default;

const app::FederationConfig& Engine::config() const { return impl_->cfg(); }

json Engine::create(const TenantScope& t, const json& request) { return impl_->create(t, request, 0); }
json Engine::create_internal(const TenantScope& t, const json& request) { return impl_->create(t, request, 1); }

json Engine::receive(const TenantScope& t, const std::string& token, const std::vector<std::string>& related, const std::string& client_ip, bool sync) {
  if (token.size() > identity::kMaxActionTokenSize) throw ApiError(413, "E-VAL-INVALID", "Action token too large");
  if (sync) return impl_->process_inbound(t, token, related, client_ip, true, false);
  auto parsed = identity::parse_action_token(token);
  if (!parsed) throw invalid(std::string("Malformed action token: ") + std::string(identity::to_string(parsed.error())));
  // PoW is answered synchronously (the sender must learn the suffix).
  if (parsed->claims.t.rfind("CONN", 0) == 0) require_pow(pow_, token, client_ip, impl_->now());
  auto* sched = impl_->app.scheduler();
  if (!sched) return impl_->process_inbound(t, token, related, client_ip, false, false);
  json in = {{"tn", t.info.id_tag}, {"token", token}, {"ip", client_ip}};
  if (!related.empty()) in["related"] = related;
  const auto& c = impl_->cfg();
  sched->task(kVerifyTask)
      .input(in.dump())
      .key("verify:" + t.info.id_tag + ":" + parsed->id())
      .retry(runtime::RetryPolicy{c.verify_min_wait_s, c.verify_max_wait_s, c.verify_attempts})
      .priority(runtime::Priority::Medium)
      .schedule();
  return nullptr;
}

void Engine::accept(const TenantScope& t, const std::string& action_id) {
  auto rec = impl_->get(t, action_id);
  if (!rec) throw ApiError(404, "E-CORE-NOTFOUND", "No action " + action_id);
  auto type = types_.find(rec->value("type", "") + (opt_str(*rec, "subType") ? ":" + rec->value("subType", "") : ""));
  auto a = fields_of_record(*rec);
  if (type) {
    try {
      impl_->run_hook(t, *type, "on_accept", a, true, 0);
    } catch (const std::exception& ex) {
      stats_.hooks_failed++;
      spdlog::warn("on_accept of {} failed: {}", action_id, ex.what());
    }
  }
  t.meta().update_action(t.ref(), action_id, R"({"status":"A"})");
  if (type && type->def.behavior.approvable && a.issuer != t.info.id_tag)
    impl_->create(t, json{{"type", "APRV"}, {"audience", a.issuer}, {"subject", action_id}, {"visibility", "F"}}, 1);
}

void Engine::reject(const TenantScope& t, const std::string& action_id, const std::string& client_ip) {
  auto rec = impl_->get(t, action_id);
  if (!rec) throw ApiError(404, "E-CORE-NOTFOUND", "No action " + action_id);
  auto type = types_.find(rec->value("type", "") + (opt_str(*rec, "subType") ? ":" + rec->value("subType", "") : ""));
  if (type) {
    try {
      impl_->run_hook(t, *type, "on_reject", fields_of_record(*rec), true, 0);
    } catch (const std::exception& ex) {
      stats_.hooks_failed++;
      spdlog::warn("on_reject of {} failed: {}", action_id, ex.what());
    }
  }
  t.meta().update_action(t.ref(), action_id, R"({"status":"D"})");
  // A rejected CONN raises the PoW price for its sender's node (§9). The
  // address we know is the one that delivered it — the caller's is not.
  if (rec->value("type", "") == "CONN" && !client_ip.empty()) pow_.penalize(client_ip, PowCounters::Violation::kRejected, impl_->now());
}

void Engine::remove(const TenantScope& t, const std::string& action_id) {
  auto rec = impl_->get(t, action_id);
  if (!rec || rec->value("status", "") == "D") throw ApiError(404, "E-CORE-NOTFOUND", "No action " + action_id);
  if (rec->value("issuerTag", "") != t.info.id_tag) throw denied("Only the issuer may delete an action");
  t.meta().update_action(t.ref(), action_id, R"({"status":"D"})");
  // Types that know a DEL subtype tell the same audience: keyed types
  // (FLLW, REACT, CONN…) with a DEL of the same key, which supersedes the
  // action everywhere; unkeyed ones (POST, CMNT…) with a DEL naming it.
  const std::string type = rec->value("type", "");
  auto def = types_.find(type);
  if (def && def->def.subtypes.count("DEL") && !opt_str(*rec, "subType")) {
    const bool keyed = def->def.key_pattern.has_value();
    json req = {{"type", type + ":DEL"}};
    if (auto aud = opt_str(*rec, "audience")) req["audience"] = *aud;
    if (auto p = opt_str(*rec, "parentId")) req["parentId"] = *p;
    if (keyed) {
      if (auto sub = opt_str(*rec, "subject")) req["subject"] = *sub;
    } else {
      req["subject"] = action_id;
    }
    try {
      impl_->create(t, req, 1);
    } catch (const std::exception& ex) {
      spdlog::warn("{}:DEL for {} not sent: {}", type, action_id, ex.what());
    }
  }
}

json Engine::view(const TenantScope& t, const json& r, bool include_token) {
  (void)t;
  json v = {{"actionId", r.value("actionId", "")}, {"type", r.value("type", "")}, {"issuer", {{"idTag", r.value("issuerTag", "")}}}};
  if (auto s = opt_str(r, "subType")) v["subType"] = *s;
  if (auto s = opt_str(r, "parentId")) v["parentId"] = *s;
  if (auto s = opt_str(r, "rootId")) v["rootId"] = *s;
  if (auto s = opt_str(r, "audience")) v["audience"] = {{"idTag", *s}};
  if (r.contains("content") && !r["content"].is_null()) v["content"] = r["content"];
  if (r.contains("attachments") && r["attachments"].is_array()) {
    json at = json::array();
    for (const auto& f : r["attachments"]) at.push_back({{"fileId", f}});
    v["attachments"] = at;
  }
  if (auto s = opt_str(r, "subject")) v["subject"] = *s;
  v["createdAt"] = api::iso_time(r.value("createdAt", int64_t{0}));
  if (r.contains("expiresAt") && r["expiresAt"].is_number_integer()) v["expiresAt"] = api::iso_time(r["expiresAt"].get<int64_t>());
  v["status"] = r.value("status", "A");
  if (auto s = opt_str(r, "visibility")) v["visibility"] = *s;
  if (auto s = opt_str(r, "flags")) v["flags"] = *s;
  if (r.contains("x") && r["x"].is_object() && r["x"].contains("stat")) {
    const json& st = r["x"]["stat"];
    v["stat"] = {{"reactions", st.value("r", "")}, {"commentCount", st.value("c", 0)}, {"reposts", st.value("rp", 0)}};
    if (st.value("ct", int64_t{0}) > 0) v["stat"]["lastCommentAt"] = api::iso_time(st.value("ct", int64_t{0}));
  }
  if (include_token && r.contains("token")) v["token"] = r["token"];
  return v;
}

}  // namespace cumulo::actions
