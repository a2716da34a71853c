#include "identity/keys.hpp"

#include <gtest/gtest.h>

#include "identity/base64url.hpp"
#include "test_util.hpp"

namespace cumulo::identity {
namespace {

// The doc's /api/me example key (001 line 1459).
constexpr std::string_view kDocKey =
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAENSq6EZZ+xCypWNkm+0+MHIZfLX7I01wTT+SOw7DoOUOuDAWKMkhBVG+SUb9AzCxEOlmkefuEW5zmXNwmH2MphEQW/r18RDjd+Nt5nbemBsoQzsm2Wg/"
    "mUyWBsKYs1oe5";

TEST(Keys, DocExamplePublicKeyRoundTrips) {
  auto k = EcKey::from_public_wire(kDocKey);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->curve(), Curve::kP384);
  EXPECT_FALSE(k->has_private());
  EXPECT_EQ(k->public_wire(), kDocKey);
  EXPECT_EQ(k->public_point().size(), 97u);
  EXPECT_FALSE(EcKey::from_public_wire(kDocKey, Curve::kP256));
}

TEST(Keys, GeneratedP384HasImplWireFormat) {
  auto k = EcKey::generate(Curve::kP384);
  ASSERT_TRUE(k);
  std::string wire = k->public_wire();
  EXPECT_EQ(wire.size(), 160u);
  EXPECT_EQ(wire.rfind("MHYwEAYHKoZIzj0CAQYFK4EEACID", 0), 0u);
  EXPECT_EQ(wire.find('\n'), std::string::npos);
  auto pub = EcKey::from_public_wire(wire);
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->spki_der(), k->spki_der());
  EXPECT_EQ(k->public_only().public_wire(), wire);
}

TEST(Keys, PrivateStorageAndPemRoundTrip) {
  auto k = EcKey::generate(Curve::kP384);
  ASSERT_TRUE(k);
  std::string stored = k->private_storage();
  EXPECT_EQ(stored.find_first_of("\n-"), std::string::npos);
  auto back = EcKey::from_private_storage(stored);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->has_private());
  EXPECT_EQ(back->public_wire(), k->public_wire());
  // A full PEM file and a PEM body with line breaks are accepted too.
  std::string pem = k->pkcs8_pem();
  EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  ASSERT_TRUE(EcKey::from_private_storage(pem));
  ASSERT_TRUE(EcKey::from_pem(pem));
  EXPECT_EQ(EcKey::from_pem(pem)->public_wire(), k->public_wire());
  auto pub = EcKey::from_pem(k->spki_pem());
  ASSERT_TRUE(pub);
  EXPECT_FALSE(pub->has_private());
  EXPECT_TRUE(EcKey::from_pkcs8_der(k->pkcs8_der()));
}

TEST(Keys, RejectsJunkTrailingBytesOtherCurvesAndTypes) {
  auto k = EcKey::generate(Curve::kP384);
  ASSERT_TRUE(k);
  EXPECT_FALSE(EcKey::from_spki_der(k->spki_der() + std::string(1, '\0')));
  EXPECT_FALSE(EcKey::from_pkcs8_der(k->pkcs8_der() + "x"));
  EXPECT_FALSE(EcKey::from_public_wire(std::string(kDocKey) + "AAAA"));
  EXPECT_FALSE(EcKey::from_public_wire(std::string(kDocKey).substr(0, 156)));
  EXPECT_FALSE(EcKey::from_private_storage("not a key"));
  EXPECT_FALSE(EcKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
  // A point not on the curve: flip a byte of X.
  std::string der = k->spki_der();
  der[der.size() - 40] ^= 0x01;
  EXPECT_FALSE(EcKey::from_spki_der(der));
  auto p256 = EcKey::generate(Curve::kP256);
  ASSERT_TRUE(p256);
  EXPECT_FALSE(EcKey::from_public_wire(p256->public_wire()));  // P-384 required for profile keys
  EXPECT_TRUE(EcKey::from_public_wire(p256->public_wire(), Curve::kP256));
}

TEST(Keys, ImplKeyIdIsUtcYyMmDd) {
  EXPECT_EQ(profile_key_id(1738713600), "250205");  // 2025-02-05T00:00:00Z
  EXPECT_EQ(profile_key_id(1738713599), "250204");
}

TEST(Keys, VapidP256RawFormat) {
  auto v = generate_vapid_key();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->private_key.size(), 43u);
  EXPECT_EQ(v->public_key.size(), 87u);
  auto pub = base64url_decode(v->public_key);
  ASSERT_TRUE(pub);
  EXPECT_EQ((*pub)[0], 0x04);
  auto k = vapid_key_from_raw(v->private_key, v->public_key);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->curve(), Curve::kP256);
  EXPECT_EQ(base64url_encode(k->public_point()), v->public_key);
  // Halves of two different keys do not belong together.
  auto other = generate_vapid_key();
  ASSERT_TRUE(other);
  EXPECT_FALSE(vapid_key_from_raw(v->private_key, other->public_key));
  EXPECT_FALSE(vapid_key_from_raw(v->private_key + "A", v->public_key));
}

#ifdef CUMULO_OPENSSL_CLI
TEST(Keys, OpensslCliReadsOurKeysAndWeReadItsKeys) {
  test::TempDir dir;
  auto k = EcKey::generate(Curve::kP384);
  ASSERT_TRUE(k);
  auto priv = dir.write("k.pem", k->pkcs8_pem());
  ASSERT_EQ(test::run(std::string(CUMULO_OPENSSL_CLI) + " pkey -in " + priv + " -pubout -out " + (dir.path / "pub.pem").string()), 0);
  auto pub = EcKey::from_pem(dir.read("pub.pem"));
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->public_wire(), k->public_wire());
  // A key made by the CLI (SEC1 "EC PRIVATE KEY" converted to PKCS#8).
  ASSERT_EQ(test::run(std::string(CUMULO_OPENSSL_CLI) + " genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out " + (dir.path / "cli.pem").string()), 0);
  auto cli = EcKey::from_pem(dir.read("cli.pem"));
  ASSERT_TRUE(cli);
  EXPECT_EQ(cli->curve(), Curve::kP384);
  EXPECT_TRUE(cli->has_private());
}
#endif

}  // namespace
}  // namespace cumulo::identity
