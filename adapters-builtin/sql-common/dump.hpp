// The portable tenant dump (ABI 1.1 export_tenant/import_items; item format:
// docs/sdk.md, "Portable tenant dump") of the SQL-backed meta and auth
// adapters, written once for every engine. An engine lends its transaction
// as a SqlTx (run a query, run a command) and the SQL here keeps to what
// SQLite and PostgreSQL both speak ("?" placeholders, ON CONFLICT … DO
// UPDATE, RETURNING, row values). Export walks each type's key index in
// pages of `kDumpPage` rows; import applies a batch in the caller's one
// transaction. Adapter row ids (a_id, f_id, q_id, key_id) never appear in
// items: files are keyed by fileId, API keys by their hash.
#pragma once

#include <cumulo/sdk.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "sql-common/meta.hpp"
#include "sql-common/record.hpp"
#include "sql-common/statement.hpp"
#include "tenant_dump.hpp"

namespace cumulo::sqlc {

inline constexpr int kDumpPage = 256;

using DumpItem = adapters::dump::Item<json>;

/// Parses a batch and checks every item's type (CM_UNSUPPORTED naming an
/// unknown one, CM_INVALID for a malformed line) before anything is stored.
std::vector<DumpItem> parse_meta_items(std::string_view lines, std::string_view adapter);
std::vector<DumpItem> parse_auth_items(std::string_view lines, std::string_view adapter);

/// meta: action, file, inbound, profile, public_key, record, setting, tenant.
void export_meta(SqlTx& tx, const sdk::Tenant& tn, std::string_view after, uint32_t limit, const sdk::Sink& out);
void import_meta(SqlTx& tx, const sdk::Tenant& tn, const std::vector<DumpItem>& items);

/// auth: api_key, password, secret.
void export_auth(SqlTx& tx, const sdk::Tenant& tn, std::string_view after, uint32_t limit, const sdk::Sink& out);
void import_auth(SqlTx& tx, const sdk::Tenant& tn, const std::vector<DumpItem>& items);

}  // namespace cumulo::sqlc
