#include "support/fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>

namespace cumulo::test {

fs::path build_dir() { return CUMULO_BUILD_DIR; }
fs::path production_plugins() { return build_dir() / "plugins"; }
fs::path sample_plugins() { return build_dir() / "samples-plugins"; }
fs::path test_plugins() { return build_dir() / "test-plugins"; }

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

ServeProcess::ServeProcess(std::map<std::string, std::string> env) : env_(std::move(env)) { spawn(); }

ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void ServeProcess::spawn() {
  const std::string binary = (build_dir() / "bin" / "cumulo").string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    for (const auto& [k, v] : env_) ::setenv(k.c_str(), v.c_str(), 1);
    ::execl(binary.c_str(), "cumulo", "serve", static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

bool ServeProcess::wait_ready(uint16_t port, std::chrono::seconds timeout) const {
  Req ready;
  ready.target = "/ready";
  return eventually([&] { return http(port, ready).status == 200; }, timeout);
}

int ServeProcess::terminate() {
  int status = 0;
  if (pid_ <= 0) return status;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void ServeProcess::restart() {
  if (pid_ > 0) terminate();
  spawn();
}

std::vector<fs::path> builtin_plugins() {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(production_plugins()))
    if (e.path().extension() == ".so") out.push_back(e.path());
  return out;
}

TempDir::TempDir() {
  std::random_device rd;
  path = fs::temp_directory_path() / ("cumulo-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll interval, not a wait for an event
  }
  return cond();
}

TestHost::TestHost(const nlohmann::json& config, const std::vector<fs::path>& plugins) {
  plugin_dir_ = tmp_.path / "plugins";
  data_dir_ = tmp_.path / "data";
  fs::create_directories(plugin_dir_);
  for (const auto& p : plugins) fs::copy_file(p, plugin_dir_ / p.filename(), fs::copy_options::overwrite_existing);
  nlohmann::json cfg = {{"mode", "proxy"},
                        {"listen", "127.0.0.1:0"},
                        {"dataDir", data_dir_.string()},
                        {"pluginDirs", {plugin_dir_.string()}},
                        {"adminToken", kAdminToken},
                        {"baseIdTag", "alice.test"},
                        {"ioThreads", 2},
                        {"blockingThreads", 4},
                        {"logLevel", "warn"}};
  if (config.is_object()) cfg.merge_patch(config);
  auto file = tmp_.path / "cumulo.json";
  std::ofstream(file) << cfg.dump(2);
  // Environment variables must not leak into tests.
  auto c = app::Config::load(file, [](const char*) -> const char* { return nullptr; });
  spdlog::set_level(spdlog::level::from_str(c.log_level));
  app_ = std::make_unique<app::App>(std::move(c));
  app_->start();
}

TestHost::~TestHost() { app_->stop(); }

Resp TestHost::get(const std::string& target, const std::string& host) {
  Req r;
  r.target = target;
  r.host = host;
  return http(port(), r);
}

Resp TestHost::admin(const std::string& method, const std::string& target, const std::string& body, const std::string& host) {
  Req r;
  r.method = method;
  r.target = target;
  r.host = host;
  r.body = body;
  r.headers["Authorization"] = std::string("Bearer ") + kAdminToken;
  if (!body.empty()) r.headers["Content-Type"] = "application/json";
  return http(port(), r);
}

}  // namespace cumulo::test
