// Test clients built on Beast (kept in one TU): plain HTTP with or without
// keep-alive, HTTPS with SNI and a test CA, WebSocket, and raw bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
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

/// A WebSocket client for push endpoints: connect, send, receive with a
/// deadline, observe the server's close code and ping frames. Single-threaded
/// (use one per thread); a client that is never asked to recv() does not read
/// its socket at all (a stuck client).
class WsClient {
 public:
  /// Connects to 127.0.0.1:`port` and upgrades `target` with Host `host`.
  /// Never throws: check connected() / status() / error().
  WsClient(uint16_t port, const std::string& target, const std::string& host = "localhost", const std::map<std::string, std::string>& headers = {});
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  /// The upgrade succeeded (101).
  bool connected() const;
  /// The HTTP status of the upgrade answer (101, or e.g. 404 / 429).
  unsigned status() const;
  const std::string& error() const;
  /// Sends a text frame; false on failure.
  bool send(const std::string& text);
  /// The next message, waiting up to `timeout`; nullopt on timeout, close or error.
  std::optional<std::string> recv(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Reads until the server closes (or `timeout`); true if it closed.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// After the server's close frame: its code (0: none seen) and reason.
  int close_code() const;
  std::string close_reason() const;
  /// The connection is over (closed by either side, or failed).
  bool closed() const;
  /// Ping frames seen while reading.
  int pings() const;
  /// Sends a close frame (1000) and waits briefly for the server's.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

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
