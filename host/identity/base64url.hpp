// Base64 codecs for the wire formats of spec/core.md:
//  - base64url without padding (RFC 4648 §5): content ids, JWS segments,
//    VAPID keys, API keys;
//  - standard padded base64 (RFC 4648 §4): the /api/me `publicKey` (DER SPKI).
// Decoders are strict: one spelling per byte string. They reject padding
// where none belongs, characters outside the alphabet (whitespace included),
// impossible lengths and non-zero trailing bits. Without the last rule two
// different token texts would decode to the same bytes, i.e. two a1~ ids for
// one signed action.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cumulo::identity {

/// base64url, no padding. Bytes are passed as string_view (any content).
std::string base64url_encode(std::string_view bytes);
/// Strict inverse of base64url_encode; nullopt on any deviation.
std::optional<std::string> base64url_decode(std::string_view text);
/// As base64url_decode, appending to `out` (no allocation when it has room).
/// On failure `out` holds unspecified bytes; returns false.
bool base64url_decode_append(std::string_view text, std::string& out);

/// base64url into a caller buffer of at least base64url_length(n) chars
/// (hot paths: no allocation). Returns the number of chars written.
size_t base64url_encode_to(std::string_view bytes, char* out);

/// Strict base64url decode into a caller buffer of at least
/// text.size() / 4 * 3 + 2 bytes. Returns the byte count, or nullopt.
std::optional<size_t> base64url_decode_to(std::string_view text, char* out);

/// Standard alphabet with '=' padding.
std::string base64_encode(std::string_view bytes);
/// Strict inverse of base64_encode (padding required, canonical).
std::optional<std::string> base64_decode(std::string_view text);

/// Length of base64url_encode() of n bytes.
constexpr size_t base64url_length(size_t n) { return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1); }

}  // namespace cumulo::identity
