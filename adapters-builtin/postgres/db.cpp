#include "db.hpp"

#include <poll.h>

#include <charconv>
#include <set>

namespace cumulo::pg {
namespace {

using sdk::Error;

// SQLSTATE → status. Anything not listed is our bug (CM_INTERNAL).
cm_status status_of(std::string_view state, bool lost) {
  if (lost || state.size() != 5) return CM_UNAVAILABLE;  // no answer from a server
  std::string_view cls = state.substr(0, 2);
  if (state == "23505") return CM_CONFLICT;           // unique_violation
  if (cls == "23" || cls == "22") return CM_INVALID;  // other constraints, bad data (e.g. NUL, encoding)
  if (state == "53100" || cls == "58") return CM_IO;  // disk full, system I/O
  if (cls == "54") return CM_TOO_LARGE;               // program limit exceeded
  if (cls == "08" || cls == "40" || cls == "53" || cls == "57" || state == "55P03")
    return CM_UNAVAILABLE;  // connection, serialization/deadlock, resources, shutdown/timeout, lock
  return CM_INTERNAL;
}

// libpq's messages end in "\n" and may span lines: one line for ours.
std::string one_line(const char* s) {
  std::string m;
  for (const char* p = s ? s : ""; *p; ++p) {
    bool space = *p == '\n' || *p == '\t' || *p == ' ';
    if (!space)
      m += *p;
    else if (!m.empty() && m.back() != ' ')
      m += ' ';
  }
  while (!m.empty() && m.back() == ' ') m.pop_back();
  return m;
}

// "?" placeholders → "$1", "$2", … outside quotes and comments.
std::string numbered(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char ch = sql[i];
    if (quote) {
      if (ch == quote) quote = 0;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
    } else if (ch == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size();
      out.append(sql.substr(i, end - i));
      i = end - 1;
      continue;
    } else if (ch == '?') {
      out += '$' + std::to_string(++n);
      continue;
    }
    out += ch;
  }
  return out;
}

bool ok_status(const PGresult* r) {
  auto s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

}  // namespace

// ---- Args / Result --------------------------------------------------------------

Result& Result::operator=(Result&& o) noexcept {
  if (this != &o) {
    PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

Result::~Result() { PQclear(r_); }

bool Result::ok() const { return r_ && ok_status(r_); }

int64_t Result::affected() const {
  std::string_view t = r_ ? PQcmdTuples(r_) : "";
  int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

int64_t Result::i64(int row, int col) const {
  std::string_view t = text(row, col);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size())
    throw Error(CM_INTERNAL, "postgres: column " + std::to_string(col) + " is not an integer: " + std::string(t));
  return v;
}

// ---- Conn -----------------------------------------------------------------------

Conn::Conn(const ConnOptions& o) {
  // Defaults before the connection string, so the string can override them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* vals[] = {"10", "cumulo", o.conninfo.c_str(), nullptr};
  c_ = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (!c_ || PQstatus(c_) != CONNECTION_OK) {
    std::string msg = c_ ? one_line(PQerrorMessage(c_)) : "out of memory";
    PQfinish(c_);
    c_ = nullptr;
    throw Error(CM_UNAVAILABLE, "postgres: cannot connect: " + msg);
  }
  // NOTICEs ("schema … already exists, skipping") would go to stderr.
  PQsetNoticeProcessor(
      c_, [](void*, const char*) {}, nullptr);
  try {
    std::string setup = "SET search_path TO \"" + o.schema + "\"";  // the name is validated: [a-z0-9_]
    if (o.statement_timeout_ms > 0) setup += "; SET statement_timeout = " + std::to_string(o.statement_timeout_ms);
    exec_simple(setup.c_str());
  } catch (...) {
    PQfinish(c_);
    throw;
  }
}

Conn::~Conn() { PQfinish(c_); }

void Conn::fail(const PGresult* r, std::string_view what) {
  auto field = [&](int f) -> std::string {
    const char* v = r ? PQresultErrorField(r, f) : nullptr;
    return v ? v : "";
  };
  const std::string state = field(PG_DIAG_SQLSTATE), detail = field(PG_DIAG_MESSAGE_DETAIL);
  std::string msg = field(PG_DIAG_MESSAGE_PRIMARY);
  if (msg.empty()) msg = one_line(PQerrorMessage(c_));  // no answer from the server
  if (!detail.empty()) msg += " (" + detail + ")";
  // The server's words first: the message is truncated at the ABI boundary.
  std::string stmt(what.substr(0, 160));
  if (what.size() > stmt.size()) stmt += "...";  // ASCII: the message may be cut at any byte
  throw Error(status_of(state, lost()), "postgres: " + msg + " [in " + stmt + "]");
}

Result Conn::exec(const std::string& sql, const Args& args) {
  // Text format: integers as decimal, NULL as a null pointer.
  std::vector<std::string> ints;
  ints.reserve(args.values().size());
  std::vector<const char*> vals;
  vals.reserve(args.values().size());
  for (const auto& v : args.values()) {
    if (auto* n = std::get_if<int64_t>(&v)) {
      vals.push_back(ints.emplace_back(std::to_string(*n)).c_str());
    } else if (auto* s = std::get_if<std::string>(&v)) {
      // Text parameters end at NUL, which PostgreSQL text cannot hold anyway.
      if (s->find('\0') != std::string::npos) throw Error(CM_INVALID, "postgres: text values cannot contain NUL bytes");
      vals.push_back(s->c_str());
    } else {
      vals.push_back(nullptr);
    }
  }
  const int n = static_cast<int>(vals.size());
  auto it = prepared_.find(sql);
  if (it == prepared_.end() && prepared_.size() < kMaxPrepared) {
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    Result p(PQprepare(c_, name.c_str(), numbered(sql).c_str(), 0, nullptr));
    if (!p.ok()) fail(p.raw(), sql);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  Result r(it != prepared_.end() ? PQexecPrepared(c_, it->second.c_str(), n, vals.data(), nullptr, nullptr, 0)
                                 : PQexecParams(c_, numbered(sql).c_str(), n, nullptr, vals.data(), nullptr, nullptr, 0));
  if (!r.ok()) fail(r.raw(), sql);
  return r;
}

void Conn::exec_simple(const char* sql) {
  Result r(PQexec(c_, sql));
  if (!r.ok()) fail(r.raw(), sql);
}

bool Conn::usable() const { return PQstatus(c_) == CONNECTION_OK && PQtransactionStatus(c_) == PQTRANS_IDLE; }

bool Conn::still_alive() {
  if (PQstatus(c_) != CONNECTION_OK) return false;
  // Nothing is expected on an idle connection: readable means the server
  // sent a notice (e.g. "terminating connection") or closed it. Reading
  // turns a closed one into CONNECTION_BAD. Bounded: a notice alone ends it.
  for (int i = 0; i < 4; ++i) {
    pollfd p{PQsocket(c_), POLLIN, 0};
    if (poll(&p, 1, 0) != 1) break;
    if (PQconsumeInput(c_) == 0) return false;
    PQisBusy(c_);  // parses what arrived
    if (PQstatus(c_) != CONNECTION_OK) return false;
  }
  return true;
}

void Conn::rollback_quietly() {
  if (PQstatus(c_) != CONNECTION_OK || PQtransactionStatus(c_) == PQTRANS_IDLE) return;
  PQclear(PQexec(c_, "ROLLBACK"));
}

// ---- Pool -----------------------------------------------------------------------

Pool::Pool(PoolOptions o) : o_(std::move(o)) {}

Pool::~Pool() = default;

std::unique_ptr<Conn> Pool::acquire() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.acquire_timeout_ms);
  bool counted = false;  // one "pool_waits" per caller that had to wait
  std::unique_lock lk(mu_);
  for (;;) {
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      lk.unlock();
      if (c->still_alive()) return c;
      c.reset();  // the server let it go: replaced below
      sdk::Host::metric_add("pool_lost", 1);
      lk.lock();
      --open_;
    }
    if (open_ < o_.size) {
      ++open_;
      lk.unlock();
      try {
        auto c = std::make_unique<Conn>(o_.conn);
        sdk::Host::metric_add("pool_connects", 1);
        return c;
      } catch (...) {
        lk.lock();
        --open_;
        lk.unlock();
        cv_.notify_one();
        throw;
      }
    }
    if (!counted) {
      counted = true;
      lk.unlock();  // the host's counter outside our lock
      sdk::Host::metric_add("pool_waits", 1);
      lk.lock();
      continue;  // re-check: a connection may have come back meanwhile
    }
    if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= o_.size)
      throw Error(CM_UNAVAILABLE,
                  "postgres: no free connection within " + std::to_string(o_.acquire_timeout_ms) + " ms (poolSize " + std::to_string(o_.size) + ")");
  }
}

