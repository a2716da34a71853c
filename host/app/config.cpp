#include "app/config.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

namespace cumulo::app {

namespace {

using json = nlohmann::json;

// Replaces ${DATA_DIR} inside the string values of adapter options (after
// parsing, so a path with quotes or backslashes stays valid JSON).
void expand_in(json& j, const std::string& data_dir) {
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    const std::string key = "${DATA_DIR}";
    for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + data_dir.size())) s.replace(p, key.size(), data_dir);
    j = s;
  } else if (j.is_structured()) {
    for (auto& v : j) expand_in(v, data_dir);
  }
}

std::string expand(json j, const std::string& data_dir) {
  expand_in(j, data_dir);
  return j.dump();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

uint32_t to_u32(const char* name, const std::string& v) {
  try {
    size_t used = 0;
    unsigned long n = std::stoul(v, &used);
    if (used != v.size() || n > UINT32_MAX) throw std::invalid_argument(v);
    return static_cast<uint32_t>(n);
  } catch (const std::exception&) {
    throw ConfigError(std::string(name) + ": expected a non-negative integer, got '" + v + "'");
  }
}

template <class T>
void get(const json& j, const char* key, T& out) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw ConfigError(std::string("config key '") + key + "': " + e.what());
  }
}

std::vector<std::string> split_list(const std::string& s, const char* seps) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find_first_of(seps, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::pair<std::string, uint16_t> Config::split_listen(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) throw ConfigError("listen address '" + addr + "' must be HOST:PORT");
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint32_t port = to_u32("port", addr.substr(colon + 1));
  if (port > 65535) throw ConfigError("listen address '" + addr + "': port out of range");
  return {host.empty() ? "0.0.0.0" : host, static_cast<uint16_t>(port)};
}

