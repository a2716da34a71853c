#include "identity/action_token.hpp"

#include <gtest/gtest.h>

#include <random>

#include "identity/base64url.hpp"
#include "identity/content_id.hpp"
#include "test_util.hpp"

namespace cumulo::identity {
namespace {

// Fixed vector made with the openssl CLI (not with this library):
//   openssl ecparam -name secp384r1 -genkey | openssl pkey …  → kKatKey
//   openssl dgst -sha384 -sign p8.pem msg  → DER, r and s read with asn1parse,
//   written as base64url(r‖s).
constexpr std::string_view kKatKey =
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE4iGwbVzNAaY/wciT2Y0hYzE0hiSe09qsuHa40RAhSnuAc9ujp+LyLc7J43gy4+DENHX2RfN9N6rGCQwWbUu2mMOVSo2TgW+3qgSEfBydNT/"
    "5HGK7SnmOEBG7d0lW1Bn3";
constexpr std::string_view kKatToken =
    "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhbGljZS5leGFtcGxlLmNvbSIsImsiOiIyNTAyMDUiLCJ0IjoiUE9TVCIsImlhdCI6MTczODQ4MzEwMH0."
    "NIhxfhhaf0x6TyC8YzgtyZlskUvK70V4S46DV-pON4H7bJ8WaFI5MDqzGxfkJCI0049GsAIxMBFvCkltxN2GARU-gaBYGb7FydbklPd1YHCD8ekn3Mpqdk5UjNkTZM7O";
// The same token with s replaced by n - s (python, from the values above).
constexpr std::string_view kKatMalleatedSig =
    "NIhxfhhaf0x6TyC8YzgtyZlskUvK70V4S46DV-pON4H7bJ8WaFI5MDqzGxfkJCI0LHC5T_3Oz-6Q9baSOyJ5_urBfl-n5kE5_Yxo7PzBzW7UKCSKa-Y9BJ6XjJG5YFql";
constexpr int64_t kNow = 1738483200;

EcKey kat_key() { return *EcKey::from_public_wire(kKatKey); }

TEST(ActionToken, FixedVectorFromOpensslVerifies) {
  auto t = parse_action_token(kKatToken);
  ASSERT_TRUE(t) << to_string(t.error());
  EXPECT_EQ(t->claims.iss, "alice.example.com");
  EXPECT_EQ(t->claims.k, "250205");
  EXPECT_EQ(t->claims.t, "POST");
  EXPECT_EQ(t->claims.iat, 1738483100);
  EXPECT_EQ(t->id(), "a1~dQvu4m80zJKSCOlQd8YnzKKGd-y3_ZwYXGkZ9E2SldI");  // SHA-256 of the text (python)
  EXPECT_EQ(verify_action_token(*t, kat_key(), kNow), TokenError::kNone);
  auto other = EcKey::generate(Curve::kP384);
  EXPECT_EQ(verify_action_token(*t, *other, kNow), TokenError::kBadSignature);
  EXPECT_EQ(verify_action_token(*t, kat_key(), kNow, /*key_expires_at=*/1738483000), TokenError::kKeyExpired);
}

TEST(ActionToken, HighSIsAcceptedForInteropAndChangesTheId) {
  // [impl] peers do not normalise s; rejecting high-S would reject half of
  // their tokens. Consequence (documented in docs/identity.md): a third
  // party can re-spell a valid token, which then has another a1~ id.
  std::string t2 = std::string(kKatToken.substr(0, kKatToken.rfind('.') + 1)) + std::string(kKatMalleatedSig);
  auto a = parse_action_token(kKatToken);
  auto b = parse_action_token(t2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(verify_action_token(*b, kat_key(), kNow), TokenError::kNone);
  EXPECT_NE(a->id(), b->id());
}

TEST(ActionToken, DerRawConversion) {
  auto raw = base64url_decode(kKatToken.substr(kKatToken.rfind('.') + 1));
  ASSERT_TRUE(raw);
  auto der = ecdsa_raw_to_der(*raw);
  ASSERT_TRUE(der);
  EXPECT_EQ(der->size(), 103u);  // 30 65 | 02 30 r(48) | 02 31 00 s(48): s has its top bit set
  EXPECT_EQ(ecdsa_der_to_raw(*der, 48), raw);
  EXPECT_FALSE(ecdsa_der_to_raw(*der + "x", 48));
  EXPECT_FALSE(ecdsa_der_to_raw(*der, 32));  // does not fit
  EXPECT_FALSE(ecdsa_raw_to_der(std::string(96, '\0')));
  EXPECT_FALSE(ecdsa_raw_to_der(raw->substr(1)));
  // Short r (leading zero bytes) is padded back to 48 bytes.
  std::string small(96, '\0');
  small[47] = 1;
  small[95] = 2;
  auto sd = ecdsa_raw_to_der(small);
  ASSERT_TRUE(sd);
  EXPECT_EQ(ecdsa_der_to_raw(*sd, 48), small);
}

TEST(ActionToken, SignParseVerifyRoundTrip) {
  auto key = EcKey::generate(Curve::kP384);
  ASSERT_TRUE(key);
  ActionClaims c;
  c.iss = "alice.example.com";
  c.k = "250205";
  c.t = "POST:IMG";
  c.c = nlohmann::json{{"text", "héllo"}, {"n", 1}};
  c.a = std::vector<std::string>{file_id("d2,x")};
  c.iat = kNow;
  c.v = "P";
  auto tok = sign_action_token(c, *key);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->rfind("eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.", 0), 0u);
  EXPECT_EQ(tok->size() - tok->rfind('.') - 1, 128u);  // 96 raw bytes
  auto p = parse_action_token(*tok);
  ASSERT_TRUE(p);
  EXPECT_EQ(verify_action_token(*p, key->public_only(), kNow), TokenError::kNone);
  EXPECT_EQ(p->claims.c, c.c);
  EXPECT_EQ(p->claims.a, c.a);
  EXPECT_EQ(p->claims.v, "P");
  EXPECT_FALSE(p->claims.exp);
  EXPECT_EQ(p->id(), action_id(*tok));
  // Payload claim order as [impl]: iss, k, t, c, a, iat, v.
  auto payload = base64url_decode(tok->substr(tok->find('.') + 1, tok->rfind('.') - tok->find('.') - 1));
  ASSERT_TRUE(payload);
  EXPECT_EQ(payload->rfind("{\"iss\":\"alice.example.com\",\"k\":\"250205\",\"t\":\"POST:IMG\",\"c\":", 0), 0u) << *payload;
  // Signing needs a private P-384 key.
  EXPECT_FALSE(sign_action_token(c, key->public_only()));
  EXPECT_FALSE(sign_action_token(c, *EcKey::generate(Curve::kP256)));
  c.iss = std::string("\xff\xfe", 2);
  EXPECT_FALSE(sign_action_token(c, *key));
}

#ifdef CUMULO_OPENSSL_CLI
TEST(ActionToken, OpensslCliVerifiesOurSignatureAndWeVerifyItsSignature) {
  test::TempDir dir;
  auto key = EcKey::generate(Curve::kP384);
  ASSERT_TRUE(key);
  const std::string msg = "header.payload: cumulo cross-check";
  auto raw = es384_sign(*key, msg);
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 96u);
  auto der = ecdsa_raw_to_der(*raw);
  ASSERT_TRUE(der);
  const std::string cli = CUMULO_OPENSSL_CLI;
  auto pub = dir.write("pub.pem", key->spki_pem());
  auto m = dir.write("msg", msg);
  auto s = dir.write("sig.der", *der);
  EXPECT_EQ(test::run(cli + " dgst -sha384 -verify " + pub + " -signature " + s + " " + m), 0);
  auto bad = dir.write("bad", msg + "!");
  EXPECT_NE(test::run(cli + " dgst -sha384 -verify " + pub + " -signature " + s + " " + bad), 0);
  // The other way: the CLI signs (DER), we convert and verify.
  auto priv = dir.write("k.pem", key->pkcs8_pem());
  ASSERT_EQ(test::run(cli + " dgst -sha384 -sign " + priv + " -out " + (dir.path / "cli.der").string() + " " + m), 0);
  auto cli_raw = ecdsa_der_to_raw(dir.read("cli.der"), 48);
  ASSERT_TRUE(cli_raw);
  EXPECT_TRUE(es384_verify(*key, msg, *cli_raw));
  EXPECT_FALSE(es384_verify(*key, msg + "!", *cli_raw));
}
#endif

TEST(ActionToken, ProxyFlow) {
  auto a_key = EcKey::generate(Curve::kP384);
  ASSERT_TRUE(a_key);
  auto tok = create_proxy_token(*a_key, "250205", "alice.a.example", "b.example", kNow);
  ASSERT_TRUE(tok);
  auto p = parse_action_token(*tok, kMaxProxyTokenSize);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->claims.t, "PROXY");
  EXPECT_EQ(p->claims.exp, kNow + 60);
  EXPECT_EQ(check_proxy_claims(p->claims, "b.example", kNow), TokenError::kNone);
  EXPECT_EQ(verify_action_token(*p, a_key->public_only(), kNow), TokenError::kNone);
  EXPECT_EQ(check_proxy_claims(p->claims, "c.example", kNow), TokenError::kWrongAudience);
  EXPECT_EQ(check_proxy_claims(p->claims, "b.example", kNow + 60), TokenError::kExpired);
  EXPECT_EQ(verify_action_token(*p, a_key->public_only(), kNow + 61), TokenError::kExpired);
  ActionClaims c = p->claims;
  c.t = "POST";
  EXPECT_EQ(check_proxy_claims(c, "b.example", kNow), TokenError::kWrongType);
  c = p->claims;
  c.exp.reset();
  EXPECT_EQ(check_proxy_claims(c, "b.example", kNow), TokenError::kMalformed);
  c = p->claims;
  c.exp = kNow + 3600;  // far longer than any PROXY lifetime
  EXPECT_EQ(check_proxy_claims(c, "b.example", kNow), TokenError::kMalformed);
  c = p->claims;
  c.iat = kNow + 600;
  EXPECT_EQ(check_proxy_claims(c, "b.example", kNow), TokenError::kMalformed);
}

