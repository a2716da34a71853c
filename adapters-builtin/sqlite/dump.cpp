// The portable tenant dump of meta-sqlite and auth-sqlite (ABI 1.1; item
// format: docs/sdk.md, "Portable tenant dump"). The dump itself is written
// once for the SQL engines in sql-common/dump (shared with the postgres
// plugin); this file lends it SQLite: statements on the held connection.
// Export runs inside one read transaction (one snapshot per call) and streams
// lines to the sink; import applies a whole batch in one write transaction.
#include "sql-common/dump.hpp"
#include "auth_sqlite.hpp"
#include "meta_sqlite.hpp"
#include "record.hpp"

namespace cumulo::sqlite {
namespace {

using Status = sdk::Status;

// Statements of sql-common's dump on one SQLite connection (inside the
// caller's transaction).
class SqliteTx final : public sqlc::SqlTx {
 public:
  explicit SqliteTx(Connection& c) : c_(c) {}
  void query(const std::string& sql, const sqlc::Binds& b, const std::function<void(const sqlc::RowView&)>& row) override {
    Stmt st = bound(sql, b);
    const Row r(st);
    while (st.step()) row(r);
  }
  int64_t run(const std::string& sql, const sqlc::Binds& b) override { return bound(sql, b).run(); }
  const sqlc::Dialect& dialect() const override { return sqlc::kSqliteDialect; }

 private:
  struct Row final : sqlc::RowView {
    explicit Row(const Stmt& s) : st(s) {}
    bool is_null(int c) const override { return st.is_null(c); }
    std::string_view text(int c) const override { return st.text(c); }
    int64_t i64(int c) const override { return st.i64(c); }
    bool boolean(int c) const override { return st.i64(c) != 0; }
    const Stmt& st;
  };
  Stmt bound(const std::string& sql, const sqlc::Binds& b) {
    Stmt st = c_.prepare(sql);
    int i = 1;
    for (const auto& v : b.values()) {
      if (auto* n = std::get_if<int64_t>(&v))
        st.bind(i, *n);
      else if (auto* s = std::get_if<std::string>(&v))
        st.bind(i, std::string_view(*s));
      else
        st.bind_null(i);
      ++i;
    }
    return st;
  }
  Connection& c_;
};

}  // namespace

Status MetaSqlite::export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& sink) {
  db_->read([&](Connection& c) {
    Transaction tx(c, false);  // one snapshot for the whole call
    SqliteTx t(c);
    sqlc::export_meta(t, tn, after, limit, sink);
    tx.commit();
  });
  return Status::Ok();
}

Status MetaSqlite::import_items(const Tenant& tn, std::string_view lines) {
  auto items = sqlc::parse_meta_items(lines, "meta-sqlite");  // all checked before anything changes
  db_->write([&](Connection& c) {
    SqliteTx t(c);
    sqlc::import_meta(t, tn, items);
  });
  return Status::Ok();
}

Status AuthSqlite::export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& sink) {
  db_->read([&](Connection& c) {
    Transaction tx(c, false);
    SqliteTx t(c);
    sqlc::export_auth(t, tn, after, limit, sink);
    tx.commit();
  });
  return Status::Ok();
}

Status AuthSqlite::import_items(const Tenant& tn, std::string_view lines) {
  auto items = sqlc::parse_auth_items(lines, "auth-sqlite");
  db_->write([&](Connection& c) {
    SqliteTx t(c);
    sqlc::import_auth(t, tn, items);
  });
  return Status::Ok();
}

}  // namespace cumulo::sqlite
