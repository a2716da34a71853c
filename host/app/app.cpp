#include "app/app.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <set>
#include <sstream>

#include "actions/engine.hpp"
#include "api/metrics.hpp"
#include "api/services.hpp"
#include "app/certificates.hpp"
#include "app/data_lock.hpp"
#include "app/dispatcher.hpp"
#include "app/meta_task_store.hpp"
#include "app/provision.hpp"
#include "net/server.hpp"
#include "net/x509.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/worker_pool.hpp"

namespace fs = std::filesystem;

namespace cumulo::app {

struct App::Net {
  // One io_context per network thread (concurrency hint 1): connections stay
  // on one thread, so the hot path takes no cross-thread locks.
  std::vector<std::unique_ptr<boost::asio::io_context>> ios;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  boost::asio::thread_pool blocking;
  api::Metrics metrics;
  net::CertStore certs;
  std::unique_ptr<HostDispatcher> dispatcher;
  std::unique_ptr<net::HttpServer> main, http;
  std::vector<std::thread> threads;
  Net(uint32_t io_threads, uint32_t blocking_threads) : blocking(blocking_threads) {
    for (uint32_t i = 0; i < io_threads; ++i) {
      ios.push_back(std::make_unique<boost::asio::io_context>(1));
      work.emplace_back(ios.back()->get_executor());
    }
  }
  std::vector<boost::asio::io_context*> contexts() const {
    std::vector<boost::asio::io_context*> out;
    for (const auto& i : ios) out.push_back(i.get());
    return out;
  }
};

namespace {

std::string random_token() {
  unsigned char b[24];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) s += hex[c >> 4], s += hex[c & 15];
  return s;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_private(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out) throw std::runtime_error("cannot write " + p.string());
  }
  ::chmod(p.c_str(), 0600);
}

}  // namespace

// Default plugin directory: ../plugins next to the binary (build tree and
// `cmake --install` layout alike), then lib/cumulo/plugins.
std::vector<fs::path> default_plugin_dirs() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {"./plugins"};
  auto bin = exe.parent_path();
  std::vector<fs::path> out;
  for (auto p : {bin.parent_path() / "plugins", bin.parent_path() / "lib" / "cumulo" / "plugins"})
    if (fs::is_directory(p, ec)) out.push_back(p);
  if (out.empty()) out.push_back(bin.parent_path() / "plugins");
  return out;
}

App::App(Config cfg) : cfg_(std::move(cfg)) {
  if (cfg_.plugin_dirs.empty()) cfg_.plugin_dirs = default_plugin_dirs();
  fs::create_directories(cfg_.data_dir);
  admin_token_ = cfg_.admin_token;
  if (admin_token_.empty()) {
    // Like Jupyter: a random operator token in a 0600 file, kept across restarts.
    auto p = cfg_.data_dir / "admin.token";
    if (fs::exists(p)) admin_token_ = read_file(p);
    while (!admin_token_.empty() && std::isspace(static_cast<unsigned char>(admin_token_.back()))) admin_token_.pop_back();
    if (admin_token_.empty()) {
      admin_token_ = random_token();
      write_private(p, admin_token_ + "\n");
    }
  }
  net_ = std::make_unique<Net>(cfg_.io_threads, cfg_.blocking_threads);
  plugins::HostHooks hooks;
  hooks.metric_add = [m = &net_->metrics](std::string_view plugin, std::string_view name, double v) { m->add_plugin_metric(plugin, name, v); };
  plugins_ = std::make_unique<plugins::PluginManager>(cfg_.plugin_dirs, cfg_.data_dir / ".plugin-cache", hooks);
  backends_ = std::make_unique<Backends>(cfg_, *plugins_);
  workers_ = std::make_unique<runtime::WorkerPool>(cfg_.workers_high, cfg_.workers_medium, cfg_.workers_low);
}

App::~App() { stop(); }

size_t App::active_requests() const { return net_ && net_->main ? net_->main->active_requests() : 0; }

