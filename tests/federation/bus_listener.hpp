// A /ws/bus listener over TLS for the federation tests (the nodes serve
// HTTPS only; tests/support's WsClient is plain TCP). It connects as a
// tenant's owner, collects every frame on a background thread and lets the
// test poll with deadlines.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cumulo::test::fed {

class Federation;

class BusListener {
 public:
  /// Opens wss://cl-o.<id_tag>/ws/bus?token=<owner token> on the node of
  /// `id_tag` and waits until the bus has attached it.
  BusListener(Federation& f, const std::string& id_tag);
  ~BusListener();
  BusListener(const BusListener&) = delete;
  BusListener& operator=(const BusListener&) = delete;

  bool connected() const;
  const std::string& error() const;
  /// Every frame received so far ({"id","cmd","data"}).
  std::vector<nlohmann::json> frames() const;
  /// Frames matching `pred` so far.
  size_t count(const std::function<bool(const nlohmann::json&)>& pred) const;
  /// Polls until a frame matches `pred` (or `timeout`); the first match.
  std::optional<nlohmann::json> wait_for(const std::function<bool(const nlohmann::json&)>& pred,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

  /// Frame predicates.
  static std::function<bool(const nlohmann::json&)> action(const std::string& action_id);
  static std::function<bool(const nlohmann::json&)> notification(const std::string& action_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cumulo::test::fed
