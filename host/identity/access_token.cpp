#include "identity/access_token.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include <atomic>

#include "identity/action_token.hpp"
#include "identity/base64url.hpp"
#include "identity/jws.hpp"
#include "identity/ossl.hpp"

namespace cumulo::identity {
namespace {

using nlohmann::json;

// base64url('{"alg":"HS256","typ":"JWT"}'): what we emit and what the doc's
// sample tokens carry (001 lines 6662-6703).
constexpr std::string_view kHeaderB64 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
constexpr size_t kMacB64Len = base64url_length(32);

EVP_MAC* hmac_alg() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

std::atomic<uint64_t> g_next_key_id{1};

// Each thread keeps one keyed HMAC context: re-initialising it with a NULL
// key restarts from the stored inner/outer pads, so a MAC costs the hashing
// only — no allocation, no key schedule, no provider fetch. The context is
// a copy of the key's template, tagged with the key's unique id.
struct ThreadMac {
  uint64_t key_id = 0;
  ossl::MacCtx ctx;
};
thread_local ThreadMac t_mac;

// Reads the [impl] access-token claims straight from the payload bytes with
// nlohmann's SAX parser: no DOM, one allocation per string claim. Strict
// JSON and UTF-8 come from the parser; this adds the object shape, claim
// types and duplicate detection for the claims we read.
class ClaimsSax final : public json::json_sax_t {
 public:
  explicit ClaimsSax(AccessClaims& c) : c_(c) {}
  bool complete() const { return (seen_ & (kIss | kExp)) == (kIss | kExp); }

