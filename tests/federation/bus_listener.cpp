#include "federation/bus_listener.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <mutex>
#include <thread>

#include "api/services.hpp"
#include "federation/federation.hpp"
#include "realtime/bus.hpp"

namespace cumulo::test::fed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

struct BusListener::Impl {
  asio::io_context io;
  asio::ssl::context ctx{asio::ssl::context::tls_client};
  std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
  beast::flat_buffer buf;
  std::thread thread;
  mutable std::mutex mu;
  std::vector<json> frames;
  bool connected = false;
  std::string error;

  void read_loop() {
    ws->async_read(buf, [this](beast::error_code ec, size_t) {
      if (ec) return;  // closed: the io_context runs out of work
      std::string text = beast::buffers_to_string(buf.data());
      buf.consume(buf.size());
      json j = json::parse(text, nullptr, false);
      {
        std::lock_guard lk(mu);
        frames.push_back(j.is_discarded() ? json{{"raw", text}} : std::move(j));
      }
      read_loop();
    });
  }
};

BusListener::BusListener(Federation& f, const std::string& id_tag) : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  auto& node = f.node(id_tag);
  auto& bus = node.app().services().bus;
  const size_t before = bus.connections(id_tag);
  const std::string host = "cl-o." + id_tag;
  try {
    im.ctx.add_certificate_authority(asio::buffer(f.ca_pem()));
    im.ctx.set_verify_mode(asio::ssl::verify_peer);
    im.ws = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(im.io, im.ctx);
    SSL_set_tlsext_host_name(im.ws->next_layer().native_handle(), host.c_str());
    im.ws->next_layer().set_verify_callback(asio::ssl::host_name_verification(host));
    beast::get_lowest_layer(*im.ws).expires_after(std::chrono::seconds(20));
    beast::get_lowest_layer(*im.ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), node.port));
    im.ws->next_layer().handshake(asio::ssl::stream_base::client);
    im.ws->handshake(host, "/ws/bus?token=" + f.token(id_tag));
    beast::get_lowest_layer(*im.ws).expires_never();
    im.connected = true;
  } catch (const std::exception& e) {
    im.error = e.what();
    return;
  }
  im.read_loop();
  im.thread = std::thread([&im] { im.io.run(); });
  // The bus attaches the socket while opening it; wait for that.
  eventually([&] { return bus.connections(id_tag) > before; }, std::chrono::seconds(10));
}

BusListener::~BusListener() {
  auto& im = *impl_;
  if (im.thread.joinable()) {
    asio::post(im.io, [&im] {
      beast::error_code ec;
      beast::get_lowest_layer(*im.ws).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(*im.ws).socket().close(ec);
    });
    im.thread.join();
  }
}

bool BusListener::connected() const { return impl_->connected; }
const std::string& BusListener::error() const { return impl_->error; }

std::vector<json> BusListener::frames() const {
  std::lock_guard lk(impl_->mu);
  return impl_->frames;
}

size_t BusListener::count(const std::function<bool(const json&)>& pred) const {
  size_t n = 0;
  for (const auto& fr : frames()) n += pred(fr) ? 1 : 0;
  return n;
}

std::optional<json> BusListener::wait_for(const std::function<bool(const json&)>& pred, std::chrono::milliseconds timeout) const {
  std::optional<json> hit;
  eventually(
      [&] {
        for (const auto& fr : frames())
          if (pred(fr)) {
            hit = fr;
            return true;
          }
        return false;
      },
      timeout);
  return hit;
}

std::function<bool(const json&)> BusListener::action(const std::string& action_id) {
  return [action_id](const json& fr) {
    return fr.value("cmd", "") == "ACTION" && fr.contains("data") && fr["data"].is_object() && fr["data"].value("actionId", "") == action_id;
  };
}

std::function<bool(const json&)> BusListener::notification(const std::string& action_id) {
  return [action_id](const json& fr) {
    return fr.value("cmd", "") == "notification" && fr.contains("data") && fr["data"].is_object() && fr["data"].value("actionId", "") == action_id;
  };
}

}  // namespace cumulo::test::fed
