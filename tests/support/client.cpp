#include "support/client.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

namespace cumulo::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

bhttp::request<bhttp::string_body> build(const Req& r) {
  bhttp::request<bhttp::string_body> q{bhttp::string_to_verb(r.method), r.target, 11};
  q.set(bhttp::field::host, r.host);
  for (const auto& [k, v] : r.headers) q.set(k, v);
  q.body() = r.body;
  q.prepare_payload();
  return q;
}

Resp convert(bhttp::response<bhttp::string_body>& res) {
  Resp out;
  out.ok = true;
  out.status = res.result_int();
  for (const auto& f : res) {
    std::string k(f.name_string());
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[k] = std::string(f.value());
  }
  out.body = res.body();
  return out;
}

}  // namespace

Resp http(uint16_t port, const Req& r) {
  try {
    asio::io_context io;
    beast::tcp_stream s(io);
    s.expires_after(std::chrono::seconds(20));
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    auto q = build(r);
    bhttp::write(s, q);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(64 << 20);
    bhttp::read(s, buf, p);
    return convert(p.get());
  } catch (const std::exception& e) {
    Resp out;
    out.error = e.what();
    return out;
  }
}

Resp https(uint16_t port, const std::string& sni, const std::string& ca_pem, const Req& r) {
  try {
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.add_certificate_authority(asio::buffer(ca_pem));
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> s(io, ctx);
    SSL_set_tlsext_host_name(s.native_handle(), sni.c_str());
    s.set_verify_callback(asio::ssl::host_name_verification(sni));
    beast::get_lowest_layer(s).expires_after(std::chrono::seconds(20));
    beast::get_lowest_layer(s).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    s.handshake(asio::ssl::stream_base::client);
    std::string cn, cert_pem;
    if (X509* cert = SSL_get1_peer_certificate(s.native_handle())) {
      char buf[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
      cn = buf;
      if (BIO* b = BIO_new(BIO_s_mem())) {
        if (PEM_write_bio_X509(b, cert) == 1) {
          char* data = nullptr;
          const long n = BIO_get_mem_data(b, &data);
          cert_pem.assign(data, static_cast<size_t>(n));
        }
        BIO_free(b);
      }
      X509_free(cert);
    }
    Req rr = r;
    rr.host = sni;
    auto q = build(rr);
    bhttp::write(s, q);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buf, res);
    auto out = convert(res);
    out.peer_cn = cn;
    out.peer_cert_pem = std::move(cert_pem);
    beast::error_code ec;
    s.shutdown(ec);
    return out;
  } catch (const std::exception& e) {
    Resp out;
    out.error = e.what();
    return out;
  }
}

std::string raw(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(s, asio::buffer(bytes));
  std::string out;
  beast::error_code ec;
  char buf[4096];
  for (;;) {
    size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

std::string ws_roundtrip(uint16_t port, const std::string& path, const std::string& msg) {
  asio::io_context io;
  beast::websocket::stream<beast::tcp_stream> ws(io);
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(20));
  beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  beast::get_lowest_layer(ws).expires_never();
  ws.handshake("localhost", path);
  ws.write(asio::buffer(msg));
  beast::flat_buffer buf;
  ws.read(buf);
  std::string out = beast::buffers_to_string(buf.data());
  ws.close(beast::websocket::close_code::normal);
  return out;
}

struct KeepAlive::Impl {
  asio::io_context io;
  uint16_t port;
  std::unique_ptr<beast::tcp_stream> s;
  beast::flat_buffer buf;
  int connects = 0;
  void connect() {
    s = std::make_unique<beast::tcp_stream>(io);
    s->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    buf.clear();
    ++connects;
  }
};

KeepAlive::KeepAlive(uint16_t port) : impl_(std::make_unique<Impl>()) { impl_->port = port; }
KeepAlive::~KeepAlive() = default;
int KeepAlive::connects() const { return impl_->connects; }

Resp KeepAlive::send(const Req& r) {
  // One retry on a fresh connection covers a server that closed an idle one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!impl_->s) impl_->connect();
      impl_->s->expires_after(std::chrono::seconds(20));
      auto q = build(r);
      bhttp::write(*impl_->s, q);
      bhttp::response<bhttp::string_body> res;
      bhttp::read(*impl_->s, impl_->buf, res);
      bool keep = res.keep_alive();
      auto out = convert(res);
      if (!keep) impl_->s.reset();
      return out;
    } catch (const std::exception& e) {
      impl_->s.reset();
      if (attempt == 1) {
        Resp out;
        out.error = e.what();
        return out;
      }
    }
  }
  return {};
}

}  // namespace cumulo::test

