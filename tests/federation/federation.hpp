// Federation test harness: several `cumulo` hosts on loopback, each serving
// one tenant over real TLS (certificates from a per-harness test CA), each
// resolving every other node's cl-o.<idTag>:443 to its loopback port
// (outbound.resolve) and trusting the CA (outbound.caFile). Nodes keep
// their data directory and port across stop()/start(), so tests can take a
// receiver down and bring it back. docs/federation-local.md shows the same
// setup for trying federation by hand.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "net/x509.hpp"
#include "support/client.hpp"
#include "support/fixture.hpp"

namespace cumulo::test::fed {

using json = nlohmann::json;

struct Node {
  std::string id_tag;
  uint16_t port = 0;
  fs::path dir;  // data dir, cert, key
  json config;   // full config (restarts reuse it)
  std::unique_ptr<TestHost> host;
  std::unique_ptr<ServeProcess> proc;  // start_process(): `cumulo serve` as a child process

  bool up() const { return host != nullptr; }
  app::App& app() { return host->app(); }
};

class Federation {
 public:
  /// Starts one node per idTag. `extra` is merged into every node's config
  /// (e.g. {"federation": {"deliveryMinWaitSeconds": 1}}).
  explicit Federation(const std::vector<std::string>& id_tags, const json& extra = json::object(), std::vector<fs::path> plugins = builtin_plugins());
  ~Federation();

  Node& node(const std::string& id_tag);
  void stop(const std::string& id_tag);
  void start(const std::string& id_tag);
  /// Writes the node's full config (the one start() uses, plus a plugin dir
  /// holding the same plugins) to <node dir>/serve.json and returns its path.
  fs::path write_config(const std::string& id_tag);
  /// Runs the node as a real `cumulo serve --config FILE` child process (same
  /// data dir, port, TLS and resolver); returns once /ready answers 200.
  /// The node must not be running in-process.
  void start_process(const std::string& id_tag);
  /// SIGKILL to the node's child process (no shutdown at all), then reaps it.
  void kill9(const std::string& id_tag);
  const std::string& ca_pem() const { return ca_.cert_pem; }
  const std::string& ca_file() const { return ca_file_; }

  /// The owner's session token of `id_tag` (what login would mint).
  std::string token(const std::string& id_tag);
  /// HTTPS request to `id_tag`'s node as its owner (token = "" → anonymous).
  Resp call(const std::string& id_tag, const std::string& method, const std::string& target, const json& body = nullptr, bool as_owner = true);
  /// The operator API (/api/_admin/…) of `id_tag`'s node.
  Resp admin(const std::string& id_tag, const std::string& method, const std::string& target, const std::string& body = "");
  /// Raw body POST to https://cl-o.<id_tag>/api/inbox[/sync].
  Resp inbox(const std::string& id_tag, const std::string& token, const std::vector<std::string>& related = {}, bool sync = false);

  /// POST /api/actions as the owner; the ActionView (fails the test on error).
  json create(const std::string& id_tag, const json& action);
  /// The stored record of `action_id` on `id_tag` (meta adapter, with token), or null.
  json stored(const std::string& id_tag, const std::string& action_id);
  /// Polls until `action_id` is stored on `id_tag` with a status in `statuses`.
  bool wait_stored(const std::string& id_tag, const std::string& action_id, const std::string& statuses = "ACN",
                   std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// Local profile row of `who` on `id_tag` (null if none).
  json profile(const std::string& id_tag, const std::string& who);
  /// Actions of `id_tag` matching a meta list filter.
  json list(const std::string& id_tag, const json& filter);
  /// Tasks of the node's scheduler whose key starts with `prefix` (any status).
  std::vector<json> tasks(const std::string& id_tag, const std::string& key_prefix);
  /// Waits until no pending task of `kinds` is left on every running node.
  bool settle(std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  net::KeyCert ca_;
  TempDir root_;
  std::string ca_file_;
  std::vector<fs::path> plugins_;
  std::map<std::string, Node> nodes_;
};

/// A token signed by `signer`'s current key with arbitrary claims (forgery
/// tests): iss, k, t, c, p, a, aud, sub, iat, exp, f, v and the "_" PoW nonce.
std::string sign_as(app::App& signer, const std::string& id_tag, const json& claims);

}  // namespace cumulo::test::fed
