// blob-encrypted: a third-party style blob adapter that encrypts at rest.
//
// Each tenant gets its own key, HMAC-SHA256(masterKey, "cumulo-blob-tenant:<tn_id>"),
// so one tenant's files are useless with another's key. A blob file is
//   header:  "CMBE1\0\0\0" | plaintext size BE64 | salt (16 bytes)
//   chunks:  nonce (12) | AES-256-GCM ciphertext of ≤ 64 KiB | tag (16)
// Chunks are sealed independently (AAD = tn_id, salt, chunk index), so a byte
// range decrypts only the chunks it touches and a moved or reordered chunk
// fails authentication. Writes go to a temp file, fsync, rename.
// Built out of tree against the installed SDK, like any third party's plugin.
#include <cumulo/sdk.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace {

using cumulo::sdk::BlobAdapter;
using cumulo::sdk::BlobWriter;
using cumulo::sdk::Error;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kNonce = 12, kTag = 16, kSalt = 16;
constexpr size_t kHeader = 8 + 8 + kSalt;
constexpr size_t kRecord = kNonce + kChunk + kTag;

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '~' || c == '-'; });
}
Status bad_id() { return Status::Invalid("invalid blob id"); }
Status io(const std::string& what) { return Status::Error(CM_IO, "blob-encrypted: " + what + ": " + std::strerror(errno)); }

void put_be64(unsigned char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) p[7 - i] = static_cast<unsigned char>(v >> (8 * i));
}
uint64_t get_be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Option parsing without a JSON library: {"dir": "...", "masterKey": "<64 hex>"}.
std::string option(std::string_view json, std::string_view key) {
  std::string pat = "\"" + std::string(key) + "\"";
  auto p = json.find(pat);
  if (p == std::string_view::npos) return {};
  p = json.find('"', json.find(':', p + pat.size()) + 1);
  auto e = json.find('"', p + 1);
  if (p == std::string_view::npos || e == std::string_view::npos) return {};
  return std::string(json.substr(p + 1, e - p - 1));
}

struct Aad {
  unsigned char bytes[4 + kSalt + 8];
  Aad(uint32_t tn, const unsigned char* salt, uint64_t index) {
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<unsigned char>(tn >> (8 * (3 - i)));
    std::memcpy(bytes + 4, salt, kSalt);
    put_be64(bytes + 4 + kSalt, index);
  }
};

// Seals one chunk into `out` (nonce | ciphertext | tag).
bool seal(const unsigned char* key, const Aad& aad, std::string_view plain, std::string& out) {
  out.resize(kNonce + plain.size() + kTag);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(o, kNonce) != 1) return false;
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> c(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0, m = 0;
  return c && EVP_EncryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, key, o) == 1 &&
         EVP_EncryptUpdate(c.get(), nullptr, &n, aad.bytes, sizeof aad.bytes) == 1 &&
         EVP_EncryptUpdate(c.get(), o + kNonce, &n, reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size())) == 1 &&
         EVP_EncryptFinal_ex(c.get(), o + kNonce + n, &m) == 1 &&
         EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, kTag, o + kNonce + plain.size()) == 1;
}

bool open_chunk(const unsigned char* key, const Aad& aad, const unsigned char* rec, size_t plain_len, std::string& out) {
  out.resize(plain_len);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> c(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0, m = 0;
  unsigned char tag[kTag];
  std::memcpy(tag, rec + kNonce + plain_len, kTag);
  return c && EVP_DecryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, key, rec) == 1 &&
         EVP_DecryptUpdate(c.get(), nullptr, &n, aad.bytes, sizeof aad.bytes) == 1 &&
         EVP_DecryptUpdate(c.get(), reinterpret_cast<unsigned char*>(out.data()), &n, rec + kNonce, static_cast<int>(plain_len)) == 1 &&
         EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag) == 1 && EVP_DecryptFinal_ex(c.get(), reinterpret_cast<unsigned char*>(out.data()) + n, &m) == 1;
}