namespace cumulo::test {

namespace websocket = beast::websocket;

struct WsClient::Impl {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  beast::flat_buffer buf;
  bool connected = false, closed = false;
  unsigned status = 0;
  std::string error;
  int close_code = 0;
  std::string close_reason;
  int pings = 0;
  // A read in flight survives a recv() timeout: the next recv() waits for it.
  bool reading = false, read_done = false;
  beast::error_code read_ec;

  void start_read() {
    if (reading || closed) return;
    reading = true;
    read_done = false;
    ws.async_read(buf, [this](beast::error_code ec, size_t) {
      reading = false;
      read_done = true;
      read_ec = ec;
    });
  }
  /// Runs the io_context until the pending read finishes or `timeout` passes.
  bool wait_read(std::chrono::milliseconds timeout) {
    start_read();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!read_done && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(deadline - std::chrono::steady_clock::now());
    }
    return read_done;
  }
  void note_error(const beast::error_code& ec) {
    closed = true;
    if (ec == websocket::error::closed) {
      close_code = ws.reason().code;
      close_reason.assign(ws.reason().reason.data(), ws.reason().reason.size());
    } else if (error.empty()) {
      error = ec.message();
    }
  }
};

WsClient::WsClient(uint16_t port, const std::string& target, const std::string& host, const std::map<std::string, std::string>& headers)
    : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  try {
    beast::get_lowest_layer(im.ws).expires_after(std::chrono::seconds(20));
    beast::get_lowest_layer(im.ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    beast::get_lowest_layer(im.ws).expires_never();
    im.ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& r) {
      for (const auto& [k, v] : headers) r.set(k, v);
    }));
    im.ws.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) ++impl_->pings;
    });
    websocket::response_type res;
    beast::error_code ec;
    im.ws.handshake(res, host, target, ec);
    im.status = res.result_int();
    if (ec) {
      im.error = ec.message();
      im.closed = true;
      return;
    }
    im.connected = true;
  } catch (const std::exception& e) {
    im.error = e.what();
    im.closed = true;
  }
}

WsClient::~WsClient() {
  // Abrupt: tests that want a clean close call close().
  beast::error_code ec;
  beast::get_lowest_layer(impl_->ws).socket().close(ec);
  impl_->io.restart();
  impl_->io.poll();  // let aborted operations finish while Impl is alive
}

bool WsClient::connected() const { return impl_->connected; }
unsigned WsClient::status() const { return impl_->status; }
const std::string& WsClient::error() const { return impl_->error; }
int WsClient::close_code() const { return impl_->close_code; }
std::string WsClient::close_reason() const { return impl_->close_reason; }
bool WsClient::closed() const { return impl_->closed; }
int WsClient::pings() const { return impl_->pings; }

bool WsClient::send(const std::string& text) {
  if (impl_->closed) return false;
  beast::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text), ec);
  if (ec) impl_->note_error(ec);
  return !ec;
}

std::optional<std::string> WsClient::recv(std::chrono::milliseconds timeout) {
  auto& im = *impl_;
  if (im.closed) return std::nullopt;
  if (!im.wait_read(timeout)) return std::nullopt;
  if (im.read_ec) {
    im.note_error(im.read_ec);
    return std::nullopt;
  }
  std::string out = beast::buffers_to_string(im.buf.data());
  im.buf.consume(im.buf.size());
  return out;
}

bool WsClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!impl_->closed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    recv(left);  // messages before the close are discarded
  }
  return impl_->closed;
}

void WsClient::close() {
  auto& im = *impl_;
  if (im.closed || !im.connected) return;
  bool done = false;
  // Completes on the server's close frame (read by the pending read, if any).
  im.ws.async_close(websocket::close_code::normal, [&done](beast::error_code) { done = true; });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((!done || im.reading) && std::chrono::steady_clock::now() < deadline) {
    im.io.restart();
    im.io.run_one_for(std::chrono::milliseconds(100));
  }
  im.closed = true;
}

}  // namespace cumulo::test
