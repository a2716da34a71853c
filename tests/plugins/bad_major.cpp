// bad_major.so — correct magic but ABI major CM_ABI_MAJOR + 1 in both the note
// and the descriptor: a plugin from an incompatible future SDK. The host must
// refuse it with a message naming both majors.
#include <cumulo/cumulo_abi.h>

#include <cstring>

namespace {

constexpr uint16_t kFutureMajor = CM_ABI_MAJOR + 1;

__attribute__((used, section(CM_NOTE_SECTION))) const cm_plugin_note note = {
    CM_PLUGIN_MAGIC, kFutureMajor, 0, CM_KIND_BLOB, 0, "bad-major", "1.0.0"};

// Never legitimately called: fails loudly if a host calls it anyway.
int32_t init(const cm_host_api*, const cm_registrar*, cm_error* err) {
  static const char msg[] = "bad_major: init must never be called";
  err->code = CM_INTERNAL;
  std::memcpy(err->message, msg, sizeof msg);
  return CM_INTERNAL;
}

const cm_plugin_info info = {sizeof(cm_plugin_info), CM_PLUGIN_MAGIC, kFutureMajor, 0, CM_KIND_BLOB,
                             "bad-major", "1.0.0", "hand-written", "Test: ABI major from the future", &init, nullptr};

}  // namespace

extern "C" __attribute__((visibility("default"))) const cm_plugin_info* cumulo_plugin_entry(void) { return &info; }
