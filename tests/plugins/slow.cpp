// A blob adapter whose health() takes a while (options {"ms": N}): lets the
// graceful-shutdown test have a request in flight while the host stops.
#include <cumulo/sdk.hpp>

#include <chrono>
#include <string>
#include <thread>

namespace {

class SlowBlob : public cumulo::sdk::BlobAdapter {
 public:
  explicit SlowBlob(std::string_view options) {
    auto p = options.find("\"ms\":");
    if (p != std::string_view::npos) ms_ = std::stoi(std::string(options.substr(p + 5)));
  }
  cumulo::sdk::Status health() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms_));  // simulated slow backend
    return {};
  }
  cumulo::sdk::Status open_writer(const cumulo::sdk::Tenant&, std::unique_ptr<cumulo::sdk::BlobWriter>&) override { return cumulo::sdk::Status::Unsupported(); }
  cumulo::sdk::Status read(const cumulo::sdk::Tenant&, std::string_view, uint64_t, uint64_t, const cumulo::sdk::Sink&) override { return cumulo::sdk::Status::Unsupported(); }
  cumulo::sdk::Status stat(const cumulo::sdk::Tenant&, std::string_view, uint64_t&) override { return cumulo::sdk::Status::Unsupported(); }

 private:
  int ms_ = 300;
};

}  // namespace

CUMULO_PLUGIN("slow", "1.0.0", "Blob adapter with a slow health check (tests)", CM_KIND_BLOB) { reg.add<SlowBlob>("slow-blob"); }
