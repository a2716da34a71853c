// Public keys of other identities, for verifying their ES384 tokens
// (PROXY tokens now, federated actions later): looked up by (idTag, keyId)
// in the node-global key cache of the default profile's meta adapter, and
// fetched from https://cl-o.<idTag>/api/me on a miss (spec/core.md §3.2:
// both the [impl] envelope and the bare form are accepted). Failed lookups
// are remembered briefly so a flood of tokens with made-up key ids does not
// turn into a flood of outbound requests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "app/backends.hpp"
#include "app/config.hpp"
#include "identity/keys.hpp"

namespace cumulo::net {
class HttpClient;
}

namespace cumulo::auth {

struct RemoteKey {
  std::shared_ptr<const identity::EcKey> key;
  std::optional<int64_t> expires_at;
};

class RemoteKeys {
 public:
  RemoteKeys(app::Backends& backends, const app::OutboundConfig& cfg);
  ~RemoteKeys();

  /// nullopt if the identity does not publish that key (or cannot be reached).
  std::optional<RemoteKey> find(const std::string& id_tag, const std::string& key_id, int64_t now);
  /// The outbound client (shared with other callers: remote profiles).
  net::HttpClient& http() { return *http_; }
  /// Caches the keys a `/api/me` profile object of `id_tag` lists (callers
  /// that fetched it for other reasons, e.g. remote profiles); the count stored.
  size_t store_keys(const std::string& id_tag, const nlohmann::json& me);

 private:
  /// Fetches /api/me and caches every key it lists; false if unreachable.
  bool fetch(const std::string& id_tag, int64_t now);

  app::Backends& backends_;
  std::unique_ptr<net::HttpClient> http_;
  std::mutex mu_;
  std::map<std::string, int64_t> failed_until_;  // "idTag\nkeyId" → retry after (Unix s)
};

}  // namespace cumulo::auth