Config Config::load(const std::optional<std::filesystem::path>& file, const std::function<const char*(const char*)>& getenv) {
  Config c;
  json j = json::object();
  if (file) {
    std::ifstream in(*file);
    if (!in) throw ConfigError("cannot read config file " + file->string());
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw ConfigError("config file " + file->string() + " is not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw ConfigError("config file must hold a JSON object");
    static const std::set<std::string> known = {"mode", "listen", "listenHttp", "dataDir", "baseIdTag", "baseAppDomain", "basePassword", "pluginDirs",
                                                "adminToken", "trustedProxies", "bodyLimit", "headerLimit", "requestTimeoutMs", "shutdownGraceMs",
                                                "ioThreads", "blockingThreads", "workers", "logLevel", "logFormat", "defaultProfile", "profiles",
                                                "tenants", "certs", "extensions", "auth", "outbound", "acme", "federation"};
    for (auto& [k, _] : j.items())
      if (!known.count(k)) throw ConfigError("unknown config key '" + k + "' (see docs/operations.md)");
  }
  get(j, "mode", c.mode);
  get(j, "listen", c.listen);
  get(j, "listenHttp", c.listen_http);
  std::string data_dir;
  get(j, "dataDir", data_dir);
  if (!data_dir.empty()) c.data_dir = data_dir;
  get(j, "baseIdTag", c.base_id_tag);
  get(j, "baseAppDomain", c.base_app_domain);
  get(j, "basePassword", c.base_password);
  std::vector<std::string> dirs;
  get(j, "pluginDirs", dirs);
  for (auto& d : dirs) c.plugin_dirs.emplace_back(d);
  get(j, "adminToken", c.admin_token);
  get(j, "trustedProxies", c.trusted_proxies);
  get(j, "bodyLimit", c.body_limit);
  get(j, "headerLimit", c.header_limit);
  get(j, "requestTimeoutMs", c.request_timeout_ms);
  get(j, "shutdownGraceMs", c.shutdown_grace_ms);
  get(j, "ioThreads", c.io_threads);
  get(j, "blockingThreads", c.blocking_threads);
  if (j.contains("workers")) {
    const auto& w = j["workers"];
    if (!w.is_object()) throw ConfigError("'workers' must be an object {high, medium, low}");
    get(w, "high", c.workers_high);
    get(w, "medium", c.workers_medium);
    get(w, "low", c.workers_low);
  }
  get(j, "logLevel", c.log_level);
  get(j, "logFormat", c.log_format);
  get(j, "defaultProfile", c.default_profile);
  auto section = [&](const char* name, const std::set<std::string>& keys) -> const json* {
    if (!j.contains(name)) return nullptr;
    const auto& o = j[name];
    if (!o.is_object()) throw ConfigError(std::string("'") + name + "' must be an object");
    for (auto& [k, _] : o.items())
      if (!keys.count(k)) throw ConfigError("unknown config key '" + std::string(name) + "." + k + "'");
    return &o;
  };
  if (auto* a = section("auth", {"loginFailureDelayMs", "lockoutMaxFailures", "lockoutSeconds", "rateLimits"})) {
    get(*a, "loginFailureDelayMs", c.auth.login_failure_delay_ms);
    get(*a, "lockoutMaxFailures", c.auth.lockout_max_failures);
    get(*a, "lockoutSeconds", c.auth.lockout_seconds);
    get(*a, "rateLimits", c.auth.rate_limits);
  }
  if (auto* o = section("outbound", {"resolve", "caFile", "timeoutMs"})) {
    get(*o, "resolve", c.outbound.resolve);
    get(*o, "caFile", c.outbound.ca_file);
    get(*o, "timeoutMs", c.outbound.timeout_ms);
  }
  if (auto* f = section("federation", {"deliveryMinWaitSeconds", "deliveryMaxWaitSeconds", "deliveryAttempts", "verifyMinWaitSeconds", "verifyMaxWaitSeconds",
                                       "verifyAttempts", "statWindowSeconds", "requestTimeoutMs"})) {
    get(*f, "deliveryMinWaitSeconds", c.federation.delivery_min_wait_s);
    get(*f, "deliveryMaxWaitSeconds", c.federation.delivery_max_wait_s);
    get(*f, "deliveryAttempts", c.federation.delivery_attempts);
    get(*f, "verifyMinWaitSeconds", c.federation.verify_min_wait_s);
    get(*f, "verifyMaxWaitSeconds", c.federation.verify_max_wait_s);
    get(*f, "verifyAttempts", c.federation.verify_attempts);
    get(*f, "statWindowSeconds", c.federation.stat_window_s);
    get(*f, "requestTimeoutMs", c.federation.request_timeout_ms);
  }
  if (auto* a = section("acme", {"email", "directory", "caFile", "renewBeforeDays"})) {
    get(*a, "email", c.acme.email);
    get(*a, "directory", c.acme.directory);
    get(*a, "caFile", c.acme.ca_file);
    get(*a, "renewBeforeDays", c.acme.renew_before_days);
  }

  // Environment overrides the file (names as the reference server uses them).
  auto env = [&](const char* name, std::string& out) {
    if (const char* v = getenv(name)) out = v;
  };
  env("MODE", c.mode);
  env("LISTEN", c.listen);
  env("LISTEN_HTTP", c.listen_http);
  if (const char* v = getenv("DATA_DIR")) c.data_dir = v;
  env("BASE_ID_TAG", c.base_id_tag);
  env("BASE_APP_DOMAIN", c.base_app_domain);
  env("BASE_PASSWORD", c.base_password);
  env("CUMULO_ADMIN_TOKEN", c.admin_token);
  env("LOG_LEVEL", c.log_level);
  env("LOG_FORMAT", c.log_format);
  env("ACME_EMAIL", c.acme.email);
  env("ACME_DIRECTORY", c.acme.directory);
  if (const char* v = getenv("PLUGIN_DIRS")) {
    c.plugin_dirs.clear();
    for (auto& d : split_list(v, ",:")) c.plugin_dirs.emplace_back(d);
  }
  if (const char* v = getenv("TRUSTED_PROXIES")) c.trusted_proxies = split_list(v, ",");
  if (const char* v = getenv("WORKER_POOL_HIGH")) c.workers_high = to_u32("WORKER_POOL_HIGH", v);
  if (const char* v = getenv("WORKER_POOL_MEDIUM")) c.workers_medium = to_u32("WORKER_POOL_MEDIUM", v);
  if (const char* v = getenv("WORKER_POOL_LOW")) c.workers_low = to_u32("WORKER_POOL_LOW", v);

  if (c.mode == "stream-proxy") throw ConfigError("MODE=stream-proxy is not supported by Cumulo yet; use standalone or proxy");
  if (c.mode != "standalone" && c.mode != "proxy") throw ConfigError("MODE must be 'standalone' or 'proxy', got '" + c.mode + "'");
  if (c.listen_http == "none") c.listen_http.clear();
  if (c.base_app_domain.empty()) c.base_app_domain = c.base_id_tag;
  if (c.log_format != "text" && c.log_format != "json") throw ConfigError("logFormat must be 'text' or 'json'");
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
  if (!levels.count(c.log_level)) throw ConfigError("logLevel must be one of trace, debug, info, warn, error, critical, off; got '" + c.log_level + "'");
  c.base_id_tag = lower(c.base_id_tag);
  if (c.io_threads == 0 || c.blocking_threads == 0) throw ConfigError("ioThreads and blockingThreads must be at least 1");
  if (c.workers_high + c.workers_medium + c.workers_low == 0) throw ConfigError("the worker pool needs at least one thread");

  // Adapters take absolute paths only (a plugin must not depend on the
  // host's working directory), so a relative DATA_DIR — the default ./data —
  // is taken from where the host starts.
  c.data_dir = std::filesystem::absolute(c.data_dir).lexically_normal();
  if (!c.data_dir.has_filename()) c.data_dir = c.data_dir.parent_path();  // "data/" → "…/data"
  const std::string dd = c.data_dir.string();
  // Backend profiles. The embedded default needs no server: SQLite, files and
  // LMDB under DATA_DIR.
  c.profiles["embedded"] = Profile{"embedded",
                                   {{"auth", {"auth-sqlite", expand(json{{"path", "${DATA_DIR}/auth.db"}}, dd)}},
                                    {"meta", {"meta-sqlite", expand(json{{"path", "${DATA_DIR}/meta.db"}}, dd)}},
                                    {"blob", {"blob-fs", expand(json{{"dir", "${DATA_DIR}/blob"}}, dd)}},
                                    {"rtdb", {"rtdb-lmdb", expand(json{{"dir", "${DATA_DIR}/rtdb"}}, dd)}},
                                    {"crdt", {"crdt-lmdb", expand(json{{"dir", "${DATA_DIR}/crdt"}}, dd)}}}};
  if (j.contains("profiles")) {
    if (!j["profiles"].is_object()) throw ConfigError("'profiles' must be an object of name → {kind: {factory, options}}");
    for (auto& [name, p] : j["profiles"].items()) {
      if (!p.is_object()) throw ConfigError("profile '" + name + "' must be an object");
      Profile prof{name, {}};
      for (auto& [kind, spec] : p.items()) {
        if (kind != "auth" && kind != "meta" && kind != "blob" && kind != "rtdb" && kind != "crdt")
          throw ConfigError("profile '" + name + "': unknown adapter kind '" + kind + "' (auth, meta, blob, rtdb, crdt)");
        if (!spec.is_object() || !spec.contains("factory") || !spec["factory"].is_string())
          throw ConfigError("profile '" + name + "', " + kind + ": needs {\"factory\": \"name\", \"options\": {...}}");
        AdapterSpec a{spec["factory"].get<std::string>(), expand(spec.value("options", json::object()), dd)};
        prof.adapters[kind] = std::move(a);
      }
      c.profiles[name] = std::move(prof);
    }
  }
  if (!c.profiles.count(c.default_profile)) throw ConfigError("defaultProfile '" + c.default_profile + "' is not defined");

  if (j.contains("tenants")) {
    if (!j["tenants"].is_array()) throw ConfigError("'tenants' must be an array of {idTag, profile}");
    for (auto& t : j["tenants"]) {
      if (!t.is_object() || !t.contains("idTag") || !t["idTag"].is_string() || (t.contains("profile") && !t["profile"].is_string()))
        throw ConfigError("every tenant must be {\"idTag\": \"name\", \"profile\"?: \"profile\"}");
      TenantConfig tc{lower(t["idTag"].get<std::string>()), t.value("profile", "")};
      if (tc.id_tag.empty()) throw ConfigError("every tenant needs an idTag");
      if (!tc.profile.empty() && !c.profiles.count(tc.profile)) throw ConfigError("tenant " + tc.id_tag + ": unknown profile '" + tc.profile + "'");
      c.tenants.push_back(std::move(tc));
    }
  }
  if (j.contains("certs")) {
    if (!j["certs"].is_array()) throw ConfigError("'certs' must be an array of {domain, cert, key}");
    for (auto& t : j["certs"]) {
      if (!t.is_object() || !t.value("domain", json()).is_string() || !t.value("cert", json()).is_string() || !t.value("key", json()).is_string())
        throw ConfigError("every certs entry must be {\"domain\", \"cert\", \"key\"} strings");
      c.certs.push_back({lower(t["domain"].get<std::string>()), t["cert"].get<std::string>(), t["key"].get<std::string>()});
    }
  }
  if (j.contains("extensions")) {
    if (!j["extensions"].is_object()) throw ConfigError("'extensions' must be an object of factory → options");
    for (auto& [name, opts] : j["extensions"].items()) c.extension_options[name] = expand(opts, dd);
  }
  split_listen(c.listen);  // validate early
  if (!c.listen_http.empty()) split_listen(c.listen_http);
  return c;
}

}  // namespace cumulo::app
