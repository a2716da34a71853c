#include "support/pebble.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

#include "support/fixture.hpp"

extern char** environ;

namespace cumulo::test {

using namespace std::chrono_literals;

namespace {

void write_file(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

}  // namespace

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& env, const fs::path& log) : log_(log) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("PEBBLE_", 0) != 0) envs.emplace_back(*e);  // ours must win
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
  av.push_back(nullptr);
  ev.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const int rc = posix_spawn(&pid_, av[0], &fa, nullptr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

Child::~Child() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  if (!eventually([&] { return waitpid(pid_, nullptr, WNOHANG) == pid_; }, 5s)) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool Child::running() const { return waitpid(pid_, nullptr, WNOHANG) == 0; }

std::string Child::log() const {
  std::ifstream f(log_);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

bool have_pebble() { return fs::exists("/usr/bin/pebble") && fs::exists("/usr/bin/pebble-challtestsrv"); }

Pebble::Pebble(uint16_t http01_port, int nonce_reject_percent) {
  dir_ = fs::temp_directory_path() / ("cumulo-pebble-" + std::to_string(getpid()) + "-" + std::to_string(free_port()));
  fs::create_directories(dir_);
  // pebble's own HTTPS endpoints get a throwaway CA (Debian ships no test certs).
  api_ca_ = net::make_ca("cumulo pebble API CA");
  const auto server = net::make_leaf({"localhost"}, &api_ca_);
  write_file(dir_ / "server.pem", server.cert_pem);
  write_file(dir_ / "server.key", server.key_pem);
  write_file(api_ca_file(), api_ca_.cert_pem);
  acme_port_ = free_port();
  mgmt_port_ = free_port();
  const uint16_t dns_port = free_port(), chall_mgmt = free_port();
  write_file(dir_ / "config.json", nlohmann::json{{"pebble",
                                                   {{"listenAddress", "127.0.0.1:" + std::to_string(acme_port_)},
                                                    {"managementListenAddress", "127.0.0.1:" + std::to_string(mgmt_port_)},
                                                    {"certificate", (dir_ / "server.pem").string()},
                                                    {"privateKey", (dir_ / "server.key").string()},
                                                    {"httpPort", http01_port},
                                                    {"tlsPort", free_port()},  // unused: no TLS-ALPN-01
                                                    {"ocspResponderURL", ""},
                                                    {"externalAccountBindingRequired", false}}}}
                                       .dump());
  const std::string dns = "127.0.0.1:" + std::to_string(dns_port);
  challtestsrv_ = std::make_unique<Child>(
      std::vector<std::string>{"/usr/bin/pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", dns, "-http01", "", "-https01", "",
                               "-tlsalpn01", "", "-management", "127.0.0.1:" + std::to_string(chall_mgmt)},
      std::vector<std::string>{}, dir_ / "challtestsrv.log");
  pebble_ = std::make_unique<Child>(
      std::vector<std::string>{"/usr/bin/pebble", "-config", (dir_ / "config.json").string(), "-dnsserver", dns},
      std::vector<std::string>{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=" + std::to_string(nonce_reject_percent)},
      dir_ / "pebble.log");

  net::HttpClientOptions ho;
  ho.ca_pem = api_ca_.cert_pem;
  // "localhost" is what pebble's certificate names; pin it to IPv4.
  ho.connect_to["localhost:" + std::to_string(acme_port_)] = "127.0.0.1:" + std::to_string(acme_port_);
  ho.connect_to["localhost:" + std::to_string(mgmt_port_)] = "127.0.0.1:" + std::to_string(mgmt_port_);
  http_ = std::make_unique<net::HttpClient>(ho);

  net::HttpClient plain;
  const bool dns_up = eventually(
      [&] {
        try {
          plain.request(net::ClientRequest::get("http://127.0.0.1:" + std::to_string(chall_mgmt) + "/"));
          return true;
        } catch (const net::HttpError&) {
          return !challtestsrv_->running();
        }
      },
      20s);
  if (!dns_up || !challtestsrv_->running()) throw std::runtime_error("pebble-challtestsrv did not start:\n" + challtestsrv_->log());
  const bool up = eventually(
      [&] {
        try {
          // Both listeners: the ACME one may come up after the management one.
          if (http_->request(net::ClientRequest::get(directory_url())).status != 200) return false;
          auto r = http_->request(net::ClientRequest::get(mgmt_url() + "/roots/0"));
          if (r.status != 200) return false;
          root_pem_ = r.body;
          return true;
        } catch (const net::HttpError&) {
          return !pebble_->running();
        }
      },
      30s);
  if (!up || root_pem_.empty()) throw std::runtime_error("pebble did not start:\n" + pebble_->log());
}

Pebble::~Pebble() {
  pebble_.reset();
  challtestsrv_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string Pebble::logs() const { return pebble_->log(); }

}  // namespace cumulo::test