class EncWriter : public BlobWriter {
 public:
  EncWriter(std::string tmp, std::string tdir, int fd, std::vector<unsigned char> key, uint32_t tn)
      : tmp_(std::move(tmp)), tdir_(std::move(tdir)), fd_(fd), key_(std::move(key)), tn_(tn) {
    if (RAND_bytes(salt_, kSalt) != 1) throw Error(CM_INTERNAL, "no randomness");
    unsigned char header[kHeader] = {'C', 'M', 'B', 'E', '1', 0, 0, 0};
    std::memcpy(header + 16, salt_, kSalt);
    if (::pwrite(fd_, header, kHeader, 0) != static_cast<ssize_t>(kHeader)) throw Error(CM_IO, "blob-encrypted: cannot write header");
  }
  ~EncWriter() override { abort(); }

  Status write(std::string_view bytes) override {
    while (!bytes.empty()) {
      size_t take = std::min(bytes.size(), kChunk - buf_.size());
      buf_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (buf_.size() == kChunk)
        if (auto st = flush(); !st.ok()) return st;
    }
    return Status::Ok();
  }

  Status commit(std::string_view id) override {
    if (!valid_id(id)) return bad_id();
    if (auto st = flush(); !st.ok()) return st;
    unsigned char size_be[8];
    put_be64(size_be, size_);
    if (::pwrite(fd_, size_be, 8, 8) != 8 || ::fsync(fd_) != 0) return io("write");
    ::close(fd_);
    fd_ = -1;
    std::string target = tdir_ + "/" + std::string(id);
    if (::rename(tmp_.c_str(), target.c_str()) != 0) return io("rename");
    tmp_.clear();
    return Status::Ok();
  }

  void abort() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
    tmp_.clear();
  }

 private:
  Status flush() {
    if (buf_.empty()) return Status::Ok();
    std::string rec;
    if (!seal(key_.data(), Aad(tn_, salt_, index_), buf_, rec)) return Status::Error(CM_INTERNAL, "encryption failed");
    if (::pwrite(fd_, rec.data(), rec.size(), static_cast<off_t>(kHeader + index_ * kRecord)) != static_cast<ssize_t>(rec.size())) return io("write");
    size_ += buf_.size();
    ++index_;
    buf_.clear();
    return Status::Ok();
  }

  std::string tmp_, tdir_;
  int fd_;
  std::vector<unsigned char> key_;
  uint32_t tn_;
  unsigned char salt_[kSalt];
  std::string buf_;
  uint64_t index_ = 0, size_ = 0;
};

