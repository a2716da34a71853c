// `cumulo tenant migrate` as an operator runs it: the real binary, a real
// data directory, the built-in plugins. A tenant is filled through the
// adapters of its profile (records, settings, actions, files, secrets, API
// keys, blobs including one over 8 MiB, rtdb documents, crdt updates), moved
// to a profile on other backends, and compared item by item afterwards; the
// crash test kills the migration with SIGKILL at several points and reruns it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <regex>

#include "app/config.hpp"
#include "app/selftest.hpp"
#include "plugins/adapters.hpp"
#include "support/fixture.hpp"

using namespace cumulo::test;
using cumulo::plugins::AdapterHandle;
using cumulo::plugins::TenantRef;
using json = nlohmann::json;

namespace {

const TenantRef kAlice{1, "alice.test"};  // the base tenant: never migrated here
const TenantRef kBob{2, "bob.test"};


// One node: a data directory and a config with extra profiles besides the
// built-in embedded one (which the tenants start on).
struct Node {
  TempDir tmp;
  fs::path data = tmp.path / "data";
  fs::path config = tmp.path / "cumulo.json";
  uint16_t port = free_port();

  explicit Node(const json& extra_profiles = json::object()) {
    auto dir = [&](const char* sub) { return "${DATA_DIR}/big/" + std::string(sub); };
    json profiles = {{"big",
                      {{"auth", {{"factory", "auth-sqlite"}, {"options", {{"path", dir("auth.db")}}}}},
                       {"meta", {{"factory", "meta-sqlite"}, {"options", {{"path", dir("meta.db")}}}}},
                       {"blob", {{"factory", "blob-rocksdb"}, {"options", {{"dir", dir("blob")}}}}},
                       {"rtdb", {{"factory", "rtdb-lmdb"}, {"options", {{"dir", dir("rtdb")}}}}},
                       {"crdt", {{"factory", "crdt-lmdb"}, {"options", {{"dir", dir("crdt")}}}}}}}};
    profiles.merge_patch(extra_profiles);
    json cfg = {{"mode", "proxy"},
                {"listen", "127.0.0.1:" + std::to_string(port)},
                {"dataDir", data.string()},
                {"baseIdTag", kAlice.id_tag},
                {"pluginDirs", {production_plugins().string(), sample_plugins().string()}},
                {"adminToken", "mig-token"},
                {"logLevel", "warn"},
                {"profiles", profiles}};
    std::ofstream(config) << cfg.dump(2);
  }

  cumulo::app::Config load() const {
    return cumulo::app::Config::load(config, [](const char*) -> const char* { return nullptr; });
  }

  // Runs the CLI to completion: {exit status, stdout + stderr}.
  std::pair<int, std::string> cli(const std::string& args) const {
    std::string cmd = "env -u DATA_DIR -u PLUGIN_DIRS -u BASE_ID_TAG -u CUMULO_CONFIG " + std::string(CUMULO_BINARY) + " --config '" + config.string() + "' " +
                      args + " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int rc = ::pclose(p);
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
  }
};

// The adapters of one profile, opened in this process (close them before a
// child process runs: RocksDB admits one process per directory).
struct Profile {
  cumulo::plugins::AuthHandle auth;
  cumulo::plugins::MetaHandle meta;
  cumulo::plugins::BlobHandle blob;
  cumulo::plugins::RtdbHandle rtdb;
  cumulo::plugins::CrdtHandle crdt;
};

cumulo::plugins::PluginManager& plugins() {
  // spdlog's registry must be created first so it is destroyed after the
  // manager, whose unloads log at exit.
  static const bool logger_first = (spdlog::default_logger(), true);
  (void)logger_first;
  static cumulo::plugins::PluginManager pm({production_plugins()}, fs::temp_directory_path() / ("cumulo-mig-shadow-" + std::to_string(::getpid())));
  static bool loaded = (pm.load_all(), true);
  (void)loaded;
  return pm;
}

Profile open_profile(const Node& node, const std::string& name) {
  auto cfg = node.load();
  const auto& p = cfg.profiles.at(name);
  auto make = [&](const char* kind, uint32_t bit) { return plugins().create(bit, p.adapters.at(kind).factory, p.adapters.at(kind).options_json); };
  return {cumulo::plugins::AuthHandle(make("auth", CM_KIND_AUTH)), cumulo::plugins::MetaHandle(make("meta", CM_KIND_META)),
          cumulo::plugins::BlobHandle(make("blob", CM_KIND_BLOB)), cumulo::plugins::RtdbHandle(make("rtdb", CM_KIND_RTDB)),
          cumulo::plugins::CrdtHandle(make("crdt", CM_KIND_CRDT))};
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, std::min<size_t>(8, n - i));
  }
  return s;
}

