#include "record.hpp"

namespace cumulo::sqlite {

DbOptions db_options(OptionReader& r) {
  DbOptions o;
  o.path = r.required_str("path", "an absolute file path", [](const std::string& p) { return p[0] == '/'; });
  o.busy_timeout_ms = static_cast<int>(r.integer("busyTimeoutMs", 5000, 0, 600000));
  o.readers = static_cast<int>(r.integer("readers", 4, 1, 64));
  return o;
}

}  // namespace cumulo::sqlite
