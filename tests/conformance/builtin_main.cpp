// In-tree conformance run: every built-in adapter and the in-memory sample
// doubles, from this build tree.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "conformance.hpp"
#include "support/pg_test.hpp"

using cumulo::conformance::registry;

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const std::string b = CUMULO_BUILD_DIR;
  // {plugin, factory, kind, options, label}
  registry() = {
      {b + "/plugins/meta-files.so", "meta-files", CM_KIND_META, R"({"dir":"${DIR}"})", "meta_files"},
      {b + "/samples-plugins/hello-meta.so", "hello-meta", CM_KIND_META, "{}", "hello_meta"},
      {b + "/samples-plugins/hello-blob.so", "hello-blob", CM_KIND_BLOB, "{}", "hello_blob"},
      {b + "/samples-plugins/hello-auth.so", "hello-auth", CM_KIND_AUTH, "{}", "hello_auth"},
      {b + "/samples-plugins/hello-crdt.so", "hello-crdt", CM_KIND_CRDT, "{}", "hello_crdt"},
      {b + "/samples-plugins/hello-rtdb.so", "hello-rtdb", CM_KIND_RTDB, "{}", "hello_rtdb"},
      {b + "/plugins/blob-fs.so", "blob-fs", CM_KIND_BLOB, R"({"dir":"${DIR}"})", "blob_fs"},
      {b + "/plugins/crdt-lmdb.so", "crdt-lmdb", CM_KIND_CRDT, R"({"dir":"${DIR}","mapSize":268435456})", "crdt_lmdb"},
      {b + "/plugins/rtdb-lmdb.so", "rtdb-lmdb", CM_KIND_RTDB, R"({"dir":"${DIR}","mapSize":268435456,"indexes":{"items":["n","i","name","mixed","opt","nested.x"],"c":["t"],"s":["owner","v"],"pair":["v"]}})", "rtdb_lmdb_indexed"},
      {b + "/plugins/rtdb-lmdb.so", "rtdb-lmdb", CM_KIND_RTDB, R"({"dir":"${DIR}","mapSize":268435456})", "rtdb_lmdb_scan"},
      {b + "/plugins/blob-rocksdb.so", "blob-rocksdb", CM_KIND_BLOB, R"({"dir":"${DIR}"})", "blob_rocksdb"},
      {b + "/plugins/sqlite.so", "meta-sqlite", CM_KIND_META, R"({"path":"${DIR}/meta.db"})", "meta_sqlite"},
      {b + "/plugins/sqlite.so", "auth-sqlite", CM_KIND_AUTH, R"({"path":"${DIR}/auth.db","bcryptCost":4})", "auth_sqlite"},
      // BUILTIN-ADAPTERS (more entries are added as adapters land)
  };
  // PostgreSQL: a schema per test location (${ID}), dropped after the test;
  // skipped, saying so, when CUMULO_TEST_PG names no server.
  const std::string pg = nlohmann::json(cumulo::test::pg::conninfo()).dump();
  auto drop = [](const std::string& options) { cumulo::test::pg::drop_schema(cumulo::test::pg::conninfo(), nlohmann::json::parse(options)["schema"]); };
  registry().push_back({b + "/plugins/postgres.so", "meta-postgres", CM_KIND_META, R"({"conninfo":)" + pg + R"(,"schema":"${ID}","poolSize":4})",
                        "meta_postgres", cumulo::test::pg::skip_reason(), drop});
  registry().push_back({b + "/plugins/postgres.so", "auth-postgres", CM_KIND_AUTH, R"({"conninfo":)" + pg + R"(,"schema":"${ID}","poolSize":4,"bcryptCost":4})",
                        "auth_postgres", cumulo::test::pg::skip_reason(), drop});
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
