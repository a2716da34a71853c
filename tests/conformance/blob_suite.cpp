// Blob adapter conformance: streamed writes that appear atomically, ranges,
// persistence, tenant isolation, id safety, concurrency, large blobs in
// bounded memory, and crash safety. Runs against every blob adapter (built-in,
// the in-memory sample, and third parties' through cumulo-adapter-test).
#include <fcntl.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <fstream>
#include <future>
#include <thread>

#include "conformance.hpp"

extern char** environ;

namespace cumulo::conformance {
namespace {

using plugins::BlobHandle;
using plugins::PluginError;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};
constexpr size_t kMiB = size_t{1} << 20;

// Deterministic bytes covering every byte value, NULs included.
void fill(char* p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);  // splitmix64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(p + i, &z, std::min<size_t>(8, n - i));
  }
}
std::string pattern(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  fill(s.data(), n, seed);
  return s;
}

// Streaming SHA-256 giving the host's blob id: b1~ + unpadded base64url.
class Sha {
 public:
  Sha() : md_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(md_, EVP_sha256(), nullptr); }
  ~Sha() { EVP_MD_CTX_free(md_); }
  Sha(const Sha&) = delete;
  Sha& operator=(const Sha&) = delete;
  void update(std::string_view b) { EVP_DigestUpdate(md_, b.data(), b.size()); }
  std::string id() {
    unsigned char d[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md_, d, &n);
    unsigned char b64[48];
    int len = EVP_EncodeBlock(b64, d, static_cast<int>(n));
    std::string s(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
    for (auto& c : s) c = c == '+' ? '-' : (c == '/' ? '_' : c);
    while (!s.empty() && s.back() == '=') s.pop_back();
    return "b1~" + s;
  }

 private:
  EVP_MD_CTX* md_;
};

std::string sha_id(std::string_view bytes) {
  Sha s;
  s.update(bytes);
  return s.id();
}

// AddressSanitizer keeps freed memory in quarantine: RSS says nothing there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif
#else
constexpr bool kRssMeaningful = true;
#endif

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> ids;
  for (size_t p = 0; p < text.size();) {
    size_t nl = text.find('\n', p);
    if (nl == std::string::npos) {
      ADD_FAILURE() << "list output not newline-terminated: " << text.substr(p);
      ids.push_back(text.substr(p));
      break;
    }
    ids.push_back(text.substr(p, nl - p));
    p = nl + 1;
  }
  return ids;
}

// The crash test's child is this very binary re-executed for that one test:
// a plain fork() of a multi-threaded process keeps no threads, and an engine
// with a background thread pool (RocksDB) would stall in the child.
constexpr const char* kCrashChildEnv = "CUMULO_BLOB_CRASH_CHILD";  // "<ready fd>,<hold fd>,<dir>"
constexpr size_t kCrashChunks = 8, kCrashKillAt = 6;

std::vector<std::string> own_cmdline() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
  return args;
}

std::string read_range(const BlobHandle& b, const TenantRef& tn, const std::string& id, uint64_t off, uint64_t len) {
  std::string out;
  b.read(tn, id, off, len, [&](std::string_view c) {
    out.append(c);
    return true;
  });
  return out;
}

std::vector<std::string> list_ids(const BlobHandle& b, const TenantRef& tn, const std::string& after = "", uint32_t limit = 0) {
  return split_lines(b.list(tn, after, limit));
}

// Streams `chunks` deterministic 1 MiB chunks (chunk i from seed base+i).
void write_chunks(const BlobHandle& b, const TenantRef& tn, const std::string& id, size_t chunks, uint64_t base, const std::function<void(size_t)>& before_chunk = {}) {
  std::string buf(kMiB, '\0');
  size_t i = 0;
  b.write(tn, id, [&]() -> std::string_view {
    if (i == chunks) return {};
    if (before_chunk) before_chunk(i);
    fill(buf.data(), buf.size(), base + i++);
    return buf;
  });
}

std::string chunks_id(size_t chunks, uint64_t base) {
  std::string buf(kMiB, '\0');
  Sha s;
  for (size_t i = 0; i < chunks; ++i) {
    fill(buf.data(), buf.size(), base + i);
    s.update(buf);
  }
  return s.id();
}

