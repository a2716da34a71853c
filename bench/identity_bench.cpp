// Identity primitives against raw OpenSSL on the same bytes, same run, one
// thread:
//  - HS256 access-token validation vs HMAC-SHA256 of the token's signing
//    input (EVP_MAC context keyed once, restarted per message: the fastest
//    raw form, so the ratio is not flattered) — goal ≥ 0.5;
//  - ES384 action-token sign / verify vs EVP_DigestSign / EVP_DigestVerify
//    with the same key and message (DER signatures) — goal ≥ 0.9; compare
//    with `openssl speed ecdsap384` via bench/identity_bench.sh.
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <string>

#include "identity/access_token.hpp"
#include "identity/action_token.hpp"
#include "identity/base64url.hpp"
#include "identity/ossl.hpp"

namespace id = cumulo::identity;

namespace {

constexpr int64_t kNow = 1738483200;

struct Hs256Fixture {
  id::HmacKey key = *id::HmacKey::generate();
  std::string token = *id::create_access_token({"alice.example.com", std::string("bob.example.net"),
                                                std::string("file:f1~Qo2E3G8TJZ2HTGhVlrtTDBpvBGOp6gfGhq4QmD6Z46w:R"), std::string("user"), kNow + 3600},
                                               key);
  std::string signing_input = token.substr(0, token.rfind('.'));
};
Hs256Fixture& hs() {
  static Hs256Fixture f;
  return f;
}

void BM_Hs256_Validate(benchmark::State& state) {
  auto& f = hs();
  for (auto _ : state) {
    auto r = id::validate_access_token(f.token, f.key, "alice.example.com", kNow);
    if (!r) state.SkipWithError("token did not validate");
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(std::to_string(f.token.size()) + " B token");
}
BENCHMARK(BM_Hs256_Validate);

void BM_Raw_HmacSha256_EvpMac(benchmark::State& state) {
  auto& f = hs();
  // The same secret bytes; keyed once, restarted with a NULL key per MAC.
  std::string secret = *id::base64_decode(f.key.to_storage());
  cumulo::identity::ossl::Mac mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  cumulo::identity::ossl::MacCtx ctx(EVP_MAC_CTX_new(mac.get()));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), params);
  unsigned char out[32];
  for (auto _ : state) {
    size_t n = 0;
    EVP_MAC_init(ctx.get(), nullptr, 0, nullptr);
    EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(f.signing_input.data()), f.signing_input.size());
    EVP_MAC_final(ctx.get(), out, &n, sizeof out);
    benchmark::DoNotOptimize(out);
  }
  state.SetLabel(std::to_string(f.signing_input.size()) + " B signing input");
}
BENCHMARK(BM_Raw_HmacSha256_EvpMac);

void BM_Raw_HmacSha256_OneShot(benchmark::State& state) {
  auto& f = hs();
  std::string secret = *id::base64_decode(f.key.to_storage());
  unsigned char out[32];
  for (auto _ : state) {
    size_t n = 0;
    // EVP_Q_mac: what OpenSSL 3 offers for "just HMAC these bytes".
    EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(), reinterpret_cast<const unsigned char*>(f.signing_input.data()),
              f.signing_input.size(), out, sizeof out, &n);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Raw_HmacSha256_OneShot);

struct Es384Fixture {
  id::EcKey key = *id::EcKey::generate(id::Curve::kP384);
  id::EcKey pub = key.public_only();
  id::ActionClaims claims = [] {
    id::ActionClaims c;
    c.iss = "alice.example.com";
    c.k = "250205";
    c.t = "POST";
    c.c = "Check out this amazing photo!";
    c.iat = kNow;
    return c;
  }();
  std::string token = *id::sign_action_token(claims, key);
  std::string signing_input = token.substr(0, token.rfind('.'));
  std::string der = [this] {
    cumulo::identity::ossl::MdCtx ctx(EVP_MD_CTX_new());
    unsigned char sig[128];
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key.get());
    EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
    return std::string(reinterpret_cast<char*>(sig), len);
  }();
};
Es384Fixture& es() {
  static Es384Fixture f;
  return f;
}

void BM_Es384_SignActionToken(benchmark::State& state) {
  auto& f = es();
  for (auto _ : state) {
    auto t = id::sign_action_token(f.claims, f.key);
    if (!t) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(t);
  }
  state.SetLabel(std::to_string(f.token.size()) + " B token");
}
BENCHMARK(BM_Es384_SignActionToken);

void BM_Raw_EvpDigestSign_P384(benchmark::State& state) {
  auto& f = es();
  unsigned char sig[128];
  for (auto _ : state) {
    cumulo::identity::ossl::MdCtx ctx(EVP_MD_CTX_new());
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, f.key.get());
    EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(f.signing_input.data()), f.signing_input.size());
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_Raw_EvpDigestSign_P384);

void BM_Es384_ParseVerifyActionToken(benchmark::State& state) {
  auto& f = es();
  for (auto _ : state) {
    auto p = id::parse_action_token(f.token);
    if (!p || id::verify_action_token(*p, f.pub, kNow) != id::TokenError::kNone) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_Es384_ParseVerifyActionToken);

void BM_Raw_EvpDigestVerify_P384(benchmark::State& state) {
  auto& f = es();
  for (auto _ : state) {
    cumulo::identity::ossl::MdCtx ctx(EVP_MD_CTX_new());
    EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha384(), nullptr, f.pub.get());
    int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(f.der.data()), f.der.size(),
                              reinterpret_cast<const unsigned char*>(f.signing_input.data()), f.signing_input.size());
    if (ok != 1) state.SkipWithError("raw verify failed");
  }
}
BENCHMARK(BM_Raw_EvpDigestVerify_P384);

}  // namespace

BENCHMARK_MAIN();
