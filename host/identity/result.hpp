// The outcome of checking an untrusted token: a value or one reason. Every
// check in host/identity reports through this type and never throws, so the
// HTTP layer maps any failure to 401 (E-AUTH-UNAUTH) with one switch and logs
// the reason (spec/core.md §6.11: reason=signature_verification_failed).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace cumulo::identity {

enum class TokenError : uint8_t {
  kNone = 0,
  kMalformed,       // not a compact JWS, bad base64url/JSON, wrong claim types or sizes
  kTooLarge,        // longer than the limit for its kind, rejected before any decoding
  kUnsupportedAlg,  // "none", HS*/ES* mix-ups, anything but the one expected alg
  kBadSignature,    // signature does not verify with the key/secret
  kExpired,         // exp <= now (spec/core.md §6.8: the doc's wording is inverted)
  kWrongIssuer,     // access token minted for another tenant (iss != Host tenant)
  kWrongAudience,   // proxy token addressed to another identity (aud)
  kWrongType,       // action token of another type where PROXY was required
  kKeyExpired,      // signed after the signing key's expiresAt
  kRevoked,         // logged out / on the revocation list
};

/// Stable lower-case name, for logs and metrics labels.
std::string_view to_string(TokenError e) noexcept;

/// A value or a TokenError. Deliberately tiny (C++20 has no std::expected).
template <class T>
class Result {
 public:
  Result(T v) : value_(std::move(v)) {}                                                  // NOLINT(google-explicit-constructor)
  Result(TokenError e) : error_(e == TokenError::kNone ? TokenError::kMalformed : e) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  TokenError error() const noexcept { return error_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  TokenError error_ = TokenError::kNone;
};

}  // namespace cumulo::identity
