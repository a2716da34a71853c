// Engine-neutral statements: parameters (Binds), result rows (RowView) and a
// transaction to run statements in (SqlTx). Code written against these runs
// on every SQL engine a plugin lends them (sqlite, postgres); its SQL keeps to
// what they all speak ("?" placeholders, ON CONFLICT … DO UPDATE, RETURNING,
// row values).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sql-common/meta.hpp"

namespace cumulo::sqlc {

/// Parameters of one statement, NULL included; bind_record() fills them.
class Binds {
 public:
  using Value = std::variant<std::monostate, int64_t, std::string>;
  Binds& bind(int i, int64_t v) { return set(i, v); }
  Binds& bind(int i, std::string_view v) { return set(i, std::string(v)); }
  Binds& bind_null(int i) { return set(i, std::monostate{}); }
  /// Appends after the last bound parameter.
  Binds& add(int64_t v) { return bind(size() + 1, v); }
  Binds& add(std::string_view v) { return bind(size() + 1, v); }
  Binds& add_opt(const std::optional<std::string>& v) { return v ? add(std::string_view(*v)) : bind_null(size() + 1); }
  Binds& add_opt(const std::optional<int64_t>& v) { return v ? add(*v) : bind_null(size() + 1); }
  int size() const { return static_cast<int>(v_.size()); }
  const std::vector<Value>& values() const { return v_; }

 private:
  Binds& set(int i, Value v);
  std::vector<Value> v_;
};

/// Binds in placeholder order: binds(tn, key, …).
template <class... T>
Binds binds(const T&... v) {
  Binds b;
  (b.add(v), ...);
  return b;
}

/// A result row of any engine.
class RowView {
 public:
  virtual ~RowView() = default;
  virtual bool is_null(int c) const = 0;
  virtual std::string_view text(int c) const = 0;
  virtual int64_t i64(int c) const = 0;
  virtual bool boolean(int c) const = 0;
};

/// Statements inside the engine's current transaction.
class SqlTx {
 public:
  virtual ~SqlTx() = default;
  /// Runs a query and calls `row` for each result row.
  virtual void query(const std::string& sql, const Binds& b, const std::function<void(const RowView&)>& row) = 0;
  /// Runs a command; returns the rows it changed.
  virtual int64_t run(const std::string& sql, const Binds& b) = 0;
  virtual const Dialect& dialect() const = 0;
};

}  // namespace cumulo::sqlc
