// The only translation unit that includes Beast (compile time on 2 cores).
#include "net/server.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>

namespace cumulo::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
constexpr auto as_tuple = asio::as_tuple(use_awaitable);

// ---- certificates ------------------------------------------------------------------

namespace {
std::string ssl_error_string() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return e ? buf : "unknown OpenSSL error";
}

using CtxPtr = std::shared_ptr<SSL_CTX>;

CtxPtr new_server_ctx() {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("SSL_CTX_new: " + ssl_error_string());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);  // spec: TLS ≥ 1.2
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(ctx.get(), "ECDHE+AESGCM:ECDHE+CHACHA20");
  return ctx;
}
}  // namespace

struct CertStore::Impl {
  mutable std::shared_mutex mu;
  std::map<std::string, CtxPtr> by_domain;
  CtxPtr first;
  void put(const std::string& domain, CtxPtr ctx) {
    if (SSL_CTX_check_private_key(ctx.get()) != 1) throw std::runtime_error("certificate and key do not match for " + domain);
    std::unique_lock lk(mu);
    by_domain[domain] = ctx;
    if (!first) first = ctx;
  }
};

CertStore::CertStore() : impl_(std::make_unique<Impl>()) {}
CertStore::~CertStore() = default;

void CertStore::put_files(const std::string& domain, const std::string& cert_file, const std::string& key_file) {
  auto ctx = new_server_ctx();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) throw std::runtime_error("cannot load certificate " + cert_file + ": " + ssl_error_string());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) throw std::runtime_error("cannot load key " + key_file + ": " + ssl_error_string());
  impl_->put(domain, std::move(ctx));
}

void CertStore::put_pem(const std::string& domain, const std::string& cert_pem, const std::string& key_pem) {
  auto ctx = new_server_ctx();
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
  X509* leaf = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
  if (!leaf || SSL_CTX_use_certificate(ctx.get(), leaf) != 1) {
    X509_free(leaf);
    throw std::runtime_error("bad certificate PEM for " + domain + ": " + ssl_error_string());
  }
  X509_free(leaf);
  while (X509* extra = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr))
    if (SSL_CTX_add_extra_chain_cert(ctx.get(), extra) != 1) X509_free(extra);  // ctx owns it on success
  ERR_clear_error();
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
  if (!key || SSL_CTX_use_PrivateKey(ctx.get(), key) != 1) {
    EVP_PKEY_free(key);
    throw std::runtime_error("bad key PEM for " + domain + ": " + ssl_error_string());
  }
  EVP_PKEY_free(key);
  impl_->put(domain, std::move(ctx));
}

bool CertStore::has(const std::string& domain) const {
  std::shared_lock lk(impl_->mu);
  return impl_->by_domain.count(domain) > 0;
}

size_t CertStore::size() const {
  std::shared_lock lk(impl_->mu);
  return impl_->by_domain.size();
}

