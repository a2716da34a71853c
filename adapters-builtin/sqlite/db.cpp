#include "db.hpp"

#include "wal_vfs.hpp"

#include <cumulo/sdk.hpp>

#include <algorithm>
#include <filesystem>

namespace cumulo::sqlite {

using sdk::Error;

void throw_sqlite(sqlite3* db, int rc, std::string_view what) {
  cm_status code = CM_INTERNAL;
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: code = (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) ? CM_CONFLICT : CM_INVALID; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = CM_UNAVAILABLE; break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY: code = CM_IO; break;
    case SQLITE_TOOBIG: code = CM_TOO_LARGE; break;
    default: break;
  }
  std::string msg = "sqlite: " + std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  throw Error(code, msg);
}

// ---- Stmt -----------------------------------------------------------------------

Stmt::~Stmt() {
  if (!st_) return;
  if (owned_) {
    sqlite3_finalize(st_);
  } else {
    // Back to the cache, ready for the next use and holding no read lock.
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
}

Stmt& Stmt::bind(int i, int64_t v) {
  if (int rc = sqlite3_bind_int64(st_, i, v); rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  if (int rc = sqlite3_bind_text64(st_, i, v.data() ? v.data() : "", v.size(), SQLITE_TRANSIENT, SQLITE_UTF8); rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  if (int rc = sqlite3_bind_double(st_, i, v); rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  if (int rc = sqlite3_bind_null(st_, i); rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_sqlite(db_, sqlite3_extended_errcode(db_), sqlite3_sql(st_));
}

int Stmt::run() {
  while (step()) {
  }
  return sqlite3_changes(db_);
}

// ---- Connection -----------------------------------------------------------------

Connection::Connection(const std::string& path, bool read_only, int busy_timeout_ms) {
  // NOMUTEX: a connection is only ever used by the one thread holding it
  // (writer mutex or pool lease), so SQLite's own mutexes are pure cost.
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
  // The shim writes each commit's WAL frames in one call (wal_vfs.hpp).
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, coalescing_vfs());
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(CM_IO, "sqlite: cannot open " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  exec("PRAGMA foreign_keys=ON");
}

Connection::~Connection() {
  for (auto& [sql, st] : cache_) sqlite3_finalize(st);
  sqlite3_close(db_);
}

Stmt Connection::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !sqlite3_stmt_busy(it->second)) return Stmt(db_, it->second, false);
  // Not cached, or the cached one is mid-iteration further up the stack
  // (nested use of the same SQL): a one-shot statement then.
  sqlite3_stmt* st = nullptr;
  bool keep = it == cache_.end() && cache_.size() < kMaxCached;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1), keep ? SQLITE_PREPARE_PERSISTENT : 0, &st, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "prepare " + sql);
  if (keep) cache_.emplace(sql, st);
  return Stmt(db_, st, !keep);
}

void Connection::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = std::string("sqlite: ") + sql + ": " + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    rc = sqlite3_extended_errcode(db_);
    cm_status code = (rc & 0xff) == SQLITE_BUSY ? CM_UNAVAILABLE : (rc & 0xff) == SQLITE_IOERR ? CM_IO : CM_INTERNAL;
    throw Error(code, msg);
  }
}

// ---- Transaction ----------------------------------------------------------------

Transaction::Transaction(Connection& c, bool immediate) : c_(c) {
  // IMMEDIATE takes the write lock up front, so a write transaction never has
  // to upgrade a read lock later (the upgrade is what returns SQLITE_BUSY
  // without waiting for busy_timeout).
  c_.prepare(immediate ? "BEGIN IMMEDIATE" : "BEGIN").run();
}

Transaction::~Transaction() {
  if (done_) return;
  try {
    c_.prepare("ROLLBACK").run();
  } catch (...) {  // the transaction may already be gone (e.g. after SQLITE_FULL)
  }
}

void Transaction::commit() {
  c_.prepare("COMMIT").run();
  done_ = true;
}

// ---- Database -------------------------------------------------------------------

