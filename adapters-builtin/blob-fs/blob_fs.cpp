// blob-fs: content-addressed blobs as files.
//
//   <dir>/<tn_id>/<fan-out>/<blob id>      committed blobs (immutable)
//   <dir>/<tn_id>/.tmp/<random>.part        writes in progress (flock'ed by their writer)
//
// A write streams into a temp file, is fsync'ed, renamed into place and the
// directory fsync'ed: a crash at any point leaves either no blob or the whole
// blob, never a partial one. Temp files whose writer died are swept when an
// instance opens; a live writer holds an flock on its temp file, so a second
// instance opened on the same directory (hot swap) never sweeps its writes.
// Ids are checked against a strict ASCII pattern before they touch a path, so
// traversal is impossible by construction. With "verify" (off by default: the
// host already derives ids from the bytes), ids of the form
// b1~<base64url SHA-256> are checked against the bytes actually written.
#include <cumulo/sdk.hpp>

#include "blob_id.hpp"
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using cumulo::sdk::BlobAdapter;
using cumulo::sdk::BlobWriter;
using cumulo::sdk::Error;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;
using cumulo::adapters::valid_blob_id;
constexpr auto check_id = cumulo::adapters::check_blob_id;

constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kKeptBuffers = 8;  // read buffers kept for reuse (2 MiB at most)

Status sys_error(const std::string& what) { return Status::Error(CM_IO, what + ": " + std::strerror(errno)); }

// Two hex digits from FNV-1a of the id: spreads blobs over 256 directories,
// stable across builds (std::hash is not).
std::string fan_out(std::string_view id) {
  uint32_t h = 2166136261u;
  for (unsigned char c : id) h = (h ^ c) * 16777619u;
  static constexpr char hex[] = "0123456789abcdef";
  return {hex[(h >> 4) & 15], hex[h & 15]};
}

bool is_fan_out(const std::string& name) {
  return name.size() == 2 && std::isxdigit(static_cast<unsigned char>(name[0])) && std::isxdigit(static_cast<unsigned char>(name[1]));
}

