// rtdb-lmdb through the SDK vs raw LMDB doing the same work, in the same run
// and on the same disk:
//   - single-document writes: RtdbHandle::transact of one "set" (one durable
//     LMDB transaction) vs one mdb_put of the same document bytes per
//     transaction;
//   - a filtered query over 10k documents (1k hits): the adapter without
//     indexes vs a raw cursor scan that parses every document with nlohmann,
//     filters and serialises the hits (plus the adapter with an index on the
//     field, for information).
// Prints the adapter/raw ratios at the end (goal: ≥ 0.5).
#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "plugins/adapters.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const cumulo::plugins::TenantRef kTn{1, "bench.test"};
const std::string kDb = "f1~bench";
constexpr int kDocs = 10000;

fs::path root() {
  static const fs::path p = fs::temp_directory_path() / ("cumulo-rtdb-bench-" + std::to_string(::getpid()));
  return p;
}
fs::path scratch(const std::string& name) {
  auto p = root() / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

json doc(int i) { return {{"n", i % 10}, {"i", i}, {"name", "item " + std::to_string(i)}, {"tags", {"a", "b"}}, {"owner", {{"id", "u" + std::to_string(i % 97)}}}}; }
std::string doc_id(int i) { return "d" + std::to_string(i); }

struct Adapter {
  cumulo::plugins::PluginManager pm{{}, scratch("shadow-" + std::to_string(reinterpret_cast<uintptr_t>(this)))};
  cumulo::plugins::RtdbHandle h;
  explicit Adapter(const std::string& dir, const json& indexes = nullptr) {
    pm.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "rtdb-lmdb.so");
    json options = {{"dir", dir}};
    if (!indexes.is_null()) options["indexes"] = indexes;
    h = cumulo::plugins::RtdbHandle(pm.create(CM_KIND_RTDB, "rtdb-lmdb", options.dump()));
  }
  void seed() const {
    json ops = json::array();
    for (int i = 0; i < kDocs; ++i) ops.push_back({{"op", "set"}, {"path", "items/" + doc_id(i)}, {"value", doc(i)}});
    h.transact(kTn, kDb, ops.dump());
  }
};

struct Raw {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  explicit Raw(const std::string& dir) {
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, size_t{1} << 30) || mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0640)) throw std::runtime_error("raw lmdb open");
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    mdb_dbi_open(t, nullptr, 0, &dbi);
    mdb_txn_commit(t);
  }
  ~Raw() { mdb_env_close(env); }
  void put(MDB_txn* t, const std::string& k, const std::string& v) const {
    MDB_val kv{k.size(), const_cast<char*>(k.data())}, vv{v.size(), const_cast<char*>(v.data())};
    if (mdb_put(t, dbi, &kv, &vv, 0)) throw std::runtime_error("raw lmdb put");
  }
  // One durable transaction per document, like the adapter's.
  void put(const std::string& k, const std::string& v) const {
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    put(t, k, v);
    if (mdb_txn_commit(t)) throw std::runtime_error("raw lmdb commit");
  }
};

// Key of the raw store: tenant, database and path, about as long as the adapter's.
std::string raw_key(int i) { return std::string("\0\0\0\1", 4) + kDb + "/items/" + doc_id(i); }

void BM_AdapterSingleDocWrite(benchmark::State& st) {
  Adapter a(scratch("adapter-w").string());
  std::vector<std::string> ops;  // prepared outside the timed loop, as the raw side's bytes are
  for (int i = 0; i < 1000; ++i) ops.push_back(json::array({{{"op", "set"}, {"path", "items/" + doc_id(i)}, {"value", doc(i)}}}).dump());
  size_t i = 0;
  for (auto _ : st) a.h.transact(kTn, kDb, ops[i++ % ops.size()]);
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_AdapterSingleDocWrite)->UseRealTime()->MinTime(3);

void BM_RawLmdbPut(benchmark::State& st) {
  Raw r(scratch("raw-w").string());
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 0; i < 1000; ++i) kv.emplace_back(raw_key(i), doc(i).dump());
  size_t i = 0;
  for (auto _ : st) {
    const auto& [k, v] = kv[i++ % kv.size()];
    r.put(k, v);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_RawLmdbPut)->UseRealTime()->MinTime(3);

