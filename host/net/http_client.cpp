#include "net/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <mutex>

namespace cumulo::net {

namespace {

// curl_global_init is not thread-safe and must run before any other curl call.
void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("http client: curl_global_init failed");
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

struct Transfer {
  ClientResponse* resp;
  size_t max_body;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  if (t->resp->body.size() + n > t->max_body) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->resp->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string_view line(data, n);
  // A new status line starts a new response (1xx, redirects): keep only the last.
  if (line.starts_with("HTTP/")) {
    t->resp->headers.clear();
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;  // blank line, folded junk
  t->resp->headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return n;
}

HttpError::Kind classify(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return HttpError::Kind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return HttpError::Kind::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return HttpError::Kind::kTls;
    case CURLE_FILESIZE_EXCEEDED:
      return HttpError::Kind::kTooLarge;
    default:
      return HttpError::Kind::kProtocol;
  }
}

template <class T>
void set(CURL* h, CURLoption opt, T value) {
  if (curl_easy_setopt(h, opt, value) != CURLE_OK) throw HttpError(HttpError::Kind::kProtocol, "http client: curl_easy_setopt failed");
}

}  // namespace

std::string_view to_string(HttpError::Kind k) noexcept {
  switch (k) {
    case HttpError::Kind::kConnect:
      return "connect";
    case HttpError::Kind::kTimeout:
      return "timeout";
    case HttpError::Kind::kTls:
      return "tls";
    case HttpError::Kind::kTooLarge:
      return "too_large";
    case HttpError::Kind::kProtocol:
      return "protocol";
  }
  return "unknown";
}

std::optional<std::string> ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

std::vector<std::string> ClientResponse::header_values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (k == name) out.push_back(v);
  return out;
}

// The share handle: DNS cache and TLS session ids, guarded per data kind
// because easy handles on different threads use it concurrently.
struct HttpClient::Shared {
  CURLSH* sh = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  Shared() {
    sh = curl_share_init();
    if (!sh) throw std::runtime_error("http client: curl_share_init failed");
    curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, &Shared::lock);
    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, &Shared::unlock);
    curl_share_setopt(sh, CURLSHOPT_USERDATA, this);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Shared() {
    for (auto& [origin, handles] : idle)
      for (CURL* h : handles) curl_easy_cleanup(h);
    curl_share_cleanup(sh);
  }

  // Idle easy handles per origin: a handle keeps its connections alive, so
  // the next request to the same peer (a burst of federation deliveries to
  // one node) reuses a warm TLS connection instead of a new handshake. A
  // handle is used by one thread at a time (libcurl's rule); sharing the
  // connection cache itself across threads is what CURL_LOCK_DATA_CONNECT
  // would do, and libcurl documents that as unsafe.
  static constexpr size_t kIdlePerOrigin = 8, kIdleTotal = 256;
  std::mutex idle_mu;
  std::map<std::string, std::vector<CURL*>> idle;
  size_t idle_count = 0;

  CURL* take(const std::string& origin) {
    {
      std::lock_guard lk(idle_mu);
      auto it = idle.find(origin);
      if (it != idle.end() && !it->second.empty()) {
        CURL* h = it->second.back();
        it->second.pop_back();
        --idle_count;
        curl_easy_reset(h);  // options only: live connections stay
        return h;
      }
    }
    return curl_easy_init();
  }
  void give_back(const std::string& origin, CURL* h) {
    {
      std::lock_guard lk(idle_mu);
      auto& v = idle[origin];
      if (v.size() < kIdlePerOrigin && idle_count < kIdleTotal) {
        v.push_back(h);
        ++idle_count;
        return;
      }
    }
    curl_easy_cleanup(h);
  }
  static void lock(CURL*, curl_lock_data d, curl_lock_access, void* user) { static_cast<Shared*>(user)->locks[static_cast<size_t>(d)].lock(); }
  static void unlock(CURL*, curl_lock_data d, void* user) { static_cast<Shared*>(user)->locks[static_cast<size_t>(d)].unlock(); }
};

HttpClient::HttpClient(HttpClientOptions opts) : opts_(std::move(opts)) {
  global_init();
  for (const auto& [from, to] : opts_.connect_to) {
    if (from.find(':') == std::string::npos || to.find(':') == std::string::npos)
      throw std::invalid_argument("http client: connect_to entries are host:port → addr:port, got " + from + " → " + to);
    connect_to_lines_.push_back(from + ":" + to);
  }
  shared_ = std::make_unique<Shared>();
}

