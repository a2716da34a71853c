// rtdb-lmdb through the SDK vs raw LMDB doing the same work, same run:
//   single-document writes (one transaction each, durable), and a filtered
//   query over 10k documents (raw: cursor scan + JSON parse + compare).
#include <benchmark/benchmark.h>
#include <lmdb.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "plugins/adapters.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const cumulo::plugins::TenantRef kTn{1, "bench.test"};

fs::path scratch(const std::string& name) {
  auto p = fs::temp_directory_path() / ("cumulo-rtdb-bench-" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct Adapter {
  cumulo::plugins::PluginManager pm{{}, scratch("shadow")};
  cumulo::plugins::RtdbHandle h;
  explicit Adapter(const std::string& dir) {
    pm.load(fs::path(CUMULO_BUILD_DIR) / "plugins" / "rtdb-lmdb.so");
    h = cumulo::plugins::RtdbHandle(pm.create(CM_KIND_RTDB, "rtdb-lmdb", json{{"dir", dir}}.dump()));
  }
};

struct Raw {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  explicit Raw(const std::string& dir) {
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, size_t{1} << 30);
    mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0640);
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    mdb_dbi_open(t, nullptr, 0, &dbi);
    mdb_txn_commit(t);
  }
  ~Raw() { mdb_env_close(env); }
  void put(const std::string& k, const std::string& v) {
    MDB_txn* t;
    mdb_txn_begin(env, nullptr, 0, &t);
    MDB_val kv{k.size(), const_cast<char*>(k.data())}, vv{v.size(), const_cast<char*>(v.data())};
    mdb_put(t, dbi, &kv, &vv, 0);
    mdb_txn_commit(t);
  }
};

json doc(int i) { return {{"n", i % 10}, {"i", i}, {"name", "item " + std::to_string(i)}, {"tags", {"a", "b"}}}; }

void BM_AdapterSingleDocWrite(benchmark::State& st) {
  Adapter a(scratch("adapter-w").string());
  int i = 0;
  for (auto _ : st) a.h.transact(kTn, "f1~db", json::array({{{"op", "set"}, {"path", "items/d" + std::to_string(i % 1000)}, {"value", doc(i)}}}).dump()), ++i;
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_AdapterSingleDocWrite)->UseRealTime();

void BM_RawLmdbPut(benchmark::State& st) {
  Raw r(scratch("raw-w").string());
  int i = 0;
  for (auto _ : st) r.put("f1~db/items/d" + std::to_string(i % 1000), doc(i).dump()), ++i;
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_RawLmdbPut)->UseRealTime();

void BM_AdapterFilteredQuery10k(benchmark::State& st) {
  Adapter a(scratch("adapter-q").string());
  json ops = json::array();
  for (int i = 0; i < 10000; ++i) ops.push_back({{"op", "set"}, {"path", "items/d" + std::to_string(i)}, {"value", doc(i)}});
  a.h.transact(kTn, "f1~db", ops.dump());
  const std::string q = json{{"filter", {{"n", 3}}}, {"limit", 100000}}.dump();
  for (auto _ : st) {
    auto r = a.h.query(kTn, "f1~db", "items", q);
    benchmark::DoNotOptimize(r);
  }
  st.SetItemsProcessed(st.iterations() * 10000);
}
BENCHMARK(BM_AdapterFilteredQuery10k)->UseRealTime();

void BM_RawLmdbScanFilter10k(benchmark::State& st) {
  Raw r(scratch("raw-q").string());
  MDB_txn* t;
  mdb_txn_begin(r.env, nullptr, 0, &t);
  for (int i = 0; i < 10000; ++i) {
    std::string k = "f1~db/items/d" + std::to_string(i), v = doc(i).dump();
    MDB_val kv{k.size(), k.data()}, vv{v.size(), v.data()};
    mdb_put(t, r.dbi, &kv, &vv, 0);
  }
  mdb_txn_commit(t);
  const std::string prefix = "f1~db/items/";
  for (auto _ : st) {
    // Same work as the adapter's answer: scan, parse, filter, serialise the hits.
    MDB_txn* rt;
    mdb_txn_begin(r.env, nullptr, MDB_RDONLY, &rt);
    MDB_cursor* c;
    mdb_cursor_open(rt, r.dbi, &c);
    MDB_val k{prefix.size(), const_cast<char*>(prefix.data())}, v;
    json hits = json::array();
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && k.mv_size >= prefix.size() && std::memcmp(k.mv_data, prefix.data(), prefix.size()) == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      json d = json::parse(std::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
      if (d["n"] == 3) hits.push_back({{"id", std::string(static_cast<const char*>(k.mv_data) + prefix.size(), k.mv_size - prefix.size())}, {"data", std::move(d)}});
    }
    mdb_cursor_close(c);
    mdb_txn_abort(rt);
    auto out = json{{"docs", hits}, {"cursor", nullptr}}.dump();
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(st.iterations() * 10000);
}
BENCHMARK(BM_RawLmdbScanFilter10k)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
