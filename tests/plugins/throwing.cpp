// throwing.so — one factory of every kind whose every method throws
// std::runtime_error("boom from <method>"), so loader tests can prove that the
// SDK boundary turns each exception into an error result and the host survives.
// Constructors do not throw, except throwing-ctor-blob's.
//
// throwing-blob's open_writer throws too, which leaves the writer unreachable;
// with options {"writer":true} open_writer instead succeeds and hands out a
// writer whose every method (abort included) throws.
#include <cumulo/sdk.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using namespace cumulo::sdk;

[[noreturn]] void boom(const char* method) { throw std::runtime_error(std::string("boom from ") + method); }

class ThrowingWriter final : public BlobWriter {
 public:
  Status write(std::string_view) override { boom("write"); }
  Status commit(std::string_view) override { boom("commit"); }
  void abort() override { boom("abort"); }
};

class ThrowingBlob final : public BlobAdapter {
 public:
  explicit ThrowingBlob(std::string_view options) : writer_mode_(options.find("\"writer\"") != std::string_view::npos) {}
  Status health() override { boom("health"); }
  Status open_writer(const Tenant&, std::unique_ptr<BlobWriter>& out) override {
    if (!writer_mode_) boom("open_writer");
    out = std::make_unique<ThrowingWriter>();
    return Status::Ok();
  }
  Status read(const Tenant&, std::string_view, uint64_t, uint64_t, const Sink&) override { boom("read"); }
  Status stat(const Tenant&, std::string_view, uint64_t&) override { boom("stat"); }
  Status remove(const Tenant&, std::string_view) override { boom("remove"); }
  Status list(const Tenant&, std::string_view, uint32_t, const Sink&) override { boom("list"); }

 private:
  bool writer_mode_;
};

class ThrowingCtorBlob final : public BlobAdapter {
 public:
  explicit ThrowingCtorBlob(std::string_view) { boom("constructor"); }
  Status open_writer(const Tenant&, std::unique_ptr<BlobWriter>&) override { boom("open_writer"); }
  Status read(const Tenant&, std::string_view, uint64_t, uint64_t, const Sink&) override { boom("read"); }
  Status stat(const Tenant&, std::string_view, uint64_t&) override { boom("stat"); }
};

class ThrowingAuth final : public AuthAdapter {
 public:
  explicit ThrowingAuth(std::string_view) {}
  Status health() override { boom("health"); }
  Status set_password(const Tenant&, std::string_view) override { boom("set_password"); }
  Status check_password(const Tenant&, std::string_view) override { boom("check_password"); }
  Status put_secret(const Tenant&, std::string_view) override { boom("put_secret"); }
  Status get_secret(const Tenant&, std::string_view, const Sink&) override { boom("get_secret"); }
  Status delete_secret(const Tenant&, std::string_view) override { boom("delete_secret"); }
  Status list_secrets(const Tenant&, std::string_view, const Sink&) override { boom("list_secrets"); }
  Status create_api_key(const Tenant&, std::string_view, const Sink&) override { boom("create_api_key"); }
  Status validate_api_key(std::string_view, const Sink&) override { boom("validate_api_key"); }
  Status delete_api_key(const Tenant&, std::string_view) override { boom("delete_api_key"); }
};

