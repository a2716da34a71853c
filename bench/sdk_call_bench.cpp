// Cost of one call across the SDK boundary (host → C vtable → plugin's C++
// object in a dlopen'ed .so) against a direct virtual call in this binary.
#include <benchmark/benchmark.h>
#include <cumulo/sdk.hpp>

#include <filesystem>

#include "plugins/adapters.hpp"

namespace {

// Same shape as the plugin's object, but compiled into the benchmark.
class LocalBlob : public cumulo::sdk::BlobAdapter {
 public:
  cumulo::sdk::Status health() override { return {}; }
  cumulo::sdk::Status open_writer(const cumulo::sdk::Tenant&, std::unique_ptr<cumulo::sdk::BlobWriter>&) override { return {}; }
  cumulo::sdk::Status read(const cumulo::sdk::Tenant&, std::string_view, uint64_t, uint64_t, const cumulo::sdk::Sink&) override { return {}; }
  cumulo::sdk::Status stat(const cumulo::sdk::Tenant&, std::string_view, uint64_t&) override { return {}; }
};

struct Loaded {
  std::filesystem::path shadow = std::filesystem::temp_directory_path() / "cumulo-bench-shadow";
  cumulo::plugins::PluginManager pm{{std::filesystem::path(CUMULO_BUILD_DIR) / "samples-plugins"}, shadow};
  std::shared_ptr<cumulo::plugins::Instance> inst;
  Loaded() {
    pm.load(std::filesystem::path(CUMULO_BUILD_DIR) / "samples-plugins" / "hello-blob.so");
    inst = pm.create(CM_KIND_BLOB, "hello-blob", "{}");
  }
};

Loaded& loaded() {
  static Loaded l;
  return l;
}

void BM_DirectVirtualCall(benchmark::State& state) {
  std::unique_ptr<cumulo::sdk::Adapter> a = std::make_unique<LocalBlob>();
  benchmark::DoNotOptimize(a.get());
  for (auto _ : state) {
    auto st = a->health();
    benchmark::DoNotOptimize(st);
  }
}
BENCHMARK(BM_DirectVirtualCall);

void BM_SdkBoundaryCall(benchmark::State& state) {
  auto& l = loaded();
  const auto& vt = l.inst->factory().vt.blob;
  void* self = l.inst->self();
  cm_error err;  // host-owned slot; only written on failure
  err.struct_size = sizeof err;
  for (auto _ : state) {
    int32_t rc = vt.health(self, &err);
    benchmark::DoNotOptimize(rc);
  }
}
BENCHMARK(BM_SdkBoundaryCall);

void BM_HostHandleCall(benchmark::State& state) {
  // The host's typed wrapper (kind dispatch + fresh error slot + check).
  cumulo::plugins::BlobHandle h(loaded().inst);
  for (auto _ : state) h.health();
}
BENCHMARK(BM_HostHandleCall);

}  // namespace

BENCHMARK_MAIN();
