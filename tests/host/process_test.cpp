// The real binary: `cumulo serve` starts on the embedded default, answers
// /ready, reloads plugins on SIGHUP and drains on SIGTERM (exit 0).
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "support/fixture.hpp"

using namespace cumulo::test;
using json = nlohmann::json;

namespace {
uint16_t free_port() {
  // Bind-then-close to pick a free loopback port for the child process.
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
}  // namespace

TEST(Process, ServeReloadOnSighupAndGracefulStop) {
  TempDir tmp;
  auto plugins = tmp.path / "plugins";
  fs::create_directories(plugins);
  fs::copy_file(production_plugins() / "meta-files.so", plugins / "meta-files.so");
  const uint16_t port = free_port();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("MODE", "proxy", 1);
    ::setenv("LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
    ::setenv("DATA_DIR", (tmp.path / "data").c_str(), 1);
    ::setenv("BASE_ID_TAG", "alice.test", 1);
    ::setenv("PLUGIN_DIRS", plugins.c_str(), 1);
    ::setenv("CUMULO_ADMIN_TOKEN", "proc-token", 1);
    ::setenv("LOG_FORMAT", "json", 1);
    ::execl(CUMULO_BINARY, "cumulo", "serve", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  Req ready;
  ready.target = "/ready";
  ASSERT_TRUE(eventually([&] { return http(port, ready).status == 200; }, std::chrono::seconds(20)));

  Req list;
  list.target = "/api/_admin/plugins";
  list.headers["Authorization"] = "Bearer proc-token";
  auto count = [&] { return json::parse(http(port, list).body)["data"]["plugins"].size(); };
  EXPECT_EQ(count(), 1u);
  fs::copy_file(sample_plugins() / "hello-blob.so", plugins / "hello-blob.so");
  ::kill(pid, SIGHUP);
  EXPECT_TRUE(eventually([&] { return count() == 2u; }));

  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