// Builds "b64(header).b64(payload).sig" with arbitrary JSON texts.
std::string forge(std::string_view header, std::string_view payload, std::string_view sig_b64) {
  return base64url_encode(header) + "." + base64url_encode(payload) + "." + std::string(sig_b64);
}

TEST(ActionToken, RejectionTable) {
  const std::string sig = std::string(kKatToken.substr(kKatToken.rfind('.') + 1));
  const std::string payload = R"({"iss":"a.example","k":"1","t":"POST","iat":1})";
  struct Case {
    std::string name, token;
    TokenError want;
  };
  std::vector<Case> cases = {
      {"empty", "", TokenError::kMalformed},
      {"two parts", "a.b", TokenError::kMalformed},
      {"four parts", std::string(kKatToken) + ".x", TokenError::kMalformed},
      {"alg none", forge(R"({"alg":"none","typ":"JWT"})", payload, ""), TokenError::kUnsupportedAlg},
      {"alg HS256", forge(R"({"alg":"HS256","typ":"JWT"})", payload, sig), TokenError::kUnsupportedAlg},
      {"alg ES256", forge(R"({"alg":"ES256"})", payload, sig), TokenError::kUnsupportedAlg},
      {"alg missing", forge(R"({"typ":"JWT"})", payload, sig), TokenError::kMalformed},
      {"alg not a string", forge(R"({"alg":384})", payload, sig), TokenError::kMalformed},
      {"crit", forge(R"({"alg":"ES384","crit":["b64"]})", payload, sig), TokenError::kUnsupportedAlg},
      {"typ other", forge(R"({"alg":"ES384","typ":"JWE"})", payload, sig), TokenError::kMalformed},
      {"duplicate alg", forge(R"({"alg":"ES384","alg":"none"})", payload, sig), TokenError::kMalformed},
      {"header not JSON", forge("ES384", payload, sig), TokenError::kMalformed},
      {"sig too short", forge(R"({"alg":"ES384"})", payload, sig.substr(0, 127)), TokenError::kMalformed},
      {"sig too long", forge(R"({"alg":"ES384"})", payload, sig + "AA"), TokenError::kMalformed},
      {"sig DER-sized", forge(R"({"alg":"ES384"})", payload, base64url_encode(std::string(103, 'x'))), TokenError::kMalformed},
      {"payload padded", std::string(kKatToken.substr(0, kKatToken.find('.') + 1)) + "eyJ9=." + sig, TokenError::kMalformed},
      {"payload array", forge(R"({"alg":"ES384"})", "[1]", sig), TokenError::kMalformed},
      {"payload bad JSON", forge(R"({"alg":"ES384"})", R"({"iss":"a",)", sig), TokenError::kMalformed},
      {"trailing garbage JSON", forge(R"({"alg":"ES384"})", payload + "x", sig), TokenError::kMalformed},
      {"iss missing", forge(R"({"alg":"ES384"})", R"({"k":"1","t":"POST","iat":1})", sig), TokenError::kMalformed},
      {"iss number", forge(R"({"alg":"ES384"})", R"({"iss":1,"k":"1","t":"POST","iat":1})", sig), TokenError::kMalformed},
      {"iat string", forge(R"({"alg":"ES384"})", R"({"iss":"a","k":"1","t":"POST","iat":"1"})", sig), TokenError::kMalformed},
      {"iat float", forge(R"({"alg":"ES384"})", R"({"iss":"a","k":"1","t":"POST","iat":1.5})", sig), TokenError::kMalformed},
      {"exp huge", forge(R"({"alg":"ES384"})", R"({"iss":"a","k":"1","t":"POST","iat":1,"exp":18446744073709551615})", sig), TokenError::kMalformed},
      {"a not strings", forge(R"({"alg":"ES384"})", R"({"iss":"a","k":"1","t":"POST","iat":1,"a":[1]})", sig), TokenError::kMalformed},
      {"duplicate iss", forge(R"({"alg":"ES384"})", R"({"iss":"a","iss":"b","k":"1","t":"POST","iat":1})", sig), TokenError::kMalformed},
      {"nested duplicate", forge(R"({"alg":"ES384"})", R"({"iss":"a","k":"1","t":"POST","iat":1,"c":{"x":1,"x":2}})", sig), TokenError::kMalformed},
      {"too deep", forge(R"({"alg":"ES384"})", R"({"iss":"a","k":"1","t":"POST","iat":1,"c":)" + std::string(100, '[') + std::string(100, ']') + "}", sig),
       TokenError::kMalformed},
      {"invalid UTF-8", forge(R"({"alg":"ES384"})", "{\"iss\":\"\xff\",\"k\":\"1\",\"t\":\"POST\",\"iat\":1}", sig), TokenError::kMalformed},
      {"whitespace in token", " " + std::string(kKatToken), TokenError::kMalformed},
      {"oversized", std::string(kMaxActionTokenSize + 1, 'A'), TokenError::kTooLarge},
  };
  for (const auto& c : cases) {
    auto r = parse_action_token(c.token);
    EXPECT_FALSE(r) << c.name;
    EXPECT_EQ(r.error(), c.want) << c.name << ": " << to_string(r.error());
  }
  EXPECT_EQ(parse_action_token(kKatToken, 100).error(), TokenError::kTooLarge);
}

