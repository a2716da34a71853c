// The JSON-record ↔ column layer of the sqlite plugin. It lives in
// sql-common (shared with the postgres plugin); this header makes its names
// available in cumulo::sqlite and adds the sqlite-only option reader.
#pragma once

#include <cumulo/sdk.hpp>

#include "db.hpp"
#include "sql-common/options.hpp"
#include "sql-common/record.hpp"
#include "sql-common/request.hpp"

namespace cumulo::sqlite {

using sqlc::append_json_string;
using sqlc::append_row;
using sqlc::bind_record;
using sqlc::Field;
using sqlc::invalid;
using sqlc::json;
using sqlc::now_s;
using sqlc::OptionReader;
using sqlc::parse_object;
using sqlc::required_str;
using sqlc::str_of;
using sqlc::Table;
using sqlc::Type;

/// Reads the options common to both factories ("path", "busyTimeoutMs",
/// "readers"); the caller reads its own and then calls r.finish(), which
/// refuses any other key (CM_INVALID).
DbOptions db_options(OptionReader& r);

}  // namespace cumulo::sqlite
