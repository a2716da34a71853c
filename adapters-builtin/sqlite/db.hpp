// A small RAII layer over the sqlite3 C API, private to the sqlite plugin:
//   Connection  one sqlite3* plus its cache of prepared statements
//   Stmt        a prepared statement borrowed from the cache (reset on scope exit)
//   Database    one writer connection behind a mutex + a pool of read-only
//               connections, migrations applied at open
// Errors become cumulo::sdk::Error with a status derived from the SQLite code
// (constraint → CM_CONFLICT, busy → CM_UNAVAILABLE, I/O → CM_IO, …).
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace cumulo::sqlite {

/// Throws sdk::Error for a failed sqlite call on `db` (may be null).
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view what);

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* st, bool owned) : db_(db), st_(st), owned_(owned) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_), owned_(o.owned_) { o.st_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  // Parameters are 1-based, as in sqlite3_bind_*.
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, std::string_view v);  // TEXT, copied by SQLite (SQLITE_TRANSIENT)
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind_null(int i);
  Stmt& bind(int i, std::nullopt_t) { return bind_null(i); }

  /// True while a row is available; false when done. Throws on error.
  bool step();
  /// Runs to completion (for writes); returns sqlite3_changes.
  int run();

  bool is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  int type(int col) const { return sqlite3_column_type(st_, col); }
  int64_t i64(int col) const { return sqlite3_column_int64(st_, col); }
  double f64(int col) const { return sqlite3_column_double(st_, col); }
  /// Valid until the next step/reset.
  std::string_view text(int col) const {
    const unsigned char* p = sqlite3_column_text(st_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(st_, col))) : std::string_view();
  }
  std::string str(int col) const { return std::string(text(col)); }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_;
  bool owned_;  // not from the cache: finalized on scope exit
};

class Connection {
 public:
  Connection(const std::string& path, bool read_only, int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// A cached prepared statement for `sql` (prepared once per connection).
  Stmt prepare(const std::string& sql);
  /// Runs one or more statements without results (DDL, PRAGMA, BEGIN…).
  void exec(const char* sql);
  sqlite3* raw() const { return db_; }
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_ = nullptr;
  // Dynamic SQL (list filters) could grow the cache without bound: past this
  // many entries new statements are prepared for one use only.
  static constexpr size_t kMaxCached = 256;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

/// BEGIN IMMEDIATE on construction; ROLLBACK unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Connection& c, bool immediate = true);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& c_;
  bool done_ = false;
};

struct Migration {
  int version;
  const char* sql;
};

struct DbOptions {
  std::string path;
  int busy_timeout_ms = 5000;
  int readers = 4;
};

class Database {
 public:
  /// Opens (creating) the file, sets WAL/synchronous/foreign keys and applies
  /// every migration above the recorded schema_version in one transaction.
  Database(const DbOptions& opts, const std::vector<Migration>& migrations);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Runs f(Connection&) on the writer inside BEGIN IMMEDIATE … COMMIT and
  /// returns once that commit is done. Concurrent writes are group-committed
  /// (as LevelDB batches writers): the first waiting thread runs every queued
  /// f in one transaction, each inside its own SAVEPOINT, so a throwing f
  /// rolls back only its own changes and rethrows in its own thread, while
  /// the WAL append and the commit are paid once per batch.
  template <class F>
  auto write(F&& f) {
    using R = decltype(f(*writer_));
    if constexpr (std::is_void_v<R>) {
      run_write([&](Connection& c) { f(c); });
    } else {
      std::optional<R> r;
      run_write([&](Connection& c) { r.emplace(f(c)); });
      return std::move(*r);
    }
  }

  /// Runs f(Connection&) on a pooled read-only connection (no transaction:
  /// wrap in Transaction(c, false) when several statements must agree).
  template <class F>
  auto read(F&& f) {
    Lease l(*this);
    return f(*l.conn);
  }

  /// Writes queued or running now (the running batch included).
  size_t pending_writes() {
    std::lock_guard lk(queue_mu_);
    return queue_.size();
  }

  /// Schema versions recorded in schema_version, ascending.
  std::vector<int> applied_versions();

 private:
  struct Lease {
    explicit Lease(Database& d);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Database& db;
    Connection* conn;
  };

  // One queued write; lives on its caller's stack until `done`.
  struct Writer {
    explicit Writer(const std::function<void(Connection&)>& b) : body(b) {}
    const std::function<void(Connection&)>& body;
    std::exception_ptr error;
    bool done = false;
    std::condition_variable cv;
  };
  // Larger batches would hold the write lock longer for little gain.
  static constexpr size_t kMaxBatch = 64;
  void run_write(const std::function<void(Connection&)>& body);
  /// Runs batch (front = the calling leader) on the writer; sets each
  /// Writer::error, never throws. Returns how many it took off the front:
  /// all, unless SQLite dropped the transaction under it, in which case the
  /// ones not yet run stay queued for the next leader.
  size_t commit_group(const std::vector<Writer*>& batch);

  std::unique_ptr<Connection> writer_;
  std::mutex queue_mu_;
  std::deque<Writer*> queue_;  // front = the leader running a batch
  std::vector<std::unique_ptr<Connection>> readers_;
  std::vector<Connection*> free_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
};

}  // namespace cumulo::sqlite
