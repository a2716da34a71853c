// Internal: the compact-JWS plumbing shared by the ES384 (action token) and
// HS256 (access token) code. Not a public header.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

#include "identity/result.hpp"

namespace cumulo::identity::jws {

/// "header.payload.signature" split at exactly two dots. Header and payload
/// must be non-empty; the signature may be empty ("alg":"none" tokens), the
/// caller rejects that through the header check.
struct Parts {
  std::string_view header, payload, signature;
  std::string_view signing_input;  // "header.payload"
};
std::optional<Parts> split(std::string_view token) noexcept;

/// Nesting limit for untrusted JSON: deep enough for any real action content,
/// shallow enough that no later recursive walk (dump, ABAC attributes) can
/// exhaust the stack.
inline constexpr int kMaxJsonDepth = 64;

/// A JSON object from untrusted bytes: strict RFC 8259 (no comments), valid
/// UTF-8, no duplicate member names at any level (two parsers must never
/// disagree on a claim), nesting at most kMaxJsonDepth. nullopt otherwise.
std::optional<nlohmann::json> parse_object(std::string_view bytes) noexcept;

/// Checks the protected header segment: `fast_b64` is the exact header this
/// library emits (a byte compare, no decoding); anything else is decoded and
/// must be an object whose "alg" equals `alg`, whose "typ" (if present) is
/// "JWT", and that carries no "crit" (RFC 7515 §4.1.11: we understand no
/// extensions). "alg":"none" or any other alg → kUnsupportedAlg.
TokenError check_header(std::string_view header_b64, std::string_view fast_b64, std::string_view alg) noexcept;

/// int64 from a JSON integer (signed or unsigned within range), else nullopt.
std::optional<int64_t> as_int64(const nlohmann::json& j) noexcept;

}  // namespace cumulo::identity::jws
