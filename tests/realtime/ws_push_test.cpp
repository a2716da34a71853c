// The net layer's push WebSockets, against a bare HttpServer: sends from
// many threads, the bounded send queue (1008), keep-alive pings, on_close,
// and the 1001 close on stop().
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mutex>
#include <thread>

#include "net/server.hpp"
#include "support/fixture.hpp"

using namespace cumulo;
using namespace cumulo::test;

namespace {

class NoHttp : public net::Dispatcher {
 public:
  bool is_inline(net::HttpRequest&) const override { return true; }
  void handle(net::HttpRequest&, net::HttpResponse& res) override { res.status = 404; }
  void error(const net::HttpRequest&, net::HttpResponse& res, unsigned status, std::string_view, std::string_view message) override {
    res.status = status;
    res.body = std::string(message);
  }
};

/// Remembers its peer; "burst N" queues N frames at once on the network thread.
struct State {
  std::mutex mu;
  std::shared_ptr<net::WsPeer> peer;
  std::atomic<int> opened{0}, closed{0};
  std::shared_ptr<net::WsPeer> get() {
    std::lock_guard lk(mu);
    return peer;
  }
};

class PushEndpoint : public net::WsEndpoint {
 public:
  PushEndpoint(State& s, net::WsOptions o) : s_(s), o_(o) {}
  net::WsOptions options() const override { return o_; }
  void on_open(std::shared_ptr<net::WsPeer> peer) override {
    std::lock_guard lk(s_.mu);
    s_.peer = peer;
    peer_ = std::move(peer);
    ++s_.opened;
  }
  std::optional<std::string> on_message(std::string_view msg, bool) override {
    if (msg.rfind("burst ", 0) == 0) {
      const int n = std::stoi(std::string(msg.substr(6)));
      for (int i = 0; i < n; ++i) peer_->send("frame " + std::to_string(i));
      return std::nullopt;
    }
    if (msg == "bye") {
      peer_->send("last words");
      peer_->close(4000, "asked to");
      return std::nullopt;
    }
    return "re: " + std::string(msg);
  }
  void on_close() override { ++s_.closed; }

 private:
  State& s_;
  net::WsOptions o_;
  std::shared_ptr<net::WsPeer> peer_;
};

struct PushServer {
  State state;
  net::WsOptions opts;
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  boost::asio::thread_pool blocking{2};
  NoHttp dispatcher;
  std::unique_ptr<net::HttpServer> server;
  std::thread thread;
  uint16_t port = 0;

  explicit PushServer(net::WsOptions o) : opts(o) {
    auto router = [this](const net::HttpRequest& req) -> net::WsRoute {
      if (req.path == "/push") return std::make_shared<PushEndpoint>(state, opts);
      if (req.path == "/busy") {
        net::HttpResponse r;
        r.status = 429;
        r.set_header("Retry-After", "1");
        return net::WsRoute::refused(r);
      }
      return {};
    };
    server = std::make_unique<net::HttpServer>(std::vector<boost::asio::io_context*>{&io}, blocking, dispatcher, router, net::ServerOptions{});
    port = server->start();
    thread = std::thread([this] { io.run(); });
  }
  ~PushServer() {
    server->stop();
    eventually([&] { return server->open_connections() == 0; }, std::chrono::seconds(10));
    work.reset();
    io.stop();
    thread.join();
    blocking.join();
  }
  std::shared_ptr<net::WsPeer> wait_peer() {
    EXPECT_TRUE(eventually([&] { return state.get() != nullptr; }));
    return state.get();
  }
};

}  // namespace

TEST(WsPush, RoutesAndRefusals) {
  PushServer s({});
  WsClient missing(s.port, "/nowhere");
  EXPECT_FALSE(missing.connected());
  EXPECT_EQ(missing.status(), 404u);
  WsClient busy(s.port, "/busy");
  EXPECT_FALSE(busy.connected());
  EXPECT_EQ(busy.status(), 429u);
  WsClient ok(s.port, "/push");
  ASSERT_TRUE(ok.connected()) << ok.error();
  EXPECT_EQ(ok.status(), 101u);
  ASSERT_TRUE(ok.send("hi"));
  EXPECT_EQ(ok.recv(), "re: hi");
}

