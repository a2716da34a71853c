// meta-sqlite: every meta part (tenants/profiles/keys, actions + inbound
// queue, files + variants, tasks, settings, records) in one SQLite file.
#pragma once

#include <cumulo/sdk.hpp>

#include <memory>
#include <string>
#include <vector>

#include "db.hpp"
#include "sql-common/meta.hpp"

namespace cumulo::sqlite {

class MetaSqlite final : public sqlc::FullMeta {
 public:
  using Status = sdk::Status;
  using Sink = sdk::Sink;
  using Tenant = sdk::Tenant;

  explicit MetaSqlite(std::string_view options_json);
  ~MetaSqlite() override;
  MetaSqlite(const MetaSqlite&) = delete;
  MetaSqlite& operator=(const MetaSqlite&) = delete;

  Status health() override;

  // tenants, profiles, public keys
  Status create_tenant(std::string_view tenant_json, const Sink& out) override;
  Status get_tenant(const Tenant& tn, const Sink& out) override;
  Status update_tenant(const Tenant& tn, std::string_view patch_json) override;
  Status delete_tenant(const Tenant& tn) override;
  Status list_tenants(std::string_view filter_json, const Sink& out) override;
  Status upsert_profile(const Tenant& tn, std::string_view profile_json) override;
  Status get_profile(const Tenant& tn, std::string_view id_tag, const Sink& out) override;
  Status list_profiles(const Tenant& tn, std::string_view filter_json, const Sink& out) override;
  Status put_public_key(std::string_view key_json) override;
  Status get_public_key(std::string_view id_tag, std::string_view key_id, const Sink& out) override;

  // actions
  Status put_action(const Tenant& tn, std::string_view action_json, const Sink& out) override;
  Status get_action(const Tenant& tn, std::string_view action_id, const Sink& out) override;
  Status update_action(const Tenant& tn, std::string_view action_id, std::string_view patch_json) override;
  Status list_actions(const Tenant& tn, std::string_view filter_json, const Sink& out) override;
  Status push_inbound(const Tenant& tn, std::string_view inbound_json) override;
  Status pop_inbound(const Tenant& tn, uint32_t limit, const Sink& out) override;

  // files
  Status put_file(const Tenant& tn, std::string_view file_json, const Sink& out) override;
  Status get_file(const Tenant& tn, std::string_view file_id, const Sink& out) override;
  Status update_file(const Tenant& tn, std::string_view file_id, std::string_view patch_json) override;
  Status list_files(const Tenant& tn, std::string_view filter_json, const Sink& out) override;
  Status put_variant(const Tenant& tn, std::string_view variant_json) override;
  Status list_variants(const Tenant& tn, std::string_view file_id, const Sink& out) override;

  // tasks (node-global: stored with tn_id 0)
  Status create_task(std::string_view task_json, const Sink& out) override;
  Status update_task(int64_t id, std::string_view patch_json) override;
  Status get_task(int64_t id, const Sink& out) override;
  Status list_pending_tasks(const Sink& out) override;
  Status delete_task(int64_t id) override;

  // settings
  Status get_setting(const Tenant& tn, std::string_view key, const Sink& out) override;
  Status put_setting(const Tenant& tn, std::string_view key, std::string_view value_json) override;
  Status list_settings(const Tenant& tn, std::string_view prefix, const Sink& out) override;
  Status delete_setting(const Tenant& tn, std::string_view key) override;

  // records
  Status put_record(const Tenant& tn, std::string_view coll, std::string_view key, std::string_view json) override;
  Status get_record(const Tenant& tn, std::string_view coll, std::string_view key, const Sink& out) override;
  Status delete_record(const Tenant& tn, std::string_view coll, std::string_view key) override;
  Status list_records(const Tenant& tn, std::string_view coll, std::string_view filter_json, const Sink& out) override;

  // portable tenant dump (dump.cpp)
  Status export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override;
  Status import_items(const Tenant& tn, std::string_view lines) override;

 private:
  std::unique_ptr<Database> db_;
  std::vector<std::string> tn_tables_;  // every table with a tn_id column
};

}  // namespace cumulo::sqlite
