#include "net/x509.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace cumulo::net {

namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

void ok(int rc, const char* what) {
  if (rc <= 0) throw std::runtime_error(std::string("x509: ") + what + " failed");
}

PKey new_key() {
  PKey k(EVP_EC_gen("P-256"));
  if (!k) throw std::runtime_error("x509: key generation failed");
  return k;
}

std::string pem(const X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  ok(PEM_write_bio_X509(b.get(), c), "PEM_write_bio_X509");
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string pem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  ok(PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr), "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

PKey read_key(const std::string& s) {
  Bio b(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
  PKey k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) throw std::runtime_error("x509: bad issuer key");
  return k;
}

Cert read_cert(const std::string& s) {
  Bio b(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
  Cert c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!c) throw std::runtime_error("x509: bad issuer certificate");
  return c;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("x509: bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

Cert base_cert(EVP_PKEY* key, const std::string& cn, int days) {
  Cert c(X509_new());
  ok(X509_set_version(c.get(), 2), "X509_set_version");
  unsigned char serial[16];
  ok(RAND_bytes(serial, sizeof serial), "RAND_bytes");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 60L * 60 * 24 * days);
  ok(X509_set_pubkey(c.get(), key), "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return c;
}

}  // namespace

KeyCert make_ca(const std::string& common_name, int days) {
  PKey key = new_key();
  Cert c = base_cert(key.get(), common_name, days);
  ok(X509_set_issuer_name(c.get(), X509_get_subject_name(c.get())), "X509_set_issuer_name");
  add_ext(c.get(), c.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(c.get(), c.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(c.get(), c.get(), NID_subject_key_identifier, "hash");
  ok(X509_sign(c.get(), key.get(), EVP_sha256()), "X509_sign");
  return {pem(c.get()), pem(key.get())};
}

KeyCert make_leaf(const std::vector<std::string>& dns_names, const KeyCert* issuer, int days) {
  if (dns_names.empty()) throw std::invalid_argument("x509: a leaf needs at least one DNS name");
  PKey key = new_key();
  Cert c = base_cert(key.get(), dns_names.front(), days);
  Cert issuer_cert;
  PKey issuer_key;
  if (issuer) {
    issuer_cert = read_cert(issuer->cert_pem);
    issuer_key = read_key(issuer->key_pem);
    ok(X509_set_issuer_name(c.get(), X509_get_subject_name(issuer_cert.get())), "X509_set_issuer_name");
  } else {
    ok(X509_set_issuer_name(c.get(), X509_get_subject_name(c.get())), "X509_set_issuer_name");
  }
  X509* iss = issuer ? issuer_cert.get() : c.get();
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  add_ext(c.get(), iss, NID_subject_alt_name, san);
  add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(c.get(), iss, NID_ext_key_usage, "serverAuth");
  ok(X509_sign(c.get(), issuer ? issuer_key.get() : key.get(), EVP_sha256()), "X509_sign");
  return {pem(c.get()), pem(key.get())};
}

}  // namespace cumulo::net
