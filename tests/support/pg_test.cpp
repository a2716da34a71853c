#include "support/pg_test.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#ifdef CUMULO_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

namespace cumulo::test::pg {

std::string conninfo() {
#ifdef CUMULO_HAVE_LIBPQ
  const char* v = std::getenv("CUMULO_TEST_PG");
  return v ? v : "";
#else
  return "";
#endif
}

std::string skip_reason() {
#ifndef CUMULO_HAVE_LIBPQ
  return "PostgreSQL tests skipped: built without libpq (apt-get install libpq-dev)";
#else
  if (conninfo().empty())
    return "PostgreSQL tests skipped: CUMULO_TEST_PG is not set (eval \"$(scripts/pg-test-server.sh start /tmp/pg)\" starts a throwaway server and sets it)";
  return "";
#endif
}

std::string unique_schema(const std::string& what) {
  static std::atomic<unsigned> n{0};
  return "cumulo_" + what + "_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
}

#ifdef CUMULO_HAVE_LIBPQ
Session::Session(const std::string& ci) : conn_(PQconnectdb(ci.c_str())) {
  auto* c = static_cast<PGconn*>(conn_);
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot connect to " + ci + ": " + msg);
  }
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
}

Session::~Session() { PQfinish(static_cast<PGconn*>(conn_)); }

std::string Session::query(const std::string& sql) {
  std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(static_cast<PGconn*>(conn_), sql.c_str()), PQclear);
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error(sql + ": " + PQresultErrorMessage(r.get()));
  return PQntuples(r.get()) && PQnfields(r.get()) ? PQgetvalue(r.get(), 0, 0) : "";
}
#else
Session::Session(const std::string&) : conn_(nullptr) { throw std::runtime_error("built without libpq"); }
Session::~Session() = default;
std::string Session::query(const std::string&) { return ""; }
#endif

std::string query(const std::string& ci, const std::string& sql) { return Session(ci).query(sql); }

void exec(const std::string& ci, const std::string& sql) { query(ci, sql); }

void drop_schema(const std::string& ci, const std::string& schema) {
  try {
    exec(ci, "DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
  } catch (...) {  // cleanup only
  }
}

}  // namespace cumulo::test::pg
