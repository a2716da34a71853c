#include "app/selftest.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <filesystem>
#include <fstream>

#include "api/envelope.hpp"

namespace cumulo::app {

using api::ApiError;
using json = nlohmann::json;

std::string blob_id_for(std::string_view bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, md, sizeof md);
  std::string s(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
  for (auto& c : s) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return "b1~" + s;
}

namespace {

void expect(bool cond, const std::string& what) {
  if (!cond) throw ApiError(500, "E-SYS-INTERNAL", "selftest failed: " + what);
}

json describe(const plugins::AdapterHandle& h) {
  return {{"factory", h.instance().factory().name}, {"plugin", h.instance().plugin().name}, {"version", h.instance().plugin().version}};
}

template <class H>
const H& need(const H& h, const std::string& kind, const Binding& b) {
  if (!h) {
    auto it = b.errors.find(kind);
    throw ApiError(503, "E-SYS-UNAVAIL", "profile '" + b.profile + "' has no " + kind + " adapter" + (it != b.errors.end() ? ": " + it->second : ""));
  }
  return h;
}

}  // namespace

json run_selftest(const Backends& backends, const TenantInfo& tenant, const std::string& kind, const std::string& nonce) {
  auto b = backends.for_tenant(tenant);
  if (!b) throw ApiError(503, "E-SYS-UNAVAIL", "tenant " + tenant.id_tag + " has no bound profile");
  // A reserved scope: the selftest never touches the tenant's own data, yet
  // runs through the very adapter instances that serve it.
  const plugins::TenantRef tn{kSelftestTnId, "_selftest." + tenant.id_tag};
  json checks = json::array();
  json out = {{"kind", kind}, {"tenant", tenant.id_tag}, {"profile", b->profile}};

  if (kind == "blob") {
    const auto& blob = need(b->blob, kind, *b);
    out["adapter"] = describe(blob);
    const std::string bytes = "cumulo selftest " + nonce;
    const std::string id = blob_id_for(bytes);
    blob.write_all(tn, id, bytes);
    expect(blob.size(tn, id) == bytes.size(), "stat size");
    expect(blob.read_all(tn, id) == bytes, "read back");
    std::string part;
    blob.read(tn, id, 7, 8, [&](std::string_view c) {
      part.append(c);
      return true;
    });
    expect(part == bytes.substr(7, 8), "range read");
    checks = {"write", "stat", "read", "range"};
    try {
      blob.remove(tn, id);
      checks.push_back("remove");
    } catch (const plugins::PluginError& e) {
      if (e.code() != CM_UNSUPPORTED) throw;
    }
    out["blobId"] = id;
  } else if (kind == "auth") {
    const auto& auth = need(b->auth, kind, *b);
    out["adapter"] = describe(auth);
    auth.set_password(tn, "selftest-" + nonce);
    expect(auth.check_password(tn, "selftest-" + nonce), "right password accepted");
    expect(!auth.check_password(tn, "wrong-" + nonce), "wrong password refused");
    checks = {"set_password", "check_password"};
  } else if (kind == "meta") {
    const auto& meta = need(b->meta, kind, *b);
    out["adapter"] = describe(meta);
    if (meta.has_settings()) {
      meta.put_setting(tn, "selftest.value", json(nonce).dump());
      expect(json::parse(meta.get_setting(tn, "selftest.value")) == json(nonce), "setting round trip");
      meta.delete_setting(tn, "selftest.value");
      checks.push_back("settings");
    }
    if (meta.has_records()) {
      meta.put_record(tn, "selftest", nonce, json{{"n", nonce}}.dump());
      expect(json::parse(meta.get_record(tn, "selftest", nonce))["n"] == nonce, "record round trip");
      meta.delete_record(tn, "selftest", nonce);
      checks.push_back("records");
    }
    if (meta.has_tasks()) {
      json task = {{"kind", "selftest"}, {"status", "F"}, {"input", nonce}, {"priority", "low"}, {"nextAt", 0}, {"attempt", 0}, {"deps", json::array()}};
      auto id = json::parse(meta.create_task(task.dump())).at("id").get<int64_t>();
      expect(json::parse(meta.get_task(id)).value("input", "") == nonce, "task round trip");
      meta.delete_task(id);
      checks.push_back("tasks");
    }
  } else if (kind == "rtdb") {
    const auto& rtdb = need(b->rtdb, kind, *b);
    out["adapter"] = describe(rtdb);
    json doc = {{"nonce", nonce}};
    rtdb.transact(tn, "selftest", json::array({{{"op", "set"}, {"path", "checks/" + nonce}, {"value", doc}}}).dump());
    expect(json::parse(rtdb.get(tn, "selftest", "checks/" + nonce)) == doc, "document round trip");
    checks = {"transact", "get"};
  } else if (kind == "crdt") {
    const auto& crdt = need(b->crdt, kind, *b);
    out["adapter"] = describe(crdt);
    const std::string doc = "selftest-" + nonce;
    uint64_t seq = crdt.append(tn, doc, "update-" + nonce);
    bool seen = false;
    crdt.read(tn, doc, seq - 1, [&](uint64_t s, std::string_view u) { seen = seen || (s == seq && u == "update-" + nonce); });
    expect(seen, "update read back");
    checks = {"append", "read"};
  } else if (kind == "action-type") {
    auto ext = backends.extensions();
    json types = json::array();
    for (const auto& at : ext->action_types) {
      at.health();
      auto defs = json::parse(at.definitions());
      expect(defs.is_array(), "definitions of " + at.instance().factory().name + " form a JSON array");
      for (const auto& d : defs) types.push_back(d.value("type", "?"));
    }
    out["types"] = types;
    checks = {"definitions"};
  } else if (kind == "file-processor") {
    auto ext = backends.extensions();
    json used = json::array();
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("cumulo-selftest-" + nonce);
    fs::create_directories(dir);
    struct Cleanup {
      fs::path d;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(d, ec);
      }
    } cleanup{dir};
    {
      std::ofstream(dir / "in.txt") << "hello\nselftest " << nonce << "\n";
    }
    for (const auto& p : ext->processors) {
      p.health();
      if (!p.accepts("text/plain")) continue;
      json req = {{"source", (dir / "in.txt").string()}, {"contentType", "text/plain"}, {"outDir", dir.string()}};
      auto variants = json::parse(p.generate(req.dump()));
      used.push_back({{"factory", p.instance().factory().name}, {"variants", variants}});
    }
    out["processors"] = used;
    checks = {"accepts", "generate"};
  } else {
    throw ApiError(404, "E-CORE-NOTFOUND", "Unknown plugin kind '" + kind + "' (auth, meta, blob, rtdb, crdt, action-type, file-processor)");
  }
  out["checks"] = checks;
  return out;
}

}  // namespace cumulo::app
