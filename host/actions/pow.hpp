// Proof of work for CONN tokens (spec/actions-federation.md §9): a counter
// per sending address (IPv4 /32 and /24, IPv6 /64) raised by violations and
// decaying by one per hour without new ones. A CONN token from an address
// with counter N must end with N 'A' characters; the sender gets there by
// re-signing (ECDSA is randomised) or by varying the `_` nonce.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cumulo::actions {

class PowCounters {
 public:
  enum class Violation { kSignatureFailure, kDuplicatePending, kRejected, kPowCheckFailed };
  static constexpr int kMaxCounter = 10;
  static constexpr int64_t kDecaySeconds = 3600;

  PowCounters(size_t individual_capacity = 50000, size_t network_capacity = 10000);

  /// Suffix length required from `ip` now: max(individual, network).
  int required(std::string_view ip, int64_t now);
  void penalize(std::string_view ip, Violation v, int64_t now);
  /// True if `token` ends with `n` 'A's.
  static bool satisfies(std::string_view token, int n);

 private:
  struct Entry {
    int count = 0;
    int64_t last = 0;  // last violation (decay is counted from here)
  };
  struct Lru {
    size_t capacity;
    std::list<std::string> order;  // most recent first
    std::unordered_map<std::string, std::pair<Entry, std::list<std::string>::iterator>> map;
    int get(const std::string& k, int64_t now);
    void bump(const std::string& k, int64_t now);
  };
  std::mutex mu_;
  Lru individual_, network_;
};

}  // namespace cumulo::actions
