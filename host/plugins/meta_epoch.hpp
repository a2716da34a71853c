// A process-wide counter of writes to what the host caches from meta
// adapters: every settings put/delete, profile upsert and tenant create/update
// through a MetaHandle, and every tenant import (which may carry any of them),
// bumps it after the write, so a reader that caches them knows when to drop
// its copies.
#pragma once

#include <cstdint>

namespace cumulo::plugins {

uint64_t meta_epoch() noexcept;
void bump_meta_epoch() noexcept;

}  // namespace cumulo::plugins
