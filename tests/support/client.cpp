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
