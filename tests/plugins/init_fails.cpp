// init_fails.so — registers one factory, then its init throws. The SDK turns
// the exception into an error; the host must drop the factory it already
// accepted (registration is all-or-nothing) and unload the library.
#include <cumulo/sdk.hpp>

#include <memory>
#include <stdexcept>
#include <string_view>

namespace {

using namespace cumulo::sdk;

// Never instantiated by a correct host; answers UNSUPPORTED if it is.
class NeverBlob final : public BlobAdapter {
 public:
  explicit NeverBlob(std::string_view) {}
  Status open_writer(const Tenant&, std::unique_ptr<BlobWriter>&) override { return Status::Unsupported(); }
  Status read(const Tenant&, std::string_view, uint64_t, uint64_t, const Sink&) override { return Status::Unsupported(); }
  Status stat(const Tenant&, std::string_view, uint64_t&) override { return Status::Unsupported(); }
};

}  // namespace

CUMULO_PLUGIN("init-fails", "1.0.0", "Test: init throws after registering", CM_KIND_BLOB) {
  reg.add<NeverBlob>("init-fails-blob");
  throw std::runtime_error("init exploded");
}
