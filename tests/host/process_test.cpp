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

TEST(Process, ServeReloadOnSighupAndGracefulStop) {
  TempDir tmp;
  auto plugins = tmp.path / "plugins";
  fs::create_directories(plugins);
  for (const auto& p : builtin_plugins()) fs::copy_file(p, plugins / p.filename());
  const uint16_t port = free_port();
  ServeProcess server({{"MODE", "proxy"},
                       {"LISTEN", "127.0.0.1:" + std::to_string(port)},
                       {"DATA_DIR", (tmp.path / "data").string()},
                       {"BASE_ID_TAG", "alice.test"},
                       {"PLUGIN_DIRS", plugins.string()},
                       {"CUMULO_ADMIN_TOKEN", "proc-token"},
                       {"LOG_FORMAT", "json"}});
  // Generous: under ASan+UBSan on a loaded 2-core machine, mapping every
  // instrumented plugin takes tens of seconds. The poll returns as soon as it is up.
  ASSERT_TRUE(server.wait_ready(port));

  Req list;
  list.target = "/api/_admin/plugins";
  list.headers["Authorization"] = "Bearer proc-token";
  auto count = [&] { return json::parse(http(port, list).body)["data"]["plugins"].size(); };
  const size_t builtins = builtin_plugins().size();
  EXPECT_EQ(count(), builtins);
  fs::copy_file(sample_plugins() / "hello-crdt.so", plugins / "hello-crdt.so");
  ::kill(server.pid(), SIGHUP);
  EXPECT_TRUE(eventually([&] { return count() == builtins + 1; }, std::chrono::seconds(120)));

  const int status = server.terminate();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Process, TenantCliCreatesListsAndServerPicksUp) {
  TempDir tmp;
  auto run = [&](const std::string& args) {
    std::string cmd = "DATA_DIR='" + (tmp.path / "data").string() + "' BASE_ID_TAG=alice.test " + CUMULO_BINARY + " " + args + " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int rc = ::pclose(p);
    return std::make_pair(WEXITSTATUS(rc), out);
  };
  auto [rc1, out1] = run("tenant create bob.test");
  EXPECT_EQ(rc1, 0) << out1;
  EXPECT_NE(out1.find("\"tnId\": 2"), std::string::npos) << out1;  // the base tenant alice.test is 1
  auto [rc2, out2] = run("tenant create bob.test");
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("already exists"), std::string::npos) << out2;
  auto [rc3, out3] = run("tenant create Not_A_DNS_Name");
  EXPECT_NE(rc3, 0);
  EXPECT_NE(out3.find("invalid idTag"), std::string::npos) << out3;
  auto [rc4, out4] = run("tenant show bob.test");
  EXPECT_EQ(rc4, 0);
  EXPECT_EQ(json::parse(out4)["profile"], "embedded");
  EXPECT_EQ(json::parse(out4)["backends"]["meta"]["factory"], "meta-sqlite");
  EXPECT_EQ(json::parse(out4)["backends"]["auth"]["factory"], "auth-sqlite");

  // A running host sees a tenant created by the CLI after a reload.
  TestHost host({{"dataDir", (tmp.path / "data").string()}}, builtin_plugins());
  std::ofstream(tmp.path / "pw") << "carol-password-1\n";
  auto [rc5, out5] = run("tenant create carol.test --password-stdin < '" + (tmp.path / "pw").string() + "'");
  EXPECT_EQ(rc5, 0) << out5;
  EXPECT_NE(out5.find("provisioned with profile key"), std::string::npos) << out5;
  EXPECT_EQ(host.admin("POST", "/api/_admin/selftest/meta", "", "cl-o.carol.test").status, 404);
  host.app().reload();
  EXPECT_EQ(host.admin("POST", "/api/_admin/selftest/meta", "", "cl-o.carol.test").status, 200);
  // Provisioned by the CLI: its keys are published and its password works.
  EXPECT_FALSE(json::parse(host.get("/api/me", "cl-o.carol.test").body)["data"]["keys"].empty());
  Req login;
  login.method = "POST";
  login.target = "/api/auth/login";
  login.host = "cl-o.carol.test";
  login.body = R"({"idTag":"carol.test","password":"carol-password-1"})";
  EXPECT_EQ(http(host.port(), login).status, 200);
  auto [rc6, out6] = run("tenant list");
  EXPECT_NE(out6.find("carol.test"), std::string::npos);
  EXPECT_NE(out6.find("alice.test"), std::string::npos);  // the host's base tenant
}

// The README's first command: no DATA_DIR beyond a relative one (the default
// is ./data). Adapters take absolute paths only, so the host must resolve it;
// otherwise the embedded profile has no adapters and every tenant call fails.
TEST(Process, RelativeDataDirServesTheEmbeddedDefault) {
  TempDir tmp;
  const uint16_t port = free_port();
  const auto rel = fs::relative(tmp.path / "data", fs::current_path());
  ASSERT_TRUE(rel.is_relative()) << rel;
  ServeProcess server({{"MODE", "proxy"},
                       {"LISTEN", "127.0.0.1:" + std::to_string(port)},
                       {"DATA_DIR", rel.string()},
                       {"BASE_ID_TAG", "alice.test"},
                       {"BASE_PASSWORD", "alice-password-1"},
                       {"PLUGIN_DIRS", production_plugins().string()}});
  ASSERT_TRUE(server.wait_ready(port));
  Req me;
  me.target = "/api/me";
  me.host = "cl-o.alice.test";
  auto r = http(port, me);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"]["idTag"], "alice.test") << r.body;
  Req login;
  login.method = "POST";
  login.target = "/api/auth/login";
  login.host = "cl-o.alice.test";
  login.headers["Content-Type"] = "application/json";
  login.body = R"({"idTag":"alice.test","password":"alice-password-1"})";
  auto l = http(port, login);
  EXPECT_EQ(l.status, 200u) << l.body;
  EXPECT_TRUE(fs::exists(tmp.path / "data" / "meta.db"));
  EXPECT_EQ(server.terminate(), 0);
}
