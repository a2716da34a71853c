#include "actions/pow.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace cumulo::actions {
namespace {

// Individual: the address itself (IPv4) or its /64 (IPv6); network: the
// /24 (IPv4) or the same /64 (IPv6) — the spec's levels.
std::pair<std::string, std::string> keys_of(std::string_view ip) {
  std::string s(ip);
  in_addr a4{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    auto b = reinterpret_cast<const unsigned char*>(&a4.s_addr);
    return {s, std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + ".0/24"};
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::fill(a6.s6_addr + 8, a6.s6_addr + 16, 0);
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    std::string k = std::string(buf) + "/64";
    return {k, k};
  }
  return {s, s};
}

int decayed(int count, int64_t last, int64_t now) {
  if (now <= last) return count;
  const int64_t steps = (now - last) / PowCounters::kDecaySeconds;
  return static_cast<int>(std::max<int64_t>(0, count - steps));
}

}  // namespace

PowCounters::PowCounters(size_t individual_capacity, size_t network_capacity) : individual_{individual_capacity, {}, {}}, network_{network_capacity, {}, {}} {}

int PowCounters::Lru::get(const std::string& k, int64_t now) {
  auto it = map.find(k);
  return it == map.end() ? 0 : decayed(it->second.first.count, it->second.first.last, now);
}

void PowCounters::Lru::bump(const std::string& k, int64_t now) {
  auto it = map.find(k);
  if (it == map.end()) {
    if (map.size() >= capacity && !order.empty()) {
      map.erase(order.back());
      order.pop_back();
    }
    order.push_front(k);
    it = map.emplace(k, std::make_pair(Entry{}, order.begin())).first;
  } else {
    order.splice(order.begin(), order, it->second.second);
  }
  Entry& e = it->second.first;
  // Decay what has elapsed, then count the new violation from now.
  e.count = std::min(kMaxCounter, decayed(e.count, e.last, now) + 1);
  e.last = now;
}

int PowCounters::required(std::string_view ip, int64_t now) {
  auto [ind, net] = keys_of(ip);
  std::lock_guard lk(mu_);
  return std::max(individual_.get(ind, now), network_.get(net, now));
}

void PowCounters::penalize(std::string_view ip, Violation v, int64_t now) {
  auto [ind, net] = keys_of(ip);
  std::lock_guard lk(mu_);
  const bool individual = v != Violation::kPowCheckFailed;
  const bool network = v != Violation::kRejected;
  if (individual) individual_.bump(ind, now);
  if (network && !(individual && net == ind)) network_.bump(net, now);
}

bool PowCounters::satisfies(std::string_view token, int n) {
  if (n <= 0) return true;
  if (token.size() < static_cast<size_t>(n)) return false;
  return std::all_of(token.end() - n, token.end(), [](char c) { return c == 'A'; });
}

}  // namespace cumulo::actions
