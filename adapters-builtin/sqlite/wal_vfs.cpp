#include "wal_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace cumulo::sqlite {
namespace {

constexpr int kFrameHeader = 24;              // WAL_FRAME_HDRSIZE in SQLite's wal.c
constexpr int kWalHeader = 32;                // WAL_HDRSIZE, written at offset 0
constexpr size_t kMaxBuffered = 1024 * 1024;  // a big transaction's spill flushes as it goes
// The unix VFS takes at most 128 KiB - 1 per write (it masks the length with
// 0x1ffff, never expecting more than a 64 KiB page): write in 64 KiB pieces.
constexpr size_t kMaxWrite = 64 * 1024;

std::atomic<uint64_t> g_appends{0}, g_writes{0};
sqlite3_vfs* g_real = nullptr;  // the default VFS the shim wraps

struct WalFile {
  sqlite3_file base;  // must stay first: SQLite sees a WalFile as a sqlite3_file
  sqlite3_file* real;
  std::vector<char> buf;  // contiguous appends not yet written, starting at buf_off
  sqlite3_int64 buf_off = 0;
  sqlite3_int64 end = 0;     // end of what this handle appended in the current WAL generation
  bool commit_next = false;  // the last append was a commit frame's header
};

// The real file lives right after the WalFile, suitably aligned.
constexpr size_t kRealOffset = (sizeof(WalFile) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) * alignof(std::max_align_t);

WalFile* wal(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }

int flush(WalFile* w) {
  if (w->buf.empty()) return SQLITE_OK;
  int rc = SQLITE_OK;
  for (size_t at = 0; at < w->buf.size() && rc == SQLITE_OK; at += kMaxWrite) {
    const size_t n = std::min(kMaxWrite, w->buf.size() - at);
    g_writes.fetch_add(1, std::memory_order_relaxed);
    rc = w->real->pMethods->xWrite(w->real, w->buf.data() + at, static_cast<int>(n), w->buf_off + static_cast<sqlite3_int64>(at));
  }
  // On failure SQLite abandons the transaction: frames past the committed
  // wal-index end are ignored and rewritten, so nothing is kept.
  w->buf.clear();
  return rc;
}

uint32_t be32(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

int wal_write(sqlite3_file* f, const void* data, int n, sqlite3_int64 off) {
  WalFile* w = wal(f);
  g_appends.fetch_add(1, std::memory_order_relaxed);
  if (off == 0 && n == kWalHeader) w->end = 0;  // a new WAL generation starts
  if (off < w->end) {
    // An overwrite of this transaction's frames: a page written again, or
    // the checksums SQLite redoes after the commit frame. The latter is the
    // last write of the commit, so overwrites go straight to the file.
    if (int rc = flush(w); rc != SQLITE_OK) return rc;
    g_writes.fetch_add(1, std::memory_order_relaxed);
    return w->real->pMethods->xWrite(w->real, data, n, off);
  }
  w->end = off + n;
  if (!w->buf.empty() && off != w->buf_off + static_cast<sqlite3_int64>(w->buf.size()))
    if (int rc = flush(w); rc != SQLITE_OK) return rc;
  if (w->buf.empty()) w->buf_off = off;
  const char* p = static_cast<const char*>(data);
  w->buf.insert(w->buf.end(), p, p + n);
  // A frame header's second word is the database size for a commit frame and
  // zero otherwise; the page after a commit header ends the transaction.
  bool ends_commit = false;
  if (n == kFrameHeader) {
    w->commit_next = be32(p + 4) != 0;
  } else {
    ends_commit = w->commit_next;
    w->commit_next = false;
  }
  if (ends_commit || w->buf.size() >= kMaxBuffered) return flush(w);
  return SQLITE_OK;
}

int wal_close(sqlite3_file* f) {
  WalFile* w = wal(f);
  int rc = flush(w);
  int rc2 = w->real->pMethods ? w->real->pMethods->xClose(w->real) : SQLITE_OK;
  w->~WalFile();
  return rc != SQLITE_OK ? rc : rc2;
}

int wal_read(sqlite3_file* f, void* out, int n, sqlite3_int64 off) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xRead(w->real, out, n, off);
}
int wal_truncate(sqlite3_file* f, sqlite3_int64 size) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  w->end = std::min(w->end, size);
  return w->real->pMethods->xTruncate(w->real, size);
}
int wal_sync(sqlite3_file* f, int flags) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xSync(w->real, flags);
}
int wal_file_size(sqlite3_file* f, sqlite3_int64* size) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xFileSize(w->real, size);
}
int wal_file_control(sqlite3_file* f, int op, void* arg) {
  WalFile* w = wal(f);
  if (int rc = flush(w); rc != SQLITE_OK) return rc;
  return w->real->pMethods->xFileControl(w->real, op, arg);
}
int wal_lock(sqlite3_file* f, int level) { return wal(f)->real->pMethods->xLock(wal(f)->real, level); }
int wal_unlock(sqlite3_file* f, int level) { return wal(f)->real->pMethods->xUnlock(wal(f)->real, level); }
int wal_check_reserved(sqlite3_file* f, int* out) { return wal(f)->real->pMethods->xCheckReservedLock(wal(f)->real, out); }
int wal_sector_size(sqlite3_file* f) { return wal(f)->real->pMethods->xSectorSize(wal(f)->real); }
int wal_device(sqlite3_file* f) { return wal(f)->real->pMethods->xDeviceCharacteristics(wal(f)->real); }

