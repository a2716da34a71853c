// A plugin that throws from every call: each request gets a 500 error
// envelope, the host keeps serving, and (under ASan) nothing leaks.
#include <gtest/gtest.h>

#include "support/fixture.hpp"

using namespace cumulo::test;
using json = nlohmann::json;

TEST(ThrowingPlugin, EveryKindGives500AndHostSurvives) {
  json cfg = {{"profiles",
               {{"boom",
                 {{"auth", {{"factory", "throwing-auth"}}},
                  {"meta", {{"factory", "throwing-meta"}}},
                  {"blob", {{"factory", "throwing-blob"}}},
                  {"rtdb", {{"factory", "throwing-rtdb"}}},
                  {"crdt", {{"factory", "throwing-crdt"}}}}},
                {"ctor", {{"blob", {{"factory", "throwing-ctor-blob"}}}}}}},
              {"tenants", {{{"idTag", "boom.test"}, {"profile", "boom"}}, {{"idTag", "ctor.test"}, {"profile", "ctor"}}}}};
  auto plugins = builtin_plugins();  // the default tenant's embedded profile
  plugins.push_back(test_plugins() / "throwing.so");
  TestHost host(cfg, plugins);
  for (std::string kind : {"auth", "meta", "blob", "rtdb", "crdt", "action-type", "file-processor"}) {
    for (int round = 0; round < 3; ++round) {
      auto r = host.admin("POST", "/api/_admin/selftest/" + kind, "", "cl-o.boom.test");
      ASSERT_TRUE(r.ok) << r.error;
      EXPECT_EQ(r.status, 500) << kind << ": " << r.body;
      auto j = json::parse(r.body);
      EXPECT_EQ(j["error"]["code"], "E-SYS-INTERNAL") << kind;
      EXPECT_EQ(j["error"]["message"], "Internal server error") << kind;  // details stay in the log
    }
  }
  // /ready reports the failing adapters instead of crashing.
  auto ready = host.get("/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(json::parse(ready.body)["error"]["details"]["profiles"]["boom"]["blob"]["status"], "failing");
  // A throwing constructor leaves the profile unbound with a clear reason.
  auto ctor = host.admin("POST", "/api/_admin/selftest/blob", "", "cl-o.ctor.test");
  EXPECT_EQ(ctor.status, 503);
  EXPECT_NE(ctor.body.find("boom"), std::string::npos) << ctor.body;
  // The host still serves.
  EXPECT_EQ(host.get("/health").status, 200);
  EXPECT_EQ(host.admin("POST", "/api/_admin/selftest/meta").status, 200);
}
