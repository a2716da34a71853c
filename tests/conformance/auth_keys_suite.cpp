// Auth adapter conformance for API keys (provisional shapes, see
// adapters-builtin/sqlite/README.md):
//   create_api_key(tn, {"name"?, "scopes"?:[…], "expiresAt"? (Unix s)})
//     → {"keyId":N, "key":"cl_…"}  (the only time the plaintext exists)
//   validate_api_key(key) → {"keyId","tnId","scopes","name"}, or CM_NOT_FOUND
//     for unknown, malformed, deleted and expired keys
//   delete_api_key(tn, "<keyId>") → CM_NOT_FOUND when absent or another
//     tenant's.
// Adapters whose create_api_key is missing or CM_UNSUPPORTED are skipped.
#include <nlohmann/json.hpp>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using json = nlohmann::json;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

class AuthKeysConformance : public AdapterFixture {
 protected:
  const cm_auth_vtable& vt() const { return inst_->factory().vt.auth; }
  // {status, output}
  std::pair<int32_t, std::string> create(const TenantRef& tn, const json& opts) const {
    plugins::StringSink s;
    cm_error err = plugins::new_error();
    auto c = tn.c();
    std::string text = opts.dump();
    int32_t rc = vt().create_api_key(inst_->self(), &c, plugins::to_cm(text), &s.sink, &err);
    return {rc, s.data};
  }
  std::pair<int32_t, std::string> validate(const std::string& key) const {
    plugins::StringSink s;
    cm_error err = plugins::new_error();
    int32_t rc = vt().validate_api_key(inst_->self(), plugins::to_cm(key), &s.sink, &err);
    return {rc, s.data};
  }
  int32_t remove(const TenantRef& tn, const std::string& id) const {
    cm_error err = plugins::new_error();
    auto c = tn.c();
    return vt().delete_api_key(inst_->self(), &c, plugins::to_cm(id), &err);
  }
  bool supported() const {
    if (!vt().create_api_key || !vt().validate_api_key || !vt().delete_api_key) return false;
    return create(kA, json::object()).first != CM_UNSUPPORTED;
  }
};

TEST_P(AuthKeysConformance, CreateValidateDelete) {
  if (!supported()) GTEST_SKIP() << "no API keys";
  auto [rc, text] = create(kA, {{"name", "ci ✓"}, {"scopes", {"files:read", "actions:write"}}});
  ASSERT_EQ(rc, CM_OK);
  json created = json::parse(text);
  std::string key = created["key"];
  ASSERT_EQ(key.rfind("cl_", 0), 0u);
  EXPECT_GE(key.size(), 40u);  // 32 random bytes
  auto [vrc, vtext] = validate(key);
  ASSERT_EQ(vrc, CM_OK);
  json v = json::parse(vtext);
  EXPECT_EQ(v["keyId"], created["keyId"]);
  EXPECT_EQ(v["tnId"], 1);
  EXPECT_EQ(v["scopes"], json::array({"files:read", "actions:write"}));
  EXPECT_EQ(v["name"], "ci ✓");

  // Two keys never collide; each validates to itself.
  json other = json::parse(create(kA, json::object()).second);
  EXPECT_NE(other["key"], created["key"]);
  EXPECT_EQ(json::parse(validate(other["key"]).second)["keyId"], other["keyId"]);

  std::string id = std::to_string(created["keyId"].get<int64_t>());
  EXPECT_EQ(remove(kB, id), CM_NOT_FOUND);  // another tenant cannot delete it
  EXPECT_EQ(validate(key).first, CM_OK);
  EXPECT_EQ(remove(kA, id), CM_OK);
  EXPECT_EQ(validate(key).first, CM_NOT_FOUND);
  EXPECT_EQ(remove(kA, id), CM_NOT_FOUND);
}

TEST_P(AuthKeysConformance, WrongMalformedAndExpiredKeysAreNotFound) {
  if (!supported()) GTEST_SKIP() << "no API keys";
  json k = json::parse(create(kB, {{"expiresAt", 1}}).second);  // long expired
  EXPECT_EQ(validate(k["key"]).first, CM_NOT_FOUND);
  json live = json::parse(create(kB, {{"expiresAt", 4102444800}}).second);  // 2100
  auto [rc, text] = validate(live["key"]);
  ASSERT_EQ(rc, CM_OK);
  EXPECT_EQ(json::parse(text)["tnId"], 2);
  std::string tampered = live["key"];
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(validate(tampered).first, CM_NOT_FOUND);
  for (const char* bad : {"", "cl_", "cl_short", "xx_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", "not a key at all"}) EXPECT_EQ(validate(bad).first, CM_NOT_FOUND) << bad;
  EXPECT_EQ(create(kA, {{"scopes", "all"}}).first, CM_INVALID);
  EXPECT_EQ(create(kA, {{"expiresAt", "tomorrow"}}).first, CM_INVALID);
}

INSTANTIATE_TEST_SUITE_P(AuthKeys, AuthKeysConformance, ::testing::ValuesIn(adapters_of(CM_KIND_AUTH)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(AuthKeysConformance);

}  // namespace
}  // namespace cumulo::conformance