std::string b64url(const unsigned char* p, size_t n) {
  std::string out(((n + 2) / 3) * 4 + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  for (auto& c : out) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

int fsync_dir(const fs::path& d) {
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = ::fsync(fd);
  ::close(fd);
  return rc;
}

// mkdir -p that also fsyncs the parent of every directory it creates: a
// blob's rename is only durable if the directories on its path are too.
Status ensure_dir(const fs::path& d) {
  if (::mkdir(d.c_str(), 0750) == 0) return fsync_dir(d.parent_path()) == 0 ? Status::Ok() : sys_error("blob-fs: fsync " + d.parent_path().string());
  if (errno == EEXIST) return Status::Ok();
  if (errno != ENOENT || d == d.parent_path()) return sys_error("blob-fs: mkdir " + d.string());
  if (auto st = ensure_dir(d.parent_path()); !st.ok()) return st;
  if (::mkdir(d.c_str(), 0750) == 0) return fsync_dir(d.parent_path()) == 0 ? Status::Ok() : sys_error("blob-fs: fsync " + d.parent_path().string());
  return errno == EEXIST ? Status::Ok() : sys_error("blob-fs: mkdir " + d.string());
}

// Reusable 256 KiB read buffers owned by the instance: allocating one per read
// costs an mmap/munmap pair and page faults, and a thread_local buffer would
// pin this library in memory for as long as any host thread lives.
class BufferPool {
 public:
  std::unique_ptr<char[]> take() {
    {
      std::lock_guard lk(mu_);
      if (!free_.empty()) {
        auto b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    return std::unique_ptr<char[]>(new char[kReadChunk]);
  }
  void give(std::unique_ptr<char[]> b) {
    std::lock_guard lk(mu_);
    if (free_.size() < kKeptBuffers) free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<char[]>> free_;
};

class FsWriter final : public BlobWriter {
 public:
  FsWriter(fs::path tmp, fs::path tenant_dir, int fd, bool verify) : tmp_(std::move(tmp)), tenant_dir_(std::move(tenant_dir)), fd_(fd) {
    if (verify) {
      md_ = EVP_MD_CTX_new();
      if (!md_ || EVP_DigestInit_ex(md_, EVP_sha256(), nullptr) != 1) {
        abort();
        if (md_) EVP_MD_CTX_free(md_);
        throw Error(CM_INTERNAL, "blob-fs: SHA-256 init failed");
      }
    }
  }
  ~FsWriter() override {
    abort();
    if (md_) EVP_MD_CTX_free(md_);
  }
  FsWriter(const FsWriter&) = delete;
  FsWriter& operator=(const FsWriter&) = delete;

  Status write(std::string_view bytes) override {
    if (fd_ < 0) return Status::Invalid("blob-fs: writer already finished");
    if (md_ && EVP_DigestUpdate(md_, bytes.data(), bytes.size()) != 1) return Status::Error(CM_INTERNAL, "blob-fs: SHA-256 update failed");
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error("blob-fs: write " + tmp_.string());
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  // On failure the SDK calls abort(), which removes the temp file.
  Status commit(std::string_view id) override {
    if (fd_ < 0) return Status::Invalid("blob-fs: writer already finished");
    if (auto st = check_id(id); !st.ok()) return st;
    if (md_ && id.substr(0, 3) == "b1~") {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (EVP_DigestFinal_ex(md_, digest, &len) != 1) return Status::Error(CM_INTERNAL, "blob-fs: SHA-256 final failed");
      if (id.substr(3) != b64url(digest, len)) return Status::Invalid("blob-fs: blob id does not match the SHA-256 of the bytes written");
    }
    const fs::path bucket = tenant_dir_ / fan_out(id);
    const fs::path target = bucket / std::string(id);
    // Content-addressed: an existing blob of this id already holds these
    // bytes. Keep it and skip the fsync of ours (the directory sync covers a
    // concurrent writer that renamed it but has not synced yet; it is cheap
    // when nothing is dirty).
    if (::access(target.c_str(), F_OK) == 0) return keep_existing(bucket);
    if (::fsync(fd_) != 0) return sys_error("blob-fs: fsync " + tmp_.string());
    if (auto st = ensure_dir(bucket); !st.ok()) return st;
    int rc = ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) rc = ::rename(tmp_.c_str(), target.c_str());  // no RENAME_NOREPLACE here
    if (rc != 0) {
      if (errno == EEXIST) return keep_existing(bucket);  // a concurrent writer of the same bytes won
      return sys_error("blob-fs: rename into " + target.string());
    }
    tmp_.clear();
    ::close(fd_);  // only now: the flock kept sweepers off the temp file until it was renamed
    fd_ = -1;
    if (fsync_dir(bucket) != 0) {
      Status st = sys_error("blob-fs: fsync directory " + bucket.string());
      ::unlink(target.c_str());  // a failed commit leaves nothing visible
      return st;
    }
    return Status::Ok();
  }

  Status keep_existing(const fs::path& bucket) {
    abort();
    return fsync_dir(bucket) == 0 ? Status::Ok() : sys_error("blob-fs: fsync directory " + bucket.string());
  }

  void abort() override {
    if (!tmp_.empty()) ::unlink(tmp_.c_str());  // before close: the flock still guards the name
    tmp_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  fs::path tmp_, tenant_dir_;
  int fd_;
  EVP_MD_CTX* md_ = nullptr;
};

class FsBlob final : public BlobAdapter {
 public:
  explicit FsBlob(std::string_view options) {
    auto j = nlohmann::json::parse(options, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(CM_INVALID, "blob-fs: options must be a JSON object");
    for (const auto& [key, value] : j.items())
      if (key != "dir" && key != "verify") throw Error(CM_INVALID, "blob-fs: unknown option \"" + key + "\" (known: dir, verify)");
    if (!j.contains("dir") || !j["dir"].is_string()) throw Error(CM_INVALID, "blob-fs: option \"dir\" (absolute path) is required");
    dir_ = j["dir"].get<std::string>();
    if (!dir_.is_absolute()) throw Error(CM_INVALID, "blob-fs: \"dir\" must be an absolute path");
    if (j.contains("verify")) {
      if (!j["verify"].is_boolean()) throw Error(CM_INVALID, "blob-fs: \"verify\" must be true or false");
      verify_ = j["verify"].get<bool>();
    }
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) throw Error(CM_IO, "blob-fs: cannot create " + dir_.string() + ": " + ec.message());
    sweep();
  }

  Status health() override {
    if (::access(dir_.c_str(), W_OK) != 0) return sys_error("blob-fs: " + dir_.string() + " is not writable");
    return Status::Ok();
  }

  Status open_writer(const Tenant& tn, std::unique_ptr<BlobWriter>& out) override {
    const fs::path tdir = tenant_dir(tn);
    const fs::path tmpdir = tdir / ".tmp";
    if (auto st = ensure_dir(tmpdir); !st.ok()) return st;
    for (int attempt = 0; attempt < 4; ++attempt) {
      unsigned char rnd[12];
      if (::getrandom(rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd)) return sys_error("blob-fs: getrandom");
      fs::path tmp = tmpdir / (b64url(rnd, sizeof rnd) + ".part");
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
      if (fd < 0) {
        if (errno == EEXIST) continue;
        return sys_error("blob-fs: create " + tmp.string());
      }
      // The lock marks the file as live for sweepers. A sweeper that got in
      // between open and flock has unlinked it: check the name is still ours.
      struct stat by_fd {}, by_name {};
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::fstat(fd, &by_fd) != 0 || ::stat(tmp.c_str(), &by_name) != 0 || by_fd.st_ino != by_name.st_ino) {
        ::close(fd);
        continue;
      }
      out = std::make_unique<FsWriter>(std::move(tmp), tdir, fd, verify_);
      return Status::Ok();
    }
    return Status::Error(CM_IO, "blob-fs: could not create a temp file in " + tmpdir.string());
  }

  Status read(const Tenant& tn, std::string_view id, uint64_t offset, uint64_t length, const Sink& out) override {
    if (auto st = check_id(id); !st.ok()) return st;
    const fs::path p = path_of(tn, id);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? Status::NotFound("no such blob") : sys_error("blob-fs: open " + p.string());
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) return sys_error("blob-fs: stat " + p.string());
    const uint64_t size = static_cast<uint64_t>(sb.st_size);
    if (offset > size) return Status::Invalid("offset " + std::to_string(offset) + " beyond end of blob (" + std::to_string(size) + " bytes)");
    uint64_t left = std::min(length, size - offset);
    if (left > kReadChunk) ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(left), POSIX_FADV_SEQUENTIAL);  // larger readahead when cold
    struct Lease {
      BufferPool& pool;
      std::unique_ptr<char[]> buf;
      ~Lease() { pool.give(std::move(buf)); }
    } lease{buffers_, buffers_.take()};
    uint64_t pos = offset;
    while (left > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, kReadChunk));
      ssize_t n = ::pread(fd, lease.buf.get(), want, static_cast<off_t>(pos));
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error("blob-fs: read " + p.string());
      }
      if (n == 0) return Status::Error(CM_IO, "blob-fs: " + p.string() + " is shorter than its size");
      if (!out.write(std::string_view(lease.buf.get(), static_cast<size_t>(n)))) return Status::Error(CM_UNAVAILABLE, "reader went away");
      pos += static_cast<uint64_t>(n);
      left -= static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  Status stat(const Tenant& tn, std::string_view id, uint64_t& size) override {
    if (auto st = check_id(id); !st.ok()) return st;
    struct stat sb {};
    if (::stat(path_of(tn, id).c_str(), &sb) != 0) return errno == ENOENT ? Status::NotFound("no such blob") : sys_error("blob-fs: stat");
    size = static_cast<uint64_t>(sb.st_size);
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view id) override {
    if (auto st = check_id(id); !st.ok()) return st;
    if (::unlink(path_of(tn, id).c_str()) != 0) return errno == ENOENT ? Status::NotFound("no such blob") : sys_error("blob-fs: unlink");
    return Status::Ok();
  }

  // Ids > after in ascending order. The fan-out scatters ids, so every bucket
  // is scanned; with a limit only the smallest `limit` names are kept.
  Status list(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    std::set<std::string> ids;
    const fs::path tdir = tenant_dir(tn);
    std::error_code ec;
    fs::directory_iterator buckets(tdir, ec), end;
    if (ec) return ec == std::errc::no_such_file_or_directory ? Status::Ok() : Status::Error(CM_IO, "blob-fs: list " + tdir.string() + ": " + ec.message());
    for (; buckets != end; buckets.increment(ec)) {
      const std::string bucket = buckets->path().filename().string();
      if (!is_fan_out(bucket)) continue;  // .tmp
      fs::directory_iterator files(buckets->path(), ec);
      for (; !ec && files != end; files.increment(ec)) {
        std::string name = files->path().filename().string();
        if (name <= after || !valid_blob_id(name)) continue;
        if (limit && ids.size() == limit) {
          if (name >= *ids.rbegin()) continue;
          ids.erase(std::prev(ids.end()));
        }
        ids.insert(std::move(name));
      }
      if (ec) return Status::Error(CM_IO, "blob-fs: list " + buckets->path().string() + ": " + ec.message());
    }
    if (ec) return Status::Error(CM_IO, "blob-fs: list " + tdir.string() + ": " + ec.message());
    std::string text;
    for (const auto& id : ids) (text += id) += '\n';
    if (!text.empty() && !out.write(text)) return Status::Error(CM_UNAVAILABLE, "reader went away");
    return Status::Ok();
  }

 private:
  fs::path tenant_dir(const Tenant& tn) const { return dir_ / std::to_string(tn.tn_id); }
  fs::path path_of(const Tenant& tn, std::string_view id) const { return tenant_dir(tn) / fan_out(id) / std::string(id); }

  // Removes temp files of writers that died (crash, kill -9): nobody holds
  // their flock any more. They were never visible as blobs.
  void sweep() {
    std::error_code ec, tec;
    const fs::directory_iterator end;
    for (fs::directory_iterator t(dir_, ec); !ec && t != end; t.increment(ec)) {
      for (fs::directory_iterator f(t->path() / ".tmp", tec); !tec && f != end; f.increment(tec)) {
        int fd = ::open(f->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) ::unlink(f->path().c_str());
        ::close(fd);
      }
      tec.clear();
    }
  }

  fs::path dir_;
  bool verify_ = false;
  BufferPool buffers_;
};

}  // namespace

CUMULO_PLUGIN("blob-fs", "0.2.0", "Content-addressed blobs as files (atomic rename, fsync, streamed)", CM_KIND_BLOB) {
  reg.add<FsBlob>("blob-fs", R"({"type":"object","required":["dir"],"additionalProperties":false,"properties":{"dir":{"type":"string"},"verify":{"type":"boolean"}}})");
}
