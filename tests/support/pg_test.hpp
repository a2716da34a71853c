// PostgreSQL for tests: the server named by CUMULO_TEST_PG (a libpq
// conninfo; start one with scripts/pg-test-server.sh), or a clear reason why
// the PostgreSQL tests are skipped. Each test works in a schema of its own
// and drops it at the end, so tests share one server without colliding.
#pragma once

#include <string>

namespace cumulo::test::pg {

/// The conninfo from CUMULO_TEST_PG; "" when unset (or built without libpq).
std::string conninfo();
/// Why PostgreSQL tests are skipped ("" when they run).
std::string skip_reason();
/// A fresh schema name, unique per process and call ("cumulo_<what>_<pid>_<n>").
std::string unique_schema(const std::string& what);
/// Runs `sql` on a new connection to `conninfo`; throws std::runtime_error.
void exec(const std::string& conninfo, const std::string& sql);
/// The first column of the first row of `sql` ("" for no row).
std::string query(const std::string& conninfo, const std::string& sql);
/// DROP SCHEMA … CASCADE, ignoring errors (cleanup).
void drop_schema(const std::string& conninfo, const std::string& schema);

/// One connection kept open across statements (e.g. a transaction holding a
/// lock while the test does something else).
class Session {
 public:
  explicit Session(const std::string& conninfo);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  /// Runs `sql`; the first column of the first row ("" for none).
  std::string query(const std::string& sql);

 private:
  void* conn_;
};

}  // namespace cumulo::test::pg
