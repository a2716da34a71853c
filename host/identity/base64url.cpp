// A small table codec rather than EVP_EncodeBlock/EVP_DecodeBlock: those speak
// only the padded standard alphabet, and EVP_DecodeBlock skips leading and
// trailing whitespace, accepts non-canonical trailing bits and returns a
// length rounded up to whole triplets. Translating and re-checking around it
// would cost more code (and copies) than the codec itself.
#include "identity/base64url.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace cumulo::identity {
namespace {

constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> reverse(const char* abc) {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(abc[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kUrlRev = reverse(kUrl);
constexpr auto kStdRev = reverse(kStd);

void encode(std::string_view in, const char* abc, bool pad, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size(), i = 0;
  out.reserve(out.size() + (n + 2) / 3 * 4);
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    out += abc[(v >> 6) & 63];
    out += abc[v & 63];
  }
  if (size_t rest = n - i; rest > 0) {
    uint32_t v = uint32_t{p[i]} << 16;
    if (rest == 2) v |= uint32_t{p[i + 1]} << 8;
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    if (rest == 2) out += abc[(v >> 6) & 63];
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
}

// Decodes unpadded text into `o` (room for n / 4 * 3 + 2 bytes); returns the
// byte count or -1. `rev` picks the alphabet.
ptrdiff_t decode_raw(std::string_view in, const std::array<int8_t, 256>& rev, char* o) {
  const size_t n = in.size();
  if (n % 4 == 1) return -1;  // 6 bits cannot end a byte
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  char* const start = o;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    int a = rev[p[i]], b = rev[p[i + 1]], c = rev[p[i + 2]], d = rev[p[i + 3]];
    if ((a | b | c | d) < 0) return -1;
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6) | uint32_t(d);
    *o++ = static_cast<char>(v >> 16);
    *o++ = static_cast<char>(v >> 8);
    *o++ = static_cast<char>(v);
  }
  if (size_t rest = n - i; rest > 0) {
    int a = rev[p[i]], b = rev[p[i + 1]], c = rest == 3 ? rev[p[i + 2]] : 0;
    if ((a | b | c) < 0) return -1;
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6);
    // Canonical form: the bits below the last whole byte must be zero.
    if (rest == 2 && (v & 0xFFFF) != 0) return -1;
    if (rest == 3 && (v & 0xFF) != 0) return -1;
    *o++ = static_cast<char>(v >> 16);
    if (rest == 3) *o++ = static_cast<char>(v >> 8);
  }
  return o - start;
}

bool decode(std::string_view in, const std::array<int8_t, 256>& rev, std::string& out) {
  const size_t base = out.size();
  out.resize(base + in.size() / 4 * 3 + 2);
  ptrdiff_t n = decode_raw(in, rev, out.data() + base);
  if (n < 0) return false;
  out.resize(base + static_cast<size_t>(n));
  return true;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string s;
  encode(bytes, kUrl, false, s);
  return s;
}

size_t base64url_encode_to(std::string_view bytes, char* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  char* o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    *o++ = kUrl[v >> 18];
    *o++ = kUrl[(v >> 12) & 63];
    *o++ = kUrl[(v >> 6) & 63];
    *o++ = kUrl[v & 63];
  }
  if (size_t rest = n - i; rest > 0) {
    uint32_t v = uint32_t{p[i]} << 16;
    if (rest == 2) v |= uint32_t{p[i + 1]} << 8;
    *o++ = kUrl[v >> 18];
    *o++ = kUrl[(v >> 12) & 63];
    if (rest == 2) *o++ = kUrl[(v >> 6) & 63];
  }
  return static_cast<size_t>(o - out);
}

bool base64url_decode_append(std::string_view text, std::string& out) { return decode(text, kUrlRev, out); }

std::optional<size_t> base64url_decode_to(std::string_view text, char* out) {
  ptrdiff_t n = decode_raw(text, kUrlRev, out);
  if (n < 0) return std::nullopt;
  return static_cast<size_t>(n);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  if (!decode(text, kUrlRev, out)) return std::nullopt;
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string s;
  encode(bytes, kStd, true, s);
  return s;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
  std::string_view body = text.substr(0, text.size() - pad);
  std::string out;
  if (!decode(body, kStdRev, out)) return std::nullopt;  // '=' inside the body is rejected there
  return out;
}

}  // namespace cumulo::identity
