// What every Cloudillo API handler needs, in one place: the Host tenant and
// its backends, the caller (authentication), keys, and the shared guards.
// Route modules (auth_routes.cpp, profile_routes.cpp, settings_routes.cpp,
// ref_routes.cpp, …) each add their routes with one add_*_routes function, so
// the dispatcher stays a list and no handler re-implements a check.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/router.hpp"
#include "app/backends.hpp"
#include "auth/auth_ctx.hpp"
#include "auth/authenticator.hpp"
#include "auth/keyring.hpp"
#include "identity/access_token.hpp"
#include "identity/action_token.hpp"
#include "net/http.hpp"
#include "realtime/bus.hpp"

namespace cumulo::app {
class App;
}

// The ABAC types (auth/abac.hpp) are only declared here, to keep this
// header light; callers of authorize()/require() include auth/abac.hpp.
namespace cumulo::actions {
class Engine;
}
namespace cumulo::auth {
class RemoteKeys;
struct Subject;
struct Object;
struct Decision;
struct Rule;
}  // namespace cumulo::auth

namespace cumulo::api {

/// The tenant a request addresses (Host: cl-o.<idTag>) with its backends,
/// pinned for the request's lifetime.
struct TenantScope {
  app::TenantInfo info;
  std::shared_ptr<const app::Binding> b;
  plugins::TenantRef ref() const { return info.ref(); }
  const app::Binding& binding() const { return *b; }
  const plugins::MetaHandle& meta() const;  // ApiError 503 if the profile has none
  const plugins::AuthHandle& auth() const;  // ApiError 503 if the profile has none
};

/// Per-IP rate-limit buckets (spec/runtime.md §8, rest-api.md §1.10).
enum class RateBucket { kAuth, kFederation, kGeneral, kWebsocket, kSearch };

class Services {
 public:
  explicit Services(app::App& app);
  ~Services();

  app::App& app;
  auth::KeyRing keys;
  identity::RevocationList revoked;
  auth::Authenticator authn;
  /// The /ws/bus notification bus: publish(idTag, cmd, data) pushes to the tenant's open sockets.
  realtime::Bus bus;

  /// Unix seconds (the one clock handlers use).
  int64_t now() const;

  /// `GET /api/me` bodies per tenant: peers fetch it for every key lookup, so
  /// a warm entry is answered on the network thread without an adapter call.
  /// Handlers that change what it shows (profile, keys) call me_invalidate;
  /// entries also expire after kMeCacheTtl, which bounds staleness from
  /// out-of-band changes (CLI, another process).
  struct MeEntry {
    std::string data;  // the serialised `data` object
    std::string etag;
    int64_t expires = 0;  // Unix s
  };
  static constexpr int64_t kMeCacheTtl = 60;
  std::shared_ptr<const MeEntry> me_cached(const std::string& id_tag) const;
  std::shared_ptr<const MeEntry> me_store(const std::string& id_tag, std::string data, std::string etag);
  void me_invalidate(const std::string& id_tag);

  /// The Host tenant; ApiError 404 E-CORE-NOTFOUND if this node does not serve it.
  TenantScope tenant(const net::HttpRequest& req) const;
  /// Optional-auth routes: a missing or invalid credential means anonymous
  /// (rest-api.md §1.3 "optional": an invalid token is ignored).
  std::optional<auth::AuthCtx> auth_optional(const net::HttpRequest& req, const TenantScope& t);
  /// "user" routes: no credential → 403 E-AUTH-NOPERM, invalid → 401
  /// E-AUTH-UNAUTH, anonymous share-link token → 403.
  auth::AuthCtx auth_required(const net::HttpRequest& req, const TenantScope& t);
  /// "owner" routes: the tenant itself (or a community leader, or SADM of
  /// this tenant) with a full (unscoped) credential → else 403.
  auth::AuthCtx owner_required(const net::HttpRequest& req, const TenantScope& t);

  /// Logout: the token stays rejected until its exp, across restarts (kept
  /// in the tenant's meta records, collection "revoked_tokens").
  void revoke(const TenantScope& t, const auth::AuthCtx& ctx);
  /// Loads persisted revocations of every tenant (at start).
  void load_revocations();

