// The postgres plugin: one library, two factories (meta-postgres,
// auth-postgres), both on libpq with a connection pool per instance.
#include <cumulo/sdk.hpp>

#include "plugin.hpp"

CUMULO_PLUGIN("postgres", "0.1.0", "Meta and auth adapters on PostgreSQL", CM_KIND_META | CM_KIND_AUTH) {
  cumulo::pg::add_meta_postgres(reg);
  cumulo::pg::add_auth_postgres(reg);
}
