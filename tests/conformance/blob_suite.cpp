// Blob adapter conformance: streamed writes that appear atomically, ranges,
// persistence, tenant isolation, id safety, concurrency, large blobs in
// bounded memory, and crash safety.
#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using plugins::BlobHandle;
using plugins::PluginError;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

std::string sha_id(std::string_view bytes) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  unsigned char b64[64];
  int len = EVP_EncodeBlock(b64, md, static_cast<int>(n));
  std::string s(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
  for (auto& c : s) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return "b1~" + s;
}

std::string pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}


class BlobConformance : public AdapterFixture {
 protected:
  BlobHandle blob() const { return BlobHandle(inst_); }
  bool in_memory() const { return GetParam().factory.rfind("hello-", 0) == 0; }
  std::string range(const BlobHandle& b, const TenantRef& tn, const std::string& id, uint64_t off, uint64_t len) {
    std::string out;
    b.read(tn, id, off, len, [&](std::string_view c) {
      out.append(c);
      return true;
    });
    return out;
  }
  std::vector<std::string> list(const BlobHandle& b, const TenantRef& tn, const std::string& after = "", uint32_t limit = 0) {
    std::vector<std::string> ids;
    std::string text = b.list(tn, after, limit);
    for (size_t p = 0; p < text.size();) {
      size_t nl = text.find('\n', p);
      ids.push_back(text.substr(p, nl - p));
      p = nl + 1;
    }
    return ids;
  }
};

