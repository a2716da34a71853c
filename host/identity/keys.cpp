#include "identity/keys.hpp"

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>
#include <vector>

#include "identity/base64url.hpp"

namespace cumulo::identity {
namespace {

const char* group_of(Curve c) { return c == Curve::kP384 ? "secp384r1" : "prime256v1"; }

std::string bio_contents(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  return n > 0 ? std::string(p, static_cast<size_t>(n)) : std::string();
}

ossl::Bio mem_bio() { return ossl::Bio(BIO_new(BIO_s_mem())); }

// Removes ASCII whitespace and "-----…-----" lines: accepts a PEM body as
// [impl] stores it (joined), as a PEM file has it (64-char lines), or a full
// PEM with header lines.
std::string pem_body(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t eol = text.find('\n', i);
    std::string_view line = text.substr(i, eol == std::string_view::npos ? std::string_view::npos : eol - i);
    i = eol == std::string_view::npos ? text.size() : eol + 1;
    if (line.substr(0, 5) == "-----") continue;
    for (char c : line)
      if (c != ' ' && c != '\t' && c != '\r') out += c;
  }
  return out;
}

}  // namespace

std::optional<EcKey> EcKey::adopt(ossl::Pkey k, bool priv) {
  if (!k || !EVP_PKEY_is_a(k.get(), "EC")) return std::nullopt;
  char group[64] = {};
  size_t len = 0;
  // Keys with explicit curve parameters have no group name: refused, so a
  // crafted curve can never pose as P-384.
  if (!EVP_PKEY_get_utf8_string_param(k.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len)) return std::nullopt;
  Curve c;
  if (std::strcmp(group, "secp384r1") == 0)
    c = Curve::kP384;
  else if (std::strcmp(group, "prime256v1") == 0)
    c = Curve::kP256;
  else
    return std::nullopt;
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, k.get(), nullptr));
  if (!ctx) return std::nullopt;
  // Imported material is checked once here (point on curve; private scalar
  // matches the public point), not on every signature.
  if (priv ? EVP_PKEY_pairwise_check(ctx.get()) != 1 : EVP_PKEY_public_check(ctx.get()) != 1) return std::nullopt;
  return EcKey(std::move(k), c, priv);
}

std::optional<EcKey> EcKey::generate(Curve curve) {
  ossl::Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group_of(curve)));
  if (!k) return std::nullopt;
  return EcKey(std::move(k), curve, true);
}

std::optional<EcKey> EcKey::from_pkcs8_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, ossl::Deleter<PKCS8_PRIV_KEY_INFO_free>> p8(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  if (!p8 || p != end) return std::nullopt;
  return adopt(ossl::Pkey(EVP_PKCS82PKEY(p8.get())), true);
}

std::optional<EcKey> EcKey::from_spki_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  ossl::Pkey k(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!k || p != end) return std::nullopt;
  auto key = adopt(std::move(k), false);
  // One spelling per key: compressed points or other encodings are refused.
  if (!key || key->spki_der() != der) return std::nullopt;
  return key;
}

std::optional<EcKey> EcKey::from_pem(std::string_view pem) {
  ossl::Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!b || pem.size() > (1u << 20)) return std::nullopt;
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(b.get(), &name, &header, &data, &len) != 1) return std::nullopt;
  std::string n = name;
  std::string der(reinterpret_cast<char*>(data), static_cast<size_t>(len));
  bool encrypted = header && *header;  // Proc-Type headers: encrypted legacy PEM
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_clear_free(data, static_cast<size_t>(len));
  std::optional<EcKey> key;
  if (!encrypted && n == "PRIVATE KEY") key = from_pkcs8_der(der);
  if (!encrypted && n == "PUBLIC KEY") key = from_spki_der(der);
  OPENSSL_cleanse(der.data(), der.size());
  return key;
}

std::optional<EcKey> EcKey::from_private_storage(std::string_view text) {
  auto der = base64_decode(pem_body(text));
  if (!der) return std::nullopt;
  auto key = from_pkcs8_der(*der);
  OPENSSL_cleanse(der->data(), der->size());
  return key;
}

std::optional<EcKey> EcKey::from_public_wire(std::string_view b64, Curve curve) {
  auto der = base64_decode(b64);
  if (!der) return std::nullopt;
  auto key = from_spki_der(*der);
  if (!key || key->curve() != curve) return std::nullopt;
  return key;
}

std::string EcKey::pkcs8_der() const {
  if (!has_private_) return {};
  auto b = mem_bio();
  if (!b || !i2d_PKCS8PrivateKey_bio(b.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr)) return {};
  return bio_contents(b.get());
}

std::string EcKey::pkcs8_pem() const {
  if (!has_private_) return {};
  auto b = mem_bio();
  if (!b || !PEM_write_bio_PKCS8PrivateKey(b.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr)) return {};
  return bio_contents(b.get());
}

std::string EcKey::spki_der() const {
  unsigned char* p = nullptr;
  int n = i2d_PUBKEY(pkey_.get(), &p);
  if (n <= 0) return {};
  std::string s(reinterpret_cast<char*>(p), static_cast<size_t>(n));
  OPENSSL_free(p);
  return s;
}

std::string EcKey::spki_pem() const {
  auto b = mem_bio();
  if (!b || !PEM_write_bio_PUBKEY(b.get(), pkey_.get())) return {};
  return bio_contents(b.get());
}

std::string EcKey::public_wire() const { return base64_encode(spki_der()); }

std::string EcKey::private_storage() const {
  std::string der = pkcs8_der();
  std::string s = base64_encode(der);
  OPENSSL_cleanse(der.data(), der.size());
  return s;
}

std::string EcKey::public_point() const {
  unsigned char buf[133];
  size_t n = 0;
  if (!EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &n)) return {};
  return std::string(reinterpret_cast<char*>(buf), n);
}

EcKey EcKey::public_only() const {
  std::string der = spki_der();
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return EcKey(ossl::Pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()))), curve_, false);
}

std::string profile_key_id(std::time_t now) {
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  size_t n = std::strftime(buf, sizeof buf, "%y%m%d", &tm);
  return std::string(buf, n);
}

std::optional<VapidKeyPair> generate_vapid_key() {
  auto key = EcKey::generate(Curve::kP256);
  if (!key) return std::nullopt;
  BIGNUM* raw = nullptr;
  if (!EVP_PKEY_get_bn_param(key->get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw)) return std::nullopt;
  ossl::Bn d(raw);
  unsigned char scalar[32];
  if (BN_bn2binpad(d.get(), scalar, sizeof scalar) != 32) return std::nullopt;
  VapidKeyPair out;
  out.private_key = base64url_encode({reinterpret_cast<char*>(scalar), sizeof scalar});
  OPENSSL_cleanse(scalar, sizeof scalar);
  std::string point = key->public_point();
  if (point.size() != 65 || point[0] != 0x04) return std::nullopt;
  out.public_key = base64url_encode(point);
  return out;
}

std::optional<EcKey> vapid_key_from_raw(std::string_view private_b64url, std::string_view public_b64url) {
  auto d = base64url_decode(private_b64url);
  auto q = base64url_decode(public_b64url);
  if (!d || !q || d->size() != 32 || q->size() != 65 || (*q)[0] != 0x04) return std::nullopt;
  ossl::Bn bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(d->data()), 32, nullptr));
  OPENSSL_cleanse(d->data(), d->size());
  ossl::ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bn || !bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, bn.get()) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, q->data(), q->size()))
    return std::nullopt;
  ossl::Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 || EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) return std::nullopt;
  return EcKey::adopt(ossl::Pkey(raw), true);
}

}  // namespace cumulo::identity
