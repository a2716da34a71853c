// Fan-out: one POST of alice.test delivered to N follower inboxes hosted by
// another cumulo instance on loopback (real TLS, test CA, resolver
// override), from the create call until every follower's node has verified
// and stored it. Prints total time and deliveries per second.
//   bench_fanout [followers=1000] [runs=3]
// Setup shortcut (not measured): the follow relationship is written into
// both nodes' profile tables directly instead of through 1,000 FLLW actions.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "actions/engine.hpp"
#include "api/services.hpp"
#include "app/app.hpp"
#include "net/x509.hpp"
#include "support/fixture.hpp"

using namespace cumulo;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string follower_tag(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "f%04d.test", i);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  test::TempDir dir;
  auto ca = net::make_ca("Cumulo Fan-out Bench CA");
  std::ofstream(dir.path / "ca.pem") << ca.cert_pem;
  const uint16_t pa = test::free_port(), pb = test::free_port();

  std::vector<std::string> names_b;
  for (int i = 0; i < n; ++i) names_b.push_back("cl-o." + follower_tag(i));
  auto leaf_a = net::make_leaf({"cl-o.alice.test"}, &ca);
  auto leaf_b = net::make_leaf(names_b, &ca);
  std::ofstream(dir.path / "a.crt") << leaf_a.cert_pem;
  std::ofstream(dir.path / "a.key") << leaf_a.key_pem;
  std::ofstream(dir.path / "b.crt") << leaf_b.cert_pem;
  std::ofstream(dir.path / "b.key") << leaf_b.key_pem;

  json resolve = {{"cl-o.alice.test:443", "127.0.0.1:" + std::to_string(pa)}};
  json tenants_b = json::array(), certs_b = json::array();
  for (int i = 0; i < n; ++i) {
    resolve["cl-o." + follower_tag(i) + ":443"] = "127.0.0.1:" + std::to_string(pb);
    tenants_b.push_back({{"idTag", follower_tag(i)}});
    certs_b.push_back({{"domain", "cl-o." + follower_tag(i)}, {"cert", (dir.path / "b.crt").string()}, {"key", (dir.path / "b.key").string()}});
  }
  auto common = [&](uint16_t port, const std::string& sub) {
    return json{{"mode", "standalone"},
                {"listen", "127.0.0.1:" + std::to_string(port)},
                {"listenHttp", ""},
                {"dataDir", (dir.path / sub).string()},
                {"logLevel", "error"},
                {"auth", {{"rateLimits", false}}},
                {"outbound", {{"resolve", resolve}, {"caFile", (dir.path / "ca.pem").string()}}}};
  };
  json cfg_a = common(pa, "a");
  cfg_a["baseIdTag"] = "alice.test";
  cfg_a["certs"] = json::array({{{"domain", "cl-o.alice.test"}, {"cert", (dir.path / "a.crt").string()}, {"key", (dir.path / "a.key").string()}}});
  json cfg_b = common(pb, "b");
  cfg_b["baseIdTag"] = follower_tag(0);
  cfg_b["tenants"] = tenants_b;
  cfg_b["certs"] = certs_b;

  const auto t_setup = Clock::now();
  test::TestHost a(cfg_a, test::builtin_plugins());
  test::TestHost b(cfg_b, test::builtin_plugins());
  auto ta = *a.app().backends().tenant("alice.test");
  auto ba = a.app().backends().for_tenant(ta);
  for (int i = 0; i < n; ++i) {
    const std::string f = follower_tag(i);
    ba->meta.upsert_profile(ta.ref(), json{{"idTag", f}, {"name", f}, {"type", "person"}, {"follower", true}}.dump());
    auto tb = *b.app().backends().tenant(f);
    b.app().backends().for_tenant(tb)->meta.upsert_profile(tb.ref(),
                                                           json{{"idTag", "alice.test"}, {"name", "Alice"}, {"type", "person"}, {"following", true}}.dump());
  }
  std::printf("setup: %d follower tenants on node B in %.1f s\n", n, std::chrono::duration<double>(Clock::now() - t_setup).count());

  net::HttpRequest req;
  req.host = "cl-o.alice.test";
  auto scope = a.app().services().tenant(req);
  auto& eng_b = b.app().services().actions();
  for (int r = 0; r < runs; ++r) {
    const uint64_t before = eng_b.stats().received.load();
    const auto t0 = Clock::now();
    auto rec = a.app().services().actions().create(scope, json{{"type", "POST"}, {"content", "fan-out run " + std::to_string(r)}});
    const bool all = test::eventually([&] { return eng_b.stats().received.load() >= before + static_cast<uint64_t>(n); }, std::chrono::minutes(10));
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint64_t got = eng_b.stats().received.load() - before;
    std::printf("run %d: %llu/%d stored in %.2f s -> %.0f deliveries/s%s\n", r + 1, static_cast<unsigned long long>(got), n, secs,
                static_cast<double>(got) / secs, all ? "" : " (TIMEOUT)");
  }
  return 0;
}
