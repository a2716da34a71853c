// Per-tenant backends for real: two tenants of one process on different
// storage profiles, served side by side, isolated from each other.
#include <gtest/gtest.h>

#include "support/fixture.hpp"
#include "support/pg_test.hpp"

using namespace cumulo::test;
using json = nlohmann::json;

TEST(Backends, TwoTenantsOnDifferentProfilesSideBySide) {
  json cfg = {{"profiles",
               {{"big",
                 {{"meta", {{"factory", "meta-files"}, {"options", {{"dir", "${DATA_DIR}/big/meta"}}}}},
                  {"blob", {{"factory", "blob-rocksdb"}, {"options", {{"dir", "${DATA_DIR}/big/blob"}}}}},
                  {"rtdb", {{"factory", "rtdb-lmdb"}, {"options", {{"dir", "${DATA_DIR}/big/rtdb"}}}}},
                  {"crdt", {{"factory", "crdt-lmdb"}, {"options", {{"dir", "${DATA_DIR}/big/crdt"}}}}}}}}},
              {"tenants", {{{"idTag", "bob.test"}, {"profile", "big"}}}}};
  TestHost host(cfg, builtin_plugins());
  for (std::string kind : {"meta", "blob", "rtdb", "crdt"}) {
    auto a = host.admin("POST", "/api/_admin/selftest/" + kind, "", "cl-o.alice.test");
    auto b = host.admin("POST", "/api/_admin/selftest/" + kind, "", "cl-o.bob.test");
    ASSERT_EQ(a.status, 200) << kind << ": " << a.body;
    ASSERT_EQ(b.status, 200) << kind << ": " << b.body;
    auto ja = json::parse(a.body)["data"], jb = json::parse(b.body)["data"];
    EXPECT_EQ(ja["profile"], "embedded");
    EXPECT_EQ(jb["profile"], "big");
  }
  EXPECT_EQ(json::parse(host.admin("POST", "/api/_admin/selftest/blob", "", "cl-o.alice.test").body)["data"]["adapter"]["factory"], "blob-fs");
  EXPECT_EQ(json::parse(host.admin("POST", "/api/_admin/selftest/blob", "", "cl-o.bob.test").body)["data"]["adapter"]["factory"], "blob-rocksdb");
  // Each profile wrote only under its own directories.
  EXPECT_TRUE(fs::exists(host.data_dir() / "blob"));
  EXPECT_TRUE(fs::exists(host.data_dir() / "big" / "blob" / "CURRENT"));  // a RocksDB database
  // /ready checks both profiles.
  auto ready = json::parse(host.get("/ready").body);
  EXPECT_TRUE(ready["data"]["ready"]) << ready.dump();
  EXPECT_EQ(ready["data"]["profiles"]["big"]["blob"]["factory"], "blob-rocksdb");
  EXPECT_EQ(ready["data"]["profiles"]["embedded"]["blob"]["factory"], "blob-fs");
}

