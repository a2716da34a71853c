#include "plugins/elf_note.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace cumulo::plugins {

namespace {
NoteError err(std::string m) { return NoteError{std::move(m)}; }
}  // namespace

std::variant<cm_plugin_note, NoteError> read_plugin_note(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return err("cannot open file");
  // Plugins are small; reading the file whole keeps the bounds checks trivial.
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < EI_NIDENT || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) return err("not an ELF file");
  if (bytes[EI_CLASS] != ELFCLASS64) return err("not a 64-bit ELF file");
  if (bytes.size() < sizeof(Elf64_Ehdr)) return err("truncated ELF file (header)");
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  if (eh.e_type != ET_DYN) return err("not a shared object (ELF type " + std::to_string(eh.e_type) + ")");
  // dlopen of a file whose segments run past its end dies with SIGBUS, so
  // every loadable segment must be inside the file before we map it.
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0) return err("ELF file has no program headers");
  if (eh.e_phoff + uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr) > bytes.size()) return err("truncated ELF file (program headers beyond end of file)");
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof ph);
    if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > bytes.size()) return err("truncated ELF file (segment beyond end of file)");
  }
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0) return err("ELF file has no section table");
  const uint64_t table_end = eh.e_shoff + uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr);
  if (eh.e_shoff > bytes.size() || table_end > bytes.size()) return err("truncated ELF file (section table beyond end of file)");
  auto shdr = [&](size_t i) {
    Elf64_Shdr s;
    std::memcpy(&s, bytes.data() + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof s);
    return s;
  };
  if (eh.e_shstrndx >= eh.e_shnum) return err("corrupt ELF file (bad section name index)");
  const Elf64_Shdr strtab = shdr(eh.e_shstrndx);
  if (strtab.sh_offset + strtab.sh_size > bytes.size()) return err("truncated ELF file (section names)");
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    const Elf64_Shdr s = shdr(i);
    if (s.sh_name >= strtab.sh_size) continue;
    const char* name = bytes.data() + strtab.sh_offset + s.sh_name;
    const size_t max_len = strtab.sh_size - s.sh_name;
    if (strnlen(name, max_len) == max_len || std::strcmp(name, CM_NOTE_SECTION) != 0) continue;
    if (s.sh_size < sizeof(cm_plugin_note)) return err("section " CM_NOTE_SECTION " too small");
    if (s.sh_offset + sizeof(cm_plugin_note) > bytes.size()) return err("truncated ELF file (" CM_NOTE_SECTION ")");
    cm_plugin_note note;
    std::memcpy(&note, bytes.data() + s.sh_offset, sizeof note);
    note.name[sizeof note.name - 1] = '\0';
    note.version[sizeof note.version - 1] = '\0';
    return note;
  }
  return err("no " CM_NOTE_SECTION " section: not a Cumulo plugin");
}

}  // namespace cumulo::plugins
