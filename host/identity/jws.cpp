#include "identity/jws.hpp"

#include <string>
#include <unordered_set>
#include <vector>

#include "identity/base64url.hpp"

namespace cumulo::identity::jws {

using nlohmann::json;

std::optional<Parts> split(std::string_view token) noexcept {
  size_t a = token.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) return std::nullopt;
  Parts p{token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1), token.substr(0, b)};
  if (p.header.empty() || p.payload.empty()) return std::nullopt;
  return p;
}

namespace {
struct Reject {};  // thrown from the parse callback, caught below
}  // namespace

std::optional<json> parse_object(std::string_view bytes) noexcept {
  try {
    std::vector<std::unordered_set<std::string>> names;
    auto cb = [&names](int depth, json::parse_event_t ev, json& parsed) -> bool {
      switch (ev) {
        case json::parse_event_t::object_start:
          if (depth >= kMaxJsonDepth) throw Reject{};
          names.emplace_back();
          break;
        case json::parse_event_t::array_start:
          if (depth >= kMaxJsonDepth) throw Reject{};
          break;
        case json::parse_event_t::key:
          if (!names.back().insert(parsed.get_ref<const std::string&>()).second) throw Reject{};
          break;
        case json::parse_event_t::object_end:
          names.pop_back();
          break;
        default:
          break;
      }
      return true;
    };
    json j = json::parse(bytes.begin(), bytes.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    if (!j.is_object()) return std::nullopt;
    return j;
  } catch (...) {
    return std::nullopt;
  }
}

TokenError check_header(std::string_view header_b64, std::string_view fast_b64, std::string_view alg) noexcept {
  if (header_b64 == fast_b64) return TokenError::kNone;
  try {
    std::string raw;
    if (!base64url_decode_append(header_b64, raw)) return TokenError::kMalformed;
    auto h = parse_object(raw);
    if (!h) return TokenError::kMalformed;
    auto a = h->find("alg");
    if (a == h->end() || !a->is_string()) return TokenError::kMalformed;
    if (a->get_ref<const std::string&>() != alg) return TokenError::kUnsupportedAlg;
    if (auto t = h->find("typ"); t != h->end() && (!t->is_string() || t->get_ref<const std::string&>() != "JWT")) return TokenError::kMalformed;
    if (h->contains("crit")) return TokenError::kUnsupportedAlg;
    return TokenError::kNone;
  } catch (...) {
    return TokenError::kMalformed;
  }
}

std::optional<int64_t> as_int64(const json& j) noexcept {
  if (j.is_number_unsigned()) {
    auto u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  return std::nullopt;
}

}  // namespace cumulo::identity::jws
