// Blob throughput through the SDK (BlobHandle → blob-fs.so / blob-rocksdb.so)
// against the same bytes moved without our layers, in one run on one disk:
//   raw syscalls  open/write/fsync/rename/fsync(dir) per blob, in this process
//                 (the least an atomic, durable adapter must do); reads: read(2)
//   dd            `dd bs=1M conv=fsync` per blob (one process each); reads to /dev/null
//   cp            one `cp` of all blobs then `sync` on the copies; reads: one `cat`
// Each measurement is the best of <reps>, the targets interleaved in every rep.
// Reads are warm (page cache), as they are for recently written blobs.
//
// Usage: bench_blob <build-dir> <scratch-dir> [small-count=200] [reps=3]
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "plugins/adapters.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using cumulo::plugins::BlobHandle;

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kBigChunks = 100;  // the 100 MiB blob

const cumulo::plugins::TenantRef kTenant{1, "bench.test"};

std::string b1(const std::vector<std::string>& parts) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  for (const auto& p : parts) EVP_DigestUpdate(md, p.data(), p.size());
  unsigned char d[32];
  unsigned int n = 0;
  EVP_DigestFinal_ex(md, d, &n);
  EVP_MD_CTX_free(md);
  unsigned char b64[48];
  int len = EVP_EncodeBlock(b64, d, 32);
  std::string s(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
  for (auto& c : s) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  while (s.back() == '=') s.pop_back();
  return "b1~" + s;
}

// Incompressible bytes, different for every chunk.
std::string chunk_bytes(uint64_t seed) {
  std::string s(kMiB, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
  for (size_t i = 0; i < s.size(); i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(s.data() + i, &x, 8);
  }
  return s;
}

double seconds(const std::function<void()>& f) {
  auto t = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void must(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "bench_blob: %s failed\n", what.c_str());
    std::exit(1);
  }
}

void shell(const std::string& cmd) { must(std::system(cmd.c_str()) == 0, cmd); }

void fsync_dir(const fs::path& d) {
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  must(fd >= 0 && ::fsync(fd) == 0, "fsync " + d.string());
  ::close(fd);
}

// What an atomic, durable store must do at least, with no layers around it.
void raw_write(const fs::path& dir, const std::string& name, const std::vector<const std::string*>& parts) {
  const fs::path tmp = dir / (name + ".tmp"), dst = dir / name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  must(fd >= 0, "open " + tmp.string());
  for (const auto* p : parts) must(::write(fd, p->data(), p->size()) == static_cast<ssize_t>(p->size()), "write");
  must(::fsync(fd) == 0, "fsync");
  ::close(fd);
  must(::rename(tmp.c_str(), dst.c_str()) == 0, "rename");
  fsync_dir(dir);
}

size_t raw_read(const fs::path& p, std::string& buf) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  must(fd >= 0, "open " + p.string());
  size_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) total += static_cast<size_t>(n);
  ::close(fd);
  return total;
}

