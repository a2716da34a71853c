// Elliptic-curve keys: the P-384 profile signing key (ES384 action tokens)
// and the P-256 VAPID key (web push). Formats as [impl] stores and
// publishes them (spec/core.md §0, §3.5, §3.7):
//  - /api/me `publicKey`: standard base64 of the DER SubjectPublicKeyInfo,
//    one line, 160 chars for P-384, starting "MHYwEAYHKoZIzj0CAQYFK4EEACID";
//  - private key at rest: the PKCS#8 PEM body without the header lines;
//  - key id: the UTC date "%y%m%d" ("250205"), opaque to verifiers;
//  - VAPID: raw 32-byte private scalar and 65-byte uncompressed public point,
//    both base64url without padding.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "identity/ossl.hpp"

namespace cumulo::identity {

enum class Curve { kP256, kP384 };

/// An EC key (private, or public only) on P-256 or P-384. Immutable after
/// construction; safe to share between threads for signing/verifying.
class EcKey {
 public:
  /// Fresh key from the OS CSPRNG (via OpenSSL's DRBG).
  static std::optional<EcKey> generate(Curve curve);

  /// PEM: "PRIVATE KEY" (PKCS#8) or "PUBLIC KEY" (SPKI). Other key types or
  /// curves, trailing junk after DER, and explicit curve parameters → nullopt.
  static std::optional<EcKey> from_pem(std::string_view pem);
  static std::optional<EcKey> from_pkcs8_der(std::string_view der);
  /// Only the canonical SPKI (named curve, uncompressed point): what [impl]
  /// publishes; any other spelling of the same key is refused.
  static std::optional<EcKey> from_spki_der(std::string_view der);
  /// The stored form: PKCS#8 PEM body (line breaks and header lines allowed).
  static std::optional<EcKey> from_private_storage(std::string_view text);
  /// The /api/me form; requires `curve` (P-384 for profile keys).
  static std::optional<EcKey> from_public_wire(std::string_view b64, Curve curve = Curve::kP384);
  /// Takes ownership of an OpenSSL key after checking it: EC on P-256/P-384
  /// with a named group, point on the curve, and (if `has_private`) a private
  /// scalar that matches the public point.
  static std::optional<EcKey> adopt(ossl::Pkey k, bool has_private);

  Curve curve() const noexcept { return curve_; }
  bool has_private() const noexcept { return has_private_; }
  EVP_PKEY* get() const noexcept { return pkey_.get(); }

  std::string pkcs8_der() const;  // empty if public only
  std::string pkcs8_pem() const;
  std::string spki_der() const;
  std::string spki_pem() const;
  /// Standard base64 of spki_der(), one line: the /api/me `publicKey`.
  std::string public_wire() const;
  /// Standard base64 of pkcs8_der(), one line: the [impl] at-rest form.
  std::string private_storage() const;
  /// The uncompressed public point 0x04‖X‖Y (65 or 97 bytes).
  std::string public_point() const;
  /// A copy holding only the public half.
  EcKey public_only() const;

 private:
  EcKey(ossl::Pkey k, Curve c, bool priv) : pkey_(std::move(k)), curve_(c), has_private_(priv) {}
  ossl::Pkey pkey_;
  Curve curve_;
  bool has_private_;
};

/// [impl] profile key id for a key created at `now`: UTC "%y%m%d".
std::string profile_key_id(std::time_t now);

/// A VAPID key pair in the [impl] storage/wire form.
struct VapidKeyPair {
  std::string private_key;  // base64url(32-byte scalar)
  std::string public_key;   // base64url(65-byte uncompressed point): the applicationServerKey
};
std::optional<VapidKeyPair> generate_vapid_key();
/// Rebuilds the key from its stored form; nullopt unless both halves decode
/// and belong together (pairwise check).
std::optional<EcKey> vapid_key_from_raw(std::string_view private_b64url, std::string_view public_b64url);

}  // namespace cumulo::identity
