// auth-sqlite: passwords (bcrypt via libxcrypt), named secrets and API keys
// in one SQLite file, every row scoped by tn_id.
#pragma once

#include <cumulo/sdk.hpp>

#include <memory>
#include <string>

#include "db.hpp"

namespace cumulo::sqlite {

class AuthSqlite final : public sdk::AuthAdapter, public sdk::TenantDump {
 public:
  using Status = sdk::Status;
  using Sink = sdk::Sink;
  using Tenant = sdk::Tenant;

  explicit AuthSqlite(std::string_view options_json);
  ~AuthSqlite() override;
  AuthSqlite(const AuthSqlite&) = delete;
  AuthSqlite& operator=(const AuthSqlite&) = delete;

  Status health() override;
  Status set_password(const Tenant& tn, std::string_view password) override;
  Status check_password(const Tenant& tn, std::string_view password) override;
  Status put_secret(const Tenant& tn, std::string_view record_json) override;
  Status get_secret(const Tenant& tn, std::string_view name, const Sink& out) override;
  Status delete_secret(const Tenant& tn, std::string_view name) override;
  Status list_secrets(const Tenant& tn, std::string_view prefix, const Sink& out) override;
  Status create_api_key(const Tenant& tn, std::string_view options_json, const Sink& out) override;
  Status validate_api_key(std::string_view key, const Sink& out) override;
  Status delete_api_key(const Tenant& tn, std::string_view key_id) override;

  // portable tenant dump (dump.cpp)
  Status export_tenant(const Tenant& tn, std::string_view after, uint32_t limit, const Sink& out) override;
  Status import_items(const Tenant& tn, std::string_view lines) override;

 private:
  std::unique_ptr<Database> db_;
  int cost_ = 12;
};

}  // namespace cumulo::sqlite