void App::load_certificates() {
  if (cfg_.mode != "standalone") return;
  // Configured certificates first, so DATA_DIR/certs only fills the gaps.
  for (const auto& c : cfg_.certs) {
    try {
      net_->certs.put_files(c.domain, c.cert_file.string(), c.key_file.string());
    } catch (const std::exception& e) {
      spdlog::error("certificate for {}: {}", c.domain, e.what());
    }
  }
  std::set<std::string> configured;
  for (const auto& c : cfg_.certs) configured.insert(c.domain);
  // DATA_DIR/certs/<domain>/{cert,key}.pem: what ACME will write (issue 4).
  auto dir = cfg_.data_dir / "certs";
  for (const auto& t : backends_->tenants()) {
    const std::string domain = "cl-o." + t.id_tag;
    if (net_->certs.has(domain)) continue;
    auto cert = dir / domain / "cert.pem", key = dir / domain / "key.pem";
    if (!fs::exists(cert) || !fs::exists(key)) {
      // No certificate yet: a self-signed placeholder keeps HTTPS working.
      spdlog::warn("no certificate for {}: generating a self-signed one in {}", domain, (dir / domain).string());
      auto kc = net::make_leaf({domain, t.id_tag}, nullptr, 90);
      write_private(key, kc.key_pem);
      write_private(cert, kc.cert_pem);
    }
    try {
      net_->certs.put_files(domain, cert.string(), key.string());
    } catch (const std::exception& e) {
      spdlog::error("certificate for {}: {}", domain, e.what());
    }
  }
  // Re-read every existing directory so renewed certificates take effect.
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    auto cert = e.path() / "cert.pem", key = e.path() / "key.pem";
    if (!configured.count(e.path().filename().string()) && fs::exists(cert) && fs::exists(key)) {
      try {
        net_->certs.put_files(e.path().filename().string(), cert.string(), key.string());
      } catch (const std::exception& ex) {
        spdlog::error("certificate {}: {}", e.path().string(), ex.what());
      }
    }
  }
  // ACME certificates from the auth adapter win over the placeholders above.
  if (certificates_) certificates_->load_all();
}

void App::create_scheduler() {
  auto meta = [this] {
    auto b = backends_->for_profile(cfg_.default_profile);
    return b ? b->meta : plugins::MetaHandle();
  };
  auto m = meta();
  if (!m || !m.has_tasks()) {
    spdlog::warn("profile {} has no meta adapter with a tasks part: the scheduler is off", cfg_.default_profile);
    return;
  }
  clock_ = std::make_unique<runtime::SystemClock>();
  task_store_ = std::make_unique<MetaTaskStore>(meta);
  // Not started here: the task kinds are registered first (Services), so
  // pending tasks never look orphaned at startup.
  scheduler_ = std::make_unique<runtime::Scheduler>(*task_store_, *workers_, *clock_);
}

// Every registered tenant is brought to the provisioned state (idempotent:
// a crash mid-way resumes here). The base tenant gets BASE_PASSWORD and SADM.
void App::provision_tenants() {
  const auto now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& t : backends_->tenants()) {
    ProvisionOptions o;
    if (t.id_tag == cfg_.base_id_tag) {
      if (!cfg_.base_password.empty()) o.password = cfg_.base_password;
      o.roles = {"SADM"};
    }
    try {
      provision_tenant(*backends_, services_->keys, t, o, now);
    } catch (const std::exception& e) {
      // One broken tenant must not keep the others offline; /ready shows it.
      spdlog::error("provisioning tenant {} failed: {}", t.id_tag, e.what());
    }
  }
}

