// no_entry.so — a valid shared object with a correct note section but no
// cumulo_plugin_entry symbol: the pre-load check passes, dlsym must fail and
// the host must unload it and carry on.
#include <cumulo/cumulo_abi.h>

namespace {

__attribute__((used, section(CM_NOTE_SECTION))) const cm_plugin_note note = {
    CM_PLUGIN_MAGIC, CM_ABI_MAJOR, CM_ABI_MINOR, CM_KIND_BLOB, 0, "no-entry", "1.0.0"};

}  // namespace

// A near miss of the entry name; hidden by the version script like everything else.
extern "C" const cm_plugin_info* cumulo_plugin_entry_missing(void) { return nullptr; }