struct Target {
  std::string name;
  std::function<void(size_t)> write_small;  // blob i (1 MiB)
  std::function<void()> read_small;         // all of them
  std::function<void()> write_big;
  std::function<void()> read_big;
  std::function<void()> reset;  // before each write round (not timed)
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_blob <build-dir> <scratch-dir> [small-count=200] [reps=3]\n");
    return 2;
  }
  const fs::path build = argv[1];
  const fs::path scratch = fs::absolute(argv[2]) / ("blob-bench-" + std::to_string(::getpid()));
  const size_t n = argc > 3 ? std::stoul(argv[3]) : 200;
  const int reps = argc > 4 ? std::stoi(argv[4]) : 3;
  must(n >= kBigChunks, "small-count >= 100");
  for (const char* d : {"src", "raw", "dd", "cp"}) fs::create_directories(scratch / d);

  // Blob i is chunk i; the big blob is chunks 0..99 streamed in order.
  std::vector<std::string> chunks;
  for (size_t i = 0; i < n; ++i) chunks.push_back(chunk_bytes(i));
  std::vector<std::string> ids;
  for (const auto& c : chunks) ids.push_back(b1({c}));
  const std::string big_id = b1(std::vector<std::string>(chunks.begin(), chunks.begin() + kBigChunks));
  std::vector<const std::string*> big_parts;
  for (size_t i = 0; i < kBigChunks; ++i) big_parts.push_back(&chunks[i]);
  // Sources for dd and cp (not timed).
  for (size_t i = 0; i < n; ++i) std::ofstream(scratch / "src" / ("s" + std::to_string(i)), std::ios::binary) << chunks[i];
  {
    std::ofstream big(scratch / "src" / "big", std::ios::binary);
    for (const auto* p : big_parts) big << *p;
  }
  shell("sync");

  cumulo::plugins::PluginManager pm({}, scratch / "shadow");
  must(pm.load(build / "plugins" / "blob-fs.so").status != "refused", "load blob-fs.so");
  must(pm.load(build / "plugins" / "blob-rocksdb.so").status != "refused", "load blob-rocksdb.so");
  std::map<std::string, BlobHandle> handles;
  handles["blob-fs"] = BlobHandle(pm.create(CM_KIND_BLOB, "blob-fs", R"({"dir":")" + (scratch / "fs").string() + R"("})"));
  handles["blob-fs verify"] = BlobHandle(pm.create(CM_KIND_BLOB, "blob-fs", R"({"verify":true,"dir":")" + (scratch / "fsv").string() + R"("})"));
  handles["blob-rocksdb"] = BlobHandle(pm.create(CM_KIND_BLOB, "blob-rocksdb", R"({"dir":")" + (scratch / "rocks").string() + R"("})"));

  std::string rbuf(kMiB, '\0');
  const std::string src = (scratch / "src").string(), ddd = (scratch / "dd").string(), cpd = (scratch / "cp").string(), rawd = (scratch / "raw").string();
  const std::string count = std::to_string(n - 1);
  std::vector<Target> targets;
  targets.push_back({"raw syscalls", [&](size_t i) { raw_write(scratch / "raw", "s" + std::to_string(i), {&chunks[i]}); },
                     [&] {
                       for (size_t i = 0; i < n; ++i) must(raw_read(scratch / "raw" / ("s" + std::to_string(i)), rbuf) == kMiB, "raw read");
                     },
                     [&] { raw_write(scratch / "raw", "big", big_parts); }, [&] { must(raw_read(scratch / "raw" / "big", rbuf) == kBigChunks * kMiB, "raw read big"); },
                     [&] { shell("rm -f " + rawd + "/*"); }});  // like the adapters: nothing is replaced while timed
  targets.push_back({"dd", {},  // one process per blob: see below
                     [&] { shell("for i in $(seq 0 " + count + "); do dd if=" + ddd + "/s$i of=/dev/null bs=1M status=none; done"); },
                     [&] { shell("dd if=" + src + "/big of=" + ddd + "/big bs=1M conv=fsync status=none"); }, [&] { shell("dd if=" + ddd + "/big of=/dev/null bs=1M status=none"); },
                     [&] { shell("rm -f " + ddd + "/*"); }});
  targets.push_back({"cp", {}, [&] { shell("cat " + cpd + "/s* > /dev/null"); }, [&] { shell("cp " + src + "/big " + cpd + "/big && sync " + cpd + "/big"); },
                     [&] { shell("cat " + cpd + "/big > /dev/null"); }, [&] { shell("rm -f " + cpd + "/*"); }});
  for (const auto& [name, h] : handles) {
    const BlobHandle* b = &h;
    targets.push_back({name, [b, &chunks, &ids](size_t i) { b->write_all(kTenant, ids[i], chunks[i]); },
                       [b, &ids] {
                         for (const auto& id : ids) {
                           size_t got = 0;
                           b->read(kTenant, id, 0, UINT64_MAX, [&](std::string_view c) {
                             got += c.size();
                             return true;
                           });
                           must(got == kMiB, "read");
                         }
                       },
                       [b, &big_id, &big_parts] {
                         size_t next = 0;
                         b->write(kTenant, big_id, [&]() -> std::string_view { return next < big_parts.size() ? std::string_view(*big_parts[next++]) : std::string_view(); });
                       },
                       [b, &big_id] {
                         size_t got = 0;
                         b->read(kTenant, big_id, 0, UINT64_MAX, [&](std::string_view c) {
                           got += c.size();
                           return true;
                         });
                         must(got == kBigChunks * kMiB, "read big");
                       },
                       [b, &ids, &big_id] {
                         for (const auto& id : ids) try {
                             b->remove(kTenant, id);
                           } catch (const std::exception&) {  // absent in the first round
                           }
                         try {
                           b->remove(kTenant, big_id);
                         } catch (const std::exception&) {
                         }
                       }});
  }

  // best[target][workload] in seconds
  std::map<std::string, std::map<std::string, double>> best;
  auto keep = [&](const std::string& t, const std::string& w, double s) {
    auto& v = best[t][w];
    v = v == 0 ? s : std::min(v, s);
  };
  for (int rep = 0; rep < reps; ++rep) {
    for (auto& t : targets) {
      t.reset();
      shell("sync");  // nobody pays for another's writeback
      if (t.name == "dd")
        keep(t.name, "write small", seconds([&] { shell("for i in $(seq 0 " + count + "); do dd if=" + src + "/s$i of=" + ddd + "/s$i bs=1M conv=fsync status=none; done"); }));
      else if (t.name == "cp")
        keep(t.name, "write small", seconds([&] { shell("cp " + src + "/s* " + cpd + "/ && sync " + cpd + "/s*"); }));
      else
        keep(t.name, "write small", seconds([&] {
               for (size_t i = 0; i < n; ++i) t.write_small(i);
             }));
      keep(t.name, "read small", seconds(t.read_small));
      shell("sync");
      keep(t.name, "write big", seconds(t.write_big));
      keep(t.name, "read big", seconds(t.read_big));
    }
  }

  const std::vector<std::pair<std::string, double>> workloads = {
      {"write small", static_cast<double>(n)}, {"read small", static_cast<double>(n)}, {"write big", double(kBigChunks)}, {"read big", double(kBigChunks)}};
  auto rate = [&](const std::string& t, const std::string& w, double mib) { return mib / best[t][w]; };
  std::printf("| workload | raw syscalls | dd | cp | blob-fs | fs ÷ raw syscalls | fs ÷ dd | fs ÷ cp | blob-fs verify | blob-rocksdb | rocksdb ÷ raw syscalls |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& [w, mib] : workloads) {
    const double raw = rate("raw syscalls", w, mib), dd = rate("dd", w, mib), cp = rate("cp", w, mib), fs_ = rate("blob-fs", w, mib), rdb = rate("blob-rocksdb", w, mib);
    const std::string label = (w.rfind("write", 0) == 0 ? "write " : "read ") + (w.find("small") != std::string::npos ? "1 MiB ×" + std::to_string(n) : std::string("100 MiB"));
    std::printf("| %s | %.0f | %.0f | %.0f | %.0f | **%.2f** | %.2f | %.2f | %.0f | %.0f | %.2f |\n", label.c_str(), raw, dd, cp, fs_, fs_ / raw, fs_ / dd, fs_ / cp, rate("blob-fs verify", w, mib), rdb, rdb / raw);
  }
  std::printf("\nMiB/s, best of %d, targets interleaved in each round. raw syscalls = open, write, fsync, rename, fsync(dir) per blob in-process (the same durability as the adapters).\n", reps);
  std::printf("dd: `dd if=SRC of=DST bs=1M conv=fsync` per blob (reads: `dd of=/dev/null bs=1M` per blob); "
              "cp: `cp SRC/s* DST/ && sync DST/s*` (reads: `cat DST/s* > /dev/null`), 100 MiB: `cp SRC/big DST/big && sync DST/big`.\n");

  handles.clear();
  fs::remove_all(scratch);
  return 0;
}