class ThrowingMeta final : public MetaAdapter,
                           public MetaTenants,
                           public MetaActions,
                           public MetaFiles,
                           public MetaTasks,
                           public MetaSettings,
                           public MetaRecords {
 public:
  explicit ThrowingMeta(std::string_view) {}
  Status health() override { boom("health"); }
  // tenants
  Status create_tenant(std::string_view, const Sink&) override { boom("create_tenant"); }
  Status get_tenant(const Tenant&, const Sink&) override { boom("get_tenant"); }
  Status update_tenant(const Tenant&, std::string_view) override { boom("update_tenant"); }
  Status delete_tenant(const Tenant&) override { boom("delete_tenant"); }
  Status list_tenants(std::string_view, const Sink&) override { boom("list_tenants"); }
  Status upsert_profile(const Tenant&, std::string_view) override { boom("upsert_profile"); }
  Status get_profile(const Tenant&, std::string_view, const Sink&) override { boom("get_profile"); }
  Status list_profiles(const Tenant&, std::string_view, const Sink&) override { boom("list_profiles"); }
  Status put_public_key(std::string_view) override { boom("put_public_key"); }
  Status get_public_key(std::string_view, std::string_view, const Sink&) override { boom("get_public_key"); }
  // actions
  Status put_action(const Tenant&, std::string_view, const Sink&) override { boom("put_action"); }
  Status get_action(const Tenant&, std::string_view, const Sink&) override { boom("get_action"); }
  Status update_action(const Tenant&, std::string_view, std::string_view) override { boom("update_action"); }
  Status list_actions(const Tenant&, std::string_view, const Sink&) override { boom("list_actions"); }
  Status push_inbound(const Tenant&, std::string_view) override { boom("push_inbound"); }
  Status pop_inbound(const Tenant&, uint32_t, const Sink&) override { boom("pop_inbound"); }
  // files
  Status put_file(const Tenant&, std::string_view, const Sink&) override { boom("put_file"); }
  Status get_file(const Tenant&, std::string_view, const Sink&) override { boom("get_file"); }
  Status update_file(const Tenant&, std::string_view, std::string_view) override { boom("update_file"); }
  Status list_files(const Tenant&, std::string_view, const Sink&) override { boom("list_files"); }
  Status put_variant(const Tenant&, std::string_view) override { boom("put_variant"); }
  Status list_variants(const Tenant&, std::string_view, const Sink&) override { boom("list_variants"); }
  // tasks
  Status create_task(std::string_view, const Sink&) override { boom("create_task"); }
  Status update_task(int64_t, std::string_view) override { boom("update_task"); }
  Status get_task(int64_t, const Sink&) override { boom("get_task"); }
  Status list_pending_tasks(const Sink&) override { boom("list_pending_tasks"); }
  Status delete_task(int64_t) override { boom("delete_task"); }
  // settings
  Status get_setting(const Tenant&, std::string_view, const Sink&) override { boom("get_setting"); }
  Status put_setting(const Tenant&, std::string_view, std::string_view) override { boom("put_setting"); }
  Status list_settings(const Tenant&, std::string_view, const Sink&) override { boom("list_settings"); }
  Status delete_setting(const Tenant&, std::string_view) override { boom("delete_setting"); }
  // records
  Status put_record(const Tenant&, std::string_view, std::string_view, std::string_view) override { boom("put_record"); }
  Status get_record(const Tenant&, std::string_view, std::string_view, const Sink&) override { boom("get_record"); }
  Status delete_record(const Tenant&, std::string_view, std::string_view) override { boom("delete_record"); }
  Status list_records(const Tenant&, std::string_view, std::string_view, const Sink&) override { boom("list_records"); }
};

class ThrowingRtdb final : public RtdbAdapter {
 public:
  explicit ThrowingRtdb(std::string_view) {}
  Status health() override { boom("health"); }
  Status get(const Tenant&, std::string_view, std::string_view, const Sink&) override { boom("get"); }
  Status query(const Tenant&, std::string_view, std::string_view, std::string_view, const Sink&) override { boom("query"); }
  Status transact(const Tenant&, std::string_view, std::string_view, const Sink&) override { boom("transact"); }
  Status subscribe(const Tenant&, std::string_view, std::string_view, ChangeFn, void*, uint64_t&) override { boom("subscribe"); }
  void unsubscribe(uint64_t) override { boom("unsubscribe"); }
};

class ThrowingCrdt final : public CrdtAdapter {
 public:
  explicit ThrowingCrdt(std::string_view) {}
  Status health() override { boom("health"); }
  Status append(const Tenant&, std::string_view, std::string_view, uint64_t&) override { boom("append"); }
  Status read(const Tenant&, std::string_view, uint64_t, UpdateFn, void*) override { boom("read"); }
  Status compact(const Tenant&, std::string_view, uint64_t, std::string_view) override { boom("compact"); }
  Status remove(const Tenant&, std::string_view) override { boom("remove"); }
  Status list(const Tenant&, const Sink&) override { boom("list"); }
};

class ThrowingAction final : public ActionType {
 public:
  explicit ThrowingAction(std::string_view) {}
  Status health() override { boom("health"); }
  Status definitions(const Sink&) override { boom("definitions"); }
  Status run_hook(const Tenant&, std::string_view, std::string_view, const Sink&) override { boom("run_hook"); }
};

class ThrowingProcessor final : public FileProcessor {
 public:
  explicit ThrowingProcessor(std::string_view) {}
  Status health() override { boom("health"); }
  bool accepts(std::string_view) override { boom("accepts"); }
  Status probe(std::string_view, std::string_view, const Sink&) override { boom("probe"); }
  Status generate(std::string_view, const Sink&) override { boom("generate"); }
};

}  // namespace

CUMULO_PLUGIN("throwing", "1.0.0", "Test: every method throws",
              CM_KIND_AUTH | CM_KIND_META | CM_KIND_BLOB | CM_KIND_RTDB | CM_KIND_CRDT | CM_KIND_ACTION_TYPE | CM_KIND_FILE_PROCESSOR) {
  reg.add<ThrowingBlob>("throwing-blob");
  reg.add<ThrowingCtorBlob>("throwing-ctor-blob");
  reg.add<ThrowingAuth>("throwing-auth");
  reg.add<ThrowingMeta>("throwing-meta");
  reg.add<ThrowingRtdb>("throwing-rtdb");
  reg.add<ThrowingCrdt>("throwing-crdt");
  reg.add<ThrowingAction>("throwing-action");
  reg.add<ThrowingProcessor>("throwing-processor");
}