// Meta calls the host does not wrap yet go straight to the vtable.
std::string meta_call(const cumulo::plugins::MetaHandle& m, const char* what,
                      const std::function<int32_t(void*, const cm_meta_vtable&, const cm_sink*, cm_error*)>& f) {
  cumulo::plugins::StringSink s;
  cm_error err = cumulo::plugins::new_error();
  cumulo::plugins::check(f(m.instance().self(), m.vt(), &s.sink, &err), err, what);
  return s.data;
}

struct Sizes {
  int records = 400, settings = 40, secrets = 10, small_blobs = 24, docs = 150, crdt_docs = 16, updates = 6;
  bool big_blob = true;
  bool password = true;  // bcrypt at the embedded profile's cost: slow under ASan
};

// Fills a tenant through the profile's regular API.
void fill(const Profile& p, const TenantRef& tn, const Sizes& n, uint64_t seed) {
  const auto c = tn.c();
  for (int i = 0; i < n.records; ++i)
    p.meta.put_record(tn, "coll" + std::to_string(i % 3), "key-" + std::to_string(i),
                      json{{"i", i}, {"who", tn.id_tag}, {"pad", std::string(i % 50, 'p')}}.dump());
  for (int i = 0; i < n.settings; ++i) p.meta.put_setting(tn, "s." + std::to_string(i), json{{"v", i * 1.5}}.dump());
  // `tenant create` (and `serve`) provisioned the tenant record already.
  if (p.meta.get_tenant(tn).empty())
    p.meta.create_tenant(json{{"tnId", tn.tn_id}, {"idTag", tn.id_tag}, {"type", "P"}, {"name", tn.id_tag}, {"createdAt", 1700000000}}.dump());
  else
    p.meta.update_tenant(tn, json{{"name", tn.id_tag}, {"createdAt", 1700000000}}.dump());
  meta_call(p.meta, "upsert_profile", [&](void* self, const cm_meta_vtable& v, const cm_sink*, cm_error* e) {
    return v.tenants->upsert_profile(self, &c, cumulo::plugins::to_cm(R"({"idTag":"carol.test","name":"Carol","following":true})"), e);
  });
  for (int i = 0; i < 20; ++i)
    meta_call(p.meta, "put_action", [&](void* self, const cm_meta_vtable& v, const cm_sink* o, cm_error* e) {
      std::string a = json{{"actionId", "a1~" + std::to_string(i)}, {"type", "POST"},       {"issuerTag", tn.id_tag}, {"createdAt", 1000 + i},
                           {"token", "tok" + std::to_string(i)},    {"content", {{"n", i}}}}
                          .dump();
      return v.actions->put_action(self, &c, cumulo::plugins::to_cm(a), o, e);
    });
  meta_call(p.meta, "put_file", [&](void* self, const cm_meta_vtable& v, const cm_sink* o, cm_error* e) {
    return v.files->put_file(self, &c, cumulo::plugins::to_cm(R"({"fileId":"f1~doc","fileType":"BLOB","status":"A","ownerTag":"x","createdAt":5})"), o, e);
  });
  meta_call(p.meta, "put_variant", [&](void* self, const cm_meta_vtable& v, const cm_sink*, cm_error* e) {
    return v.files->put_variant(self, &c, cumulo::plugins::to_cm(R"({"fileId":"f1~doc","variant":"vis.sd","variantId":"b1~x","size":3})"), e);
  });
  if (n.password) p.auth.set_password(tn, tn.id_tag + " password");
  for (int i = 0; i < n.secrets; ++i)
    p.auth.put_secret(tn, json{{"name", "secret." + std::to_string(i)}, {"value", "v" + std::to_string(seed * 100 + i)}}.dump());
  for (int i = 0; i < n.small_blobs; ++i) {
    std::string b = random_bytes(1000 + i * 37, seed * 1000 + i);
    p.blob.write_all(tn, cumulo::app::blob_id_for(b), b);
  }
  if (n.big_blob) {
    std::string big = random_bytes((9 << 20) + 12345, seed);  // > 8 MiB: several read ranges
    p.blob.write_all(tn, cumulo::app::blob_id_for(big), big);
  }
  for (int i = 0; i < n.docs; i += 50) {
    json ops = json::array();
    for (int j = i; j < std::min(n.docs, i + 50); ++j)
      ops.push_back({{"op", "set"}, {"path", "items/i" + std::to_string(j)}, {"value", {{"n", j}, {"who", tn.id_tag}}}});
    p.rtdb.transact(tn, "f1~db", ops.dump());
  }
  for (int d = 0; d < n.crdt_docs; ++d)
    for (int u = 0; u < n.updates; ++u) p.crdt.append(tn, "doc-" + std::to_string(d), random_bytes(100 + u, seed + d * 100 + u));
}

