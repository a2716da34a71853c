// dup_factory.so — registers a blob factory named "hello-blob", the name the
// hello-blob sample uses. When both are loaded, the second registration of
// (blob, "hello-blob") must be refused and the first one kept.
#include <cumulo/sdk.hpp>

#include <memory>
#include <string_view>

namespace {

using namespace cumulo::sdk;

class DupBlob final : public BlobAdapter {
 public:
  explicit DupBlob(std::string_view) {}
  Status open_writer(const Tenant&, std::unique_ptr<BlobWriter>&) override { return Status::Unsupported(); }
  Status read(const Tenant&, std::string_view, uint64_t, uint64_t, const Sink&) override { return Status::Unsupported(); }
  Status stat(const Tenant&, std::string_view, uint64_t&) override { return Status::Unsupported(); }
};

}  // namespace

CUMULO_PLUGIN("dup-factory", "1.0.0", "Test: factory name clashes with hello-blob", CM_KIND_BLOB) {
  reg.add<DupBlob>("hello-blob");
}
