#include "federation/federation.hpp"

#include <sqlite3.h>

#include <fstream>

#include "api/services.hpp"
#include "auth/keyring.hpp"
#include "identity/action_token.hpp"

namespace cumulo::test::fed {

Federation::Federation(const std::vector<std::string>& id_tags, const json& extra, std::vector<fs::path> plugins)
    : ca_(net::make_ca("Cumulo Federation Test CA")), plugins_(std::move(plugins)) {
  ca_file_ = (root_.path / "ca.pem").string();
  std::ofstream(ca_file_) << ca_.cert_pem;
  json resolve = json::object();
  for (const auto& id : id_tags) {
    Node n;
    n.id_tag = id;
    n.port = free_port();
    n.dir = root_.path / id;
    fs::create_directories(n.dir / "data");
    auto leaf = net::make_leaf({"cl-o." + id}, &ca_);
    std::ofstream(n.dir / "cert.pem") << leaf.cert_pem;
    std::ofstream(n.dir / "key.pem") << leaf.key_pem;
    resolve["cl-o." + id + ":443"] = "127.0.0.1:" + std::to_string(n.port);
    nodes_.emplace(id, std::move(n));
  }
  for (auto& [id, n] : nodes_) {
    n.config = json{{"mode", "standalone"},
                    {"listen", "127.0.0.1:" + std::to_string(n.port)},
                    {"listenHttp", ""},
                    {"dataDir", (n.dir / "data").string()},
                    {"baseIdTag", id},
                    {"basePassword", "password-of-" + id},
                    {"certs", {{{"domain", "cl-o." + id}, {"cert", (n.dir / "cert.pem").string()}, {"key", (n.dir / "key.pem").string()}}}},
                    {"outbound", {{"resolve", resolve}, {"caFile", ca_file_}}},
                    // Every node and client shares 127.0.0.1: per-IP limits would
                    // throttle the scenarios (they are tested in auth_tests).
                    {"auth", {{"rateLimits", false}}},
                    {"federation", {{"deliveryMinWaitSeconds", 1}, {"deliveryMaxWaitSeconds", 4}, {"verifyMinWaitSeconds", 1}, {"statWindowSeconds", 0}}}};
    n.config.merge_patch(extra);
    start(id);
  }
}

Federation::~Federation() {
  for (auto& [id, n] : nodes_) {
    n.host.reset();
    n.proc.reset();
  }
}

Node& Federation::node(const std::string& id_tag) { return nodes_.at(id_tag); }

void Federation::stop(const std::string& id_tag) {
  auto& n = node(id_tag);
  n.host.reset();
  if (n.proc) {
    n.proc->terminate();
    n.proc.reset();
  }
}

void Federation::start(const std::string& id_tag) {
  auto& n = node(id_tag);
  if (n.proc) throw std::logic_error(id_tag + " runs as a process: stop() or kill9() it first");
  if (!n.host) n.host = std::make_unique<TestHost>(n.config, plugins_);
}

fs::path Federation::write_config(const std::string& id_tag) {
  auto& n = node(id_tag);
  const auto plugin_dir = n.dir / "plugins";
  fs::create_directories(plugin_dir);
  for (const auto& p : plugins_) fs::copy_file(p, plugin_dir / p.filename(), fs::copy_options::overwrite_existing);
  json cfg = n.config;
  cfg["pluginDirs"] = json::array({plugin_dir.string()});
  if (!cfg.contains("adminToken")) cfg["adminToken"] = TestHost::kAdminToken;
  if (!cfg.contains("logLevel")) cfg["logLevel"] = "warn";
  const auto file = n.dir / "serve.json";
  std::ofstream(file) << cfg.dump(2);
  return file;
}

void Federation::start_process(const std::string& id_tag) {
  auto& n = node(id_tag);
  if (n.host) throw std::logic_error(id_tag + " runs in-process: stop() it first");
  if (n.proc) return;
  const auto file = write_config(id_tag);
  n.proc = std::make_unique<ServeProcess>(std::map<std::string, std::string>{{"CUMULO_CONFIG", file.string()}});
  Req ready;
  ready.target = "/ready";
  ready.host = "cl-o." + id_tag;
  const bool ok = eventually([&] { return https(n.port, "cl-o." + id_tag, ca_.cert_pem, ready).status == 200; }, std::chrono::seconds(120));
  if (!ok) throw std::runtime_error("cumulo serve for " + id_tag + " never became ready");
}

void Federation::kill9(const std::string& id_tag) {
  node(id_tag).proc.reset();  // ~ServeProcess: SIGKILL, then waitpid
}

std::string Federation::token(const std::string& id_tag) {
  auto& a = node(id_tag).app();
  auto t = a.backends().tenant(id_tag);
  return a.services().authn.mint(*t, id_tag, {});
}

Resp Federation::call(const std::string& id_tag, const std::string& method, const std::string& target, const json& body, bool as_owner) {
  Req r;
  r.method = method;
  r.target = target;
  r.host = "cl-o." + id_tag;
  if (!body.is_null()) {
    r.body = body.dump();
    r.headers["Content-Type"] = "application/json";
  }
  if (as_owner) r.headers["Authorization"] = "Bearer " + token(id_tag);
  return https(node(id_tag).port, "cl-o." + id_tag, ca_.cert_pem, r);
}

Resp Federation::admin(const std::string& id_tag, const std::string& method, const std::string& target, const std::string& body) {
  Req r;
  r.method = method;
  r.target = target;
  r.host = "cl-o." + id_tag;
  r.body = body;
  if (!body.empty()) r.headers["Content-Type"] = "application/json";
  r.headers["Authorization"] = std::string("Bearer ") + TestHost::kAdminToken;
  return https(node(id_tag).port, "cl-o." + id_tag, ca_.cert_pem, r);
}

Resp Federation::inbox(const std::string& id_tag, const std::string& tok, const std::vector<std::string>& related, bool sync) {
  json body = {{"token", tok}};
  if (!related.empty()) body["related"] = related;
  return call(id_tag, "POST", sync ? "/api/inbox/sync" : "/api/inbox", body, false);
}

json Federation::create(const std::string& id_tag, const json& action) {
  auto r = call(id_tag, "POST", "/api/actions", action);
  EXPECT_EQ(r.status, 201u) << r.body;
  if (r.status != 201) return nullptr;
  return json::parse(r.body)["data"];
}

json Federation::stored(const std::string& id_tag, const std::string& action_id) {
  auto& a = node(id_tag).app();
  auto t = a.backends().tenant(id_tag);
  auto b = a.backends().for_tenant(*t);
  auto text = b->meta.get_action(t->ref(), action_id);
  return text.empty() ? json(nullptr) : json::parse(text);
}

bool Federation::wait_stored(const std::string& id_tag, const std::string& action_id, const std::string& statuses, std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        auto r = stored(id_tag, action_id);
        return r.is_object() && statuses.find(r.value("status", "?")) != std::string::npos;
      },
      timeout);
}

