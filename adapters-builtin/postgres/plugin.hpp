// The postgres plugin's two factories, each registered by its own file.
#pragma once

#include <cumulo/sdk.hpp>

namespace cumulo::pg {

using sdk::Sink;
using sdk::Status;
using sdk::Tenant;

// Informational JSON schema of the options both factories share (auth adds
// bcryptCost); the factories themselves refuse anything else.
#define CUMULO_PG_COMMON_OPTIONS                                                                                                    \
  R"("conninfo":{"type":"string"},"schema":{"type":"string"},"poolSize":{"type":"integer"},"acquireTimeoutMs":{"type":"integer"},)" \
  R"("statementTimeoutMs":{"type":"integer"})"
inline constexpr const char* kOptionsSchema = R"({"type":"object","required":["conninfo"],"properties":{)" CUMULO_PG_COMMON_OPTIONS "}}";
inline constexpr const char* kAuthOptionsSchema =
    R"({"type":"object","required":["conninfo"],"properties":{)" CUMULO_PG_COMMON_OPTIONS R"(,"bcryptCost":{"type":"integer"}}})";

void add_meta_postgres(sdk::Registrar& reg);
void add_auth_postgres(sdk::Registrar& reg);

}  // namespace cumulo::pg
