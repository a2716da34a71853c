// The host process: wires configuration, plugins, tenant bindings, the
// network listeners, the worker pool and the scheduler. `cumulo serve` runs
// one App; tests run several in one process on ephemeral loopback ports.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/backends.hpp"
#include "app/config.hpp"
#include "plugins/plugin_manager.hpp"

namespace cumulo::runtime {
class WorkerPool;
class Scheduler;
class TaskStore;
class SystemClock;
}  // namespace cumulo::runtime

namespace cumulo::api {
class Services;
}

namespace cumulo::app {

class DataDirLock;
class CertificateManager;

/// ../plugins and ../lib/cumulo/plugins relative to the running binary.
std::vector<std::filesystem::path> default_plugin_dirs();

class App {
 public:
  explicit App(Config cfg);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  /// Loads plugins, binds tenants, starts the scheduler and the listeners.
  void start();
  /// Blocks until SIGINT/SIGTERM (graceful stop); SIGHUP reloads plugins and
  /// certificates.
  void run_until_signal();
  /// Graceful: stop accepting, drain in-flight requests (bounded by
  /// shutdownGraceMs), checkpoint the scheduler, stop threads. Idempotent.
  void stop();

  /// Rescans plugin directories, reloads changed plugins, rebinds tenants.
  std::vector<plugins::PluginReport> reload();

  uint16_t port() const { return port_; }
  /// Requests being handled right now on the main listener.
  size_t active_requests() const;
  uint16_t http_port() const { return http_port_; }
  const Config& config() const { return cfg_; }
  const std::string& admin_token() const { return admin_token_; }
  plugins::PluginManager& plugin_manager() { return *plugins_; }
  Backends& backends() { return *backends_; }
  runtime::WorkerPool& workers() { return *workers_; }
  /// Null when the default profile's meta adapter has no tasks part.
  runtime::Scheduler* scheduler() { return scheduler_.get(); }
  /// Keys, authentication and guards of the Cloudillo API (after start()).
  api::Services& services() { return *services_; }
  /// ACME challenges, stored certificates and renewal (after start()).
  CertificateManager& certificates() { return *certificates_; }

 private:
  struct Net;
  void load_certificates();
  void create_scheduler();
  void provision_tenants();

  Config cfg_;
  std::string admin_token_;
  std::unique_ptr<plugins::PluginManager> plugins_;
  std::unique_ptr<Backends> backends_;
  std::unique_ptr<runtime::WorkerPool> workers_;
  std::unique_ptr<runtime::SystemClock> clock_;
  std::unique_ptr<runtime::TaskStore> task_store_;
  std::unique_ptr<runtime::Scheduler> scheduler_;
  std::unique_ptr<api::Services> services_;
  std::unique_ptr<CertificateManager> certificates_;
  std::unique_ptr<Net> net_;
  uint16_t port_ = 0, http_port_ = 0;
  std::mutex reload_mu_;
  std::atomic<bool> stopped_{false};
  bool started_ = false;
  std::unique_ptr<DataDirLock> data_lock_;  // shared while serving (data_lock.hpp)
};

}  // namespace cumulo::app
