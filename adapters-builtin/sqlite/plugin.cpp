// The sqlite plugin: one library, two factories (meta-sqlite, auth-sqlite).
#include <cumulo/sdk.hpp>

#include "auth_sqlite.hpp"
#include "meta_sqlite.hpp"

CUMULO_PLUGIN("sqlite", "0.1.0", "Meta and auth adapters on SQLite", CM_KIND_META | CM_KIND_AUTH) {
  reg.add<cumulo::sqlite::MetaSqlite>(
      "meta-sqlite", R"({"type":"object","required":["path"],"properties":{"path":{"type":"string"},"busyTimeoutMs":{"type":"integer"},"readers":{"type":"integer"}}})");
  reg.add<cumulo::sqlite::AuthSqlite>(
      "auth-sqlite",
      R"({"type":"object","required":["path"],"properties":{"path":{"type":"string"},"busyTimeoutMs":{"type":"integer"},"readers":{"type":"integer"},"bcryptCost":{"type":"integer"}}})");
}
