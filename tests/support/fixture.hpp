// In-process hosts for tests: each TestHost has its own data and plugin
// directories and listens on 127.0.0.1 with an ephemeral port.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "app/app.hpp"
#include "support/client.hpp"

namespace cumulo::test {

namespace fs = std::filesystem;

fs::path build_dir();
fs::path production_plugins();  // build/plugins
fs::path sample_plugins();      // build/samples-plugins
fs::path test_plugins();        // build/test-plugins
/// Every built-in plugin (the embedded default profile needs them all).
std::vector<fs::path> builtin_plugins();

struct TempDir {
  fs::path path;
  TempDir();
  ~TempDir();
};

/// Polls `cond` until true or `timeout` passes (never a blind sleep).
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(10));

class TestHost {
 public:
  static constexpr const char* kAdminToken = "test-admin-token";
  /// `config` is merged over the defaults (proxy mode, 127.0.0.1:0, base
  /// tenant alice.test); `plugins` are copied into the host's plugin dir.
  TestHost(const nlohmann::json& config, const std::vector<fs::path>& plugins);
  ~TestHost();

  app::App& app() { return *app_; }
  uint16_t port() const { return app_->port(); }
  const fs::path& plugin_dir() const { return plugin_dir_; }
  const fs::path& data_dir() const { return data_dir_; }
  void stop() { app_->stop(); }

  Resp get(const std::string& target, const std::string& host = "cl-o.alice.test");
  Resp admin(const std::string& method, const std::string& target, const std::string& body = "", const std::string& host = "cl-o.alice.test");

 private:
  TempDir tmp_;
  fs::path plugin_dir_, data_dir_;
  std::unique_ptr<app::App> app_;
};

/// `cumulo serve` as a child process (the real binary, configured by
/// environment variables). Killed and reaped when destroyed, whatever the
/// test did, so ctest never waits on an orphan's inherited pipes.
class ServeProcess {
 public:
  explicit ServeProcess(std::map<std::string, std::string> env);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  int pid() const { return pid_; }
  /// Polls /ready until 200 (generous deadline: ASan on loaded machines).
  bool wait_ready(uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(120)) const;
  /// SIGTERM, then waits; returns the wait status.
  int terminate();
  /// Starts the server again with the same environment.
  void restart();

 private:
  void spawn();
  std::map<std::string, std::string> env_;
  int pid_ = -1;
};

/// A loopback port that was free a moment ago (bind to port 0, read it, close),
/// for child processes that must be told their port on the command line.
uint16_t free_port();

}  // namespace cumulo::test