TEST(WsPush, SendsFromManyThreadsArriveInOrderPerThread) {
  PushServer s({});
  WsClient c(s.port, "/push");
  ASSERT_TRUE(c.connected()) << c.error();
  auto peer = s.wait_peer();
  constexpr int kThreads = 4, kFrames = 250;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kFrames; ++i) peer->send(std::to_string(t) + ":" + std::to_string(i));
    });
  std::vector<int> next(kThreads, 0);
  int got = 0;
  while (got < kThreads * kFrames) {
    auto m = c.recv();
    ASSERT_TRUE(m) << "after " << got << " frames: " << c.error();
    const auto colon = m->find(':');
    const int t = std::stoi(m->substr(0, colon)), i = std::stoi(m->substr(colon + 1));
    EXPECT_EQ(i, next[t]) << "thread " << t;
    next[t] = i + 1;
    ++got;
  }
  for (auto& t : ts) t.join();
  EXPECT_TRUE(peer->is_open());
}

TEST(WsPush, QueueOverflowClosesWith1008) {
  net::WsOptions o;
  o.max_queue_frames = 8;
  PushServer s(o);
  WsClient c(s.port, "/push");
  ASSERT_TRUE(c.connected()) << c.error();
  auto peer = s.wait_peer();
  // 20 frames queued in one go on the network thread: the writer cannot run in between.
  ASSERT_TRUE(c.send("burst 20"));
  int frames = 0;
  while (auto m = c.recv()) {
    EXPECT_EQ(*m, "frame " + std::to_string(frames));
    ++frames;
  }
  EXPECT_EQ(frames, 0) << "the overflowing queue is dropped, not flushed";
  EXPECT_EQ(c.close_code(), 1008) << c.error();
  EXPECT_EQ(c.close_reason(), "send queue overflow");
  EXPECT_FALSE(peer->is_open());
  EXPECT_FALSE(peer->send("late"));
  EXPECT_TRUE(eventually([&] { return s.state.closed == 1; }));
}

TEST(WsPush, CloseFlushesQueuedFramesFirst) {
  PushServer s({});
  WsClient c(s.port, "/push");
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_TRUE(c.send("bye"));
  EXPECT_EQ(c.recv(), "last words");
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(c.close_code(), 4000);
  EXPECT_EQ(c.close_reason(), "asked to");
}

TEST(WsPush, KeepAlivePings) {
  net::WsOptions o;
  o.ping_interval = std::chrono::milliseconds(100);
  PushServer s(o);
  WsClient c(s.port, "/push");
  ASSERT_TRUE(c.connected()) << c.error();
  // recv() reads (and answers pings) until its deadline; no message comes.
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] {
    c.recv(std::chrono::milliseconds(50));
    return c.pings() >= 3;
  }));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(c.closed()) << "answered pings keep the connection open";
  EXPECT_LT(secs, 2.0) << c.pings() << " pings";
}

TEST(WsPush, OnCloseWhenClientLeaves) {
  PushServer s({});
  std::shared_ptr<net::WsPeer> peer;
  {
    WsClient c(s.port, "/push");
    ASSERT_TRUE(c.connected()) << c.error();
    peer = s.wait_peer();
    EXPECT_TRUE(peer->is_open());
    c.close();
    EXPECT_TRUE(eventually([&] { return s.state.closed == 1; }));
  }
  EXPECT_FALSE(peer->is_open());
  EXPECT_FALSE(peer->send("nobody listens"));
  {
    WsClient c(s.port, "/push");  // abrupt: the socket just goes away
    ASSERT_TRUE(c.connected()) << c.error();
    EXPECT_TRUE(eventually([&] { return s.state.opened == 2; }));
  }
  EXPECT_TRUE(eventually([&] { return s.state.closed == 2; }));
  EXPECT_TRUE(eventually([&] { return s.server->open_connections() == 0; }));
}

TEST(WsPush, StopClosesWithGoingAway) {
  PushServer s({});
  WsClient c(s.port, "/push");
  ASSERT_TRUE(c.connected()) << c.error();
  s.wait_peer();
  s.server->stop();
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(c.close_code(), 1001);
  EXPECT_TRUE(eventually([&] { return s.server->open_connections() == 0; }));
  EXPECT_EQ(s.state.closed, 1);
}
