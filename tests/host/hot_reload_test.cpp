// Replace a plugin's .so while clients hammer a route that uses it: no
// request fails, the new version takes over, the old library unmaps.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/fixture.hpp"

using namespace cumulo::test;
using json = nlohmann::json;

TEST(HotReload, SwapUnderLoadLosesNoRequest) {
  json cfg = {{"profiles", {{"embedded", {{"meta", {{"factory", "meta-files"}, {"options", {{"dir", "${DATA_DIR}/meta"}}}}}, {"blob", {{"factory", "hello-blob"}}}}}}}};
  TestHost host(cfg, {production_plugins() / "meta-files.so", sample_plugins() / "hello-blob.so"});
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::atomic<int> saw_v2{0};
  std::string first_failure;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      KeepAlive c(host.port());
      while (!stop) {
        Req q;
        q.method = "POST";
        q.target = "/api/_admin/selftest/blob";
        q.host = "cl-o.alice.test";
        q.headers["Authorization"] = std::string("Bearer ") + TestHost::kAdminToken;
        auto r = c.send(q);
        if (r.ok && r.status == 200) {
          ++ok;
          if (json::parse(r.body)["data"]["adapter"]["version"] == "2.0.0") ++saw_v2;
        } else {
          ++failed;
          std::lock_guard lk(mu);
          if (first_failure.empty()) first_failure = r.error + " " + std::to_string(r.status) + " " + r.body;
        }
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return ok > 50; }));
  // Swap v1 → v2 → v1 → v2 through both paths: the admin API and a rescan.
  const auto v1 = sample_plugins() / "hello-blob.so";
  const auto v2 = build_dir() / "samples-plugins-v2" / "hello-blob.so";
  for (int i = 0; i < 5; ++i) {  // ends on v2
    fs::copy_file(i % 2 == 0 ? v2 : v1, host.plugin_dir() / "hello-blob.so", fs::copy_options::overwrite_existing);
    if (i % 2 == 0) {
      auto r = host.admin("POST", "/api/_admin/plugins", json{{"path", (host.plugin_dir() / "hello-blob.so").string()}}.dump());
      ASSERT_EQ(r.status, 201) << r.body;
    } else {
      auto r = host.admin("POST", "/api/_admin/plugins/reload");
      ASSERT_EQ(r.status, 200) << r.body;
    }
    int before = ok;
    ASSERT_TRUE(eventually([&] { return ok > before + 50; }));
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0) << first_failure;
  EXPECT_GT(saw_v2, 0);
  // Old versions drain and unmap: only the current library stays mapped
  // (plus meta-files).
  EXPECT_TRUE(eventually([&] { return host.app().plugin_manager().mapped_count() == 2; })) << host.app().plugin_manager().mapped_count();
  auto last = host.admin("POST", "/api/_admin/selftest/blob");
  EXPECT_EQ(json::parse(last.body)["data"]["adapter"]["version"], "2.0.0");
}

TEST(HotReload, UnloadRefusesNewUseCleanly) {
  json cfg = {{"profiles", {{"embedded", {{"blob", {{"factory", "hello-blob"}}}}}}}};
  TestHost host(cfg, {sample_plugins() / "hello-blob.so"});
  EXPECT_EQ(host.admin("POST", "/api/_admin/selftest/blob").status, 200);
  EXPECT_EQ(host.admin("DELETE", "/api/_admin/plugins/hello-blob").status, 200);
  auto r = host.admin("POST", "/api/_admin/selftest/blob");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "E-SYS-UNAVAIL");
  EXPECT_TRUE(eventually([&] { return host.app().plugin_manager().mapped_count() == 0; }));
  EXPECT_EQ(host.get("/health").status, 200);
}
