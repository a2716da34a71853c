#include "net/http.hpp"

#include <strings.h>

namespace cumulo::net {

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0) return std::string_view(v);
  return std::nullopt;
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int h = hex(s[i + 1]), l = hex(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push_back(static_cast<char>(h * 16 + l));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    auto eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    if (k == name) {
      std::string v = eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1));
      for (auto& c : v)
        if (c == '+') c = ' ';
      return v;
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace cumulo::net

namespace cumulo::net {

namespace {
class ReplyEndpoint final : public WsEndpoint {
 public:
  explicit ReplyEndpoint(WsHandler h) : h_(std::move(h)) {}
  std::optional<std::string> on_message(std::string_view message, bool binary) override { return h_(message, binary); }

 private:
  WsHandler h_;
};
}  // namespace

std::shared_ptr<WsEndpoint> reply_endpoint(WsHandler handler) { return std::make_shared<ReplyEndpoint>(std::move(handler)); }

}  // namespace cumulo::net