const std::string kQuery = json{{"filter", {{"n", 3}}}}.dump();

void query_bench(benchmark::State& st, const json& indexes) {
  Adapter a(scratch("adapter-q").string(), indexes);
  a.seed();
  size_t hits = 0;
  for (auto _ : st) {
    auto r = a.h.query(kTn, kDb, "items", kQuery);
    hits = r.size();
    benchmark::DoNotOptimize(r);
  }
  st.counters["answer_bytes"] = double(hits);
  st.SetItemsProcessed(st.iterations() * kDocs);
}
void BM_AdapterFilteredQuery10k(benchmark::State& st) { query_bench(st, nullptr); }
BENCHMARK(BM_AdapterFilteredQuery10k)->UseRealTime()->MinTime(2);
void BM_AdapterFilteredQuery10kIndexed(benchmark::State& st) { query_bench(st, {{"items", {"n"}}}); }
BENCHMARK(BM_AdapterFilteredQuery10kIndexed)->UseRealTime()->MinTime(2);

void BM_RawLmdbScanFilter10k(benchmark::State& st) {
  Raw r(scratch("raw-q").string());
  MDB_txn* t;
  mdb_txn_begin(r.env, nullptr, 0, &t);
  for (int i = 0; i < kDocs; ++i) r.put(t, raw_key(i), doc(i).dump());
  mdb_txn_commit(t);
  const std::string prefix = raw_key(0).substr(0, raw_key(0).size() - doc_id(0).size());
  size_t hits = 0;
  for (auto _ : st) {
    // The same work as the adapter's answer: scan, parse, filter, serialise the hits.
    MDB_txn* rt;
    mdb_txn_begin(r.env, nullptr, MDB_RDONLY, &rt);
    MDB_cursor* c;
    mdb_cursor_open(rt, r.dbi, &c);
    MDB_val k{prefix.size(), const_cast<char*>(prefix.data())}, v;
    json found = json::array();
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && k.mv_size >= prefix.size() && std::memcmp(k.mv_data, prefix.data(), prefix.size()) == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      json d = json::parse(std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
      if (d["n"] == 3) found.push_back({{"id", std::string(static_cast<const char*>(k.mv_data) + prefix.size(), k.mv_size - prefix.size())}, {"data", std::move(d)}});
    }
    mdb_cursor_close(c);
    mdb_txn_abort(rt);
    auto out = json{{"docs", found}, {"cursor", nullptr}}.dump();
    hits = out.size();
    benchmark::DoNotOptimize(out);
  }
  st.counters["answer_bytes"] = double(hits);
  st.SetItemsProcessed(st.iterations() * kDocs);
}
BENCHMARK(BM_RawLmdbScanFilter10k)->UseRealTime()->MinTime(2);

// Console output plus the adapter/raw ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs)
      if (!r.error_occurred) rate_[r.benchmark_name()] = 1.0 / r.GetAdjustedRealTime();  // time per iteration
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto rate = [&](const std::string& name) -> double {
      for (const auto& [full, r] : rate_)
        if (full.substr(0, full.find('/')) == name) return r;  // names carry "/min_time:…/real_time"
      return 0;
    };
    auto ratio = [&](const std::string& a, const std::string& b) {
      if (rate(a) > 0 && rate(b) > 0) std::cout << a << " / " << b << " = " << rate(a) / rate(b) << " (goal >= 0.5)\n";
    };
    ratio("BM_AdapterSingleDocWrite", "BM_RawLmdbPut");
    ratio("BM_AdapterFilteredQuery10k", "BM_RawLmdbScanFilter10k");
    ratio("BM_AdapterFilteredQuery10kIndexed", "BM_RawLmdbScanFilter10k");
  }

 private:
  std::map<std::string, double> rate_;  // iterations per time unit, by benchmark name
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::error_code ec;
  fs::remove_all(root(), ec);
  return 0;
}
