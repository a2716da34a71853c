// Turns a request's credential into an AuthCtx for the Host tenant
// (spec/core.md §7.4, rest-api.md §1.3): `Authorization: Bearer <jwt|cl_…>`,
// or `?token=` (WebSockets and <img src> need it). One implementation for
// every route; handlers only say whether auth is optional or required.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "app/backends.hpp"
#include "auth/auth_ctx.hpp"
#include "auth/keyring.hpp"
#include "identity/access_token.hpp"
#include "net/http.hpp"

namespace cumulo::auth {

class Authenticator {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds
  Authenticator(app::Backends& backends, KeyRing& keys, identity::RevocationList& revoked, Clock clock);

  /// No credential → nullopt. A credential that does not validate for this
  /// tenant → ApiError 401 E-AUTH-UNAUTH (never a 500): expired, another
  /// tenant's, bad signature, `alg: none`, tampered, truncated, oversized,
  /// revoked, unknown API key.
  std::optional<AuthCtx> authenticate(const net::HttpRequest& req, const app::TenantInfo& tenant, const app::Binding& b);

  /// Mints the session token for `user` on `tenant` (lifetime 3600 s).
  std::string mint(const app::TenantInfo& tenant, const std::string& user, const std::vector<std::string>& roles,
                   std::optional<std::string> scope = std::nullopt, int64_t lifetime = identity::kAccessTokenLifetime);

  /// The tenant's roles as stored on its meta tenant record (e.g. SADM).
  std::vector<std::string> tenant_roles(const app::TenantInfo& tenant, const app::Binding& b) const;

  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  int64_t now() const { return clock_(); }

 private:
  app::Backends& backends_;
  KeyRing& keys_;
  identity::RevocationList& revoked_;
  Clock clock_;
  std::atomic<uint64_t> rejected_{0};
};

/// The bearer of a request: Authorization header, else ?token=. Throws
/// ApiError 401 if an Authorization header is not "Bearer …".
std::optional<std::string> bearer_of(const net::HttpRequest& req);

}  // namespace cumulo::auth
