// Per-tenant backends for real: two tenants of one process on different
// storage profiles, served side by side, isolated from each other.
#include <gtest/gtest.h>

#include "support/fixture.hpp"

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