  /// Counts the request against `bucket` for the client IP; over the limit
  /// → ApiError 429 E-RATE-LIMITED (403 E-RATE-BANNED for banned clients)
  /// with Retry-After / X-RateLimit-* headers set on `res`.
  void rate_limit(const net::HttpRequest& req, net::HttpResponse& res, RateBucket bucket, bool no_ban = false);
  /// Seconds the tenant's login stays locked, if it is.
  std::optional<int64_t> lockout_remaining(const std::string& id_tag);
  void login_failed(const std::string& id_tag, const std::string& ip);
  void login_succeeded(const std::string& id_tag);

  /// Verifies a peer's PROXY token addressed to `t` (claims, the issuer's
  /// key fetched from its /api/me and cached, signature); ApiError 401.
  identity::ActionClaims verify_proxy_token(const TenantScope& t, const std::string& token);
  /// Public keys of other identities (node-global cache + /api/me fetches).
  auth::RemoteKeys& remote_keys();
  /// The action pipeline (create, inbox, delivery, accept/reject).
  actions::Engine& actions();

  /// Deletes an API key (its hash and its listing record).
  void delete_api_key(const TenantScope& t, const std::string& key_id);

  // ---- access control (docs/access-control.md) ----------------------------
  /// The ABAC subject for a caller of `t`: token id, roles and scope,
  /// enriched with its relationship level and community roles from `t`'s
  /// meta profiles. A scoped token (share link, session-minted scope) whose
  /// scope has no `<res>:<id>:R|W` entry counts as anonymous; an API key's
  /// scope is passed through as is.
  auth::Subject subject(const TenantScope& t, const std::optional<auth::AuthCtx>& ctx);
  /// decide(subject(t, ctx), action, o, now) with `t`'s TOP/BOTTOM policies
  /// (none are stored yet) plus `top` for this call (e.g. sadm_only()).
  auth::Decision authorize(const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action, const auth::Object& o);
  auth::Decision authorize(const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action, const auth::Object& o,
                           const std::vector<auth::Rule>& top);
  /// authorize(), or ApiError 403 E-AUTH-NOPERM; every denial is logged at
  /// info with the request id, path, subject, action, object and reason.
  void require(const net::HttpRequest& req, const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action, const auth::Object& o);
  void require(const net::HttpRequest& req, const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, std::string_view action, const auth::Object& o,
               const std::vector<auth::Rule>& top);
  /// After a handler changes how `t` relates to `id_tag` (PATCH /api/profiles).
  void relationship_changed(const std::string& id_tag);
  /// Relationship levels computed so far (tests check caching).
  uint64_t relationship_lookups() const;

  // ---- remote profiles (rest-api.md §2.3, core.md §3.2/§3.8) ---------------
  enum class ProfileSync {
    kUpdated,      // 200: the profile (and the keys it lists) were stored
    kNotModified,  // 304 on If-None-Match: syncedAt renewed, the rest kept
    kNotFound,     // the peer answered, but not with a profile of `id_tag`
    kUnreachable,  // no HTTP answer (DNS, connect, TLS, timeout)
  };
  /// Fetches https://cl-o.<id_tag>/api/me (If-None-Match: the stored etag
  /// when `conditional`), stores it in `t`'s meta profiles with syncedAt and
  /// etag, and its keys in the node-global public key cache.
  ProfileSync sync_profile(const TenantScope& t, const std::string& id_tag, bool conditional);

 private:
  mutable std::mutex me_mu_;
  std::map<std::string, std::shared_ptr<const MeEntry>> me_cache_;
  struct Guards;
  std::unique_ptr<Guards> guards_;
  struct Access;  // the relationship resolvers (api/access.cpp)
  static std::shared_ptr<Access> make_access();
  std::shared_ptr<Access> access_;
  std::unique_ptr<actions::Engine> actions_;
};

/// A TOP policy that denies every subject without the SADM role: node-level
/// operations (global settings, non-share refs) where neither owning the
/// tenant nor a community role is enough.
const std::vector<auth::Rule>& sadm_only();

void add_auth_routes(Router& r, Services& s);
void add_profile_routes(Router& r, Services& s);
void add_settings_routes(Router& r, Services& s);
void add_ref_routes(Router& r, Services& s);
void add_action_routes(Router& r, Services& s);

}  // namespace cumulo::api
