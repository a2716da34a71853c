#include "realtime/bus.hpp"

#include <nlohmann/json.hpp>
#include <random>

namespace cumulo::realtime {

Bus::Bus() = default;
Bus::~Bus() = default;

std::string Bus::new_id() {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id(16, ' ');
  for (auto& c : id) c = alphabet[rng() % (sizeof alphabet - 1)];
  return id;
}

std::string Bus::frame(const std::string& id, const std::string& cmd, const nlohmann::json& data) {
  return nlohmann::json{{"id", id}, {"cmd", cmd}, {"data", data}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

size_t Bus::publish(const std::string& id_tag, const std::string& cmd, const nlohmann::json& data) {
  std::vector<std::shared_ptr<net::WsPeer>> peers;
  {
    std::lock_guard lk(mu_);
    auto it = by_tenant_.find(id_tag);
    if (it == by_tenant_.end()) return 0;
    peers.reserve(it->second.size());
    for (const auto& c : it->second) peers.push_back(c.peer);
  }
  // Serialised once, outside the lock; each send only queues.
  const std::string text = frame(new_id(), cmd, data);
  size_t n = 0;
  for (const auto& p : peers) {
    if (p->send(text))
      ++n;
    else
      dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  sent_.fetch_add(n, std::memory_order_relaxed);
  return n;
}

size_t Bus::connections(const std::string& id_tag) const {
  std::lock_guard lk(mu_);
  auto it = by_tenant_.find(id_tag);
  return it == by_tenant_.end() ? 0 : it->second.size();
}

size_t Bus::connections() const {
  std::lock_guard lk(mu_);
  return tenant_of_.size();
}

uint64_t Bus::attach(const std::string& id_tag, const std::string& user, std::shared_ptr<net::WsPeer> peer) {
  std::lock_guard lk(mu_);
  const uint64_t h = ++next_handle_;
  by_tenant_[id_tag].push_back(Conn{h, user, std::move(peer)});
  tenant_of_[h] = id_tag;
  return h;
}

void Bus::detach(uint64_t handle) {
  std::lock_guard lk(mu_);
  auto t = tenant_of_.find(handle);
  if (t == tenant_of_.end()) return;
  auto it = by_tenant_.find(t->second);
  if (it != by_tenant_.end()) {
    std::erase_if(it->second, [handle](const Conn& c) { return c.handle == handle; });
    if (it->second.empty()) by_tenant_.erase(it);
  }
  tenant_of_.erase(t);
}

}  // namespace cumulo::realtime