void* CertStore::find(const char* domain) const {
  std::shared_lock lk(impl_->mu);
  if (domain) {
    std::string d(domain);
    for (auto& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = impl_->by_domain.find(d);
    if (it != impl_->by_domain.end()) return it->second.get();
  }
  return impl_->first.get();
}

// ---- server --------------------------------------------------------------------

namespace {

std::string make_request_id(std::optional<std::string_view> given) {
  // Spec: accept 1-64 chars of [A-Za-z0-9_.-], else generate 8 random chars.
  if (given && !given->empty() && given->size() <= 64 &&
      std::all_of(given->begin(), given->end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; }))
    return std::string(*given);
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id(8, ' ');
  for (auto& c : id) c = alphabet[rng() % (sizeof alphabet - 1)];
  return id;
}

bool is_trusted(const std::vector<std::string>& trusted, const std::string& ip) {
  return std::find(trusted.begin(), trusted.end(), ip) != trusted.end();
}

int sni_callback(SSL* ssl, int*, void* arg) {
  auto* store = static_cast<CertStore*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  auto* ctx = static_cast<SSL_CTX*>(store->find(name));
  if (!ctx) return SSL_TLSEXT_ERR_ALERT_FATAL;
  SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

// ---- WebSocket connections -------------------------------------------------------
//
// A connection runs two coroutines on its (single-threaded) io_context: a
// reader (client frames → endpoint) and a writer that drains the peer's send
// queue. WsPeer::send may be called from any thread: it appends under a mutex
// and posts at most one wake-up to the connection's thread, so publishers
// never wait for a socket. The queue is bounded; a client that stops reading
// is closed with 1008 and, if even the close frame cannot be written, its
// socket is torn down after WsOptions::close_timeout.

struct WsFrame {
  std::string data;
  bool binary = false;
};

/// Lives in the session coroutine's frame; touched only on its thread.
struct WsSessionCtl {
  asio::steady_timer wake;  // the writer waits on it; cancel() = wake up
  asio::steady_timer kill;  // close_timeout after a close request
  bool kill_armed = false;
  bool reader_done = false;
  std::weak_ptr<bool> alive;
  std::function<void()> teardown;  // closes the TCP socket: every pending op fails
  std::chrono::milliseconds close_timeout;
  WsSessionCtl(const asio::any_io_executor& ex, std::chrono::milliseconds ct) : wake(ex), kill(ex), close_timeout(ct) {}
  void arm_kill() {
    if (kill_armed) return;
    kill_armed = true;
    kill.expires_after(close_timeout);
    kill.async_wait([w = alive, td = teardown](const boost::system::error_code& ec) {
      if (!ec && w.lock()) td();
    });
  }
};

class WsPeerImpl final : public WsPeer, public std::enable_shared_from_this<WsPeerImpl> {
 public:
  WsPeerImpl(asio::any_io_executor ex, HttpRequest req, uint64_t id, const WsOptions& o) : ex_(std::move(ex)), req_(std::move(req)), id_(id), opts_(o) {}

  bool send(std::string frame, bool binary) override {
    std::lock_guard lk(mu_);
    if (ended_ || close_) return false;
    if (queue_.size() + 1 > opts_.max_queue_frames || bytes_ + frame.size() > opts_.max_queue_bytes) {
      // A client that does not keep up: drop what it has not read and close.
      spdlog::info("websocket {} {}: send queue over {} frames / {} bytes, closing (slow client)", id_, req_.path, opts_.max_queue_frames,
                   opts_.max_queue_bytes);
      queue_.clear();
      bytes_ = 0;
      close_ = {ws_close::kPolicy, "send queue overflow"};
      wake_locked();
      return false;
    }
    bytes_ += frame.size();
    queue_.push_back(WsFrame{std::move(frame), binary});
    wake_locked();
    return true;
  }

  void close(uint16_t code, std::string reason) override {
    std::lock_guard lk(mu_);
    if (ended_ || close_) return;
    if (reason.size() > 123) {  // RFC 6455: the close payload is ≤ 125 bytes, and UTF-8
      reason.resize(123);
      while (!reason.empty() && (static_cast<unsigned char>(reason.back()) & 0xC0) == 0x80) reason.pop_back();
      if (!reason.empty() && (static_cast<unsigned char>(reason.back()) & 0x80)) reason.pop_back();
    }
    close_ = {code, std::move(reason)};
    wake_locked();
  }

  bool is_open() const override {
    std::lock_guard lk(mu_);
    return !ended_ && !close_;
  }
  size_t queued() const override {
    std::lock_guard lk(mu_);
    return queue_.size();
  }
  const HttpRequest& request() const override { return req_; }
  uint64_t id() const override { return id_; }

  // ---- the session's side (its thread) ----
  struct Next {
    std::optional<WsFrame> frame;
    std::optional<std::pair<uint16_t, std::string>> close;
  };
  Next next() {
    std::lock_guard lk(mu_);
    Next n;
    if (!queue_.empty()) {
      bytes_ -= queue_.front().data.size();
      n.frame = std::move(queue_.front());
      queue_.pop_front();
    } else if (close_) {
      n.close = close_;
    }
    return n;
  }
  bool closing() const {
    std::lock_guard lk(mu_);
    return close_.has_value();
  }
  void attach(WsSessionCtl* ctl) {
    std::lock_guard lk(mu_);
    ctl_ = ctl;
  }
  /// The session is over: sends are refused and nothing is posted any more.
  void end() {
    std::lock_guard lk(mu_);
    ended_ = true;
    queue_.clear();
    bytes_ = 0;
    ctl_ = nullptr;
  }

 private:
  void wake_locked() {  // mu_ held
    if (wake_posted_ || ended_) return;
    wake_posted_ = true;
    asio::post(ex_, [self = shared_from_this()] { self->on_wake(); });
  }
  void on_wake() {  // the connection's thread
    WsSessionCtl* ctl;
    bool closing;
    {
      std::lock_guard lk(mu_);
      wake_posted_ = false;
      ctl = ctl_;
      closing = close_.has_value();
    }
    if (!ctl) return;
    if (closing) ctl->arm_kill();  // also when the writer is stuck in a write
    ctl->wake.cancel();
  }

  asio::any_io_executor ex_;
  const HttpRequest req_;
  const uint64_t id_;
  const WsOptions opts_;
  mutable std::mutex mu_;
  std::deque<WsFrame> queue_;
  size_t bytes_ = 0;
  bool wake_posted_ = false;
  bool ended_ = false;
  std::optional<std::pair<uint16_t, std::string>> close_;
  WsSessionCtl* ctl_ = nullptr;  // guarded by mu_ (read by on_wake)
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  std::vector<asio::io_context*> contexts;
  size_t next_context = 0;
  asio::thread_pool& blocking;
  Dispatcher& dispatcher;
  WsRouter ws_router;
  ServerOptions opts;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> ssl_ctx;
  std::atomic<bool> draining{false};
  std::atomic<size_t> active{0};
  std::atomic<size_t> connections{0};
  // Idle connections are closed on stop(): each registers a canceller.
  std::mutex idle_mu;
  std::map<uint64_t, std::function<void()>> idle;
  uint64_t next_conn = 0;
  // Open WebSocket connections (guarded by idle_mu): stop() closes them with 1001.
  std::map<uint64_t, std::weak_ptr<WsPeerImpl>> ws_peers;

  Impl(std::vector<asio::io_context*> c, asio::thread_pool& b, Dispatcher& d, WsRouter w, ServerOptions o)
      : contexts(std::move(c)), blocking(b), dispatcher(d), ws_router(std::move(w)), opts(std::move(o)), acceptor(*contexts.front()) {}

  void mark_idle(uint64_t id, std::function<void()> cancel) {
    std::lock_guard lk(idle_mu);
    idle[id] = std::move(cancel);
  }
  void mark_busy(uint64_t id) {
    std::lock_guard lk(idle_mu);
    idle.erase(id);
  }

  template <class Socket>
  static std::string endpoint_ip(const Socket& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? std::string() : ep.address().to_string();
  }

  HttpRequest to_request(const http::request<http::string_body>& r, const std::string& peer, bool secure) {
    HttpRequest req;
    req.method = std::string(r.method_string());
    req.target = std::string(r.target());
    auto q = req.target.find('?');
    req.path = percent_decode(std::string_view(req.target).substr(0, q));
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    for (const auto& f : r) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = r.body();
    req.remote_ip = peer;
    req.secure = secure;
    req.host = std::string(r[http::field::host]);
    if (!opts.trusted_proxies.empty() && is_trusted(opts.trusted_proxies, peer)) {
      if (auto xff = req.header("X-Forwarded-For")) {
        // The right-most entry was added by our trusted proxy.
        std::string_view v = *xff;
        auto comma = v.rfind(',');
        v = comma == std::string_view::npos ? v : v.substr(comma + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        if (!v.empty()) req.remote_ip = std::string(v);
      }
      if (auto xfh = req.header("X-Forwarded-Host")) req.host = std::string(*xfh);
      if (auto xfp = req.header("X-Forwarded-Proto")) req.secure = (*xfp == "https");
    }
    req.req_id = make_request_id(req.header("X-Request-ID"));
    return req;
  }

  http::response<http::string_body> to_beast(const HttpRequest& req, HttpResponse& res, unsigned version, bool keep_alive) {
    http::response<http::string_body> out{static_cast<http::status>(res.status), version};
    out.set(http::field::server, "cumulo");
    if (!res.content_type.empty()) out.set(http::field::content_type, res.content_type);
    if (!req.req_id.empty()) out.set("X-Request-ID", req.req_id);
    for (auto& [k, v] : res.headers) out.insert(k, v);
    out.body() = std::move(res.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    return out;
  }

  void server_error(const HttpRequest& req, HttpResponse& res, unsigned status, std::string_view code, std::string_view msg) {
    try {
      dispatcher.error(req, res, status, code, msg);
    } catch (...) {
      res.status = status;
      res.body = R"({"error":{"code":"E-SYS-INTERNAL","message":"Internal server error"}})";
    }
  }

  // Runs fn (which must not throw) on the blocking pool and resumes the calling
  // coroutine on its own executor: one hand-off there and one back. co_spawn
  // onto the pool would add a third, a post back onto the pool before it
  // completes, and each hand-off is a thread wake-up.
  template <class Fn>
  awaitable<void> on_blocking_pool(Fn& fn) {
    co_await asio::async_initiate<decltype(use_awaitable), void()>(
        [this, &fn](auto handler) {
          auto home = asio::make_work_guard(asio::get_associated_executor(handler));
          asio::post(blocking, [&fn, handler = std::move(handler), home = std::move(home)]() mutable {
            fn();
            asio::post(home.get_executor(), std::move(handler));
          });
        },
        use_awaitable);
  }

  awaitable<void> run_handler(HttpRequest& req, HttpResponse& res) {
    // is_inline() routes the request; keep it outside the try below.
    auto run = [this, &req, &res] {
      try {
        dispatcher.handle(req, res);
      } catch (const std::exception& e) {
        spdlog::error("unhandled exception in handler for {} {}: {}", req.method, req.path, e.what());
        res = HttpResponse{};
        server_error(req, res, 500, "E-SYS-INTERNAL", "Internal server error");
      }
    };
    if (dispatcher.is_inline(req)) {  // also routes the request
      run();
    } else {
      // Adapter calls may block: run on the bounded blocking pool and resume here.
      co_await on_blocking_pool(run);
    }
  }

  template <class WS>
  awaitable<void> ws_reader(WS& ws, WsPeerImpl& peer, WsEndpoint& ep, WsSessionCtl& ctl, bool blocking_messages) {
    beast::flat_buffer buf;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buf, as_tuple);
      if (ec) break;
      const bool binary = ws.got_binary();
      std::string msg = beast::buffers_to_string(buf.data());
      buf.consume(buf.size());
      if (peer.closing()) continue;  // read on until the peer's close frame
      std::optional<std::string> reply;
      bool failed = false;
      auto run = [&] {
        try {
          reply = ep.on_message(msg, binary);
        } catch (const std::exception& e) {
          spdlog::error("websocket handler for {} failed: {}", peer.request().path, e.what());
          failed = true;
        }
      };
      if (blocking_messages) {
        co_await on_blocking_pool(run);
      } else {
        run();
      }
      if (failed)
        peer.close(ws_close::kInternal, "internal error");
      else if (reply)
        peer.send(std::move(*reply), binary);
    }
    ctl.reader_done = true;
    ctl.wake.cancel();
  }

  template <class WS>
  awaitable<void> ws_writer(WS& ws, WsPeerImpl& peer, WsSessionCtl& ctl) {
    for (;;) {
      if (ctl.reader_done) break;  // the client closed or vanished: nothing more can be sent
      auto next = peer.next();
      if (next.frame) {
        ws.binary(next.frame->binary);
        auto [ec, n] = co_await ws.async_write(asio::buffer(next.frame->data), as_tuple);
        if (ec) break;
        continue;
      }
      if (next.close) {
        ctl.arm_kill();
        co_await ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(next.close->first), next.close->second), as_tuple);
        break;
      }
      ctl.wake.expires_at(asio::steady_timer::time_point::max());
      co_await ctl.wake.async_wait(as_tuple);  // cancelled by a send, a close or the reader's end
    }
    ctl.teardown();  // the reader, if still waiting, ends too
  }

  template <class Stream>
  awaitable<void> websocket_session(Stream stream, http::request<http::string_body> breq, HttpRequest req, std::shared_ptr<WsEndpoint> ep, uint64_t id) {
    const WsOptions o = ep->options();
    websocket::stream<Stream> ws(std::move(stream));
    beast::get_lowest_layer(ws).expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    if (o.ping_interval.count() > 0) {
      // Beast pings after idle_timeout/2 without a frame from the client, and
      // times out when the next half passes without one (the pong counts).
      timeouts.idle_timeout = 2 * o.ping_interval;
      timeouts.keep_alive_pings = true;
    }
    ws.set_option(timeouts);
    ws.set_option(websocket::stream_base::decorator([](websocket::response_type& r) { r.set(http::field::server, "cumulo"); }));
    ws.read_message_max(o.max_message ? o.max_message : opts.body_limit);
    auto [aec] = co_await ws.async_accept(breq, as_tuple);
    if (aec) co_return;

    auto ex = co_await asio::this_coro::executor;
    auto peer = std::make_shared<WsPeerImpl>(ex, std::move(req), id, o);
    auto alive = std::make_shared<bool>(true);
    WsSessionCtl ctl(ex, o.close_timeout);
    ctl.alive = alive;
    ctl.teardown = [w = std::weak_ptr<bool>(alive), &ws] {
      if (!w.lock()) return;
      boost::system::error_code ig;
      beast::get_lowest_layer(ws).socket().close(ig);
    };
    peer->attach(&ctl);
    {
      std::lock_guard lk(idle_mu);
      ws_peers[id] = peer;
    }
    // Runs on every exit, also when the io_context is destroyed with this
    // coroutine suspended: the peer stops posting here, on_close is called.
    struct End {
      Impl* self;
      WsPeerImpl& peer;
      WsEndpoint& ep;
      bool opened = false;
      ~End() {
        peer.end();
        {
          std::lock_guard lk(self->idle_mu);
          self->ws_peers.erase(peer.id());
        }
        if (!opened) return;
        try {
          ep.on_close();
        } catch (const std::exception& e) {
          spdlog::error("websocket on_close for {} failed: {}", peer.request().path, e.what());
        }
      }
    } end{this, *peer, *ep};

    bool failed = false;
    auto open = [&] {
      try {
        ep->on_open(peer);
      } catch (const std::exception& e) {
        spdlog::error("websocket on_open for {} failed: {}", peer->request().path, e.what());
        failed = true;
      }
    };
    end.opened = true;
    if (o.blocking_open) {
      co_await on_blocking_pool(open);
    } else {
      open();
    }
    if (failed) peer->close(ws_close::kInternal, "internal error");
    if (draining) peer->close(ws_close::kGoingAway, "server shutting down");  // stop() may have missed it

    using namespace asio::experimental::awaitable_operators;
    co_await (ws_reader(ws, *peer, *ep, ctl, o.blocking_messages) && ws_writer(ws, *peer, ctl));
  }

  template <class Stream>
  awaitable<void> session(Stream stream, std::string peer, bool secure) {
    const uint64_t id = [this] {
      std::lock_guard lk(idle_mu);
      return ++next_conn;
    }();
    ++connections;
    struct Guard {
      Impl* self;
      uint64_t id;
      ~Guard() {
        self->mark_busy(id);
        --self->connections;
      }
    } guard{this, id};
    // Lets stop() cancel an idle read safely: the canceller runs on this
    // connection's thread and only while the coroutine (and `stream`) lives.
    auto alive = std::make_shared<bool>(true);
    auto home = co_await asio::this_coro::executor;  // a single-threaded io_context
    auto canceller = [home, w = std::weak_ptr<bool>(alive), &stream] {
      asio::post(home, [w, &stream] {
        if (w.lock()) beast::get_lowest_layer(stream).cancel();
      });
    };
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opts.header_limit));
      parser.body_limit(opts.body_limit);
      beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(opts.timeout_ms));
      if (draining) break;
      mark_idle(id, canceller);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, as_tuple);
      mark_busy(id);
      if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout || ec == asio::error::connection_reset ||
          ec == asio::error::eof || (ec && n == 0 && !parser.is_header_done() && buf.size() == 0))
        break;
      if (ec) {
        // Tell the client what was wrong with its request, then close.
        HttpRequest req;
        req.req_id = make_request_id(std::nullopt);
        HttpResponse res;
        if (ec == http::error::body_limit)
          server_error(req, res, 413, "E-FILE-TOOLARGE", "Request body exceeds " + std::to_string(opts.body_limit) + " bytes");
        else if (ec == http::error::header_limit)
          server_error(req, res, 431, "E-VAL-INVALID", "Request headers too large");
        else
          server_error(req, res, 400, "E-VAL-INVALID", "Malformed HTTP request: " + ec.message());
        auto out = to_beast(req, res, 11, false);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
        co_await http::async_write(stream, out, as_tuple);
        break;
      }
      auto breq = parser.release();

      if (websocket::is_upgrade(breq)) {
        HttpRequest req = to_request(breq, peer, secure);
        WsRoute route;
        if (ws_router) {
          try {
            route = ws_router(req);
          } catch (const std::exception& e) {
            spdlog::error("websocket router failed for {}: {}", req.path, e.what());
            HttpResponse res;
            server_error(req, res, 500, "E-SYS-INTERNAL", "Internal server error");
            route = WsRoute::refused(std::move(res));
          }
        }
        if (!route.endpoint || draining) {
          HttpResponse res;
          if (route.refuse && !draining)
            res = std::move(*route.refuse);
          else if (draining)
            server_error(req, res, 503, "E-SYS-UNAVAIL", "Server shutting down");
          else
            server_error(req, res, 404, "E-CORE-NOTFOUND", "No WebSocket endpoint at " + req.path);
          auto out = to_beast(req, res, breq.version(), false);
          co_await http::async_write(stream, out, as_tuple);
          break;
        }
        co_await websocket_session<Stream>(std::move(stream), std::move(breq), std::move(req), std::move(route.endpoint), id);
        co_return;
      }

      ++active;
      const auto t0 = std::chrono::steady_clock::now();
      HttpRequest req = to_request(breq, peer, secure);
      HttpResponse res;
      if (opts.redirect_to_https && req.path != "/health" && req.path.rfind("/.well-known/acme-challenge/", 0) != 0) {
        res.status = 308;
        res.content_type.clear();
        res.set_header("Location", "https://" + req.host + req.target);
      } else {
        co_await run_handler(req, res);
      }
      const bool keep_alive = breq.keep_alive() && !draining;
      auto out = to_beast(req, res, breq.version(), keep_alive);
      beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(opts.timeout_ms));
      auto [wec, wn] = co_await http::async_write(stream, out, as_tuple);
      dispatcher.completed(req, res, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      --active;
      if (wec || !keep_alive) break;
    }
    // Orderly close: TLS close_notify, then TCP FIN.
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
      co_await stream.async_shutdown(as_tuple);
    } else {
      boost::system::error_code ig;
      stream.socket().shutdown(tcp::socket::shutdown_send, ig);
    }
  }

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto& ctx = *contexts[next_context++ % contexts.size()];
      auto [ec, sock] = co_await acceptor.async_accept(ctx, as_tuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        continue;
      }
      std::string peer = endpoint_ip(sock);
      sock.set_option(tcp::no_delay(true));
      auto ex = sock.get_executor();
      if (opts.tls) {
        asio::co_spawn(
            ex,
            [self, s = std::move(sock), peer]() mutable -> awaitable<void> {
              beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(s)), *self->ssl_ctx);
              beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(self->opts.timeout_ms));
              auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, as_tuple);
              if (hec) {
                spdlog::debug("TLS handshake with {} failed: {}", peer, hec.message());
                co_return;
              }
              co_await self->session(std::move(stream), peer, true);
            },
            asio::detached);
      } else {
        asio::co_spawn(
            ex, [self, s = std::move(sock), peer]() mutable -> awaitable<void> { co_await self->session(beast::tcp_stream(std::move(s)), peer, false); },
            asio::detached);
      }
    }
  }
};

