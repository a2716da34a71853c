// The action-type DSL (spec/reference-implementation.md §2, spec/actions-
// federation.md §4): definitions as data, an expression language and hook
// operations. The reference only deserialises its DSL; ours executes it, so
// every limit below is enforced, not declared.
//
// This library knows nothing of storage, HTTP or plugins: operations that
// touch the world (create an action, read a profile, deliver…) go through
// the `Env` interface the host implements. Depends on nlohmann-json only.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cumulo::actions::dsl {

using json = nlohmann::json;

/// A definition, an expression or an operation list is not acceptable. The
/// message names the definition and the JSON path of the problem, e.g.
/// `POLL: hooks.on_create[2].op: unknown operation "frobnicate"`.
class DefinitionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An action does not satisfy its definition (fields, content schema), or a
/// hook aborted. Becomes 400 E-CORE-INVALID (create) / a rejected inbound.
class ValidationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A hook exceeded a limit (operations, time, depth, nodes) or hit an
/// evaluation error (type error, unknown variable, NaN…).
class HookError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- definitions ------------------------------------------------------------

enum class Presence { kOptional, kRequired, kForbidden };

/// One hook slot: DSL operations, a native hook of the defining plugin, or
/// both (DSL first, then native). JSON forms: `[ops…]`, `"native:<name>"`,
/// `{"dsl":[ops…],"native":"<name>"}`, or null/absent.
struct HookSlot {
  std::optional<json> ops;            // validated operation list
  std::optional<std::string> native;  // name passed to the plugin's run_hook
  bool empty() const { return !ops && !native; }
};

struct Behavior {
  bool broadcast = false, allow_unknown = false, ephemeral = false, approvable = false, requires_subscription = false,
       deliver_subject = false, deliver_to_subject_owner = false, subscribable = false, relay_children = false,
       local_only = false, requires_acceptance = false;
  std::optional<std::string> default_flags;       // e.g. "rco"
  std::optional<char> default_visibility;         // P V 2 F C S
  std::optional<char> gated_by_parent_flag;       // uppercase letter, e.g. 'C'
  std::optional<char> gated_by_subject_flag;      // e.g. 'R'
  std::optional<int64_t> ttl;                     // reserved (PRES: 30)
};

/// [impl] JSON form (spec/actions-federation.md §4.2): "type" (TYPE or
/// TYPE:SUB, ^[A-Z][A-Z0-9]{1,15}(:[A-Z][A-Z0-9]{0,15})?$), "version"
/// (^\d+\.\d+(\.\d+)?$), "description", "metadata", "subtypes" {NAME: text},
/// "fields" {content|audience|parent|subject|attachments: "required"|
/// "forbidden"}, "schema" {"content": mini-schema}, "behavior" {flags},
/// "key_pattern", "hooks" {on_create|on_receive|on_accept|on_reject: slot},
/// "permissions" (kept, never enforced — [impl] does not either), "search".
struct Definition {
  std::string type;  // "POST", "IDP:REG"
  std::string version;
  std::map<std::string, std::string> subtypes;
  Presence content = Presence::kOptional, audience = Presence::kOptional, parent = Presence::kOptional,
           subject = Presence::kOptional, attachments = Presence::kOptional;
  std::optional<json> content_schema;  // validated mini-schema
  Behavior behavior;
  std::optional<std::string> key_pattern;
  HookSlot on_create, on_receive, on_accept, on_reject;
  json source;  // the definition as given (GET /api/action-types shows it)

  const HookSlot& hook(std::string_view name) const;  // "on_create"… ; throws std::out_of_range
};

/// Parses and validates one definition (all the load-time rules of §4.7 and
/// reference-implementation.md §2.4, plus: every operation list is checked
/// structurally — known ops, required fields, expression syntax, ≤ 100 ops).
/// Throws DefinitionError.
Definition parse_definition(const json& j);

// ---- the action a hook or validator sees --------------------------------------

/// The claims of one action in pipeline form (spec §4.4 HookContext).
struct ActionFields {
  std::string action_id;  // a1~… (or a placeholder before signing)
  std::string type;       // base type, "POST"
  std::optional<std::string> subtype;
  std::string issuer;
  std::optional<std::string> audience, parent, subject;
  std::optional<json> content;
  std::optional<std::vector<std::string>> attachments;
  int64_t created_at = 0;  // Unix s (iat)
  std::optional<int64_t> expires_at;
  std::optional<std::string> flags;
  std::optional<char> visibility;
  std::string full_type() const { return subtype ? type + ":" + *subtype : type; }
};

/// Field constraints then content schema; throws ValidationError naming the
/// field, e.g. `POST: content: longer than 50000 bytes`. DEL subtypes skip
/// the content schema but keep presence rules for aud/sub/parent.
void validate_action(const Definition& def, const ActionFields& a);