json Federation::profile(const std::string& id_tag, const std::string& who) {
  auto& a = node(id_tag).app();
  auto t = a.backends().tenant(id_tag);
  auto text = a.backends().for_tenant(*t)->meta.get_profile(t->ref(), who);
  return text.empty() ? json(nullptr) : json::parse(text);
}

json Federation::list(const std::string& id_tag, const json& filter) {
  auto& a = node(id_tag).app();
  auto t = a.backends().tenant(id_tag);
  return json::parse(a.backends().for_tenant(*t)->meta.list_actions(t->ref(), filter.dump()))["actions"];
}

std::vector<json> Federation::tasks(const std::string& id_tag, const std::string& key_prefix) {
  // Every task, finished ones included: straight from the embedded meta.db.
  std::vector<json> out;
  sqlite3* db = nullptr;
  const auto path = (node(id_tag).dir / "data" / "meta.db").string();
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT id, kind, key, status, attempt FROM tasks WHERE substr(key, 1, ?) = ? ORDER BY id", -1, &st, nullptr) == SQLITE_OK) {
    sqlite3_bind_int(st, 1, static_cast<int>(key_prefix.size()));
    sqlite3_bind_text(st, 2, key_prefix.data(), static_cast<int>(key_prefix.size()), SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto txt = [&](int i) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        return std::string(p ? p : "");
      };
      out.push_back({{"id", sqlite3_column_int64(st, 0)}, {"kind", txt(1)}, {"key", txt(2)}, {"status", txt(3)}, {"attempt", sqlite3_column_int(st, 4)}});
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

bool Federation::settle(std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        for (auto& [id, n] : nodes_) {
          if (!n.host) continue;
          auto b = n.app().backends().for_profile(n.app().backends().default_profile());
          for (const auto& t : json::parse(b->meta.list_pending_tasks()))
            if (t.value("kind", "").rfind("action.", 0) == 0 && t.value("nextAt", int64_t{0}) < (std::time(nullptr) + 30) * 1000) return false;
        }
        return true;
      },
      timeout);
}

std::string sign_as(app::App& signer, const std::string& id_tag, const json& c) {
  auto t = signer.backends().tenant(id_tag);
  auto sk = signer.services().keys.signing_key(*t);
  identity::ActionClaims cl;
  cl.iss = c.value("iss", id_tag);
  cl.k = c.value("k", sk.key_id);
  cl.t = c.at("t").get<std::string>();
  if (c.contains("c")) cl.c = c["c"];
  if (c.contains("p")) cl.p = c["p"].get<std::string>();
  if (c.contains("a")) cl.a = c["a"].get<std::vector<std::string>>();
  if (c.contains("aud")) cl.aud = c["aud"].get<std::string>();
  if (c.contains("sub")) cl.sub = c["sub"].get<std::string>();
  cl.iat = c.value("iat", static_cast<int64_t>(std::time(nullptr)));
  if (c.contains("exp")) cl.exp = c["exp"].get<int64_t>();
  if (c.contains("f")) cl.f = c["f"];
  if (c.contains("v")) cl.v = c["v"].get<std::string>();
  if (c.contains("_")) cl.nonce = c["_"];
  return *identity::sign_action_token(cl, *sk.key);
}

}  // namespace cumulo::test::fed