TEST(ActionToken, TamperedPayloadFailsSignature) {
  // Re-signed header/payload with the original signature: parses, never verifies.
  std::string evil = forge(R"({"alg":"ES384","typ":"JWT"})", R"({"iss":"alice.example.com","k":"250205","t":"POST","iat":1738483101})",
                           kKatToken.substr(kKatToken.rfind('.') + 1));
  auto p = parse_action_token(evil);
  ASSERT_TRUE(p);
  EXPECT_EQ(verify_action_token(*p, kat_key(), kNow), TokenError::kBadSignature);
}

TEST(ActionToken, FuzzTruncationsAndBitFlipsNeverVerify) {
  const auto key = kat_key();
  const std::string good(kKatToken);
  std::mt19937 rng(1234);
  int parsed = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    auto p = parse_action_token(good.substr(0, n));
    if (p) {
      EXPECT_NE(verify_action_token(*p, key, kNow), TokenError::kNone) << n;
    }
  }
  for (int i = 0; i < 3000; ++i) {
    std::string t = good;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) t[rng() % t.size()] ^= static_cast<char>(1u << (rng() % 8));
    if (t == good) continue;
    auto p = parse_action_token(t);
    if (!p) continue;
    ++parsed;
    EXPECT_NE(verify_action_token(*p, key, kNow), TokenError::kNone) << t;
  }
  EXPECT_GT(parsed, 0);  // the loop did reach signature checks
}

}  // namespace
}  // namespace cumulo::identity