class BlobConformance : public AdapterFixture {
 protected:
  BlobHandle blob() const { return BlobHandle(inst_); }
  bool in_memory() const { return GetParam().factory.rfind("hello-", 0) == 0; }
  static std::string range(const BlobHandle& b, const TenantRef& tn, const std::string& id, uint64_t off, uint64_t len) { return read_range(b, tn, id, off, len); }
  static std::vector<std::string> list(const BlobHandle& b, const TenantRef& tn, const std::string& after = "", uint32_t limit = 0) { return list_ids(b, tn, after, limit); }
  [[noreturn]] void crash_child(const char* spec);
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
  b.write_all(kA, id, bytes);  // a removed id can be stored again
  EXPECT_EQ(b.read_all(kA, id), bytes);
}

TEST_P(BlobConformance, Ranges) {
  auto b = blob();
  const std::string bytes = pattern(300000, 2);
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  EXPECT_EQ(range(b, kA, id, 0, 10), bytes.substr(0, 10));                  // start
  EXPECT_EQ(range(b, kA, id, 123456, 70000), bytes.substr(123456, 70000));  // middle
  EXPECT_EQ(range(b, kA, id, 299990, UINT64_MAX), bytes.substr(299990));    // to the end
  EXPECT_EQ(range(b, kA, id, 299990, 1000), bytes.substr(299990));          // clamped at the end
  EXPECT_EQ(range(b, kA, id, 0, UINT64_MAX), bytes);
  EXPECT_EQ(range(b, kA, id, 300000, 10), "");  // offset == size: empty
  EXPECT_EQ(range(b, kA, id, 300000, UINT64_MAX), "");
  EXPECT_EQ(range(b, kA, id, 5, 0), "");  // zero length
  EXPECT_EQ(code_of([&] { range(b, kA, id, 300001, 1); }), CM_INVALID);  // past the end
  EXPECT_EQ(code_of([&] { range(b, kA, id, UINT64_MAX, 1); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { range(b, kA, sha_id("absent"), 0, 1); }), CM_NOT_FOUND);
}

// Ranges that start, end and straddle the chunk and buffer sizes adapters use.
TEST_P(BlobConformance, RangesAcrossChunkBoundaries) {
  auto b = blob();
  const std::string bytes = pattern(3 * kMiB + 12345, 3);
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  for (uint64_t edge : {uint64_t{64} << 10, uint64_t{256} << 10, uint64_t{1} << 20, uint64_t{2} << 20, uint64_t{3} << 20}) {
    EXPECT_EQ(range(b, kA, id, edge - 7, 14), bytes.substr(edge - 7, 14)) << edge;
    EXPECT_EQ(range(b, kA, id, edge, 100), bytes.substr(edge, 100)) << edge;
    EXPECT_EQ(range(b, kA, id, 0, edge), bytes.substr(0, edge)) << edge;
  }
  EXPECT_EQ(range(b, kA, id, kMiB - 1, kMiB + 2), bytes.substr(kMiB - 1, kMiB + 2));
  EXPECT_EQ(range(b, kA, id, 100, UINT64_MAX), bytes.substr(100));
}

TEST_P(BlobConformance, EmptyBinaryAndSizes) {
  auto b = blob();
  b.write_all(kA, sha_id(""), "");  // zero write() calls
  EXPECT_EQ(b.size(kA, sha_id("")), 0u);
  EXPECT_EQ(b.read_all(kA, sha_id("")), "");
  EXPECT_EQ(range(b, kA, sha_id(""), 0, UINT64_MAX), "");
  EXPECT_EQ(code_of([&] { range(b, kA, sha_id(""), 1, 1); }), CM_INVALID);

  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::string zeros(100000, '\0');
  for (const std::string& bytes : {all_bytes, zeros, std::string("\0", 1)}) {
    b.write_all(kA, sha_id(bytes), bytes);
    EXPECT_EQ(b.read_all(kA, sha_id(bytes)), bytes);
    EXPECT_EQ(b.size(kA, sha_id(bytes)), bytes.size());
  }

  for (size_t n : {size_t{1}, size_t{65535}, size_t{65536}, size_t{65537}, size_t{256} << 10, kMiB - 1, kMiB, kMiB + 1, (size_t{8} << 20) + 3}) {
    std::string bytes = pattern(n, n);
    bytes[0] = '\0';
    const std::string id = sha_id(bytes);
    size_t pos = 0;
    b.write(kA, id, [&]() -> std::string_view {  // uneven chunks
      size_t len = std::min<size_t>(bytes.size() - pos, 7777 + pos % 100003);
      std::string_view c(bytes.data() + pos, len);
      pos += len;
      return c;
    });
    EXPECT_EQ(b.size(kA, id), n);
    EXPECT_EQ(b.read_all(kA, id), bytes) << n;
  }
}

TEST_P(BlobConformance, RecommitIsIdempotent) {
  auto b = blob();
  const std::string small = "same bytes";
  b.write_all(kA, sha_id(small), small);
  b.write_all(kA, sha_id(small), small);
  const std::string big = pattern(2 * kMiB + 5, 4);
  b.write_all(kA, sha_id(big), big);
  b.write_all(kA, sha_id(big), big);
  const auto ids = list(b, kA);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(b.read_all(kA, sha_id(small)), small);
  EXPECT_EQ(b.read_all(kA, sha_id(big)), big);
  EXPECT_EQ(b.size(kA, sha_id(big)), big.size());
  b.remove(kA, sha_id(big));  // one copy: one remove makes it absent
  EXPECT_EQ(code_of([&] { b.size(kA, sha_id(big)); }), CM_NOT_FOUND);
}

TEST_P(BlobConformance, AbortLeavesNothing) {
  auto b = blob();
  int calls = 0;
  const std::string chunk = pattern(700000, 5);
  EXPECT_THROW(b.write(kA, sha_id("x"),
                       [&]() -> std::string_view {
                         if (++calls == 4) throw std::runtime_error("client went away");
                         return chunk;
                       }),
               std::runtime_error);
  EXPECT_THROW(b.write(kA, sha_id("y"), []() -> std::string_view { throw std::runtime_error("before any byte"); }), std::runtime_error);
  EXPECT_TRUE(list(b, kA).empty());
  EXPECT_EQ(code_of([&] { b.size(kA, sha_id("x")); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { b.read_all(kA, sha_id("x")); }), CM_NOT_FOUND);
}

// A commit refused for its id leaves nothing either (bytes already streamed).
TEST_P(BlobConformance, FailedCommitLeavesNothing) {
  auto b = blob();
  const std::string bytes = pattern(2 * kMiB + 1, 6);
  EXPECT_EQ(code_of([&] { b.write_all(kA, "../escape", bytes); }), CM_INVALID);
  EXPECT_TRUE(list(b, kA).empty());
  b.write_all(kA, sha_id(bytes), bytes);  // the adapter is still usable
  EXPECT_EQ(list(b, kA), std::vector<std::string>{sha_id(bytes)});
}

TEST_P(BlobConformance, ListOrderAfterAndLimit) {
  auto b = blob();
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    std::string bytes = "blob " + std::to_string(i);
    ids.push_back(sha_id(bytes));
    b.write_all(kA, ids.back(), bytes);
  }
  b.write_all(kA, "Zz-plain.id_1", "x");  // ids need not be hashes; byte-wise order
  ids.push_back("Zz-plain.id_1");
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(list(b, kA), ids);
  EXPECT_EQ(list(b, kA, "", 0), ids);  // limit 0 = unlimited
  EXPECT_EQ(list(b, kA, ids[9], 5), std::vector<std::string>(ids.begin() + 10, ids.begin() + 15));
  EXPECT_EQ(list(b, kA, "", 3), std::vector<std::string>(ids.begin(), ids.begin() + 3));
  EXPECT_EQ(list(b, kA, ids[27], 100), std::vector<std::string>(ids.begin() + 28, ids.end()));
  EXPECT_TRUE(list(b, kA, ids.back()).empty());
  EXPECT_TRUE(list(b, kA, "zzzz").empty());
  const std::string prefix = ids[3].substr(0, 5);  // `after` need not be an existing id
  EXPECT_EQ(list(b, kA, prefix, 1), std::vector<std::string>{*std::upper_bound(ids.begin(), ids.end(), prefix)});
  std::vector<std::string> paged;  // paging with after = last id seen
  for (std::string after;;) {
    auto page = list(b, kA, after, 7);
    if (page.empty()) break;
    paged.insert(paged.end(), page.begin(), page.end());
    after = page.back();
  }
  EXPECT_EQ(paged, ids);
}

TEST_P(BlobConformance, TenantIsolation) {
  auto b = blob();
  const std::string bytes = "alice's private bytes";
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  EXPECT_EQ(code_of([&] { b.size(kB, id); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { b.read_all(kB, id); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { range(b, kB, id, 0, 1); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { b.remove(kB, id); }), CM_NOT_FOUND);
  EXPECT_TRUE(list(b, kB).empty());
  EXPECT_EQ(b.read_all(kA, id), bytes);  // B's attempts changed nothing

  // The same id stored by both tenants: two independent blobs.
  const std::string shared = pattern(1500000, 7);
  b.write_all(kA, sha_id(shared), shared);
  b.write_all(kB, sha_id(shared), shared);
  const std::string bobs = "bob only";
  b.write_all(kB, sha_id(bobs), bobs);
  b.remove(kA, sha_id(shared));
  EXPECT_EQ(b.read_all(kB, sha_id(shared)), shared);
  EXPECT_EQ(code_of([&] { b.size(kA, sha_id(shared)); }), CM_NOT_FOUND);
  EXPECT_EQ(list(b, kA), std::vector<std::string>{id});
  auto bob_ids = std::vector<std::string>{sha_id(shared), sha_id(bobs)};
  std::sort(bob_ids.begin(), bob_ids.end());
  EXPECT_EQ(list(b, kB), bob_ids);
  EXPECT_EQ(code_of([&] { b.read_all(kA, sha_id(bobs)); }), CM_NOT_FOUND);
}

TEST_P(BlobConformance, UnsafeIdsRefused) {
  auto b = blob();
  const std::vector<std::string> bad = {"",
                                        ".",
                                        "..",
                                        "../x",
                                        "../../etc/passwd",
                                        "a/b",
                                        "/etc/passwd",
                                        "..\\x",
                                        "a\\b",
                                        ".hidden",
                                        "-dash-first",
                                        "~tilde-first",
                                        "_underscore-first",
                                        " space",
                                        "sp ace",
                                        "line\nbreak",
                                        "b1~tab\t",
                                        "colon:x",
                                        "pct%2e%2e",
                                        std::string("nul\0byte", 8),
                                        std::string(129, 'a'),
                                        std::string(300, 'a'),
                                        "\xc3\xa9-unicode",       // é
                                        "b1~\xef\xbc\xa1",        // fullwidth A
                                        "zero\xe2\x80\x8bwidth",  // U+200B
                                        "\xff\xfe"};
  for (const auto& id : bad) {
    EXPECT_EQ(code_of([&] { b.write_all(kA, id, "x"); }), CM_INVALID) << id;
    EXPECT_EQ(code_of([&] { b.size(kA, id); }), CM_INVALID) << id;
    EXPECT_EQ(code_of([&] { b.read_all(kA, id); }), CM_INVALID) << id;
    EXPECT_EQ(code_of([&] { b.remove(kA, id); }), CM_INVALID) << id;
  }
  EXPECT_TRUE(list(b, kA).empty());
}

TEST_P(BlobConformance, MaximalAndUnusualValidIds) {
  auto b = blob();
  const std::vector<std::string> good = {std::string(128, 'a'), "A", "9", "a._~-Z9", "z1~" + std::string(125, '-'), "x.."};
  for (const auto& id : good) {
    b.write_all(kA, id, "bytes of " + id);
    EXPECT_EQ(b.read_all(kA, id), "bytes of " + id) << id;
  }
  auto want = good;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(list(b, kA), want);
}

TEST_P(BlobConformance, PersistsAcrossReopen) {
  if (in_memory()) GTEST_SKIP() << "in-memory double";
  const std::string small = pattern(5000, 8), big = pattern(3 * kMiB + 77, 9), gone = "removed before restart";
  {
    auto b = blob();
    b.write_all(kA, sha_id(small), small);
    b.write_all(kB, sha_id(big), big);
    b.write_all(kA, sha_id(gone), gone);
    b.remove(kA, sha_id(gone));
  }
  inst_.reset();  // like a restart: some engines (RocksDB, LMDB) allow one open per directory
  BlobHandle again(reopen());
  EXPECT_EQ(again.read_all(kA, sha_id(small)), small);
  EXPECT_EQ(again.read_all(kB, sha_id(big)), big);
  EXPECT_EQ(range(again, kB, sha_id(big), kMiB + 3, 10), big.substr(kMiB + 3, 10));
  EXPECT_EQ(code_of([&] { again.size(kA, sha_id(gone)); }), CM_NOT_FOUND);
  EXPECT_EQ(list(again, kA), std::vector<std::string>{sha_id(small)});
}

TEST_P(BlobConformance, ConcurrentWritersAndReaders) {
  auto b = blob();
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < 20; ++i) {
          const std::string own = pattern(20000 + static_cast<size_t>(i) * 4099, static_cast<uint64_t>(t * 100 + i));
          b.write_all(kA, sha_id(own), own);
          const std::string shared = pattern(30000 + static_cast<size_t>(i) * 65536, 1000 + static_cast<uint64_t>(i));  // all threads write these
          b.write_all(kA, sha_id(shared), shared);
          if (b.read_all(kA, sha_id(own)) != own || b.read_all(kA, sha_id(shared)) != shared) ++errors;
          if (b.size(kA, sha_id(shared)) != shared.size()) ++errors;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++errors;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(list(b, kA).size(), 8u * 20u + 20u);
}

// A reader keeps getting the blob it started with while another thread
// removes it: all bytes or an error, never a cut or mixed stream.
TEST_P(BlobConformance, RemoveDuringReadNeverCutsTheStream) {
  auto b = blob();
  const std::string bytes = pattern(3 * kMiB + 12345, 10);
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  std::string got;
  std::future<cm_status> removal;
  bool blocked = false;
  b.read(kA, id, 0, UINT64_MAX, [&](std::string_view c) {
    got.append(c);
    if (!removal.valid()) {
      removal = std::async(std::launch::async, [&] { return code_of([&] { b.remove(kA, id); }); });
      // The remove must not wait for this read to finish (a reader may be slow).
      blocked = removal.wait_for(std::chrono::seconds(30)) != std::future_status::ready;
    }
    return true;
  });
  EXPECT_FALSE(blocked) << "remove() waited for a streaming read to end";
  EXPECT_EQ(removal.get(), CM_OK);
  EXPECT_EQ(got.size(), bytes.size());
  EXPECT_TRUE(got == bytes);
  EXPECT_EQ(code_of([&] { b.size(kA, id); }), CM_NOT_FOUND);
}

// A sink that says stop is not called again, and nothing breaks.
TEST_P(BlobConformance, StoppedReaderEndsTheStream) {
  auto b = blob();
  const std::string bytes = pattern(2 * kMiB + 3, 11);
  const std::string id = sha_id(bytes);
  b.write_all(kA, id, bytes);
  int calls = 0;
  code_of([&] {
    b.read(kA, id, 0, UINT64_MAX, [&](std::string_view) {
      ++calls;
      return false;
    });
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(b.read_all(kA, id), bytes);
}

TEST_P(BlobConformance, LargeBlobStreamsInBoundedMemory) {
  if (in_memory()) GTEST_SKIP() << "in-memory double holds blobs in RAM by design";
  auto b = blob();
  constexpr size_t kChunks = 200;  // 200 MiB, every chunk different
  const std::string id = chunks_id(kChunks, 500);
  // Warm up first: an engine's first flush starts its background threads and
  // their allocator arenas once per process. That is not what is measured
  // here; memory that grows with the blob's size is.
  write_chunks(b, kA, chunks_id(8, 400), 8, 400);
  b.read(kA, chunks_id(8, 400), 0, UINT64_MAX, [](std::string_view) { return true; });
  ::malloc_trim(0);  // earlier tests' freed heap must not hide growth
  const long before = rss_kib();
  long peak = before;
  auto sample = [&] { peak = std::max(peak, rss_kib()); };
  write_chunks(b, kA, id, kChunks, 500, [&](size_t i) {
    if (i % 8 == 0) sample();
  });
  sample();
  const long write_peak = peak;
  EXPECT_EQ(b.size(kA, id), kChunks * kMiB);
  Sha sha;
  uint64_t got = 0, next_sample = 0;
  b.read(kA, id, 0, UINT64_MAX, [&](std::string_view c) {
    sha.update(c);
    got += c.size();
    if (got >= next_sample) {
      sample();
      next_sample += 8 * kMiB;
    }
    return true;
  });
  sample();
  EXPECT_EQ(got, kChunks * kMiB);
  EXPECT_EQ(sha.id(), id) << "bytes read back differ from the bytes written";
  RecordProperty("rss_growth_kib", std::to_string(peak - before));
  RecordProperty("rss_growth_write_kib", std::to_string(write_peak - before));
  if (kRssMeaningful) {
    EXPECT_LT(peak - before, 16 * 1024) << "RSS grew by " << (peak - before) << " KiB while streaming 200 MiB";
  }
}

void BlobConformance::crash_child(const char* spec) {
  // Runs in the re-executed child: never returns into the test framework,
  // whose TearDown would delete the parent's directory.
  try {
    const std::string s = spec;
    const size_t c1 = s.find(','), c2 = s.find(',', c1 + 1);
    const int ready = std::stoi(s.substr(0, c1)), hold = std::stoi(s.substr(c1 + 1, c2 - c1 - 1));
    inst_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);  // the fresh directory SetUp made for us
    dir_ = s.substr(c2 + 1);
    BlobHandle b(reopen());
    const std::string kept = pattern(300000, 12);
    b.write_all(kA, sha_id(kept), kept);  // committed before the crash
    write_chunks(b, kA, chunks_id(kCrashChunks, 600), kCrashChunks, 600, [&](size_t i) {
      if (i != kCrashKillAt) return;
      char c = 1;
      if (::write(ready, &c, 1) != 1) ::_exit(4);
      while (::read(hold, &c, 1) != 0) {  // the parent kills us here; EOF = parent died
      }
      ::_exit(5);
    });
  } catch (...) {
  }
  ::_exit(3);
}

TEST_P(BlobConformance, KilledWriterLeavesNoVisibleBlob) {
  if (in_memory()) GTEST_SKIP() << "in-memory double: nothing survives the process anyway";
  if (const char* spec = std::getenv(kCrashChildEnv)) crash_child(spec);

  const std::string kept = pattern(300000, 12);
  const std::string lost = chunks_id(kCrashChunks, 600);
  int ready[2], hold[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::vector<std::string> args = own_cmdline();
  ASSERT_FALSE(args.empty());
  args.push_back(std::string("--gtest_filter=") + info->test_suite_name() + "." + info->name());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind(kCrashChildEnv, 0) != 0) env.emplace_back(*e);
  env.push_back(std::string(kCrashChildEnv) + "=" + std::to_string(ready[1]) + "," + std::to_string(hold[0]) + "," + dir_.string());
  std::vector<char*> argv, envp;  // built before fork: the child may only call async-signal-safe functions
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);

  inst_.reset();  // the child opens the directory itself (one open per directory for RocksDB/LMDB)
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::fcntl(ready[1], F_SETFD, 0);
    ::fcntl(hold[0], F_SETFD, 0);
    ::dup2(devnull, STDOUT_FILENO);  // the child's test-runner chatter
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(ready[1]);
  ::close(hold[0]);
  ::close(devnull);
  pollfd p{ready[0], POLLIN, 0};
  char c = 0;
  const bool mid_write = ::poll(&p, 1, 120000) == 1 && ::read(ready[0], &c, 1) == 1;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(ready[0]);
  ::close(hold[1]);
  ASSERT_TRUE(mid_write) << "the child did not reach the middle of its write (exit status " << status << ")";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  BlobHandle after(reopen());
  EXPECT_EQ(code_of([&] { after.size(kA, lost); }), CM_NOT_FOUND);
  EXPECT_EQ(code_of([&] { after.read_all(kA, lost); }), CM_NOT_FOUND);
  EXPECT_EQ(list(after, kA), std::vector<std::string>{sha_id(kept)});
  EXPECT_EQ(after.read_all(kA, sha_id(kept)), kept);
  write_chunks(after, kA, lost, kCrashChunks, 600);  // the interrupted blob can be written again, whole
  Sha sha;
  after.read(kA, lost, 0, UINT64_MAX, [&](std::string_view bytes) {
    sha.update(bytes);
    return true;
  });
  EXPECT_EQ(sha.id(), lost);
}

INSTANTIATE_TEST_SUITE_P(Blob, BlobConformance, ::testing::ValuesIn(adapters_of(CM_KIND_BLOB)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BlobConformance);

// ---- built-in specifics ---------------------------------------------------------

// Options are validated by the factory, with the adapter's name in the message.
TEST(BlobBuiltins, BadOptionsRefusedClearly) {
  const auto shadow = std::filesystem::temp_directory_path() / ("cumulo-blob-options-" + std::to_string(::getpid()));
  int tested = 0;
  {
    plugins::PluginManager pm({}, shadow);  // instances with options other than the registry's
    for (const std::string factory : {"blob-fs", "blob-rocksdb"}) {
      const auto& all = registry();
      auto it = std::find_if(all.begin(), all.end(), [&](const auto& a) { return a.factory == factory; });
      if (it == all.end()) continue;
      ASSERT_NE(pm.load(it->plugin_path).status, "refused") << it->plugin_path;
      ++tested;
      for (const std::string options : {"not json", "[]", "{}", R"({"dir":""})", R"({"dir":"relative/path"})", R"({"dir":42})", R"({"dir":"/tmp/x","bogus":true})"}) {
        try {
          pm.create(CM_KIND_BLOB, factory, options);
          ADD_FAILURE() << factory << " accepted " << options;
        } catch (const PluginError& e) {
          EXPECT_EQ(e.code(), CM_INVALID) << factory << " " << options << ": " << e.what();
          EXPECT_NE(std::string(e.what()).find(factory), std::string::npos) << "message should name the adapter: " << e.what();
        }
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(shadow, ec);
  if (tested == 0) GTEST_SKIP() << "no built-in blob adapter under test";
}

// blob-fs with verification on, and its temp-file sweep.
class BlobFsSpecific : public AdapterFixture {};

std::vector<AdapterUnderTest> blob_fs_verifying() {
  std::vector<AdapterUnderTest> out;
  for (auto a : adapters_of(CM_KIND_BLOB))
    if (a.factory == "blob-fs") {
      a.options_template = R"({"dir":"${DIR}","verify":true})";
      a.label += "_verify";
      out.push_back(a);
    }
  return out;
}

TEST_P(BlobFsSpecific, MismatchingContentAddressRefused) {
  BlobHandle b(inst_);
  EXPECT_EQ(code_of([&] { b.write_all(kA, sha_id("other bytes"), "these bytes"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { b.write_all(kA, sha_id("these bytes").substr(0, 40), "these bytes"); }), CM_INVALID);  // truncated hash
  EXPECT_EQ(code_of([&] { b.size(kA, sha_id("other bytes")); }), CM_NOT_FOUND);
  const std::string big = pattern(3 * kMiB, 13);
  b.write_all(kA, sha_id(big), big);  // hashed while streaming
  b.write_all(kA, sha_id("these bytes"), "these bytes");
  b.write_all(kA, "not-a-content-address", "anything");  // only b1~ ids are checked
  EXPECT_EQ(b.read_all(kA, sha_id(big)), big);
  EXPECT_EQ(list_ids(b, kA).size(), 3u);
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "1" / ".tmp", ec)) << "a refused commit left its temp file";
}

// A second instance on the same directory (hot swap) sweeps the temp files of
// dead writers, never those of the first instance's live writers.
TEST_P(BlobFsSpecific, SweepRemovesOnlyDeadWrites) {
  BlobHandle b(inst_);
  b.write_all(kA, "warm-up", "creates the tenant's directories");
  const auto orphan = dir_ / "1" / ".tmp" / "dead-writer.part";
  std::ofstream(orphan) << "half a blob from a killed process";
  ASSERT_TRUE(std::filesystem::exists(orphan));
  const std::string id = chunks_id(4, 700);
  std::shared_ptr<plugins::Instance> second;
  write_chunks(b, kA, id, 4, 700, [&](size_t i) {
    if (i == 2) second = reopen();  // sweeps while this write is half done
  });
  EXPECT_FALSE(std::filesystem::exists(orphan));
  BlobHandle b2(second);
  EXPECT_EQ(b2.size(kA, id), 4 * kMiB);
  EXPECT_EQ(b.size(kA, id), 4 * kMiB);
}

INSTANTIATE_TEST_SUITE_P(BlobFs, BlobFsSpecific, ::testing::ValuesIn(blob_fs_verifying()), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BlobFsSpecific);

}  // namespace
}  // namespace cumulo::conformance