void Pool::release(std::unique_ptr<Conn> c) {
  std::vector<std::unique_ptr<Conn>> drop;  // closed outside the lock
  bool lost = false;
  {
    std::lock_guard lk(mu_);
    if (c->usable()) {
      idle_.push_back(std::move(c));
    } else {
      if ((lost = c->lost())) {
        // Its siblings talk to the same server and are likely dead too:
        // reconnect them lazily rather than fail one call each.
        open_ -= static_cast<int>(idle_.size());
        for (auto& i : idle_) drop.push_back(std::move(i));
        idle_.clear();
      }
      --open_;
      drop.push_back(std::move(c));
    }
  }
  cv_.notify_all();
  if (lost) sdk::Host::metric_add("pool_lost", 1);
}

void Pool::snapshot(const std::function<void(sqlc::SqlTx&)>& f) {
  tx(
      [&](Conn& c) {
        PgTx t(c);
        f(t);
      },
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

void Pool::transaction(const std::function<void(sqlc::SqlTx&)>& f) {
  tx([&](Conn& c) {
    PgTx t(c);
    f(t);
  });
}

int Pool::open_count() {
  std::lock_guard lk(mu_);
  return open_;
}

Pool::Lease::Lease(Pool& p) : pool(p), conn(p.acquire()) {}

Pool::Lease::~Lease() { pool.release(std::move(conn)); }

// ---- PgTx -------------------------------------------------------------------------

namespace {
struct RowRef final : sqlc::RowView {
  explicit RowRef(const Row& r) : row(r) {}
  bool is_null(int c) const override { return row.is_null(c); }
  std::string_view text(int c) const override { return row.text(c); }
  int64_t i64(int c) const override { return row.i64(c); }
  bool boolean(int c) const override { return row.boolean(c); }
  Row row;
};
}  // namespace

void PgTx::query(const std::string& sql, const sqlc::Binds& b, const std::function<void(const sqlc::RowView&)>& row) {
  Result r = c_.exec(sql, b);  // pages are bounded by the caller's LIMIT
  for (int i = 0; i < r.rows(); ++i) row(RowRef(Row(r, i)));
}

int64_t PgTx::run(const std::string& sql, const sqlc::Binds& b) { return c_.exec(sql, b).affected(); }

// ---- migrations and options -------------------------------------------------------

void migrate(Conn& c, const std::string& schema, const std::string& component, const std::vector<Migration>& migrations) {
  const std::string table = component + "_schema_version";
  c.exec_simple("BEGIN");
  try {
    // Key (0x434D4C4F "CMLO", hash of the schema): hosts starting together
    // take turns; the loser then finds the versions already applied.
    c.exec("SELECT pg_advisory_xact_lock(1129139279, hashtext(?))", args(std::string_view(schema)));
    c.exec_simple(("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"").c_str());
    c.exec_simple(("CREATE TABLE IF NOT EXISTS " + table + " (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)").c_str());
    Result cur = c.exec("SELECT coalesce(max(version), 0) FROM " + table);
    const int64_t current = cur.i64(0, 0);
    const int newest = migrations.empty() ? 0 : migrations.back().version;
    if (current > newest)
      throw Error(CM_INVALID, "postgres: schema " + schema + " has " + component + " schema version " + std::to_string(current) +
                                  ", newer than this plugin's " + std::to_string(newest));
    // Tables appearing now are this component's: marked so (COMMENT), they
    // stay apart from others sharing the schema (owned_tables).
    const std::string list = "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'r'";
    std::set<std::string> before;
    Result b = c.exec(list, args(std::string_view(schema)));
    for (int i = 0; i < b.rows(); ++i) before.emplace(b.text(i, 0));
    for (const auto& m : migrations) {
      if (m.version <= current) continue;
      c.exec_simple(m.sql);
      c.exec("INSERT INTO " + table + "(version, applied_at) VALUES(?, extract(epoch FROM now())::bigint)", args(int64_t{m.version}));
    }
    Result after = c.exec(list, args(std::string_view(schema)));
    for (int i = 0; i < after.rows(); ++i) {
      std::string t(after.text(i, 0));
      if (before.count(t) && t != table) continue;
      c.exec_simple(("COMMENT ON TABLE \"" + schema + "\".\"" + t + "\" IS 'cumulo:" + component + "'").c_str());
    }
    c.exec_simple("COMMIT");
  } catch (...) {
    c.rollback_quietly();
    throw;
  }
}

std::vector<std::string> owned_tables(Conn& c, const std::string& schema, const std::string& component, const std::string& column) {
  Result r = c.exec(
      "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = ? AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') = ? "
      "AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = ? AND NOT a.attisdropped) ORDER BY c.relname",
      args(std::string_view(schema), "cumulo:" + component, std::string_view(column)));
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.text(i, 0));
  return out;
}

bool valid_schema_name(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.rfind("pg_", 0) == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char ch : s)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  return true;
}

PoolOptions pool_options(sqlc::OptionReader& r, const char* default_schema) {
  PoolOptions o;
  o.conn.conninfo = r.required_str("conninfo", "a libpq connection string, e.g. \"host=127.0.0.1 port=5432 user=cumulo dbname=cumulo\"");
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(o.conn.conninfo.c_str(), &err);
  if (!parsed) {
    std::string msg = one_line(err ? err : "out of memory");
    PQfreemem(err);
    sqlc::invalid(r.what(), "\"conninfo\" is not a libpq connection string: " + msg);
  }
  PQconninfoFree(parsed);
  o.conn.schema = r.str("schema", "a schema name of lower-case letters, digits and _ (at most 63, not starting with a digit or pg_)", &valid_schema_name)
                      .value_or(default_schema);
  o.size = static_cast<int>(r.integer("poolSize", 8, 1, 256));
  o.acquire_timeout_ms = static_cast<int>(r.integer("acquireTimeoutMs", 10000, 0, 600000));
  o.conn.statement_timeout_ms = static_cast<int>(r.integer("statementTimeoutMs", 0, 0, 3600000));
  return o;
}

}  // namespace cumulo::pg