Database::Database(const DbOptions& opts, const std::vector<Migration>& migrations) {
  std::filesystem::path p(opts.path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) throw Error(CM_IO, "sqlite: cannot create directory " + p.parent_path().string() + ": " + ec.message());
  }
  writer_ = std::make_unique<Connection>(opts.path, false, opts.busy_timeout_ms);
  // WAL: readers never block the writer nor the writer the readers.
  // synchronous=NORMAL: a commit survives a process crash (kill -9); only an
  // OS crash or power loss can lose the last transactions, never corrupt.
  writer_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  {
    Transaction tx(*writer_);
    writer_->exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    int64_t current = 0;
    {
      auto st = writer_->prepare("SELECT coalesce(max(version), 0) FROM schema_version");
      if (st.step()) current = st.i64(0);
    }
    int newest = migrations.empty() ? 0 : migrations.back().version;
    if (current > newest)
      throw Error(CM_INVALID, "sqlite: " + opts.path + " has schema version " + std::to_string(current) + ", newer than this plugin's " + std::to_string(newest));
    for (const auto& m : migrations) {
      if (m.version <= current) continue;
      writer_->exec(m.sql);
      writer_->prepare("INSERT INTO schema_version(version, applied_at) VALUES(?, unixepoch())").bind(1, int64_t{m.version}).run();
    }
    tx.commit();
  }
  for (int i = 0; i < opts.readers; ++i) {
    readers_.push_back(std::make_unique<Connection>(opts.path, true, opts.busy_timeout_ms));
    free_.push_back(readers_.back().get());
  }
}

Database::~Database() {
  readers_.clear();
  // Fold the WAL back into the main file so a closed DB is one file.
  try {
    writer_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (...) {
  }
}

void Database::run_write(const std::function<void(Connection&)>& body) {
  Writer w(body);
  std::unique_lock lk(queue_mu_);
  queue_.push_back(&w);
  w.cv.wait(lk, [&] { return w.done || queue_.front() == &w; });
  if (!w.done) {
    // Leader: take everything queued behind it (up to kMaxBatch). Only the
    // leader pops, so the batch is exactly the queue's front on return.
    std::vector<Writer*> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(std::min(queue_.size(), kMaxBatch)));
    lk.unlock();
    const size_t taken = commit_group(batch);
    lk.lock();
    for (size_t i = 0; i < taken; ++i) {
      Writer* x = queue_.front();
      queue_.pop_front();
      x->done = true;
      if (x != &w) x->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();  // the next leader
  }
  lk.unlock();
  if (w.error) std::rethrow_exception(w.error);
}

size_t Database::commit_group(const std::vector<Writer*>& batch) {
  Connection& c = *writer_;
  if (batch.size() == 1) {  // the uncontended case: no savepoint needed
    try {
      Transaction tx(c);
      batch[0]->body(c);
      tx.commit();
    } catch (...) {
      batch[0]->error = std::current_exception();
    }
    return 1;
  }
  size_t ran = 0;
  try {
    Transaction tx(c);
    for (; ran < batch.size(); ++ran) {
      Writer* x = batch[ran];
      c.prepare("SAVEPOINT cm_write").run();
      try {
        x->body(c);
        c.prepare("RELEASE cm_write").run();
      } catch (...) {
        x->error = std::current_exception();
        if (sqlite3_get_autocommit(c.raw())) {
          // SQLite rolled the whole transaction back (I/O error, disk full,
          // …): the earlier writes of this batch are gone with it.
          auto lost = std::make_exception_ptr(Error(CM_UNAVAILABLE, "sqlite: the write was rolled back by a failure of another write in its batch"));
          for (size_t i = 0; i < ran; ++i) batch[i]->error = lost;
          return ran + 1;
        }
        c.prepare("ROLLBACK TO cm_write").run();
        c.prepare("RELEASE cm_write").run();
      }
    }
    tx.commit();
  } catch (...) {  // BEGIN, a savepoint statement or COMMIT failed: nothing was written
    auto e = std::current_exception();
    for (size_t i = 0; i < batch.size(); ++i)
      if (i >= ran || !batch[i]->error) batch[i]->error = e;
  }
  return batch.size();
}

std::vector<int> Database::applied_versions() {
  return read([](Connection& c) {
    std::vector<int> v;
    auto st = c.prepare("SELECT version FROM schema_version ORDER BY version");
    while (st.step()) v.push_back(static_cast<int>(st.i64(0)));
    return v;
  });
}

Database::Lease::Lease(Database& d) : db(d) {
  std::unique_lock lk(d.pool_mu_);
  d.pool_cv_.wait(lk, [&] { return !d.free_.empty(); });
  conn = d.free_.back();
  d.free_.pop_back();
}

Database::Lease::~Lease() {
  {
    std::lock_guard lk(db.pool_mu_);
    db.free_.push_back(conn);
  }
  db.pool_cv_.notify_one();
}

}  // namespace cumulo::sqlite
