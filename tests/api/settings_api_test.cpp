// /api/settings over real HTTP (spec/rest-api.md §2.7, runtime.md §7):
// resolution tenant → global → default, type checks, permission levels.
#include "api/api_support.hpp"

using namespace cumulo::test;
using namespace cumulo::test::api;

namespace {

const json kTwoTenants = {{"tenants", {{{"idTag", "bob.test"}}}}};

struct Fixture {
  TestHost h{kTwoTenants, builtin_plugins()};
  std::string alice = mint(h, "alice.test", "alice.test", {"SADM"});  // the base tenant is SADM
  std::string bob = mint(h, "bob.test", "bob.test");

  json value(const std::string& tenant, const std::string& token, const std::string& key, const std::string& query = "") {
    auto r = call(h, "GET", "/api/settings/" + key + query, tenant, token);
    if (r.status == 404) return "<unset>";
    EXPECT_EQ(r.status, 200) << r.body;
    return body(r)["data"]["value"];
  }
  unsigned put(const std::string& tenant, const std::string& token, const std::string& key, const json& v, const std::string& query = "") {
    return call(h, "PUT", "/api/settings/" + key + query, tenant, token, {{"value", v}}).status;
  }
  unsigned del(const std::string& tenant, const std::string& token, const std::string& key, const std::string& query) {
    return call(h, "DELETE", "/api/settings/" + key + query, tenant, token).status;
  }
};

}  // namespace

TEST(SettingsApi, ResolvesTenantThenGlobalThenDefault) {
  Fixture f;
  const std::string key = "profile.default_visibility";
  auto r = call(f.h, "GET", "/api/settings/" + key, "bob.test", f.bob);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r)["data"], json({{"key", key},
                                   {"value", "F"},
                                   {"scope", "tenant"},
                                   {"permission", "user"},
                                   {"type", "string"},
                                   {"description", "Default visibility of new actions"}}));
  EXPECT_EQ(f.value("bob.test", f.bob, key, "?level=tenant"), "<unset>");

  // A node-wide value (SADM) overrides the default for every tenant.
  ASSERT_EQ(f.put("alice.test", f.alice, key, "P", "?level=global"), 200u);
  EXPECT_EQ(f.value("bob.test", f.bob, key), "P");
  EXPECT_EQ(f.value("alice.test", f.alice, key), "P");
  EXPECT_EQ(f.value("alice.test", f.alice, key, "?level=global"), "P");
  // A tenant value overrides the global one, for that tenant only.
  ASSERT_EQ(f.put("bob.test", f.bob, key, "C"), 200u);
  EXPECT_EQ(f.value("bob.test", f.bob, key), "C");
  EXPECT_EQ(f.value("bob.test", f.bob, key, "?level=tenant"), "C");
  EXPECT_EQ(f.value("alice.test", f.alice, key), "P");
  // Deleting a level falls back to the next.
  EXPECT_EQ(f.del("bob.test", f.bob, key, "?level=tenant"), 200u);
  EXPECT_EQ(f.value("bob.test", f.bob, key), "P");
  EXPECT_EQ(f.del("alice.test", f.alice, key, "?level=global"), 200u);
  EXPECT_EQ(f.value("bob.test", f.bob, key), "F");
  EXPECT_EQ(f.del("bob.test", f.bob, key, "?level=tenant"), 200u);  // idempotent
  EXPECT_EQ(f.del("bob.test", f.bob, key, ""), 400u);               // level is required

  // A global-scope key ignores tenant values and is set node-wide.
  EXPECT_EQ(f.value("bob.test", f.bob, "file.max_file_size_mb"), 100);
  ASSERT_EQ(f.put("alice.test", f.alice, "file.max_file_size_mb", 250), 200u);
  EXPECT_EQ(f.value("bob.test", f.bob, "file.max_file_size_mb"), 250);
  // Unset keys without a default are 404.
  EXPECT_EQ(f.value("bob.test", f.bob, "profile.lang"), "<unset>");
}

