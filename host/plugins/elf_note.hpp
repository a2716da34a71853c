// Reads a plugin's compatibility note from the ELF file *before* dlopen:
// dlopen already runs static constructors, so a wrong-ABI file must be
// refused from its bytes alone (lesson 2 of spec/plugin-sdk-lessons.md).
#pragma once

#include <cumulo/cumulo_abi.h>

#include <string>
#include <variant>

namespace cumulo::plugins {

struct NoteError {
  std::string message;
};

/// Returns the note, or a precise reason: not ELF, truncated, wrong class,
/// missing section, section too small.
std::variant<cm_plugin_note, NoteError> read_plugin_note(const std::string& path);

}  // namespace cumulo::plugins
