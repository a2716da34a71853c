// HTTP/1.1 + WebSocket server on Asio coroutines (Beast lives only in
// server.cpp). Plain TCP (proxy mode, the ACME/redirect port) or TLS with the
// certificate chosen by SNI from a CertStore that can change at runtime.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/http.hpp"

namespace cumulo::net {

/// Certificates by SNI name. Thread-safe; replacing a certificate takes
/// effect on the next handshake (no restart).
class CertStore {
 public:
  CertStore();
  ~CertStore();
  /// Loads a PEM chain + key; throws std::runtime_error with OpenSSL's reason.
  void put_files(const std::string& domain, const std::string& cert_file, const std::string& key_file);
  void put_pem(const std::string& domain, const std::string& cert_pem, const std::string& key_pem);
  bool has(const std::string& domain) const;
  size_t size() const;
  /// Opaque SSL_CTX* for `domain`, or the first one if none matches.
  void* find(const char* domain) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral
  bool tls = false;
  CertStore* certs = nullptr;  // required when tls
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 << 10;
  uint32_t timeout_ms = 30000;
  /// Proxy mode: X-Forwarded-{For,Host,Proto} are honoured only when the peer
  /// address is listed here.
  std::vector<std::string> trusted_proxies;
  /// Standalone HTTP port: answer 308 to https:// except ACME challenges and /health.
  bool redirect_to_https = false;
};

class HttpServer {
 public:
  /// Connections are spread round-robin over `contexts` (one per network
  /// thread, each run by a single thread: no strands, no cross-thread
  /// wake-ups on the hot path); the acceptor runs on the first.
  HttpServer(std::vector<boost::asio::io_context*> contexts, boost::asio::thread_pool& blocking, Dispatcher& d, WsRouter ws, ServerOptions opts);
  ~HttpServer();
  /// Binds and starts accepting; returns the bound port. Throws on bind errors.
  uint16_t start();
  /// Stops accepting, closes idle keep-alive connections and lets in-flight
  /// requests finish (their connections then close).
  void stop();
  size_t active_requests() const;
  size_t open_connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace cumulo::net