TEST(SettingsApi, KeepsTypesAndRefusesUnknownKeys) {
  Fixture f;
  EXPECT_EQ(f.put("bob.test", f.bob, "profile.allow_followers", "yes"), 400u);
  EXPECT_EQ(f.put("bob.test", f.bob, "profile.allow_followers", 1), 400u);
  EXPECT_EQ(f.put("bob.test", f.bob, "profile.allow_followers", false), 200u);
  EXPECT_EQ(f.value("bob.test", f.bob, "profile.allow_followers"), false);
  EXPECT_EQ(f.put("alice.test", f.alice, "auth.session_timeout", 1.5), 400u);
  EXPECT_EQ(f.put("alice.test", f.alice, "auth.session_timeout", "3600"), 400u);
  EXPECT_EQ(f.put("bob.test", f.bob, "profile.lang", nullptr), 400u);
  EXPECT_EQ(call(f.h, "PUT", "/api/settings/profile.lang", "bob.test", f.bob, {{"val", "en"}}).status, 400u);
  // Free-form families take any JSON.
  EXPECT_EQ(f.put("bob.test", f.bob, "ui.theme", {{"dark", true}, {"accent", "teal"}}), 200u);
  EXPECT_EQ(f.value("bob.test", f.bob, "ui.theme"), json({{"dark", true}, {"accent", "teal"}}));
  EXPECT_EQ(f.put("bob.test", f.bob, "app.notes.layout", "grid"), 200u);
  // Unknown keys: 404 on every verb.
  EXPECT_EQ(f.put("bob.test", f.bob, "nope.key", 1), 404u);
  EXPECT_EQ(call(f.h, "GET", "/api/settings/nope.key", "bob.test", f.bob).status, 404u);
  EXPECT_EQ(f.put("bob.test", f.bob, "ui.", 1), 404u);

  // The list: registry keys with values plus the stored free-form ones.
  auto r = call(f.h, "GET", "/api/settings?prefix=ui.,notify.push.,profile.allow", "bob.test", f.bob);
  ASSERT_EQ(r.status, 200) << r.body;
  std::map<std::string, json> got;
  const json listed = body(r);
  for (const auto& s : listed["data"]) got[s["key"].get<std::string>()] = s["value"];
  EXPECT_EQ(got.size(), 7u) << r.body;  // ui.theme, 5 × notify.push.*, profile.allow_followers
  EXPECT_EQ(got["ui.theme"]["accent"], "teal");
  EXPECT_EQ(got["notify.push.message"], true);
  EXPECT_EQ(got["profile.allow_followers"], false);
  EXPECT_FALSE(got.count("app.notes.layout"));
  auto tenant_only = body(call(f.h, "GET", "/api/settings?prefix=ui.,profile.&level=tenant", "bob.test", f.bob))["data"];
  EXPECT_EQ(tenant_only.size(), 2u) << tenant_only.dump();
  // Alice's list does not see Bob's values.
  auto alice_ui = body(call(f.h, "GET", "/api/settings?prefix=ui.", "alice.test", f.alice))["data"];
  EXPECT_TRUE(alice_ui.empty()) << alice_ui.dump();
}

TEST(SettingsApi, PermissionLevels) {
  Fixture f;
  // Global level and admin-permission keys need SADM.
  auto r = call(f.h, "PUT", "/api/settings/profile.lang?level=global", "bob.test", f.bob, {{"value", "de"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error_code(r), "E-AUTH-NOPERM");
  EXPECT_EQ(f.put("bob.test", f.bob, "auth.session_timeout", 60), 403u);
  EXPECT_EQ(f.put("bob.test", f.bob, "file.max_file_size_mb", 1), 403u);
  EXPECT_EQ(call(f.h, "GET", "/api/settings/profile.lang?level=global", "bob.test", f.bob).status, 403);
  EXPECT_EQ(call(f.h, "GET", "/api/settings?level=global", "bob.test", f.bob).status, 403);
  EXPECT_EQ(f.del("bob.test", f.bob, "file.max_file_size_mb", "?level=global"), 403u);
  EXPECT_EQ(f.value("bob.test", f.bob, "file.max_file_size_mb"), 100);
  // SADM may; a global-scope key cannot be set per tenant.
  EXPECT_EQ(f.put("alice.test", f.alice, "auth.session_timeout", 60), 200u);
  EXPECT_EQ(f.value("alice.test", f.alice, "auth.session_timeout"), 60);
  EXPECT_EQ(f.value("bob.test", f.bob, "auth.session_timeout"), 86400);
  EXPECT_EQ(f.put("alice.test", f.alice, "file.max_file_size_mb", 1, "?level=tenant"), 400u);
  EXPECT_EQ(f.put("alice.test", f.alice, "file.max_file_size_mb", 1, "?level=planet"), 400u);
  // Settings are the owner's: no credential, a visitor, a foreign token.
  EXPECT_EQ(call(f.h, "GET", "/api/settings", "bob.test").status, 403);
  EXPECT_EQ(call(f.h, "GET", "/api/settings", "bob.test", mint(f.h, "bob.test", "alice.test")).status, 403);
  EXPECT_EQ(f.put("bob.test", mint(f.h, "bob.test", "alice.test"), "ui.x", 1), 403u);
  EXPECT_EQ(call(f.h, "GET", "/api/settings", "bob.test", f.alice).status, 401);
  EXPECT_EQ(f.put("bob.test", f.alice, "ui.x", 1), 401u);
}
