// Outbound HTTP(S) for the host: ACME, federation, remote profile fetches.
// A small synchronous client over libcurl. One easy handle per call; DNS
// answers and TLS sessions are shared between calls (and threads) through a
// CURLSH, so repeated calls to one peer skip the full handshake.
//
//   net::HttpClient http;  // system trust store; HttpClientOptions for a CA file, connect_to
//   auto r = http.request(net::ClientRequest::get("https://cl-o.bob.example/api/me"));
//   if (r.status == 200) use(r.body);
//
// Failures to get *any* HTTP response throw HttpError with a kind; every HTTP
// status (4xx/5xx included) is a normal response for the caller to judge.
// Redirects are not followed unless a request asks for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cumulo::net {

struct ClientRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE…
  std::string url;             // http:// or https:// only
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;               // sent for any method when non-empty (and always for POST)
  uint32_t timeout_ms = 30000;    // whole request, connect included
  size_t max_body = 4u << 20;     // larger responses fail with kTooLarge
  bool follow_redirects = false;  // at most 5 hops, http(s) only

  // Designated initializers trip -Wmissing-field-initializers (GCC 12),
  // so callers start from these and set fields.
  static ClientRequest get(std::string url) {
    ClientRequest r;
    r.url = std::move(url);
    return r;
  }
  static ClientRequest post(std::string url, std::string body, std::string content_type) {
    ClientRequest r;
    r.method = "POST";
    r.url = std::move(url);
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", std::move(content_type));
    return r;
  }
};

struct ClientResponse {
  long status = 0;
  /// In arrival order, names lower-cased; repeated headers stay separate.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// First value of `name` (lower-case), if present.
  std::optional<std::string> header(std::string_view name) const;
  /// Every value of `name` (lower-case), e.g. the several ACME `link` headers.
  std::vector<std::string> header_values(std::string_view name) const;
};

class HttpError : public std::runtime_error {
 public:
  enum class Kind {
    kConnect,   // name resolution or TCP connect failed
    kTimeout,   // timeout_ms elapsed
    kTls,       // handshake, certificate verification, hostname mismatch
    kTooLarge,  // response body over max_body
    kProtocol,  // malformed HTTP, bad URL, refused scheme, anything else
  };
  HttpError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

std::string_view to_string(HttpError::Kind k) noexcept;

struct HttpClientOptions {
  /// Trust anchors: a PEM bundle file, and/or PEM text (both may be given;
  /// with neither, the system store is used).
  std::string ca_file{};
  std::string ca_pem{};
  /// "host:port" → "addr:port": connect there instead, keeping the original
  /// host for SNI, certificate checks and the Host header (CURLOPT_CONNECT_TO).
  /// Tests and local federation map "cl-o.<idTag>:443" to a loopback port.
  std::map<std::string, std::string> connect_to{};
  uint32_t connect_timeout_ms = 10000;
  std::string user_agent = "cumulo";
};

/// Thread-safe: concurrent request() calls are fine.
class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions opts = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs the request; throws HttpError when no complete response arrived
  /// (or its body exceeded max_body), std::invalid_argument on a bad method.
  ClientResponse request(const ClientRequest& req) const;

  const HttpClientOptions& options() const noexcept { return opts_; }

 private:
  struct Shared;
  HttpClientOptions opts_;
  std::vector<std::string> connect_to_lines_;  // "HOST:PORT:ADDR:PORT"
  std::unique_ptr<Shared> shared_;
};

}  // namespace cumulo::net
