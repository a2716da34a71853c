#include "identity/access_token.hpp"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "identity/action_token.hpp"
#include "identity/base64url.hpp"

namespace cumulo::identity {
namespace {

constexpr int64_t kNow = 1738483200;

std::string hex(const std::array<uint8_t, 32>& d) {
  static const char* x = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += x[b >> 4];
    s += x[b & 15];
  }
  return s;
}

TEST(HmacKey, Rfc4231Vectors) {
  // Test cases 6 and 7: 131-byte key (long enough for our 32-byte minimum).
  auto key = HmacKey::from_bytes(std::string(131, '\xaa'));
  ASSERT_TRUE(key);
  std::array<uint8_t, 32> out{};
  ASSERT_TRUE(key->mac("Test Using Larger Than Block-Size Key - Hash Key First", out));
  EXPECT_EQ(hex(out), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // The same thread reuses its keyed context: a second MAC must be fresh.
  ASSERT_TRUE(
      key->mac("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the "
               "HMAC algorithm.",
               out));
  EXPECT_EQ(hex(out), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  ASSERT_TRUE(key->mac("Test Using Larger Than Block-Size Key - Hash Key First", out));
  EXPECT_EQ(hex(out), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_FALSE(HmacKey::from_bytes(std::string(31, 'k')));  // under 256 bits
}

TEST(HmacKey, InterleavedKeysAndThreads) {
  auto a = HmacKey::generate();
  auto b = HmacKey::generate();
  ASSERT_TRUE(a && b);
  std::array<uint8_t, 32> a1{}, b1{}, a2{};
  ASSERT_TRUE(a->mac("m", a1) && b->mac("m", b1) && a->mac("m", a2));
  EXPECT_NE(a1, b1);
  EXPECT_EQ(a1, a2);
  std::array<uint8_t, 32> t{};
  std::thread([&] { ASSERT_TRUE(a->mac("m", t)); }).join();
  EXPECT_EQ(t, a1);
  auto restored = HmacKey::from_storage(a->to_storage());
  ASSERT_TRUE(restored);
  ASSERT_TRUE(restored->mac("m", t));
  EXPECT_EQ(t, a1);
}

TEST(AccessToken, Rfc7515AppendixA1ValidatesAsHs256) {
  // RFC 7515 A.1: HS256 with a JWK octet key; header {"typ":"JWT",\r\n "alg":"HS256"}
  // (slow header path), claims iss "joe", exp 1300819380, one unknown claim.
  auto key = HmacKey::from_bytes(*base64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"));
  ASSERT_TRUE(key);
  const std::string jws =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  auto v = validate_access_token(jws, *key, "joe", 1300819379);
  ASSERT_TRUE(v) << to_string(v.error());
  EXPECT_EQ(v->iss, "joe");
  EXPECT_EQ(v->exp, 1300819380);
  EXPECT_TRUE(v->anonymous());
  EXPECT_EQ(validate_access_token(jws, *key, "joe", 1300819380).error(), TokenError::kExpired);
}

TEST(AccessToken, CreateAndValidateImplClaims) {
  auto key = HmacKey::generate();
  ASSERT_TRUE(key);
  AccessClaims c{"alice.example", std::string("bob.example"), std::string("file:f1~x:R"), std::string("SADM,user"), kNow + kAccessTokenLifetime};
  auto tok = create_access_token(c, *key);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->rfind("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 0), 0u);
  auto payload = base64url_decode(tok->substr(tok->find('.') + 1, tok->rfind('.') - tok->find('.') - 1));
  EXPECT_EQ(*payload, R"({"iss":"alice.example","sub":"bob.example","scope":"file:f1~x:R","r":"SADM,user","exp":1738486800})");
  auto v = validate_access_token(*tok, *key, "alice.example", kNow);
  ASSERT_TRUE(v) << to_string(v.error());
  EXPECT_EQ(v->sub, "bob.example");
  EXPECT_EQ(v->user(), "bob.example");
  EXPECT_EQ(v->scope, "file:f1~x:R");
  EXPECT_EQ(v->r, "SADM,user");
  EXPECT_FALSE(v->anonymous());
}

TEST(AccessToken, ShareLinkTokenIsAnonymous) {
  auto key = HmacKey::generate();
  auto tok = create_access_token(share_link_claims("alice.example", "file:f1~abc:R", kNow), *key);
  ASSERT_TRUE(tok);
  auto v = validate_access_token(*tok, *key, "alice.example", kNow);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->anonymous());
  EXPECT_EQ(v->user(), "alice.example");
  EXPECT_EQ(v->exp, kNow + 3600);
}

TEST(AccessToken, ProxyGrantCarriesRemoteUser) {
  auto key = HmacKey::generate();
  ActionClaims proxy;
  proxy.iss = "alice.a.example";
  auto tok = create_access_token(proxy_access_claims("b.example", proxy, std::string("follower"), std::nullopt, kNow), *key);
  auto v = validate_access_token(*tok, *key, "b.example", kNow);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->sub, "alice.a.example");
  EXPECT_EQ(v->r, "follower");
  EXPECT_EQ(validate_access_token(*tok, *key, "alice.a.example", kNow).error(), TokenError::kWrongIssuer);
}

TEST(AccessToken, RefreshAndRevocation) {
  auto key = HmacKey::generate();
  AccessClaims c{"t.example", std::string("u.example"), std::nullopt, std::nullopt, kNow + 10};
  auto tok = *create_access_token(c, *key);
  auto fresh = refresh_access_token(tok, *key, "t.example", kNow + 5);
  ASSERT_TRUE(fresh);
  auto v = validate_access_token(fresh.value(), *key, "t.example", kNow + 5);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->exp, kNow + 5 + 3600);
  EXPECT_EQ(v->sub, "u.example");
  EXPECT_EQ(refresh_access_token(tok, *key, "t.example", kNow + 10).error(), TokenError::kExpired);
  EXPECT_EQ(refresh_access_token(tok, *key, "other.example", kNow).error(), TokenError::kWrongIssuer);

  RevocationList revoked;
  revoked.revoke(fresh.value(), v->exp);
  EXPECT_EQ(validate_access_token(fresh.value(), *key, "t.example", kNow + 5, &revoked).error(), TokenError::kRevoked);
  EXPECT_TRUE(validate_access_token(tok, *key, "t.example", kNow + 5, &revoked));
  EXPECT_EQ(refresh_access_token(fresh.value(), *key, "t.example", kNow + 6, 3600, &revoked).error(), TokenError::kRevoked);
  EXPECT_EQ(revoked.prune(kNow + 5 + 3600), 1u);
  EXPECT_EQ(revoked.size(), 0u);
}

std::string forge(std::string_view header, std::string_view payload, const HmacKey& key) {
  std::string t = base64url_encode(header) + "." + base64url_encode(payload);
  std::array<uint8_t, 32> mac{};
  EXPECT_TRUE(key.mac(t, mac));
  return t + "." + base64url_encode({reinterpret_cast<const char*>(mac.data()), mac.size()});
}

// The issue's table: each case rejected with its reason, never a crash.
TEST(AccessToken, RejectionTable) {
  auto key = HmacKey::generate();
  auto other = HmacKey::generate();
  const std::string tenant = "alice.example";
  AccessClaims c{tenant, std::string("bob.example"), std::nullopt, std::nullopt, kNow + 3600};
  const std::string good = *create_access_token(c, *key);
  ASSERT_TRUE(validate_access_token(good, *key, tenant, kNow));
  const std::string body = good.substr(0, good.rfind('.'));
  const std::string sig = good.substr(good.rfind('.') + 1);
  std::string tampered = good;
  tampered[good.find('.') + 5] ^= 0x01;
  std::string bad_sig = good;
  bad_sig[good.size() - 3] = bad_sig[good.size() - 3] == 'A' ? 'B' : 'A';
  std::string noncanon_sig = body + "." + sig.substr(0, 42) + (sig.back() == 'A' ? "B" : "A");  // last char's unused bits

  struct Case {
    std::string name, token, tenant;
    int64_t now;
    TokenError want;
  };
  std::vector<Case> cases = {
      {"expired", *create_access_token({tenant, std::string("bob.example"), {}, {}, kNow}, *key), tenant, kNow, TokenError::kExpired},
      {"wrong issuer (tenant A's token on B's host)", good, "bob.example", kNow, TokenError::kWrongIssuer},
      {"wrong signature (other secret)", *create_access_token(c, *other), tenant, kNow, TokenError::kBadSignature},
      {"wrong signature (byte changed)", bad_sig, tenant, kNow, TokenError::kBadSignature},
      {"non-canonical signature spelling", noncanon_sig, tenant, kNow, TokenError::kBadSignature},
      {"alg none, empty signature", base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + good.substr(good.find('.') + 1, body.size() - good.find('.')),
       tenant, kNow, TokenError::kUnsupportedAlg},
      {"alg none, kept signature", base64url_encode(R"({"alg":"none"})") + good.substr(good.find('.')), tenant, kNow, TokenError::kUnsupportedAlg},
      {"alg ES384", base64url_encode(R"({"alg":"ES384"})") + good.substr(good.find('.')), tenant, kNow, TokenError::kUnsupportedAlg},
      {"alg hs256 lower case", forge(R"({"alg":"hs256"})", R"({"iss":"alice.example","exp":1738486800})", *key), tenant, kNow, TokenError::kUnsupportedAlg},
      {"tampered payload", tampered, tenant, kNow, TokenError::kBadSignature},
      {"truncated (no signature)", body, tenant, kNow, TokenError::kMalformed},
      {"truncated (short signature)", good.substr(0, good.size() - 1), tenant, kNow, TokenError::kMalformed},
      {"truncated (dot only)", body + ".", tenant, kNow, TokenError::kMalformed},
      {"oversized", good + std::string(kMaxAccessTokenSize, 'A'), tenant, kNow, TokenError::kTooLarge},
      {"empty", "", tenant, kNow, TokenError::kMalformed},
      {"extra segment", good + ".x", tenant, kNow, TokenError::kMalformed},
      {"bad JSON (signed)", forge(R"({"alg":"HS256"})", R"({"iss":"alice.example",)", *key), tenant, kNow, TokenError::kMalformed},
      {"payload not an object", forge(R"({"alg":"HS256"})", R"(["alice.example"])", *key), tenant, kNow, TokenError::kMalformed},
      {"exp missing", forge(R"({"alg":"HS256"})", R"({"iss":"alice.example"})", *key), tenant, kNow, TokenError::kMalformed},
      {"exp string", forge(R"({"alg":"HS256"})", R"({"iss":"alice.example","exp":"1738486800"})", *key), tenant, kNow, TokenError::kMalformed},
      {"exp float", forge(R"({"alg":"HS256"})", R"({"iss":"alice.example","exp":1738486800.5})", *key), tenant, kNow, TokenError::kMalformed},
      {"iss number", forge(R"({"alg":"HS256"})", R"({"iss":7,"exp":1738486800})", *key), tenant, kNow, TokenError::kMalformed},
      {"sub object", forge(R"({"alg":"HS256"})", R"({"iss":"alice.example","sub":{},"exp":1738486800})", *key), tenant, kNow, TokenError::kMalformed},
      {"duplicate iss", forge(R"({"alg":"HS256"})", R"({"iss":"bob.example","iss":"alice.example","exp":1738486800})", *key), tenant, kNow,
       TokenError::kMalformed},
      {"duplicate header alg", forge(R"({"alg":"HS256","alg":"none"})", R"({"iss":"alice.example","exp":1738486800})", *key), tenant, kNow,
       TokenError::kMalformed},
      {"trailing garbage after JSON", forge(R"({"alg":"HS256"})", R"({"iss":"alice.example","exp":1738486800}x)", *key), tenant, kNow, TokenError::kMalformed},
      {"invalid UTF-8", forge(R"({"alg":"HS256"})", "{\"iss\":\"alice.example\",\"sub\":\"\xc3\x28\",\"exp\":1738486800}", *key), tenant, kNow,
       TokenError::kMalformed},
  };
  for (const auto& k : cases) {
    auto r = validate_access_token(k.token, *key, k.tenant, k.now);
    EXPECT_FALSE(r) << k.name;
    EXPECT_EQ(r.error(), k.want) << k.name << ": got " << to_string(r.error());
  }
  // Unknown claims and nested values are ignored once the MAC holds.
  EXPECT_TRUE(
      validate_access_token(forge(R"({"alg":"HS256"})", R"({"iss":"alice.example","x":{"y":[1,{"z":null}]},"exp":1738486800})", *key), *key, tenant, kNow));
}

TEST(AccessToken, FuzzTruncationsAndBitFlipsNeverValidate) {
  auto key = HmacKey::generate();
  const std::string tenant = "alice.example";
  const std::string good = *create_access_token({tenant, std::string("bob.example"), std::string("s"), std::string("r"), kNow + 3600}, *key);
  for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(validate_access_token(good.substr(0, n), *key, tenant, kNow)) << n;
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) {
    std::string t = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) t[rng() % t.size()] ^= static_cast<char>(1u << (rng() % 8));
    if (t == good) continue;
    EXPECT_FALSE(validate_access_token(t, *key, tenant, kNow)) << t;
  }
  // Random garbage of every length up to the limit: no crash, no success.
  for (int i = 0; i < 2000; ++i) {
    std::string t(rng() % 300, '\0');
    for (auto& ch : t) ch = "eyJ.-_AZaz09{}\"=+/\xff"[rng() % 19];
    EXPECT_FALSE(validate_access_token(t, *key, tenant, kNow));
  }
}

TEST(Bearer, Classify) {
  EXPECT_EQ(classify_bearer("cl_" + std::string(43, 'a')), BearerKind::kApiKey);
  EXPECT_EQ(classify_bearer("idp_abc"), BearerKind::kIdpApiKey);
  EXPECT_EQ(classify_bearer("eyJ.eyJ.sig"), BearerKind::kAccessToken);
  EXPECT_EQ(classify_bearer("cl_"), BearerKind::kInvalid);
  EXPECT_EQ(classify_bearer("cl_a b"), BearerKind::kInvalid);
  EXPECT_EQ(classify_bearer(""), BearerKind::kInvalid);
  EXPECT_EQ(classify_bearer("Basic xyz"), BearerKind::kInvalid);
}

}  // namespace
}  // namespace cumulo::identity
