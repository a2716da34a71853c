// A small RAII layer over libpq, private to the postgres plugin:
//   Args    parameters (sql-common's Binds), sent in text format
//   Result  one PGresult; Row is one of its rows, read like a statement
//   Conn    one PGconn plus its server-side prepared statements (PQprepare
//           once per connection, cached by SQL text under names s1, s2, …)
//   Pool    a bounded pool of connections: callers wait for a free one (up
//           to acquireTimeoutMs), broken ones are dropped and replaced
// SQL is written with "?" placeholders (as for SQLite, so filter builders
// are shared); Conn numbers them $1, $2, … when it prepares.
// Errors become cumulo::sdk::Error with a status derived from the SQLSTATE
// (unique violation → CM_CONFLICT, connection loss → CM_UNAVAILABLE, …).
#pragma once

#include <libpq-fe.h>
#include <cumulo/sdk.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "sql-common/options.hpp"
#include "sql-common/statement.hpp"

namespace cumulo::pg {

/// Statement parameters (1-based like the placeholders, NULL included):
/// sql-common's, so bind_record() and the dump fill them directly. They
/// travel to the server in text format.
using Args = sqlc::Binds;

/// Args from values in placeholder order: args(tn, key, …).
template <class... T>
Args args(const T&... v) {
  return sqlc::binds(v...);
}

class Result {
 public:
  explicit Result(PGresult* r = nullptr) : r_(r) {}
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result();

  /// The command or query succeeded.
  bool ok() const;
  const PGresult* raw() const { return r_; }
  int rows() const { return r_ ? PQntuples(r_) : 0; }
  /// Rows a command changed (UPDATE/DELETE/INSERT).
  int64_t affected() const;
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view text(int row, int col) const { return {PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col))}; }
  int64_t i64(int row, int col) const;

 private:
  PGresult* r_;
};

/// One row of a Result with the accessors sql-common's templates use.
class Row {
 public:
  Row(const Result& r, int i) : r_(&r), i_(i) {}
  bool is_null(int c) const { return r_->is_null(i_, c); }
  std::string_view text(int c) const { return r_->text(i_, c); }
  std::string str(int c) const { return std::string(text(c)); }
  int64_t i64(int c) const { return r_->i64(i_, c); }
  bool boolean(int c) const { return text(c) == "t"; }

 private:
  const Result* r_;
  int i_;
};

struct ConnOptions {
  std::string conninfo;
  std::string schema;            // every connection's search_path
  int statement_timeout_ms = 0;  // 0 = the server's default
};

class Conn {
 public:
  explicit Conn(const ConnOptions& o);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  /// Runs `sql` as this connection's prepared statement for that text
  /// (prepared on first use). Throws sdk::Error on failure.
  Result exec(const std::string& sql, const Args& args = {});
  /// Runs a parameterless command (BEGIN, DDL, several statements).
  void exec_simple(const char* sql);
  /// False once the connection is lost or left inside a transaction.
  bool usable() const;
  /// True once the connection to the server is gone.
  bool lost() const { return PQstatus(c_) != CONNECTION_OK; }
  /// For an idle pooled connection: reads what the server sent meanwhile,
  /// which reveals a connection the server closed (restart, idle kill).
  bool still_alive();
  /// ROLLBACK, ignoring errors (the transaction may already be gone).
  void rollback_quietly();

 private:
  [[noreturn]] void fail(const PGresult* r, std::string_view what);
  PGconn* c_ = nullptr;
  // Dynamic filter SQL could grow this without bound: past this many entries
  // new texts run unnamed (prepared for one use).
  static constexpr size_t kMaxPrepared = 256;
  std::unordered_map<std::string, std::string> prepared_;  // sql → statement name
};

struct PoolOptions {
  ConnOptions conn;
  int size = 8;
  int acquire_timeout_ms = 10000;
};

class Pool {
 public:
  explicit Pool(PoolOptions o);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Runs f(Conn&) on a pooled connection (each statement autocommits).
  template <class F>
  auto with(F&& f) {
    Lease l(*this);
    return f(*l.conn);
  }

  /// Runs f(Conn&) inside `begin` … COMMIT; any exception rolls back.
  template <class F>
  auto tx(F&& f, const char* begin = "BEGIN") {
    return with([&](Conn& c) {
      c.exec_simple(begin);
      try {
        if constexpr (std::is_void_v<decltype(f(c))>) {
          f(c);
          c.exec_simple("COMMIT");
        } else {
          auto r = f(c);
          c.exec_simple("COMMIT");
          return r;
        }
      } catch (...) {
        c.rollback_quietly();
        throw;
      }
    });
  }

  /// The tenant dump's two ways in: export sees one snapshot (REPEATABLE
  /// READ, read-only), import is one transaction.
  void snapshot(const std::function<void(sqlc::SqlTx&)>& f);
  void transaction(const std::function<void(sqlc::SqlTx&)>& f);

  /// Connections open now (idle + leased), for tests and health.
  int open_count();

 private:
  struct Lease {
    explicit Lease(Pool& p);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Pool& pool;
    std::unique_ptr<Conn> conn;
  };
  std::unique_ptr<Conn> acquire();
  void release(std::unique_ptr<Conn> c);

  PoolOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;  // idle + leased + being connected
};

/// sql-common's dump statements on one connection (inside its transaction).
class PgTx final : public sqlc::SqlTx {
 public:
  explicit PgTx(Conn& c) : c_(c) {}
  void query(const std::string& sql, const sqlc::Binds& b, const std::function<void(const sqlc::RowView&)>& row) override;
  int64_t run(const std::string& sql, const sqlc::Binds& b) override;
  const sqlc::Dialect& dialect() const override { return sqlc::kPostgresDialect; }

 private:
  Conn& c_;
};

struct Migration {
  int version;
  const char* sql;
};

/// Creates the schema if needed and applies every migration above the one
/// recorded in `<component>_schema_version`, all in one transaction holding
/// a transaction-scoped advisory lock on the schema, so hosts starting
/// together apply each version once. A schema newer than `migrations` is
/// refused (CM_INVALID). Tables the migrations create are marked as the
/// component's (COMMENT 'cumulo:<component>'), so meta and auth may share a
/// schema and still tell their tables apart.
void migrate(Conn& c, const std::string& schema, const std::string& component, const std::vector<Migration>& migrations);

/// The component's tables (as marked by migrate) that have `column`.
std::vector<std::string> owned_tables(Conn& c, const std::string& schema, const std::string& component, const std::string& column);

/// Whether `s` is usable as a schema name: [a-z_][a-z0-9_]{0,62}.
bool valid_schema_name(const std::string& s);

/// Reads the options both factories take: "conninfo", "schema" (default
/// `default_schema`), "poolSize", "acquireTimeoutMs", "statementTimeoutMs".
PoolOptions pool_options(sqlc::OptionReader& r, const char* default_schema);

}  // namespace cumulo::pg
