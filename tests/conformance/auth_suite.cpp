// Auth adapter conformance: passwords and named secrets, scoped by tenant.
#include <nlohmann/json.hpp>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using json = nlohmann::json;
using plugins::AuthHandle;
using plugins::PluginError;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

class AuthConformance : public AdapterFixture {
 protected:
  AuthHandle auth() const { return AuthHandle(inst_); }
};

TEST_P(AuthConformance, PasswordsPerTenant) {
  auto a = auth();
  a.set_password(kA, "correct horse battery staple");
  a.set_password(kB, "другой пароль ✓");
  EXPECT_TRUE(a.check_password(kA, "correct horse battery staple"));
  EXPECT_FALSE(a.check_password(kA, "correct horse battery stapl"));
  EXPECT_FALSE(a.check_password(kA, "другой пароль ✓"));  // B's password is not A's
  EXPECT_TRUE(a.check_password(kB, "другой пароль ✓"));
  a.set_password(kA, "new");
  EXPECT_FALSE(a.check_password(kA, "correct horse battery staple"));
  EXPECT_TRUE(a.check_password(kA, "new"));
}

TEST_P(AuthConformance, SecretsRoundTripAndIsolation) {
  auto a = auth();
  a.put_secret(kA, json{{"name", "key.profile.1"}, {"value", "PEM…"}, {"expiresAt", 0}}.dump());
  EXPECT_EQ(json::parse(a.get_secret(kA, "key.profile.1"))["value"], "PEM…");
  EXPECT_EQ(code_of([&] { a.get_secret(kB, "key.profile.1"); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { a.put_secret(kA, R"({"value":"no name"})"); }), CM_INVALID);
}

INSTANTIATE_TEST_SUITE_P(Auth, AuthConformance, ::testing::ValuesIn(adapters_of(CM_KIND_AUTH)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(AuthConformance);

}  // namespace
}  // namespace cumulo::conformance
