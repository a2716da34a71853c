// Test clients built on Beast (kept in one TU): plain HTTP with or without
// keep-alive, HTTPS with SNI and a test CA, WebSocket, and raw bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cumulo::test {

struct Resp {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string peer_cn;        // HTTPS only: subject CN of the server certificate
  std::string peer_cert_pem;  // HTTPS only: the server's leaf certificate (PEM)
  bool ok = false;            // transport succeeded
  std::string error;
};

struct Req {
  std::string method = "GET";
  std::string target = "/";
  std::string host = "localhost";
  std::string body;
  std::map<std::string, std::string> headers;
};

/// One request on a fresh connection.
Resp http(uint16_t port, const Req& r);
/// HTTPS with SNI `sni`, verifying against `ca_pem`.
Resp https(uint16_t port, const std::string& sni, const std::string& ca_pem, const Req& r);
/// Sends raw bytes and returns everything read until the server closes.
std::string raw(uint16_t port, const std::string& bytes);
/// WebSocket: connect to `path`, send `msg`, return the reply.
std::string ws_roundtrip(uint16_t port, const std::string& path, const std::string& msg);

/// A persistent HTTP/1.1 connection.
class KeepAlive {
 public:
  explicit KeepAlive(uint16_t port);
  ~KeepAlive();
  Resp send(const Req& r);
  /// How many TCP connections this client opened (1 if keep-alive held).
  int connects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cumulo::test
