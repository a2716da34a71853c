// spdlog setup: human text or JSON lines (one object per line, for log
// shippers). Levels: trace, debug, info, warn, error, off.
#pragma once

#include <string>

namespace cumulo::app {
void setup_logging(const std::string& level, const std::string& format);
}