TEST_P(BlobConformance, RoundTripStatListRemove) {
  auto b = blob();
  const std::string bytes = pattern(100000, 1);
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  EXPECT_EQ(b.size(kA, id), bytes.size());
  EXPECT_EQ(b.read_all(kA, id), bytes);
  EXPECT_EQ(list(b, kA), std::vector<std::string>{id});
  b.remove(kA, id);
  EXPECT_EQ(code_of([&] { b.size(kA, id); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { b.read_all(kA, id); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { b.remove(kA, id); }), CM_NOT_FOUND);
  EXPECT_TRUE(list(b, kA).empty());
}

TEST_P(BlobConformance, Ranges) {
  auto b = blob();
  const std::string bytes = pattern(300000, 2);
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  EXPECT_EQ(range(b, kA, id, 0, 10), bytes.substr(0, 10));
  EXPECT_EQ(range(b, kA, id, 123456, 70000), bytes.substr(123456, 70000));
  EXPECT_EQ(range(b, kA, id, 299990, UINT64_MAX), bytes.substr(299990));
  EXPECT_EQ(range(b, kA, id, 299990, 1000), bytes.substr(299990));  // clamped at the end
  EXPECT_EQ(range(b, kA, id, 300000, 10), "");                      // offset == size: empty
  EXPECT_EQ(range(b, kA, id, 5, 0), "");
  EXPECT_EQ(code_of([&] { range(b, kA, id, 300001, 1); }), CM_INVALID);
}

TEST_P(BlobConformance, EmptyAndBinaryAndSizes) {
  auto b = blob();
  b.write_all(kA, sha_id(""), "");
  EXPECT_EQ(b.size(kA, sha_id("")), 0u);
  EXPECT_EQ(b.read_all(kA, sha_id("")), "");
  for (size_t n : {size_t{1}, size_t{65536}, size_t{65537}, size_t{1} << 20, (size_t{8} << 20) + 3}) {
    std::string bytes = pattern(n, static_cast<unsigned>(n));
    bytes[0] = '\0';
    std::string id = sha_id(bytes);
    size_t pos = 0;
    b.write(kA, id, [&]() -> std::string_view {  // uneven chunks
      size_t len = std::min<size_t>(bytes.size() - pos, 7777 + pos % 1000);
      std::string_view c(bytes.data() + pos, len);
      pos += len;
      return c;
    });
    EXPECT_EQ(b.read_all(kA, id), bytes) << n;
  }
}

TEST_P(BlobConformance, RecommitIsIdempotent) {
  auto b = blob();
  const std::string bytes = "same bytes";
  b.write_all(kA, sha_id(bytes), bytes);
  b.write_all(kA, sha_id(bytes), bytes);
  EXPECT_EQ(list(b, kA).size(), 1u);
  EXPECT_EQ(b.read_all(kA, sha_id(bytes)), bytes);
}

TEST_P(BlobConformance, AbortLeavesNothing) {
  auto b = blob();
  int calls = 0;
  EXPECT_THROW(b.write(kA, sha_id("x"),
                       [&]() -> std::string_view {
                         if (++calls == 3) throw std::runtime_error("client went away");
                         return "partial";
                       }),
               std::runtime_error);
  EXPECT_TRUE(list(b, kA).empty());
  EXPECT_EQ(code_of([&] { b.size(kA, sha_id("x")); }), CM_NOT_FOUND);
}

TEST_P(BlobConformance, ListOrderAfterAndLimit) {
  auto b = blob();
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    std::string bytes = "blob " + std::to_string(i);
    ids.push_back(sha_id(bytes));
    b.write_all(kA, ids.back(), bytes);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(list(b, kA), ids);
  EXPECT_EQ(list(b, kA, ids[9], 5), std::vector<std::string>(ids.begin() + 10, ids.begin() + 15));
}

TEST_P(BlobConformance, TenantIsolation) {
  auto b = blob();
  const std::string bytes = "alice's private bytes";
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  EXPECT_EQ(code_of([&] { b.size(kB, id); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { b.read_all(kB, id); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { b.remove(kB, id); }), CM_NOT_FOUND);
  EXPECT_TRUE(list(b, kB).empty());
  EXPECT_EQ(b.read_all(kA, id), bytes);  // B's attempts changed nothing
}

TEST_P(BlobConformance, UnsafeIdsRefused) {
  auto b = blob();
  const std::vector<std::string> bad = {"", ".", "..", "../x", "a/b", "/etc/passwd", "..\\x", "é-unicode", std::string(200, 'a'), std::string("nul\0byte", 8), ".hidden"};
  for (const auto& id : bad) {
    EXPECT_EQ(code_of([&] { b.write_all(kA, id, "x"); }), CM_INVALID) << id;
    EXPECT_EQ(code_of([&] { b.size(kA, id); }), CM_INVALID) << id;
    EXPECT_EQ(code_of([&] { b.read_all(kA, id); }), CM_INVALID) << id;
  }
  EXPECT_TRUE(list(b, kA).empty());
}

TEST_P(BlobConformance, PersistsAcrossReopen) {
  if (in_memory()) GTEST_SKIP() << "in-memory double";
  const std::string bytes = pattern(5000, 3);
  blob().write_all(kA, sha_id(bytes), bytes);
  inst_.reset();  // like a restart: some engines (RocksDB) allow one open per directory
  BlobHandle again(reopen());
  EXPECT_EQ(again.read_all(kA, sha_id(bytes)), bytes);
}

TEST_P(BlobConformance, ConcurrentWritersAndReaders) {
  auto b = blob();
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < 20; ++i) {
          std::string own = pattern(20000 + i, static_cast<unsigned>(t * 100 + i));
          b.write_all(kA, sha_id(own), own);
          std::string shared = pattern(30000, static_cast<unsigned>(i));  // all threads write these
          b.write_all(kA, sha_id(shared), shared);
          if (b.read_all(kA, sha_id(own)) != own || b.read_all(kA, sha_id(shared)) != shared) ++errors;
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(list(b, kA).size(), 8u * 20u + 20u);
}

TEST_P(BlobConformance, LargeBlobStreamsInBoundedMemory) {
  if (in_memory()) GTEST_SKIP() << "in-memory double holds blobs in RAM by design";
  auto b = blob();
  constexpr size_t kChunk = 1 << 20, kChunks = 200;  // 200 MiB
  const std::string chunk = pattern(kChunk, 9);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  for (size_t i = 0; i < kChunks; ++i) EVP_DigestUpdate(md, chunk.data(), chunk.size());
  unsigned char digest[32];
  unsigned int n = 0;
  EVP_DigestFinal_ex(md, digest, &n);
  EVP_MD_CTX_free(md);
  unsigned char b64[64];
  int len = EVP_EncodeBlock(b64, digest, 32);
  std::string id(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
  for (auto& c : id) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  while (id.back() == '=') id.pop_back();
  id = "b1~" + id;

  const long before = rss_kib();
  size_t sent = 0;
  b.write(kA, id, [&]() -> std::string_view { return sent++ < kChunks ? std::string_view(chunk) : std::string_view(); });
  EXPECT_EQ(b.size(kA, id), kChunk * kChunks);
  size_t got = 0;
  bool same = true;
  b.read(kA, id, 0, UINT64_MAX, [&](std::string_view c) {
    for (size_t off = 0; off < c.size(); ++off)
      if (c[off] != chunk[(got + off) % kChunk]) {
        same = false;
        break;
      }
    got += c.size();
    return true;
  });
  const long after = rss_kib();
  EXPECT_EQ(got, kChunk * kChunks);
  EXPECT_TRUE(same);
  EXPECT_LT(after - before, 16 * 1024) << "RSS grew by " << (after - before) << " KiB";
}

TEST_P(BlobConformance, KilledWriterLeavesNoVisibleBlob) {
  if (in_memory()) GTEST_SKIP() << "in-memory double: nothing survives the process anyway";
  const std::string chunk = pattern(1 << 20, 11);
  const std::string id = "b1~never-committed";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  inst_.reset();  // the child opens the directory itself (one open per directory for RocksDB)
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: a fresh instance on the same directory, killed mid-write.
    ::close(ready[0]);
    try {
      BlobHandle b(reopen());
      int sent = 0;
      b.write(kA, id, [&]() -> std::string_view {
        if (++sent == 5) {
          char c = 1;
          if (::write(ready[1], &c, 1) != 1) ::_exit(3);
          ::pause();  // wait for SIGKILL mid-write
        }
        return chunk;
      });
    } catch (...) {
    }
    ::_exit(2);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  BlobHandle after(reopen());
  EXPECT_EQ(code_of([&] { after.size(kA, id); }), CM_NOT_FOUND);
  EXPECT_TRUE(list(after, kA).empty());
}

INSTANTIATE_TEST_SUITE_P(Blob, BlobConformance, ::testing::ValuesIn(adapters_of(CM_KIND_BLOB)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BlobConformance);

}  // namespace
}  // namespace cumulo::conformance

namespace cumulo::conformance {
namespace {
// blob-fs verifies content addresses when asked (option "verify").
TEST(BlobFs, MismatchingContentAddressRefused) {
  const auto& all = registry();
  auto it = std::find_if(all.begin(), all.end(), [](const auto& a) { return a.factory == "blob-fs"; });
  if (it == all.end()) GTEST_SKIP() << "blob-fs not under test";
  plugins::PluginManager pm({}, std::filesystem::temp_directory_path() / ("cumulo-blobfs-shadow-" + std::to_string(::getpid())));
  ASSERT_NE(pm.load(it->plugin_path).status, "refused");
  auto dir = std::filesystem::temp_directory_path() / ("cumulo-blobfs-" + std::to_string(::getpid()));
  BlobHandle b(pm.create(CM_KIND_BLOB, "blob-fs", R"({"verify":true,"dir":")" + dir.string() + R"("})"));
  EXPECT_EQ(code_of([&] { b.write_all(kA, sha_id("other bytes"), "these bytes"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { b.size(kA, sha_id("other bytes")); }), CM_NOT_FOUND);
  b.write_all(kA, sha_id("these bytes"), "these bytes");
  EXPECT_EQ(b.read_all(kA, sha_id("these bytes")), "these bytes");
  b = BlobHandle();
  std::filesystem::remove_all(dir);
}
}  // namespace
}  // namespace cumulo::conformance
