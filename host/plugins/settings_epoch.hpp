// A process-wide counter of settings writes. Every put/delete through a
// MetaHandle, and every tenant import (which may carry settings), bumps it
// after the write, so a reader that caches settings knows when to drop them.
#pragma once

#include <cstdint>

namespace cumulo::plugins {

uint64_t settings_epoch() noexcept;
void bump_settings_epoch() noexcept;

}  // namespace cumulo::plugins