HttpClient::~HttpClient() = default;

ClientResponse HttpClient::request(const ClientRequest& req) const {
  if (req.method.empty() || !std::all_of(req.method.begin(), req.method.end(), [](unsigned char c) { return std::isupper(c); }))
    throw std::invalid_argument("http client: bad method '" + req.method + "'");

  // scheme://host[:port] — the key of the idle-handle pool.
  const auto scheme_end = req.url.find("://");
  const std::string origin = scheme_end == std::string::npos ? req.url : req.url.substr(0, req.url.find('/', scheme_end + 3));
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(shared_->take(origin), &curl_easy_cleanup);
  if (!h) throw HttpError(HttpError::Kind::kProtocol, "http client: curl_easy_init failed");
  CURL* c = h.get();

  ClientResponse resp;
  Transfer t{&resp, req.max_body};
  std::array<char, CURL_ERROR_SIZE> err{};

  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hdrs(nullptr, &curl_slist_free_all);
  auto append = [&](curl_slist* list, const std::string& s) {
    curl_slist* n = curl_slist_append(list, s.c_str());
    if (!n) throw std::bad_alloc();
    return n;
  };
  for (const auto& [k, v] : req.headers) hdrs.reset(append(hdrs.release(), k + ": " + v));
  // curl adds "Expect: 100-continue" to large POSTs: one extra round trip for nothing.
  hdrs.reset(append(hdrs.release(), "Expect:"));
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> connect_to(nullptr, &curl_slist_free_all);
  for (const auto& line : connect_to_lines_) connect_to.reset(append(connect_to.release(), line));

  set(c, CURLOPT_URL, req.url.c_str());
  set(c, CURLOPT_PROTOCOLS_STR, "http,https");
  set(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for resolver timeouts: we run on many threads
  set(c, CURLOPT_SHARE, shared_->sh);
  set(c, CURLOPT_ERRORBUFFER, err.data());
  set(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
  set(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(req.timeout_ms, opts_.connect_timeout_ms)));
  set(c, CURLOPT_USERAGENT, opts_.user_agent.c_str());
  set(c, CURLOPT_HTTPHEADER, hdrs.get());
  set(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.max_body));  // early reject on Content-Length
  set(c, CURLOPT_WRITEFUNCTION, &on_body);
  set(c, CURLOPT_WRITEDATA, &t);
  set(c, CURLOPT_HEADERFUNCTION, &on_header);
  set(c, CURLOPT_HEADERDATA, &t);
  set(c, CURLOPT_SSL_VERIFYPEER, 1L);
  set(c, CURLOPT_SSL_VERIFYHOST, 2L);
  set(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!opts_.ca_file.empty()) set(c, CURLOPT_CAINFO, opts_.ca_file.c_str());
  curl_blob ca_blob{const_cast<char*>(opts_.ca_pem.data()), opts_.ca_pem.size(), CURL_BLOB_NOCOPY};
  if (!opts_.ca_pem.empty()) set(c, CURLOPT_CAINFO_BLOB, &ca_blob);
  if (connect_to) set(c, CURLOPT_CONNECT_TO, connect_to.get());
  if (req.follow_redirects) {
    set(c, CURLOPT_FOLLOWLOCATION, 1L);
    set(c, CURLOPT_MAXREDIRS, 5L);
  }

  if (req.method == "GET") {
    set(c, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    set(c, CURLOPT_NOBODY, 1L);
  } else {
    if (req.method != "POST") set(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method == "POST" || !req.body.empty()) {
      set(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      set(c, CURLOPT_POSTFIELDS, req.body.data());
    }
  }

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    const auto kind = t.too_large ? HttpError::Kind::kTooLarge : classify(rc);
    std::string msg = "http client: " + req.method + " " + req.url + ": ";
    if (kind == HttpError::Kind::kTooLarge)
      msg += "response body exceeds " + std::to_string(req.max_body) + " bytes";
    else
      msg += err[0] ? std::string(err.data()) : std::string(curl_easy_strerror(rc));
    throw HttpError(kind, msg);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  // Only after a clean transfer: a failed one may have left a broken connection.
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);  // `err` dies with this frame
  shared_->give_back(origin, h.release());
  return resp;
}

}  // namespace cumulo::net