void App::start() {
  if (started_) return;
  // A migration rewrites tenants' data and bindings: never serve beside one.
  data_lock_ = std::make_unique<DataDirLock>(cfg_.data_dir, DataDirLock::Mode::Shared,
                                             "DATA_DIR " + cfg_.data_dir.string() + " is locked by a running `cumulo tenant migrate`: let it finish first");
  started_ = true;
  const auto t0 = std::chrono::steady_clock::now();
  auto reports = plugins_->load_all();
  size_t refused = std::count_if(reports.begin(), reports.end(), [](const auto& r) { return r.status == "refused"; });
  backends_->rebind();
  create_scheduler();
  services_ = std::make_unique<api::Services>(*this);
  if (scheduler_) scheduler_->start();
  provision_tenants();
  services_->load_revocations();
  certificates_ = std::make_unique<CertificateManager>(cfg_, *backends_, net_->certs);
  load_certificates();

  auto& n = *net_;
  n.dispatcher = std::make_unique<HostDispatcher>(*this, n.metrics);
  n.metrics.set_gauge_source([this] {
    std::map<std::string, double> g;
    g["cumulo_plugins_loaded"] = static_cast<double>(plugins_->loaded_count());
    g["cumulo_plugins_mapped"] = static_cast<double>(plugins_->mapped_count());
    auto s = workers_->stats();
    g["cumulo_worker_queue_depth_high"] = static_cast<double>(s.high_queue_depth);
    g["cumulo_worker_queue_depth_medium"] = static_cast<double>(s.medium_queue_depth);
    g["cumulo_worker_queue_depth_low"] = static_cast<double>(s.low_queue_depth);
    g["cumulo_worker_jobs_completed_total"] = static_cast<double>(s.jobs_completed);
    g["cumulo_worker_jobs_failed_total"] = static_cast<double>(s.jobs_failed);

    if (net_->main) g["cumulo_http_active_requests"] = static_cast<double>(net_->main->active_requests());
    return g;
  });
  auto ws = [d = n.dispatcher.get()](const net::HttpRequest& req) { return d->websocket(req); };

  net::ServerOptions so;
  auto [host, port] = Config::split_listen(cfg_.listen);
  so.host = host;
  so.port = port;
  so.tls = cfg_.mode == "standalone";
  so.certs = &n.certs;
  so.body_limit = cfg_.body_limit;
  so.header_limit = cfg_.header_limit;
  so.timeout_ms = cfg_.request_timeout_ms;
  if (cfg_.mode == "proxy") so.trusted_proxies = cfg_.trusted_proxies;
  n.main = std::make_unique<net::HttpServer>(n.contexts(), n.blocking, *n.dispatcher, ws, so);
  port_ = n.main->start();
  if (cfg_.mode == "standalone" && !cfg_.listen_http.empty()) {
    net::ServerOptions ho = so;
    auto [hh, hp] = Config::split_listen(cfg_.listen_http);
    ho.host = hh;
    ho.port = hp;
    ho.tls = false;
    ho.redirect_to_https = true;
    n.http = std::make_unique<net::HttpServer>(n.contexts(), n.blocking, *n.dispatcher, nullptr, ho);
    http_port_ = n.http->start();
  }
  for (auto& io : n.ios) n.threads.emplace_back([ctx = io.get()] { ctx->run(); });
  // After the listeners: HTTP-01 validation needs the port-80 listener up.
  if (certificates_->enabled()) {
    if (scheduler_) {
      try {
        certificates_->schedule(*scheduler_);
      } catch (const std::exception& e) {
        spdlog::error("scheduling certificate renewal failed: {}", e.what());
      }
    } else {
      spdlog::error("ACME is on but the scheduler is off (no tasks part in profile {}): certificates are not renewed", cfg_.default_profile);
    }
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("cumulo ready in {:.1f} ms: {} plugins loaded, {} refused, {} tenants, mode {}", ms, plugins_->loaded_count(), refused, backends_->tenants().size(), cfg_.mode);
}

std::vector<plugins::PluginReport> App::reload() {
  std::lock_guard lk(reload_mu_);  // admin API and SIGHUP may overlap
  auto reps = plugins_->rescan();
  backends_->reload_tenants();
  backends_->rebind();
  if (!scheduler_) {  // its meta plugin may have just arrived
    create_scheduler();
    if (scheduler_) {
      services_->actions().register_tasks(*scheduler_);
      scheduler_->start();
    }
  }
  for (const auto& t : backends_->tenants()) {  // a tenant may have moved, or its keys changed
    services_->keys.invalidate(t.id_tag);
    services_->me_invalidate(t.id_tag);
  }
  provision_tenants();                  // tenants created by the CLI since
  try {
    load_certificates();
  } catch (const std::exception& e) {
    spdlog::error("reloading certificates failed: {}", e.what());
  }
  spdlog::info("reload: {} plugin files acted upon", reps.size());
  return reps;
}

void App::run_until_signal() {
  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;
  boost::asio::signal_set signals(*net_->ios.front(), SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      // Reload off the network threads: plugin init may take a while.
      boost::asio::post(net_->blocking, [this] { reload(); });
      signals.async_wait(on_signal);
      return;
    }
    spdlog::info("signal {}: shutting down gracefully", sig);
    std::lock_guard lk(mu);
    stop_requested = true;
    cv.notify_all();
  };
  signals.async_wait(on_signal);
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return stop_requested; });
  lk.unlock();
  signals.cancel();
  stop();
}

void App::stop() {
  if (!started_ || stopped_.exchange(true)) return;
  auto& n = *net_;
  if (n.main) n.main->stop();
  if (n.http) n.http->stop();
  // Drain: wait (polling with a deadline) for in-flight requests to finish.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.shutdown_grace_ms);
  auto busy = [&] { return (n.main && n.main->open_connections() > 0) || (n.http && n.http->open_connections() > 0); };
  while (busy() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (busy()) spdlog::warn("shutdown grace period over with connections still open");
  if (scheduler_) scheduler_->stop();
  n.work.clear();
  for (auto& io : n.ios) io->stop();
  for (auto& t : n.threads) t.join();
  n.threads.clear();
  n.blocking.join();
  workers_->shutdown();
  data_lock_.reset();
  spdlog::info("cumulo stopped");
}

}  // namespace cumulo::app
