// Small RAII helpers over the LMDB C API shared by the built-in LMDB adapters
// (header-only: each plugin compiles its own copy, nothing is shared at run time).
#pragma once

#include <cumulo/sdk.hpp>
#include <lmdb.h>

#include <cstring>
#include <string>
#include <string_view>

namespace cumulo::adapters::lmdb {

/// Throws the SDK error for an LMDB failure: a full map is the caller's
/// limit (CM_TOO_LARGE, naming the option to raise), anything else is I/O.
[[noreturn]] inline void fail(const char* adapter, const char* what, int rc) {
  if (rc == MDB_MAP_FULL) throw sdk::Error(CM_TOO_LARGE, std::string(adapter) + ": database full (raise the \"mapSize\" option)");
  throw sdk::Error(CM_IO, std::string(adapter) + ": " + what + ": " + mdb_strerror(rc));
}

/// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF):
/// ids are stored and compared as bytes, so two spellings must not exist.
inline bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0, n = s.size(); i < n;) {
    unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len || i + len > n) return false;
    uint32_t cp = c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
    i += len;
  }
  return true;
}

/// Appends `v` as `bytes` big-endian bytes (keys sort numerically).
inline void put_be(std::string& s, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline uint64_t get_be64(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

inline MDB_val val(std::string_view s) { return {s.size(), const_cast<char*>(s.data())}; }
inline std::string str(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }
inline bool has_prefix(const MDB_val& k, std::string_view p) { return k.mv_size >= p.size() && std::memcmp(k.mv_data, p.data(), p.size()) == 0; }

/// A transaction that aborts unless committed. Throws sdk::Error on failure.
class Txn {
 public:
  Txn(MDB_env* env, bool write) {
    if (int rc = mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn_)) throw sdk::Error(CM_IO, std::string("lmdb: begin: ") + mdb_strerror(rc));
  }
  ~Txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  MDB_txn* get() const { return txn_; }
  int commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    return rc;
  }

 private:
  MDB_txn* txn_ = nullptr;
};

class Cursor {
 public:
  Cursor(MDB_txn* t, MDB_dbi d) {
    if (int rc = mdb_cursor_open(t, d, &c_)) throw sdk::Error(CM_IO, std::string("lmdb: cursor: ") + mdb_strerror(rc));
  }
  ~Cursor() { mdb_cursor_close(c_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  MDB_cursor* get() const { return c_; }

 private:
  MDB_cursor* c_ = nullptr;
};

/// Opens an environment with `max_dbs` named databases; throws with `who` in the message.
inline MDB_env* open_env(const std::string& dir, size_t map_size, const char* who) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (!rc) rc = mdb_env_set_maxdbs(env, 4);
  if (!rc) rc = mdb_env_set_mapsize(env, map_size);
  // MDB_NOTLS: read transactions are not tied to threads (our callers are pools).
  if (!rc) rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0640);
  if (rc) {
    if (env) mdb_env_close(env);
    throw sdk::Error(CM_IO, std::string(who) + ": cannot open " + dir + ": " + mdb_strerror(rc));
  }
  return env;
}

}  // namespace cumulo::adapters::lmdb