// Everything a tenant has in a profile, in a comparable form.
struct Snapshot {
  std::map<std::string, std::vector<std::string>> items;  // kind → canonical dump lines
  std::map<std::string, std::string> blobs;               // id → content address of the bytes read
  std::map<std::string, std::vector<std::string>> crdt;   // doc → updates in order
  bool operator==(const Snapshot&) const = default;
  size_t size() const {
    size_t n = blobs.size() + crdt.size();
    for (const auto& [_, v] : items) n += v.size();
    return n;
  }
};

Snapshot snapshot(const Profile& p, const TenantRef& tn) {
  Snapshot s;
  for (auto [kind, h] : {std::pair<const char*, const AdapterHandle*>{"auth", &p.auth}, {"meta", &p.meta}, {"rtdb", &p.rtdb}}) {
    std::string text;
    EXPECT_TRUE(h->export_tenant(tn, "", 0, [&](std::string_view c) {
      text.append(c);
      return true;
    }));
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
      json j = json::parse(l);
      s.items[kind].push_back(json{{"t", j["t"]}, {"k", j["k"]}, {"v", j["v"]}}.dump());
    }
  }
  std::istringstream ids(p.blob.list(tn, "", 0));
  for (std::string id; std::getline(ids, id);) {
    EXPECT_FALSE(s.blobs.count(id)) << "blob listed twice: " << id;
    s.blobs[id] = cumulo::app::blob_id_for(p.blob.read_all(tn, id));
  }
  std::istringstream docs(p.crdt.list(tn));
  for (std::string d; std::getline(docs, d);) {
    EXPECT_FALSE(s.crdt.count(d)) << "crdt document listed twice: " << d;
    p.crdt.read(tn, d, 0, [&](uint64_t, std::string_view u) { s.crdt[d].emplace_back(u); });
  }
  return s;
}

void expect_same(const Snapshot& got, const Snapshot& want) {
  for (const auto& [kind, lines] : want.items) EXPECT_EQ(got.items.count(kind) ? got.items.at(kind) : std::vector<std::string>{}, lines) << kind;
  EXPECT_EQ(got.blobs, want.blobs);
  for (const auto& [id, addr] : got.blobs) EXPECT_EQ(id, addr) << "blob bytes do not match their address";
  EXPECT_EQ(got.crdt, want.crdt);
  EXPECT_TRUE(got == want);
}

std::string tenant_profile(const Node& node, const std::string& id) {
  auto [rc, out] = node.cli("tenant show " + id);
  EXPECT_EQ(rc, 0) << out;
  return json::parse(out.substr(out.find('{')))["profile"];
}

// Starts `cumulo tenant migrate` with stderr on a pipe, kills it with SIGKILL
// as soon as a progress line "<kind> copy N/…" with N >= `at` appears, and
// returns whether it was killed (false: it finished first).
bool kill_midway(const Node& node, const std::string& args, const std::string& kind, uint64_t at, std::string& seen) {
  int fds[2];
  if (::pipe(fds) != 0) return false;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    for (const char* v : {"DATA_DIR", "PLUGIN_DIRS", "BASE_ID_TAG", "CUMULO_CONFIG"}) ::unsetenv(v);
    std::string cfg = node.config.string();
    std::vector<std::string> parts = {"cumulo", "--config", cfg};
    std::istringstream in(args);
    for (std::string w; in >> w;) parts.push_back(w);
    std::vector<char*> argv;
    for (auto& p : parts) argv.push_back(p.data());
    argv.push_back(nullptr);
    ::execv(CUMULO_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  const std::regex line_re(": " + kind + " copy ([0-9]+)/");
  std::string buf;
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fds[0], POLLIN, 0};
    if (::poll(&pfd, 1, 1000) <= 0) continue;  // blocks until output arrives: no sleep
    char chunk[4096];
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;  // the child finished
    buf.append(chunk, static_cast<size_t>(n));
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      std::string l = buf.substr(0, nl);
      seen += l + "\n";
      std::smatch m;
      if (std::regex_search(l, m, line_re) && std::stoull(m[1]) >= at) {
        ::kill(pid, SIGKILL);
        killed = true;
        break;
      }
    }
    if (killed) break;
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

