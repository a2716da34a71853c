// The node's and tenants' key material, read through the auth adapters and
// cached: the node-wide HS256 access-token secret ([impl] `0:jwt_secret`),
// each tenant's P-384 profile keys (newest signs; all are published in
// /api/me) and VAPID key. Secrets never leave the auth adapter except into
// this cache; public halves are derived, never stored apart.
//
// Stored secret records (auth adapter, docs/identity.md):
//   tn 0, default profile: {"name":"jwt_secret","value":<base64 32 bytes>}
//   tenant: {"name":"profile_key:<keyId>","value":<PKCS#8 body>,
//            "expiresAt"?,"meta":{"publicKey","createdAt","keyType":"signing"}}
//   tenant: {"name":"vapid","value":<b64url scalar>,"meta":{"publicKey","createdAt"}}
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/backends.hpp"
#include "identity/access_token.hpp"
#include "identity/keys.hpp"

namespace cumulo::auth {

struct PublicKeyInfo {
  std::string key_id;
  std::string public_key;  // base64 DER SPKI (the /api/me wire form)
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  std::string key_type = "signing";
};

struct SigningKey {
  std::string key_id;
  std::shared_ptr<const identity::EcKey> key;  // EcKey is move-only; the cache shares it
};

class KeyRing {
 public:
  explicit KeyRing(app::Backends& backends);

  /// The node-wide HS256 key; created (and stored) on first use.
  identity::HmacKey access_key();

  /// The tenant's current signing key: the newest (largest keyId) that has
  /// not expired. Throws std::runtime_error if the tenant has none.
  SigningKey signing_key(const app::TenantInfo& t);
  /// Every profile key of the tenant, oldest first.
  std::vector<PublicKeyInfo> public_keys(const app::TenantInfo& t);
  /// Generates a new P-384 key with today's [impl] key id (%y%m%d, suffixed
  /// if taken) and stores it; it becomes the signing key (rotation).
  PublicKeyInfo create_profile_key(const app::TenantInfo& t, int64_t now);
  /// The tenant's VAPID public key (base64url point); created if missing.
  std::string vapid_public_key(const app::TenantInfo& t, int64_t now);
  bool has_vapid(const app::TenantInfo& t);

  /// Drops cached keys of a tenant (after rotation or migration).
  void invalidate(const std::string& id_tag);

 private:
  struct TenantKeys {
    std::vector<PublicKeyInfo> pub;
    std::map<std::string, std::shared_ptr<const identity::EcKey>> priv;  // keyId → key
  };
  std::shared_ptr<const TenantKeys> load(const app::TenantInfo& t);
  std::shared_ptr<const app::Binding> binding(const app::TenantInfo& t) const;

  app::Backends& backends_;
  std::mutex mu_;
  std::optional<identity::HmacKey> access_key_;
  std::map<std::string, std::shared_ptr<const TenantKeys>> cache_;
};

}  // namespace cumulo::auth
