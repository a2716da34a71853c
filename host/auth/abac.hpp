// Attribute-based access control (spec core.md §8): one engine that every
// handler calls with (subject, "resource:operation", object, env) and the
// tenant's TOP/BOTTOM policies. The engine itself is pure; relationship data
// (follower / connected / blocked / community roles) comes from the owner
// tenant's meta profiles through RelationshipResolver. Rules: docs/access-control.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "plugins/adapters.hpp"

namespace cumulo::auth {

// ---- values -------------------------------------------------------------------

/// A one-character attribute (visibility, status); equal to a 1-char string.
struct Char {
  char c = 0;
  bool operator==(const Char&) const = default;
};
using Array = std::vector<std::string>;
/// Attribute value kinds of §8.5: String, Number (i64), Char, Bool, Array.
using Value = std::variant<std::string, int64_t, Char, bool, Array>;

// ---- subject ------------------------------------------------------------------

/// Subject access levels (§8.3), relative to an object's owner.
enum Level : int {
  kLevelNone = 0,  // blocked
  kLevelPublic = 1,
  kLevelVerified = 2,
  kLevelSecondDegree = 3,  // reserved
  kLevelFollower = 4,
  kLevelConnected = 5,
  kLevelOwner = 6,
};

struct Subject {
  std::string id_tag;  // "" or "guest" = anonymous
  bool authenticated = false;
  /// Token roles (`r` claim, `SADM`) plus community roles from the tenant's profile.
  std::vector<std::string> roles;
  /// Token scope, space separated; `<res>:<id>:R|W` entries confine the token.
  std::optional<std::string> scope;
  /// Relationship level to the tenant (0-5) from RelationshipResolver; unset
  /// = no relationship data (Verified when authenticated, else Public). The
  /// engine raises it to Owner when the subject owns the object.
  std::optional<int> access_level;

  bool anonymous() const { return !authenticated || id_tag.empty() || id_tag == "guest"; }
  bool has_role(std::string_view r) const;
};

// ---- object -------------------------------------------------------------------

struct Grant {
  std::string id_tag;
  bool write = false;  // false = read-only share
};

/// A resource as ABAC sees it. Well-known keys are typed fields; anything else
/// goes in `custom`. get_attr() serves both, and none for a missing key.
struct Object {
  std::string id;  // a1~…, f1~…, idTag for profiles
  std::string owner;
  std::optional<char> visibility;  // none = Direct
  Array audience;
  std::vector<Grant> shared_with;
  Array members;  // subscribers / members, for visibility `S`
  std::optional<int64_t> created_at, expires_at, size;
  std::map<std::string, Value, std::less<>> custom;

  std::optional<Value> get_attr(std::string_view key) const;
};

struct Env {
  int64_t now = 0;  // Unix seconds
};

// ---- policies -----------------------------------------------------------------

/// An operand: a literal, or a reference to an attribute plus an offset for
/// numbers (`env.now` - 86400). Keys: `subject.id_tag|authenticated|roles|
/// access_level`, `action`, `resource`, `operation`, `env.now`, else the object's.
struct Ref {
  std::string key;
  int64_t offset = 0;
};
using Operand = std::variant<Value, Ref>;

struct Condition {
  enum class Op { Equals, NotEquals, GreaterThan, LessThan, GreaterThanOrEqual, LessThanOrEqual, Contains, NotContains, In, HasRole, And, Or };
  Op op = Op::Equals;
  std::string attr;                 // left side (a key as in Ref); the role for HasRole
  Operand value;                    // right side; an Array literal for In
  std::vector<Condition> children;  // And / Or

  static Condition cmp(Op op, std::string attr, Operand v) { return {op, std::move(attr), std::move(v), {}}; }
  static Condition has_role(std::string role) { return {Op::HasRole, std::move(role), Value{}, {}}; }
  static Condition all(std::vector<Condition> c) { return {Op::And, {}, Value{}, std::move(c)}; }
  static Condition any(std::vector<Condition> c) { return {Op::Or, {}, Value{}, std::move(c)}; }
};

enum class Effect {
  Deny,         // TOP: deny every operation
  DenyWrite,    // TOP: deny every operation except read
  Allow,        // BOTTOM: allow
  AllowDelete,  // BOTTOM: allow the delete operation only
};

struct Rule {
  Condition condition;
  Effect effect = Effect::Deny;
  std::string description;
};
using Policy = std::vector<Rule>;

struct Decision {
  bool allow = false;
  std::string reason;
};

/// Evaluates `c` in the context of one request (exposed for tests and for
/// collection policies that filter rows).
bool evaluate(const Condition& c, const Subject& s, std::string_view action, const Object& o, const Env& env);

/// The decision algorithm of §8.7 with the [impl] restrictions. Every denial
/// is logged at debug level.
Decision decide(const Subject& s, std::string_view action, const Object& o, const Env& env, const Policy& top = {}, const Policy& bottom = {});

/// Rank of a community role (public 0 … leader 5), -1 for other roles.
int community_rank(std::string_view role);

// ---- relationships ------------------------------------------------------------

/// What the tenant's profile of an identity says about it.
struct Relation {
  int level = kLevelVerified;  // 0 (blocked), 2, 4 or 5
  std::vector<std::string> roles;
};

/// Computes relationship levels and community roles from the tenant's meta
/// profiles (`following`: the tenant follows them; `follower`: they follow
/// the tenant; `connected`: true = mutual, "R" = requested only; `status` "B"
/// = blocked), with a per-(tenant, idTag) TTL cache. Thread-safe.
class RelationshipResolver {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit RelationshipResolver(plugins::MetaHandle meta, std::chrono::milliseconds ttl = std::chrono::seconds(30), Clock clock = {});

  /// The relation of `id_tag` to the tenant (one get_profile on a miss).
  Relation relation(const plugins::TenantRef& tn, const std::string& id_tag);
  /// Relations for many identities: one list_profiles call per 1000 uncached idTags.
  std::map<std::string, Relation> relations(const plugins::TenantRef& tn, const std::vector<std::string>& id_tags);
  /// `s` with access_level and community roles filled in (anonymous subjects unchanged).
  Subject enrich(const plugins::TenantRef& tn, Subject s);
  /// Drops cached relations of `id_tag` in every tenant (after a FLLW/CONN/block change).
  void invalidate(const std::string& id_tag);

  /// Profile calls made so far (tests check batching and caching).
  uint64_t lookups() const { return lookups_; }

 private:
  struct Entry {
    Relation rel;
    std::chrono::steady_clock::time_point expires;
  };
  std::optional<Relation> cached(uint32_t tn, const std::string& id_tag, std::chrono::steady_clock::time_point now);
  void store(uint32_t tn, const std::string& id_tag, Relation rel, std::chrono::steady_clock::time_point now);

  plugins::MetaHandle meta_;
  std::chrono::milliseconds ttl_;
  Clock clock_;
  std::mutex mu_;
  std::map<std::pair<uint32_t, std::string>, Entry> cache_;
  std::atomic<uint64_t> lookups_{0};
};

/// The relation a profile record (JSON text) describes; Verified for "".
Relation relation_from_profile(std::string_view profile_json);

}  // namespace cumulo::auth
