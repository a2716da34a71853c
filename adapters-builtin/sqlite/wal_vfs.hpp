// A VFS shim over SQLite's default VFS that turns each transaction's WAL
// append into one write system call.
//
// SQLite appends a WAL frame as two writes (its 24-byte header, then the
// page), so committing n pages costs 2n pwrite calls; on a VM each call costs
// more than copying the page. The shim buffers contiguous appends to a WAL
// file and writes them at once when the commit frame's page arrives (its
// header carries the database size, non-zero only for a commit frame), so an
// error still fails that commit. Overwrites of frames already appended (a
// page written twice in one transaction, the checksums SQLite redoes after
// the commit frame) go straight to the file. Anything else touching the WAL
// file first writes what is buffered (reads, sync, truncate, size, file
// controls, close), and the buffer is bounded.
//
// Frames become visible to other connections only through the wal-index
// header, which SQLite writes after the commit frame: no reader, in this
// process or another, can see a frame still in the buffer. Every other file
// (database, journals, temp files) goes to the default VFS untouched.
#pragma once

#include <cstdint>

namespace cumulo::sqlite {

/// Name of the shim VFS, registered (not as default) on first call.
const char* coalescing_vfs();

/// Process-wide counters, for tests and diagnostics.
struct WalWriteStats {
  uint64_t appends = 0;  // writes SQLite asked the WAL files for
  uint64_t writes = 0;   // writes passed to the default VFS
};
WalWriteStats wal_write_stats();

}  // namespace cumulo::sqlite