class Migrate : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    auto [rc, out] = node_.cli("tenant create bob.test");
    ASSERT_EQ(rc, 0) << out;
  }
  // Fills bob (big) and alice (small) on the embedded profile; returns their snapshots.
  std::pair<Snapshot, Snapshot> fill_both(const Sizes& bob_sizes = {}) {
    Profile e = open_profile(node_, "embedded");
    fill(e, kBob, bob_sizes, 2);
    Sizes small{20, 5, 2, 2, 10, 2, 2, false};
    fill(e, kAlice, small, 1);
    return {snapshot(e, kBob), snapshot(e, kAlice)};
  }
  Node node_;
};

TEST_F(Migrate, MovesEveryKindVerifiesAndTheServerServesTheNewProfile) {
  auto [bob, alice] = fill_both();
  ASSERT_GT(bob.size(), 600u);

  auto [rc, out] = node_.cli("tenant migrate bob.test --to big");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("now uses profile 'big'"), std::string::npos) << out;
  EXPECT_NE(out.find("meta copy"), std::string::npos) << "plain progress lines when stderr is not a terminal:\n" << out;
  EXPECT_EQ(tenant_profile(node_, "bob.test"), "big");
  EXPECT_EQ(tenant_profile(node_, "alice.test"), "embedded");
  {
    Profile big = open_profile(node_, "big"), emb = open_profile(node_, "embedded");
    expect_same(snapshot(big, kBob), bob);
    expect_same(snapshot(emb, kBob), bob);  // the source is left in place
    expect_same(snapshot(emb, kAlice), alice);
    EXPECT_EQ(snapshot(big, kAlice).size(), 0u) << "another tenant's data moved";
    // Through the regular API of the new backends.
    EXPECT_TRUE(big.auth.check_password(kBob, "bob.test password"));
    EXPECT_FALSE(big.auth.check_password(kBob, "wrong"));
    EXPECT_EQ(json::parse(big.meta.get_record(kBob, "coll1", "key-1"))["i"], 1);
    EXPECT_EQ(json::parse(big.rtdb.get(kBob, "f1~db", "items/i7"))["n"], 7);
    size_t big_blobs = 0;
    for (const auto& [id, _] : bob.blobs) big_blobs += big.blob.size(kBob, id) > (8u << 20);
    EXPECT_EQ(big_blobs, 1u);
  }

  // A restarted server serves bob from the new profile.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (const char* v : {"DATA_DIR", "PLUGIN_DIRS", "BASE_ID_TAG", "CUMULO_CONFIG", "LISTEN", "MODE"}) ::unsetenv(v);
    ::execl(CUMULO_BINARY, "cumulo", "--config", node_.config.c_str(), "serve", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // A failed assertion must not leave the server running.
  struct Reaper {
    pid_t& pid;
    ~Reaper() {
      if (pid <= 0) return;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  Req admin;
  admin.headers["Authorization"] = "Bearer mig-token";
  admin.target = "/api/_admin/tenants";
  ASSERT_TRUE(eventually([&] { return http(node_.port, admin).status == 200; }, std::chrono::seconds(90)));
  json tenants = json::parse(http(node_.port, admin).body)["data"];
  for (const auto& t : tenants) EXPECT_EQ(t["profile"], t["idTag"] == "bob.test" ? "big" : "embedded") << t;
  admin.method = "POST";
  admin.target = "/api/_admin/selftest/blob?tenant=bob.test";
  auto st = http(node_.port, admin);
  ASSERT_EQ(st.status, 200u) << st.body;
  EXPECT_EQ(json::parse(st.body)["data"]["profile"], "big");
  EXPECT_EQ(json::parse(st.body)["data"]["adapter"]["factory"], "blob-rocksdb");

  // While it runs, migrations are refused.
  auto [rc2, out2] = node_.cli("tenant migrate alice.test --to big");
  EXPECT_EQ(rc2, 1);
  EXPECT_NE(out2.find("stop the server first"), std::string::npos) << out2;
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  pid = 0;  // reaped
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(tenant_profile(node_, "alice.test"), "embedded");
}

TEST_F(Migrate, KillNineAtAnyPointThenRerunGivesAnIdenticalTenant) {
  auto [bob, alice] = fill_both();
  // Each run is killed in a later kind; every rerun resumes over what the
  // killed ones left behind. --batch 5 makes progress lines frequent.
  const std::vector<std::pair<std::string, uint64_t>> kills = {{"meta", 200}, {"rtdb", 60}, {"blob", 10}, {"crdt", 5}};
  for (const auto& [kind, at] : kills) {
    std::string seen;
    EXPECT_TRUE(kill_midway(node_, "tenant migrate bob.test --to big --batch 5", kind, at, seen)) << "not killed during " << kind << ":\n" << seen;
    EXPECT_EQ(tenant_profile(node_, "bob.test"), "embedded") << "switched before verification";
  }
  auto [rc, out] = node_.cli("tenant migrate bob.test --to big");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(tenant_profile(node_, "bob.test"), "big");
  Profile big = open_profile(node_, "big"), emb = open_profile(node_, "embedded");
  expect_same(snapshot(big, kBob), bob);  // equal maps and logs: nothing lost, nothing twice
  expect_same(snapshot(emb, kAlice), alice);
  EXPECT_EQ(snapshot(big, kAlice).size(), 0u);
}

TEST_F(Migrate, MovingBackOverAStaleCopyConverges) {
  auto [bob, alice] = fill_both(Sizes{60, 10, 3, 4, 20, 4, 3, true});
  ASSERT_EQ(node_.cli("tenant migrate bob.test --to big").first, 0);
  {
    // Bob lives on "big" now and changes; "embedded" still has the old copy.
    Profile big = open_profile(node_, "big");
    big.meta.delete_record(kBob, "coll0", "key-0");
    big.meta.put_record(kBob, "coll9", "new", R"({"fresh":true})");
    big.meta.put_setting(kBob, "s.1", R"("changed")");
    big.auth.put_secret(kBob, R"({"name":"secret.0","value":"rotated"})");
    auto first_blob = bob.blobs.begin()->first;
    big.blob.remove(kBob, first_blob);
    std::string nb = random_bytes(5000, 99);
    big.blob.write_all(kBob, cumulo::app::blob_id_for(nb), nb);
    big.rtdb.transact(kBob, "f1~db", R"([{"op":"delete","path":"items/i3"},{"op":"set","path":"items/new","value":{"x":1}}])");
    big.crdt.append(kBob, "doc-0", "one more");
    big.crdt.remove(kBob, "doc-1");
    big.crdt.append(kBob, "doc-new", "first");
    bob = snapshot(big, kBob);
  }
  auto [rc, out] = node_.cli("tenant migrate bob.test --to embedded");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(tenant_profile(node_, "bob.test"), "embedded");
  Profile emb = open_profile(node_, "embedded");
  expect_same(snapshot(emb, kBob), bob);
  expect_same(snapshot(emb, kAlice), alice);
}

TEST(MigrateRefusals, UnknownTenantOrProfileSameProfileMissingKindOrSlots) {
  Node node(json{{"mem",
                  {{"auth", {{"factory", "auth-sqlite"}, {"options", {{"path", "${DATA_DIR}/mem/auth.db"}}}}},
                   {"meta", {{"factory", "meta-sqlite"}, {"options", {{"path", "${DATA_DIR}/mem/meta.db"}}}}},
                   {"blob", {{"factory", "blob-fs"}, {"options", {{"dir", "${DATA_DIR}/mem/blob"}}}}},
                   {"rtdb", {{"factory", "hello-rtdb"}}},
                   {"crdt", {{"factory", "crdt-lmdb"}, {"options", {{"dir", "${DATA_DIR}/mem/crdt"}}}}}}},
                 {"metaonly", {{"meta", {{"factory", "meta-files"}, {"options", {{"dir", "${DATA_DIR}/mo"}}}}}}}});
  ASSERT_EQ(node.cli("tenant create bob.test").first, 0);
  {
    Profile e = open_profile(node, "embedded");
    fill(e, kBob, Sizes{5, 2, 1, 1, 2, 1, 1, false, false}, 3);
  }
  auto refused = [&](const std::string& args, const std::string& why) {
    auto [rc, out] = node.cli(args);
    EXPECT_EQ(rc, 1) << args << "\n" << out;
    EXPECT_NE(out.find(why), std::string::npos) << args << "\n" << out;
  };
  refused("tenant migrate bob.test --to nope", "unknown profile 'nope'");
  refused("tenant migrate carol.test --to big", "no tenant carol.test");
  refused("tenant migrate bob.test --to embedded", "already on profile 'embedded'");
  refused("tenant migrate bob.test --to metaonly", "profile 'metaonly' has no auth adapter");
  refused("tenant migrate bob.test --to mem", "hello-rtdb");
  refused("tenant migrate bob.test --to mem", "portable tenant dump");
  EXPECT_EQ(node.cli("tenant migrate bob.test").first, 2);  // usage
  EXPECT_EQ(tenant_profile(node, "bob.test"), "embedded");
  Profile big = open_profile(node, "big");  // nothing was written anywhere
  EXPECT_EQ(snapshot(big, kBob).size(), 0u);
}

}  // namespace
