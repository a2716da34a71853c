#include "identity/action_token.hpp"

#include <openssl/crypto.h>
#include <openssl/ec.h>

#include "identity/base64url.hpp"
#include "identity/content_id.hpp"
#include "identity/jws.hpp"

namespace cumulo::identity {
namespace {

using nlohmann::json;

// base64url('{"alg":"ES384","typ":"JWT"}'): the header we emit and the one
// the doc shows (001 line 21063); other spellings take the slow path.
constexpr std::string_view kHeaderB64 = "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9";
constexpr size_t kHalf = 48;

// SHA-384 fetched once: EVP_sha384() would re-fetch from the provider on
// every EVP_DigestSignInit.
const EVP_MD* sha384() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  return md;
}

void put(std::string& s, std::string_view name, const json& v) {
  s += s.size() == 1 ? "\"" : ",\"";
  s += name;
  s += "\":";
  s += v.dump();  // throws on invalid UTF-8: caught by the caller
}

std::string claims_json(const ActionClaims& c) {
  // [impl] order (spec/core.md §7.2 table); absent fields omitted.
  std::string s = "{";
  put(s, "iss", c.iss);
  put(s, "k", c.k);
  put(s, "t", c.t);
  if (c.c) put(s, "c", *c.c);
  if (c.p) put(s, "p", *c.p);
  if (c.a) put(s, "a", *c.a);
  if (c.aud) put(s, "aud", *c.aud);
  if (c.sub) put(s, "sub", *c.sub);
  put(s, "iat", c.iat);
  if (c.exp) put(s, "exp", *c.exp);
  if (c.f) put(s, "f", *c.f);
  if (c.v) put(s, "v", *c.v);
  if (c.nonce) put(s, "_", *c.nonce);
  return s + "}";
}

bool opt_string(const json& o, const char* name, std::optional<std::string>& out) {
  auto it = o.find(name);
  if (it == o.end()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool req_string(const json& o, const char* name, std::string& out) {
  auto it = o.find(name);
  if (it == o.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return false;
  out = it->get<std::string>();
  return true;
}

// Claims from a parsed payload; false on a missing required claim or a
// claim of the wrong type. Unknown claims are ignored (forward compatible).
bool read_claims(const json& o, ActionClaims& c) {
  if (!req_string(o, "iss", c.iss) || !req_string(o, "k", c.k) || !req_string(o, "t", c.t)) return false;
  auto iat = o.find("iat");
  if (iat == o.end()) return false;
  auto iat_v = jws::as_int64(*iat);
  if (!iat_v) return false;
  c.iat = *iat_v;
  if (auto it = o.find("exp"); it != o.end()) {
    auto v = jws::as_int64(*it);
    if (!v) return false;
    c.exp = *v;
  }
  if (!opt_string(o, "p", c.p) || !opt_string(o, "aud", c.aud) || !opt_string(o, "sub", c.sub) || !opt_string(o, "v", c.v)) return false;
  if (auto it = o.find("a"); it != o.end()) {
    if (!it->is_array()) return false;
    c.a.emplace();
    for (const auto& x : *it) {
      if (!x.is_string()) return false;
      c.a->push_back(x.get<std::string>());
    }
  }
  if (auto it = o.find("c"); it != o.end()) c.c = *it;
  if (auto it = o.find("f"); it != o.end()) c.f = *it;
  if (auto it = o.find("_"); it != o.end()) c.nonce = *it;
  return true;
}

}  // namespace

std::optional<std::string> ecdsa_der_to_raw(std::string_view der, size_t half) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  ossl::EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig || p != end) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * half, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  // BN_bn2binpad fails (-1) when the number needs more than `half` bytes.
  if (BN_bn2binpad(r, out, static_cast<int>(half)) < 0 || BN_bn2binpad(s, out + half, static_cast<int>(half)) < 0) return std::nullopt;
  return raw;
}

std::optional<std::string> ecdsa_raw_to_der(std::string_view raw) {
  if (raw.empty() || raw.size() % 2 != 0 || raw.size() > 132) return std::nullopt;
  const size_t half = raw.size() / 2;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  ossl::Bn r(BN_bin2bn(p, static_cast<int>(half), nullptr));
  ossl::Bn s(BN_bin2bn(p + half, static_cast<int>(half), nullptr));
  if (!r || !s || BN_is_zero(r.get()) || BN_is_zero(s.get())) return std::nullopt;
  ossl::EcdsaSig sig(ECDSA_SIG_new());
  if (!sig || !ECDSA_SIG_set0(sig.get(), r.get(), s.get())) return std::nullopt;
  (void)r.release();  // owned by sig now
  (void)s.release();
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig.get(), &der);
  if (n <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

std::optional<std::string> es384_sign(const EcKey& key, std::string_view message) {
  if (!key.has_private() || key.curve() != Curve::kP384 || !sha384()) return std::nullopt;
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  unsigned char der[128];  // DER of two 48-byte integers: at most 104 bytes
  size_t len = sizeof der;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, sha384(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), der, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    return std::nullopt;
  return ecdsa_der_to_raw({reinterpret_cast<char*>(der), len}, kHalf);
}

bool es384_verify(const EcKey& key, std::string_view message, std::string_view raw_signature) noexcept {
  try {
    if (key.curve() != Curve::kP384 || raw_signature.size() != kEs384SignatureSize || !sha384()) return false;
    auto der = ecdsa_raw_to_der(raw_signature);
    if (!der) return false;
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, sha384(), nullptr, key.get()) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der->data()), der->size(), reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1;
  } catch (...) {
    return false;
  }
}