// Version 1: SQLite maps shared memory and fetches pages only through the
// database file, never through its WAL.
const sqlite3_io_methods kWalMethods = {1,
                                        wal_close,
                                        wal_read,
                                        wal_write,
                                        wal_truncate,
                                        wal_sync,
                                        wal_file_size,
                                        wal_lock,
                                        wal_unlock,
                                        wal_check_reserved,
                                        wal_file_control,
                                        wal_sector_size,
                                        wal_device,
                                        nullptr,
                                        nullptr,
                                        nullptr,
                                        nullptr,
                                        nullptr,
                                        nullptr};

int shim_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  // Database, journals and temp files: the default VFS's own file, in place.
  if (!(flags & SQLITE_OPEN_WAL)) return g_real->xOpen(g_real, name, f, flags, out_flags);
  auto* w = new (f) WalFile{};
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
  std::memset(w->real, 0, static_cast<size_t>(g_real->szOsFile));
  int rc = g_real->xOpen(g_real, name, w->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (w->real->pMethods) w->real->pMethods->xClose(w->real);
    w->~WalFile();
    f->pMethods = nullptr;  // SQLite calls no xClose on a failed open
    return rc;
  }
  w->buf.reserve(64 * 1024);
  w->base.pMethods = &kWalMethods;
  return SQLITE_OK;
}

// The rest of the VFS is the default one's.
int shim_delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_real->xDelete(g_real, name, sync_dir); }
int shim_access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_real->xAccess(g_real, name, flags, out); }
int shim_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) { return g_real->xFullPathname(g_real, name, n, out); }
void* shim_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void shim_dl_error(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*shim_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return g_real->xDlSym(g_real, h, sym); }
void shim_dl_close(sqlite3_vfs*, void* h) { g_real->xDlClose(g_real, h); }
int shim_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int shim_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int shim_current_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int shim_last_error(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0; }
int shim_current_time64(sqlite3_vfs*, sqlite3_int64* out) { return g_real->xCurrentTimeInt64(g_real, out); }

// A name unique to this copy of the plugin: a reloaded copy registers its own
// VFS and never finds one whose code was unloaded with an older copy.
char g_name[48];
sqlite3_vfs g_vfs{};
bool g_registered = false;

// Unloading the plugin must take its VFS off SQLite's list, which outlives
// it: the list would point into unmapped code and a freed name otherwise.
struct Unregister {
  ~Unregister() {
    if (g_registered) sqlite3_vfs_unregister(&g_vfs);
  }
} g_unregister;

}  // namespace

const char* coalescing_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    std::snprintf(g_name, sizeof g_name, "cumulo-wal-%p", static_cast<void*>(&g_vfs));
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(kRealOffset) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = g_name;
    g_vfs.xOpen = shim_open;
    g_vfs.xDelete = shim_delete;
    g_vfs.xAccess = shim_access;
    g_vfs.xFullPathname = shim_full_pathname;
    g_vfs.xDlOpen = shim_dl_open;
    g_vfs.xDlError = shim_dl_error;
    g_vfs.xDlSym = shim_dl_sym;
    g_vfs.xDlClose = shim_dl_close;
    g_vfs.xRandomness = shim_randomness;
    g_vfs.xSleep = shim_sleep;
    g_vfs.xCurrentTime = shim_current_time;
    g_vfs.xGetLastError = shim_last_error;
    g_vfs.xCurrentTimeInt64 = shim_current_time64;
    g_registered = sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK;
  });
  return g_registered ? g_name : nullptr;  // nullptr: SQLite's default VFS
}

WalWriteStats wal_write_stats() { return {g_appends.load(std::memory_order_relaxed), g_writes.load(std::memory_order_relaxed)}; }

}  // namespace cumulo::sqlite