  bool null() override { return scalar_other(); }
  bool boolean(bool) override { return scalar_other(); }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return v <= static_cast<uint64_t>(INT64_MAX) ? integer(static_cast<int64_t>(v)) : scalar_other(); }
  bool number_float(number_float_t, const string_t&) override { return scalar_other(); }
  bool binary(binary_t&) override { return false; }
  bool string(string_t& s) override {
    if (depth_ != 1) return depth_ > 1;
    switch (cur_) {
      case kIss:
        c_.iss = std::move(s);
        return !c_.iss.empty();
      case kSub:
        c_.sub = std::move(s);
        return true;
      case kScope:
        c_.scope = std::move(s);
        return true;
      case kRoles:
        c_.r = std::move(s);
        return true;
      case kExp:
        return false;
      default:
        return true;
    }
  }
  bool start_object(std::size_t) override { return open(); }
  bool end_object() override { return --depth_ >= 0; }
  bool start_array(std::size_t) override { return depth_ != 0 && open(); }
  bool end_array() override { return --depth_ >= 0; }
  bool key(string_t& k) override {
    if (depth_ != 1) return true;
    cur_ = k == "iss" ? kIss : k == "sub" ? kSub : k == "scope" ? kScope : k == "r" ? kRoles : k == "exp" ? kExp : kOther;
    if (cur_ == kOther) return true;
    if (seen_ & cur_) return false;  // duplicate claim
    seen_ |= cur_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  enum Field : unsigned { kOther = 0, kIss = 1, kSub = 2, kScope = 4, kRoles = 8, kExp = 16 };
  bool open() {
    if (depth_ == 1 && cur_ != kOther) return false;  // a known claim must be a scalar
    cur_ = kOther;
    return ++depth_ <= jws::kMaxJsonDepth;
  }
  bool scalar_other() { return depth_ > 1 || (depth_ == 1 && cur_ == kOther); }
  bool integer(int64_t v) {
    if (depth_ != 1) return depth_ > 1;
    if (cur_ == kExp) {
      c_.exp = v;
      return true;
    }
    return cur_ == kOther;
  }
  AccessClaims& c_;
  int depth_ = 0;
  Field cur_ = kOther;
  unsigned seen_ = 0;
};

// The fast path for the payloads this library writes: a flat object, no
// whitespace, printable-ASCII strings without escapes, decimal integers.
// For that subset the JSON value is the raw bytes, so the result equals the
// full parser's. Anything else — escapes, UTF-8, nesting, floats, spaces,
// duplicates, overflow — returns kFallback and the SAX parser decides.
enum class Fast { kOk, kFallback };
Fast fast_claims(std::string_view s, AccessClaims& c) {
  size_t i = 0;
  const size_t n = s.size();
  auto str = [&](std::string_view& out) -> bool {
    if (i >= n || s[i] != '"') return false;
    size_t start = ++i;
    for (; i < n; ++i) {
      unsigned char ch = static_cast<unsigned char>(s[i]);
      if (ch == '"') break;
      if (ch < 0x20 || ch >= 0x7f || ch == '\\') return false;
    }
    if (i >= n) return false;
    out = s.substr(start, i - start);
    ++i;
    return true;
  };
  if (n < 2 || s[0] != '{') return Fast::kFallback;
  i = 1;
  unsigned seen = 0;
  bool have_exp = false;
  for (;;) {
    std::string_view key, val;
    if (!str(key) || i >= n || s[i++] != ':') return Fast::kFallback;
    unsigned bit = key == "iss" ? 1 : key == "sub" ? 2 : key == "scope" ? 4 : key == "r" ? 8 : key == "exp" ? 16 : 0;
    if (bit & seen) return Fast::kFallback;
    seen |= bit;
    if (i < n && s[i] == '"') {
      if (!str(val) || bit == 16) return Fast::kFallback;
      if (bit == 1) c.iss = val;
      if (bit == 2) c.sub = std::string(val);
      if (bit == 4) c.scope = std::string(val);
      if (bit == 8) c.r = std::string(val);
    } else {
      if (bit != 16 && bit != 0) return Fast::kFallback;
      bool neg = i < n && s[i] == '-';
      if (neg) ++i;
      size_t start = i;
      uint64_t v = 0;
      for (; i < n && s[i] >= '0' && s[i] <= '9'; ++i) {
        if (v > (static_cast<uint64_t>(INT64_MAX) - 9) / 10) return Fast::kFallback;
        v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      }
      if (i == start || (s[start] == '0' && i - start > 1)) return Fast::kFallback;
      if (bit == 16) {
        c.exp = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
        have_exp = true;
      }
    }
    if (i >= n) return Fast::kFallback;
    if (s[i] == ',') {
      ++i;
      continue;
    }
    if (s[i] == '}' && i + 1 == n) break;
    return Fast::kFallback;
  }
  return (seen & 1) && have_exp && !c.iss.empty() ? Fast::kOk : Fast::kFallback;
}

void put(std::string& s, std::string_view name, const json& v) {
  s += s.size() == 1 ? "\"" : ",\"";
  s += name;
  s += "\":";
  s += v.dump();
}

}  // namespace

struct HmacKey::Impl {
  std::string secret;
  ossl::MacCtx tmpl;
  uint64_t id = 0;
  ~Impl() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

std::optional<HmacKey> HmacKey::from_bytes(std::string_view secret) {
  if (secret.size() < kHmacSecretSize || !hmac_alg()) return std::nullopt;
  auto impl = std::make_shared<Impl>();
  impl->secret = std::string(secret);
  impl->tmpl.reset(EVP_MAC_CTX_new(hmac_alg()));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (!impl->tmpl || EVP_MAC_init(impl->tmpl.get(), reinterpret_cast<const unsigned char*>(impl->secret.data()), impl->secret.size(), params) != 1)
    return std::nullopt;
  impl->id = g_next_key_id.fetch_add(1);
  return HmacKey(std::move(impl));
}

std::optional<HmacKey> HmacKey::generate() {
  unsigned char raw[kHmacSecretSize];
  if (RAND_priv_bytes(raw, sizeof raw) != 1) return std::nullopt;
  auto k = from_bytes({reinterpret_cast<char*>(raw), sizeof raw});
  OPENSSL_cleanse(raw, sizeof raw);
  return k;
}

std::optional<HmacKey> HmacKey::from_storage(std::string_view b64) {
  auto raw = base64_decode(b64);
  if (!raw) return std::nullopt;
  auto k = from_bytes(*raw);
  OPENSSL_cleanse(raw->data(), raw->size());
  return k;
}

std::string HmacKey::to_storage() const { return base64_encode(impl_->secret); }

bool HmacKey::mac(std::string_view message, std::array<uint8_t, 32>& out) const noexcept {
  ThreadMac& t = t_mac;
  if (t.key_id != impl_->id || !t.ctx) {
    t.ctx.reset(EVP_MAC_CTX_dup(impl_->tmpl.get()));
    t.key_id = t.ctx ? impl_->id : 0;
    if (!t.ctx) return false;
  } else if (EVP_MAC_init(t.ctx.get(), nullptr, 0, nullptr) != 1) {  // restart with the same key
    t.ctx.reset();
    return false;
  }
  size_t n = 0;
  if (EVP_MAC_update(t.ctx.get(), reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      EVP_MAC_final(t.ctx.get(), out.data(), &n, out.size()) != 1 || n != out.size()) {
    t.ctx.reset();
    return false;
  }
  return true;
}

std::optional<std::string> create_access_token(const AccessClaims& c, const HmacKey& key) {
  std::string token(kHeaderB64);
  try {
    // [impl] claim order; absent claims omitted.
    std::string s = "{";
    put(s, "iss", c.iss);
    if (c.sub) put(s, "sub", *c.sub);
    if (c.scope) put(s, "scope", *c.scope);
    if (c.r) put(s, "r", *c.r);
    put(s, "exp", c.exp);
    s += '}';
    token += '.';
    token += base64url_encode(s);
  } catch (const json::exception&) {
    return std::nullopt;
  }
  std::array<uint8_t, 32> mac{};
  if (!key.mac(token, mac)) return std::nullopt;
  token += '.';
  token += base64url_encode({reinterpret_cast<const char*>(mac.data()), mac.size()});
  return token;
}

Result<AccessClaims> validate_access_token(std::string_view token, const HmacKey& key, std::string_view tenant_id_tag, int64_t now,
                                           const RevocationList* revoked) noexcept {
  if (token.size() > kMaxAccessTokenSize) return TokenError::kTooLarge;
  try {
    auto parts = jws::split(token);
    if (!parts) return TokenError::kMalformed;
    if (auto e = jws::check_header(parts->header, kHeaderB64, "HS256"); e != TokenError::kNone) return e;
    // Authenticate before parsing the payload: unauthenticated JSON is never
    // read. The presented MAC is compared in its encoded form: the strict
    // codec gives 32 bytes exactly one 43-char spelling, so this equals a
    // compare of the decoded bytes (non-canonical spellings simply mismatch)
    // and needs no decoding or allocation.
    if (parts->signature.size() != kMacB64Len) return TokenError::kMalformed;
    std::array<uint8_t, 32> expected{};
    if (!key.mac(parts->signing_input, expected)) return TokenError::kBadSignature;
    char expected_b64[kMacB64Len];
    base64url_encode_to({reinterpret_cast<const char*>(expected.data()), expected.size()}, expected_b64);
    if (CRYPTO_memcmp(expected_b64, parts->signature.data(), kMacB64Len) != 0) return TokenError::kBadSignature;
    if (revoked && revoked->is_revoked_signature(parts->signature)) return TokenError::kRevoked;

    // Payloads fit the token size limit: decode on the stack.
    char payload[kMaxAccessTokenSize / 4 * 3 + 2];
    auto len = base64url_decode_to(parts->payload, payload);
    if (!len) return TokenError::kMalformed;
    const std::string_view text(payload, *len);
    AccessClaims c;
    if (fast_claims(text, c) != Fast::kOk) {
      c = AccessClaims{};
      ClaimsSax sax(c);
      if (!json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, true, false) || !sax.complete()) return TokenError::kMalformed;
    }
    if (c.exp <= now) return TokenError::kExpired;
    if (c.iss != tenant_id_tag) return TokenError::kWrongIssuer;
    return c;
  } catch (...) {
    return TokenError::kMalformed;
  }
}

Result<std::string> refresh_access_token(std::string_view token, const HmacKey& key, std::string_view tenant_id_tag, int64_t now, int64_t lifetime,
                                         const RevocationList* revoked) noexcept {
  auto v = validate_access_token(token, key, tenant_id_tag, now, revoked);
  if (!v) return v.error();
  try {
    AccessClaims c = std::move(v).value();
    c.exp = now + lifetime;
    auto t = create_access_token(c, key);
    if (!t) return TokenError::kMalformed;
    return std::move(*t);
  } catch (...) {
    return TokenError::kMalformed;
  }
}

AccessClaims share_link_claims(std::string_view tenant_id_tag, std::string_view scope, int64_t now, int64_t lifetime) {
  AccessClaims c;
  c.iss = tenant_id_tag;
  c.scope = std::string(scope);
  c.exp = now + lifetime;
  return c;
}

AccessClaims proxy_access_claims(std::string_view tenant_id_tag, const ActionClaims& verified_proxy, std::optional<std::string> roles,
                                 std::optional<std::string> scope, int64_t now) {
  AccessClaims c;
  c.iss = tenant_id_tag;
  c.sub = verified_proxy.iss;
  c.r = std::move(roles);
  c.scope = std::move(scope);
  c.exp = now + kAccessTokenLifetime;
  return c;
}

void RevocationList::revoke(std::string_view token, int64_t exp) {
  size_t dot = token.rfind('.');
  if (dot == std::string_view::npos) return;
  std::lock_guard lock(mu_);
  by_sig_[std::string(token.substr(dot + 1))] = exp;
}

bool RevocationList::is_revoked_signature(std::string_view signature_b64) const {
  std::lock_guard lock(mu_);
  if (by_sig_.empty()) return false;
  return by_sig_.find(std::string(signature_b64)) != by_sig_.end();
}

size_t RevocationList::prune(int64_t now) {
  std::lock_guard lock(mu_);
  return std::erase_if(by_sig_, [now](const auto& e) { return e.second <= now; });
}

size_t RevocationList::size() const {
  std::lock_guard lock(mu_);
  return by_sig_.size();
}

BearerKind classify_bearer(std::string_view v) noexcept {
  auto url_safe = [](std::string_view s, bool dots) {
    for (char ch : s) {
      bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || (dots && ch == '.');
      if (!ok) return false;
    }
    return !s.empty();
  };
  if (v.starts_with("cl_")) return url_safe(v.substr(3), false) && v.size() <= 256 ? BearerKind::kApiKey : BearerKind::kInvalid;
  if (v.starts_with("idp_")) return url_safe(v.substr(4), false) && v.size() <= 256 ? BearerKind::kIdpApiKey : BearerKind::kInvalid;
  return url_safe(v, true) ? BearerKind::kAccessToken : BearerKind::kInvalid;
}

std::string_view to_string(TokenError e) noexcept {
  switch (e) {
    case TokenError::kNone:
      return "ok";
    case TokenError::kMalformed:
      return "malformed";
    case TokenError::kTooLarge:
      return "too_large";
    case TokenError::kUnsupportedAlg:
      return "unsupported_alg";
    case TokenError::kBadSignature:
      return "signature_verification_failed";
    case TokenError::kExpired:
      return "expired";
    case TokenError::kWrongIssuer:
      return "wrong_issuer";
    case TokenError::kWrongAudience:
      return "wrong_audience";
    case TokenError::kWrongType:
      return "wrong_type";
    case TokenError::kKeyExpired:
      return "key_expired";
    case TokenError::kRevoked:
      return "revoked";
  }
  return "unknown";
}

}  // namespace cumulo::identity