class EncryptedBlob : public BlobAdapter {
 public:
  explicit EncryptedBlob(std::string_view options) {
    dir_ = option(options, "dir");
    std::string hex = option(options, "masterKey");
    if (dir_.empty() || dir_[0] != '/') throw Error(CM_INVALID, "blob-encrypted: option \"dir\" (absolute path) is required");
    if (hex.size() != 64) throw Error(CM_INVALID, "blob-encrypted: option \"masterKey\" must be 64 hex characters (256 bits)");
    for (size_t i = 0; i < 32; ++i) master_[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    ::mkdir(dir_.c_str(), 0750);
  }

  Status open_writer(const Tenant& tn, std::unique_ptr<BlobWriter>& out) override {
    std::string tdir = tenant_dir(tn);
    ::mkdir(tdir.c_str(), 0750);
    unsigned char r[8];
    RAND_bytes(r, sizeof r);
    char name[64];
    std::snprintf(name, sizeof name, "/.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    std::string tmp = tdir + name;
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) return io("create " + tmp);
    out = std::make_unique<EncWriter>(tmp, tdir, fd, tenant_key(tn), tn.tn_id);
    return Status::Ok();
  }

  Status read(const Tenant& tn, std::string_view id, uint64_t offset, uint64_t length, const Sink& out) override {
    if (!valid_id(id)) return bad_id();
    int fd = ::open((tenant_dir(tn) + "/" + std::string(id)).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? Status::NotFound("no such blob") : io("open");
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    unsigned char header[kHeader];
    if (::pread(fd, header, kHeader, 0) != static_cast<ssize_t>(kHeader) || std::memcmp(header, "CMBE1", 5) != 0) return Status::Error(CM_IO, "blob-encrypted: corrupt header");
    const uint64_t size = get_be64(header + 8);
    if (offset > size) return Status::Invalid("offset beyond end of blob");
    uint64_t left = std::min(length, size - offset), pos = offset;
    const auto key = tenant_key(tn);
    std::string rec(kRecord, '\0'), plain;
    while (left > 0) {
      const uint64_t index = pos / kChunk;
      const size_t plain_len = static_cast<size_t>(std::min<uint64_t>(kChunk, size - index * kChunk));
      if (::pread(fd, rec.data(), kNonce + plain_len + kTag, static_cast<off_t>(kHeader + index * kRecord)) != static_cast<ssize_t>(kNonce + plain_len + kTag))
        return Status::Error(CM_IO, "blob-encrypted: truncated blob");
      if (!open_chunk(key.data(), Aad(tn.tn_id, header + 16, index), reinterpret_cast<const unsigned char*>(rec.data()), plain_len, plain))
        return Status::Error(CM_IO, "blob-encrypted: chunk " + std::to_string(index) + " failed authentication (tampered, or another tenant's key)");
      const size_t in = static_cast<size_t>(pos - index * kChunk);
      const size_t take = static_cast<size_t>(std::min<uint64_t>(left, plain_len - in));
      if (!out.write(std::string_view(plain).substr(in, take))) return Status::Error(CM_UNAVAILABLE, "reader went away");
      pos += take;
      left -= take;
    }
    return Status::Ok();
  }

  Status stat(const Tenant& tn, std::string_view id, uint64_t& size) override {
    if (!valid_id(id)) return bad_id();
    int fd = ::open((tenant_dir(tn) + "/" + std::string(id)).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? Status::NotFound("no such blob") : io("open");
    unsigned char header[kHeader];
    ssize_t n = ::pread(fd, header, kHeader, 0);
    ::close(fd);
    if (n != static_cast<ssize_t>(kHeader)) return Status::Error(CM_IO, "blob-encrypted: corrupt header");
    size = get_be64(header + 8);
    return Status::Ok();
  }

  Status remove(const Tenant& tn, std::string_view id) override {
    if (!valid_id(id)) return bad_id();
    if (::unlink((tenant_dir(tn) + "/" + std::string(id)).c_str()) != 0) return errno == ENOENT ? Status::NotFound("no such blob") : io("unlink");
    return Status::Ok();
  }

  Status list(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override {
    std::set<std::string> ids;
    if (DIR* d = ::opendir(tenant_dir(tn).c_str())) {
      while (dirent* e = ::readdir(d))
        if (valid_id(e->d_name) && std::string_view(e->d_name) > after) ids.insert(e->d_name);
      ::closedir(d);
    }
    uint32_t n = 0;
    for (const auto& id : ids) {
      if (limit && n++ >= limit) break;
      if (!out.write(id + "\n")) return Status::Error(CM_UNAVAILABLE, "reader went away");
    }
    return Status::Ok();
  }

 private:
  std::string tenant_dir(const Tenant& tn) const { return dir_ + "/" + std::to_string(tn.tn_id); }
  std::vector<unsigned char> tenant_key(const Tenant& tn) const {
    std::string label = "cumulo-blob-tenant:" + std::to_string(tn.tn_id);
    std::vector<unsigned char> key(32);
    unsigned int len = 32;
    HMAC(EVP_sha256(), master_, sizeof master_, reinterpret_cast<const unsigned char*>(label.data()), label.size(), key.data(), &len);
    return key;
  }

  std::string dir_;
  unsigned char master_[32];
};

}  // namespace

CUMULO_PLUGIN("blob-encrypted", "0.1.0", "Sample: blobs encrypted at rest with per-tenant AES-256-GCM keys", CM_KIND_BLOB) {
  reg.add<EncryptedBlob>("blob-encrypted");
}
