// bad_magic.so — written by hand against cumulo_abi.h (no SDK macro): both the
// note section and the descriptor carry a wrong magic number. The host must
// refuse it before calling anything but cumulo_plugin_entry.
#include <cumulo/cumulo_abi.h>

#include <cstring>

namespace {

constexpr uint32_t kWrongMagic = 0xDEADBEEFu;

__attribute__((used, section(CM_NOTE_SECTION))) const cm_plugin_note note = {
    kWrongMagic, CM_ABI_MAJOR, CM_ABI_MINOR, CM_KIND_BLOB, 0, "bad-magic", "1.0.0"};

// Never legitimately called: fails loudly if a host calls it anyway.
int32_t init(const cm_host_api*, const cm_registrar*, cm_error* err) {
  static const char msg[] = "bad_magic: init must never be called";
  err->code = CM_INTERNAL;
  std::memcpy(err->message, msg, sizeof msg);
  return CM_INTERNAL;
}

const cm_plugin_info info = {sizeof(cm_plugin_info), kWrongMagic, CM_ABI_MAJOR, CM_ABI_MINOR, CM_KIND_BLOB,
                             "bad-magic", "1.0.0", "hand-written", "Test: wrong magic", &init, nullptr};

}  // namespace

extern "C" __attribute__((visibility("default"))) const cm_plugin_info* cumulo_plugin_entry(void) { return &info; }