/// Expands `{type}` (base type), `{issuer}`, `{audience}`, `{parent}`,
/// `{subject}`, `{content.<path>}`; missing values become "".
std::string expand_key(std::string_view pattern, const ActionFields& a);

// ---- expressions ----------------------------------------------------------------

struct Limits {
  int max_depth = 50;           // expression nesting
  int max_nodes = 100;          // nodes per top-level expression
  int max_operations = 100;     // per hook run, counted across nesting
  int max_foreach = 100;        // items per foreach
  std::chrono::milliseconds max_time{5000};  // per hook run
};

/// Evaluation scope: roots action_id, type, subtype, issuer, audience,
/// parent, subject, content, attachments, created_at, expires_at, flags,
/// visibility, context {tenant_id, tenant_tag, tenant_type}, is_inbound,
/// is_outbound; anything else is a variable.
struct Scope {
  const ActionFields* action = nullptr;
  json context = json::object();  // {tenant_id, tenant_tag, tenant_type}
  bool inbound = false;
  json vars = json::object();
  json root(std::string_view name) const;  // throws HookError for an unknown variable
};

/// Evaluates an expression (§2.2: literals, "{path}" templates, eq ne gt gte
/// lt lte and or not add subtract multiply divide concat contains startswith
/// endswith if/then/else coalesce). Throws HookError.
json evaluate(const json& expr, const Scope& scope, const Limits& limits = {});
/// Truthiness: null, false, 0, "", [], {} are false.
bool truthy(const json& v);
/// Structural check of an expression (used at definition load). Throws DefinitionError.
void check_expression(const json& expr, const std::string& where, const Limits& limits = {});

// ---- operations -------------------------------------------------------------------

/// What hooks may do to the world. The host implements it per (tenant,
/// action) with the tenant's adapters; every call acts for the *local*
/// tenant (hooks never select rows by the attacker-controlled `aud`).
/// Each method returns JSON or throws (HookError or anything else; the
/// engine wraps it in HookError naming the operation).
class Env {
 public:
  virtual ~Env() = default;
  /// create_action: {type, subtype?, audience?, parent?, subject?, content?,
  /// attachments?, visibility?, flags?} → the new action id.
  virtual std::string create_action(const json& spec) = 0;
  /// get_action by {"key": k} or {"action_id": id} → action view or null.
  virtual json get_action(const json& selector) = 0;
  /// update_action on `target` (an action id): fields status, subject,
  /// reactions, comments, comments_ts, x (object merged).
  virtual void update_action(const std::string& target, const json& set) = 0;
  virtual void delete_action(const std::string& target) = 0;
  /// {id_tag,name,type,profile_pic,following,connected,follower,status} or null.
  virtual json get_profile(const std::string& id_tag) = 0;
  /// Sets fields of the local profile row of `id_tag` (name, following,
  /// connected ("R"|true|false), follower, status); creates a row if needed.
  virtual void update_profile(const std::string& id_tag, const json& set) = 0;
  virtual void broadcast_to_followers(const std::string& action_id) = 0;
  virtual void send_to_audience(const std::string& action_id, const std::string& audience) = 0;
  virtual void create_notification(const std::string& user, const std::string& type, const std::string& action_id, const std::string& priority) = 0;
  virtual void log(const std::string& level, const std::string& message) = 0;
  /// A native hook of the defining plugin: input {"hook","action","context",
  /// "vars"}; output {"ops":[…]?, "vars":{…}?, "status"?, "return"?, "stop"?}.
  virtual json run_native(const std::string& name, const json& input) = 0;
};

/// What one hook run decided (spec §4.4 HookResult).
struct HookResult {
  json vars = json::object();
  bool continue_processing = true;     // false: skip WS forward, fan-out, delivery
  std::optional<json> return_value;    // /api/inbox/sync response data
  std::optional<char> status;          // resting status: A C N D
};

/// The JSON view of an action given to native hooks and `get_action` users:
/// {action_id,type,subtype,issuer,audience,parent,subject,content,
/// attachments,created_at,expires_at,flags,visibility}.
json action_json(const ActionFields& a);

/// Runs a hook slot: DSL operations first (18 ops of reference-
/// implementation.md §2.3 plus `status` and `stop`, see docs/actions.md), then
/// the native hook if any (its returned ops run in the same budget). Throws
/// ValidationError for `abort`, HookError for limits and evaluation errors.
HookResult run_hook(const HookSlot& slot, std::string_view hook_name, Scope& scope, Env& env, const Limits& limits = {});

}  // namespace cumulo::actions::dsl
