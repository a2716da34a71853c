// The per-user notification bus (spec/reference-implementation.md §7.1):
// every open `/ws/bus` connection is attached here under the tenant whose
// host it was opened on, and publish() pushes a JSON text frame
// {"id": <random>, "cmd": …, "data": …} to each of them. Thread-safe;
// publish() only queues (net::WsPeer::send), so a slow socket never blocks
// the publisher: its own send queue overflows and it is closed (1008).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "net/http.hpp"

namespace cumulo::realtime {

class Bus {
 public:
  Bus();
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  /// Queues {"id": random string, "cmd": cmd, "data": data} on every open
  /// bus connection of tenant `id_tag`. Returns how many took it.
  size_t publish(const std::string& id_tag, const std::string& cmd, const nlohmann::json& data);
  /// Open bus connections of tenant `id_tag` ("online now"); of all tenants.
  size_t connections(const std::string& id_tag) const;
  size_t connections() const;

  /// Used by the /ws/bus endpoint: registers an authenticated connection of
  /// `user` on tenant `id_tag`; the handle is for detach().
  uint64_t attach(const std::string& id_tag, const std::string& user, std::shared_ptr<net::WsPeer> peer);
  void detach(uint64_t handle);

  /// The wire form of one frame.
  static std::string frame(const std::string& id, const std::string& cmd, const nlohmann::json& data);
  /// A fresh random frame id (16 characters of [A-Za-z0-9]).
  static std::string new_id();

  /// Frames queued so far, and frames a closing or overflowing connection refused.
  uint64_t frames_sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t frames_dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Conn {
    uint64_t handle;
    std::string user;
    std::shared_ptr<net::WsPeer> peer;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Conn>, std::less<>> by_tenant_;
  std::map<uint64_t, std::string> tenant_of_;
  uint64_t next_handle_ = 0;
  std::atomic<uint64_t> sent_{0}, dropped_{0};
};

}  // namespace cumulo::realtime
