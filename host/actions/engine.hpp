// The action pipeline (spec/actions-federation.md §5, §6, §10, §11): local
// creation (validate → sign ES384 → a1~ id → store → on_create → bus →
// delivery), the inbox (PoW → key → signature → definition → gates → store
// → on_receive → fan-out → bus), persistent delivery with retry, accept /
// reject, and STAT aggregation on the owner's node.
//
// Every behaviour flag of a definition is implemented here, generically;
// hooks (DSL or a plugin's native code) only add side effects through
// dsl::Env. Action types come from plugins through TypeRegistry.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actions/pow.hpp"
#include "actions/registry.hpp"
#include "app/config.hpp"

namespace cumulo::app {
class App;
}
namespace cumulo::api {
class Services;
struct TenantScope;
}  // namespace cumulo::api
namespace cumulo::runtime {
class Scheduler;
}

namespace cumulo::actions {

using json = nlohmann::json;

class Engine {
 public:
  /// Registers its task kinds with the app's scheduler, if it has one.
  Engine(app::App& app, api::Services& services);
  ~Engine();
  /// Registers the delivery, verify and STAT task kinds (a scheduler that
  /// starts after the engine, e.g. once its meta plugin arrives on reload).
  void register_tasks(runtime::Scheduler& sched);

  TypeRegistry& types() { return types_; }
  PowCounters& pow() { return pow_; }
  const app::FederationConfig& config() const;

  /// POST /api/actions: `creator` is the authenticated tenant owner. Returns
  /// the stored record (see view()). Throws api::ApiError (400 for an
  /// invalid type, fields, audience, subscription or flag gate).
  json create(const api::TenantScope& t, const json& request);
  /// create() for hooks and accept flows (no HTTP request behind it).
  json create_internal(const api::TenantScope& t, const json& request);

  /// The inbox. `sync`: processed now; the hook's return value is returned
  /// (or {}); failures throw api::ApiError. Otherwise the token is checked
  /// cheaply (size, structure, PoW) and queued for the verifier task.
  json receive(const api::TenantScope& t, const std::string& token, const std::vector<std::string>& related, const std::string& client_ip, bool sync);

  void accept(const api::TenantScope& t, const std::string& action_id);
  void reject(const api::TenantScope& t, const std::string& action_id, const std::string& client_ip);
  /// Soft delete (status D) of an action of the tenant.
  void remove(const api::TenantScope& t, const std::string& action_id);

  /// ActionView ([impl] shape, rest-api.md §1.11) of a stored record.
  json view(const api::TenantScope& t, const json& record, bool include_token = false);

  /// Counters for tests and /metrics.
  struct Stats {
    std::atomic<uint64_t> created{0}, received{0}, rejected{0}, delivered{0}, delivery_failed{0}, hooks_failed{0};
  };
  const Stats& stats() const { return stats_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  TypeRegistry types_;
  PowCounters pow_;
  Stats stats_;
  friend struct Impl;
};

}  // namespace cumulo::actions
