// Public keys of other identities, for verifying their ES384 tokens
// (PROXY tokens now, federated actions later): looked up by (idTag, keyId)
// in the node-global key cache of the default profile's meta adapter, and
// fetched from https://cl-o.<idTag>/api/me on a miss (spec/core.md §3.2:
// both the [impl] envelope and the bare form are accepted). Failed lookups
// are remembered briefly so a flood of tokens with made-up key ids does not
// turn into a flood of outbound requests.
#pragma once

#include <atomic>
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

  /// Why a lookup found no key (spec/actions-federation.md §8.2): failures
  /// are remembered per (idTag, keyId) — network errors for 5 min, an answer
  /// without the key (404, 403, parse, key id not listed) for 1 h — and a
  /// remembered failure fails fast without a request.
  enum class Miss { kNone, kUnreachable, kNotPublished };
  struct Lookup {
    std::optional<RemoteKey> key;
    Miss miss = Miss::kNone;
    bool cached_failure = false;  // answered from the failure cache
  };
  /// `refresh`: skip the stored key and refetch /api/me (the signature
  /// failed with the stored key: it may have rotated).
  Lookup lookup(const std::string& id_tag, const std::string& key_id, int64_t now, bool refresh = false);
  /// GET /api/me requests made so far (tests check the failure cache).
  uint64_t fetches() const { return fetches_.load(); }
  /// Drops every remembered failure (tests: the 5 min / 1 h TTLs are real time).
  void forget_failures();
  static constexpr int64_t kUnreachableTtl = 300;
  static constexpr int64_t kNotPublishedTtl = 3600;
  /// The outbound client (shared with other callers: remote profiles).
  net::HttpClient& http() { return *http_; }
  /// Caches the keys a `/api/me` profile object of `id_tag` lists (callers
  /// that fetched it for other reasons, e.g. remote profiles); the count stored.
  size_t store_keys(const std::string& id_tag, const nlohmann::json& me);

 private:
  /// Fetches /api/me and caches every key it lists.
  Miss fetch(const std::string& id_tag);
  std::optional<RemoteKey> stored(const std::string& id_tag, const std::string& key_id);

  app::Backends& backends_;
  std::unique_ptr<net::HttpClient> http_;
  std::mutex mu_;
  // Parsed keys by "idTag\nkeyId": decoding an SPKI (and the canonical
  // re-encoding check) costs about as much as the signature check itself.
  std::map<std::string, RemoteKey> parsed_;
  std::map<std::string, std::pair<int64_t, Miss>> failed_until_;  // "idTag\nkeyId" → (retry after (Unix s), why)
  std::atomic<uint64_t> fetches_{0};
};

}  // namespace cumulo::auth