HttpServer::HttpServer(std::vector<asio::io_context*> contexts, asio::thread_pool& blocking, Dispatcher& d, WsRouter ws, ServerOptions opts)
    : impl_(std::make_shared<Impl>(std::move(contexts), blocking, d, std::move(ws), std::move(opts))) {
  if (impl_->contexts.empty()) throw std::invalid_argument("HttpServer needs at least one io_context");
}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::start() {
  auto& im = *impl_;
  if (im.opts.tls) {
    if (!im.opts.certs) throw std::runtime_error("TLS listener needs a certificate store");
    im.ssl_ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* base = im.ssl_ctx->native_handle();
    SSL_CTX_set_min_proto_version(base, TLS1_2_VERSION);
    SSL_CTX_set_tlsext_servername_callback(base, sni_callback);
    SSL_CTX_set_tlsext_servername_arg(base, im.opts.certs);
  }
  tcp::endpoint ep(asio::ip::make_address(im.opts.host), im.opts.port);
  im.acceptor.open(ep.protocol());
  im.acceptor.set_option(asio::socket_base::reuse_address(true));
  im.acceptor.bind(ep);
  im.acceptor.listen(asio::socket_base::max_listen_connections);
  uint16_t port = im.acceptor.local_endpoint().port();
  asio::co_spawn(im.acceptor.get_executor(), im.accept_loop(), asio::detached);
  spdlog::info("listening on {}:{} ({})", im.opts.host, port, im.opts.tls ? "https" : (im.opts.redirect_to_https ? "http → https" : "http"));
  return port;
}

void HttpServer::stop() {
  auto im = impl_;
  if (im->draining.exchange(true)) return;
  asio::post(im->acceptor.get_executor(), [im] {
    boost::system::error_code ec;
    im->acceptor.close(ec);
  });
  std::map<uint64_t, std::function<void()>> idle;
  std::vector<std::shared_ptr<WsPeerImpl>> ws;
  {
    std::lock_guard lk(im->idle_mu);
    idle.swap(im->idle);
    for (auto& [id, w] : im->ws_peers)
      if (auto p = w.lock()) ws.push_back(std::move(p));
  }
  // Each canceller posts itself onto its connection's thread.
  for (auto& [id, cancel] : idle) cancel();
  // WebSockets: going away (queued frames are written first, bounded by close_timeout).
  for (auto& p : ws) p->close(ws_close::kGoingAway, "server shutting down");
}

size_t HttpServer::active_requests() const { return impl_->active; }
size_t HttpServer::open_connections() const { return impl_->connections; }

}  // namespace cumulo::net