std::optional<std::string> sign_action_token(const ActionClaims& claims, const EcKey& key) {
  std::string token;
  try {
    token = std::string(kHeaderB64) + "." + base64url_encode(claims_json(claims));
  } catch (const json::exception&) {
    return std::nullopt;  // invalid UTF-8 in a claim
  }
  auto sig = es384_sign(key, token);
  if (!sig) return std::nullopt;
  token += '.';
  token += base64url_encode(*sig);
  return token;
}

std::string ActionToken::id() const { return action_id(text); }

Result<ActionToken> parse_action_token(std::string_view token, size_t max_size) noexcept {
  if (token.size() > max_size) return TokenError::kTooLarge;
  try {
    auto parts = jws::split(token);
    if (!parts) return TokenError::kMalformed;
    if (auto e = jws::check_header(parts->header, kHeaderB64, "ES384"); e != TokenError::kNone) return e;
    ActionToken out;
    if (parts->signature.size() != base64url_length(kEs384SignatureSize) || !base64url_decode_append(parts->signature, out.signature))
      return TokenError::kMalformed;
    std::string payload;
    if (!base64url_decode_append(parts->payload, payload)) return TokenError::kMalformed;
    auto obj = jws::parse_object(payload);
    if (!obj || !read_claims(*obj, out.claims)) return TokenError::kMalformed;
    out.text = std::string(token);
    out.signing_input_len = parts->signing_input.size();
    return out;
  } catch (...) {
    return TokenError::kMalformed;  // allocation failure: still never escapes
  }
}

TokenError verify_action_token(const ActionToken& token, const EcKey& issuer_key, int64_t now, std::optional<int64_t> key_expires_at) noexcept {
  std::string_view input(token.text.data(), token.signing_input_len);
  if (!es384_verify(issuer_key, input, token.signature)) return TokenError::kBadSignature;
  if (token.claims.exp && *token.claims.exp <= now) return TokenError::kExpired;
  if (key_expires_at && *key_expires_at < token.claims.iat) return TokenError::kKeyExpired;
  return TokenError::kNone;
}

std::optional<std::string> create_proxy_token(const EcKey& key, std::string_view key_id, std::string_view user_id_tag, std::string_view target_id_tag,
                                              int64_t now) {
  ActionClaims c;
  c.iss = user_id_tag;
  c.k = key_id;
  c.t = "PROXY";
  c.aud = std::string(target_id_tag);
  c.iat = now;
  c.exp = now + kProxyTokenLifetime;
  return sign_action_token(c, key);
}

TokenError check_proxy_claims(const ActionClaims& c, std::string_view self_id_tag, int64_t now) noexcept {
  if (c.t != "PROXY") return TokenError::kWrongType;
  if (!c.aud || *c.aud != self_id_tag) return TokenError::kWrongAudience;
  if (!c.exp) return TokenError::kMalformed;  // a PROXY token must expire
  if (*c.exp <= now) return TokenError::kExpired;
  if (*c.exp > now + kMaxProxyTokenLifetime + kClockSkew || c.iat > now + kClockSkew) return TokenError::kMalformed;
  return TokenError::kNone;
}

}  // namespace cumulo::identity