// One process, two tenants, two SQL engines: carol on SQLite (meta-sqlite +
// auth-sqlite) with blob-fs, dave on PostgreSQL (meta-postgres +
// auth-postgres) with blob-rocksdb. Each writes and reads its own data; none
// of it is visible through the other profile's adapters.
TEST(Backends, SqliteAndPostgresTenantsSideBySide) {
  namespace pg = cumulo::test::pg;
  if (auto why = pg::skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string ci = pg::conninfo();
  const std::string meta_schema = pg::unique_schema("bmeta"), auth_schema = pg::unique_schema("bauth");
  struct Drop {
    std::string ci, a, b;
    ~Drop() {
      pg::drop_schema(ci, a);
      pg::drop_schema(ci, b);
    }
  } drop{ci, meta_schema, auth_schema};
  json cfg = {{"profiles",
               {{"lite",
                 {{"meta", {{"factory", "meta-sqlite"}, {"options", {{"path", "${DATA_DIR}/lite/meta.db"}}}}},
                  {"auth", {{"factory", "auth-sqlite"}, {"options", {{"path", "${DATA_DIR}/lite/auth.db"}, {"bcryptCost", 4}}}}},
                  {"blob", {{"factory", "blob-fs"}, {"options", {{"dir", "${DATA_DIR}/lite/blob"}}}}}}},
                {"pg",
                 {{"meta", {{"factory", "meta-postgres"}, {"options", {{"conninfo", ci}, {"schema", meta_schema}}}}},
                  {"auth", {{"factory", "auth-postgres"}, {"options", {{"conninfo", ci}, {"schema", auth_schema}, {"bcryptCost", 4}}}}},
                  {"blob", {{"factory", "blob-rocksdb"}, {"options", {{"dir", "${DATA_DIR}/pg/blob"}}}}}}}}},
              {"tenants", {{{"idTag", "carol.test"}, {"profile", "lite"}}, {{"idTag", "dave.test"}, {"profile", "pg"}}}}};
  TestHost host(cfg, builtin_plugins());
  auto& be = host.app().backends();
  const auto carol = be.tenant("carol.test"), dave = be.tenant("dave.test");
  ASSERT_TRUE(carol && dave);
  const auto lite = be.for_tenant(*carol), pgb = be.for_tenant(*dave);
  ASSERT_TRUE(lite && pgb);
  ASSERT_TRUE(lite->errors.empty()) << json(lite->errors).dump();
  ASSERT_TRUE(pgb->errors.empty()) << json(pgb->errors).dump();
  EXPECT_EQ(lite->meta.instance().factory().name, "meta-sqlite");
  EXPECT_EQ(lite->auth.instance().factory().name, "auth-sqlite");
  EXPECT_EQ(pgb->meta.instance().factory().name, "meta-postgres");
  EXPECT_EQ(pgb->auth.instance().factory().name, "auth-postgres");

  const std::string bytes_c = "carol's bytes", bytes_d = "dave's bytes";
  const std::string blob_c = "b1~carol-blob", blob_d = "b1~dave-blob";
  struct Side {
    const cumulo::app::TenantInfo& t;
    const cumulo::app::Binding& b;
    const std::string& blob;
    const std::string& bytes;
  };
  const Side sides[] = {{*carol, *lite, blob_c, bytes_c}, {*dave, *pgb, blob_d, bytes_d}};
  for (const auto& s : sides) {
    s.b.meta.put_setting(s.t.ref(), "who", json(s.t.id_tag).dump());
    s.b.meta.put_record(s.t.ref(), "notes", "n1", json{{"by", s.t.id_tag}}.dump());
    s.b.auth.set_password(s.t.ref(), "pw-" + s.t.id_tag);
    s.b.blob.write_all(s.t.ref(), s.blob, s.bytes);
  }
  for (const auto& s : sides) {
    EXPECT_EQ(json::parse(s.b.meta.get_setting(s.t.ref(), "who")), s.t.id_tag);
    EXPECT_EQ(json::parse(s.b.meta.get_record(s.t.ref(), "notes", "n1"))["by"], s.t.id_tag);
    EXPECT_TRUE(s.b.auth.check_password(s.t.ref(), "pw-" + s.t.id_tag));
    EXPECT_EQ(s.b.blob.read_all(s.t.ref(), s.blob), s.bytes);
  }
  // Neither profile's adapters know the other tenant's data.
  auto not_found = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const cumulo::plugins::PluginError& e) {
      return e.code() == CM_NOT_FOUND;
    }
    return false;
  };
  for (const auto& [mine, other] : {std::pair{&sides[0], &sides[1]}, std::pair{&sides[1], &sides[0]}}) {
    const auto& b = other->b;
    const auto tn = mine->t.ref();
    EXPECT_TRUE(not_found([&] { b.meta.get_setting(tn, "who"); })) << mine->t.id_tag << " seen by " << b.profile;
    EXPECT_TRUE(not_found([&] { b.meta.get_record(tn, "notes", "n1"); })) << b.profile;
    EXPECT_FALSE(b.auth.check_password(tn, "pw-" + mine->t.id_tag)) << b.profile;
    EXPECT_TRUE(not_found([&] { b.blob.size(tn, mine->blob); })) << b.profile;
  }
  // The rows are where the profiles say: dave's in PostgreSQL, carol's in SQLite.
  EXPECT_EQ(pg::query(ci, "SELECT value FROM \"" + meta_schema + "\".settings WHERE key = 'who'"), "\"dave.test\"");
  EXPECT_EQ(pg::query(ci, "SELECT count(*) FROM \"" + auth_schema + "\".passwords"), "1");
  EXPECT_TRUE(fs::exists(host.data_dir() / "lite" / "meta.db"));
  EXPECT_TRUE(fs::exists(host.data_dir() / "pg" / "blob" / "CURRENT"));
  // Served side by side: the selftest answers from each tenant's profile.
  for (std::string kind : {"meta", "auth", "blob"})
    for (const auto& [host_name, profile] : {std::pair{"cl-o.carol.test", "lite"}, std::pair{"cl-o.dave.test", "pg"}}) {
      auto r = host.admin("POST", "/api/_admin/selftest/" + kind, "", host_name);
      ASSERT_EQ(r.status, 200) << kind << " " << host_name << ": " << r.body;
      EXPECT_EQ(json::parse(r.body)["data"]["profile"], profile);
    }
  auto ready = json::parse(host.get("/ready").body);
  EXPECT_TRUE(ready["data"]["ready"]) << ready.dump();
  EXPECT_EQ(ready["data"]["profiles"]["pg"]["meta"]["factory"], "meta-postgres");
  EXPECT_EQ(ready["data"]["profiles"]["lite"]["meta"]["factory"], "meta-sqlite");
}
