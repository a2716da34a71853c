// Tenant → backend profile → adapter instances (design.md §4).
//
// A Binding is an immutable snapshot of one profile's adapters. Requests take
// a shared_ptr to it for their whole duration; rebinding after a plugin swap
// publishes a new snapshot and the old one (with its instances and thereby
// its library) is released by the last request that still uses it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/tenant_registry.hpp"
#include "plugins/adapters.hpp"

namespace cumulo::app {

struct Binding {
  std::string profile;
  plugins::AuthHandle auth;
  plugins::MetaHandle meta;
  plugins::BlobHandle blob;
  plugins::RtdbHandle rtdb;
  plugins::CrdtHandle crdt;
  /// kind → why it could not be instantiated (shown by /ready).
  std::map<std::string, std::string> errors;
  std::vector<std::pair<std::string, const plugins::AdapterHandle*>> handles() const;
};

/// Instances of every loaded action-type and file-processor factory.
struct Extensions {
  std::vector<plugins::ActionTypeHandle> action_types;
  std::vector<plugins::FileProcessorHandle> processors;
  std::map<std::string, std::string> errors;
};

struct TenantInfo {
  uint32_t tn_id = 0;
  std::string id_tag;
  std::string profile;
  plugins::TenantRef ref() const { return {tn_id, id_tag}; }
};

class Backends {
 public:
  Backends(const Config& cfg, plugins::PluginManager& pm);
  ~Backends();

  /// Re-reads the tenant registry (tenants created or migrated by the CLI).
  void reload_tenants();
  TenantRegistry& registry() { return *registry_; }

  /// (Re)instantiates every profile and extension whose factory changed
  /// since the last call; unchanged instances are kept. Safe under load.
  void rebind();

  std::shared_ptr<const Binding> for_profile(const std::string& profile) const;
  std::shared_ptr<const Binding> for_tenant(const TenantInfo& t) const { return for_profile(t.profile); }
  std::shared_ptr<const Extensions> extensions() const;

  std::optional<TenantInfo> tenant(const std::string& id_tag) const;
  /// Resolves a Host header: "cl-o.<id_tag>[:port]" (trailing dot ignored).
  std::optional<TenantInfo> tenant_for_host(std::string_view host) const;
  std::vector<TenantInfo> tenants() const;
  std::vector<std::string> profile_names() const;
  const std::string& default_profile() const { return cfg_.default_profile; }

 private:
  const Config& cfg_;
  plugins::PluginManager& pm_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Binding>> bindings_;
  std::shared_ptr<const Extensions> extensions_;
  std::unique_ptr<TenantRegistry> registry_;
  std::map<std::string, TenantInfo> tenants_;
};

}  // namespace cumulo::app
