// old_minor.so — simulates a plugin built against an older minor of the ABI,
// written by hand against cumulo_abi.h (no SDK layer). Its structs are the
// *prefixes* that such a plugin would have compiled:
//   cm_plugin_info  up to `init`         (no `shutdown`)
//   cm_factory      up to `vtable_size`  (no `options_schema`)
//   cm_blob_vtable  up to `stat`         (only the required slots; health NULL)
// Each is declared as its own shorter struct, so a host that reads past
// struct_size / vtable_size reads past the object (ASan catches it). The host
// must accept the plugin, zero-fill the missing slots, and the blob must work.
#include <cumulo/cumulo_abi.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <utility>

namespace {

// ---- the older structs ---------------------------------------------------------

struct old_plugin_info {
  uint32_t struct_size;
  uint32_t magic;
  uint16_t abi_major;
  uint16_t abi_minor;
  uint32_t kinds;
  const char* name;
  const char* version;
  const char* compiler;
  const char* description;
  int32_t (*init)(const cm_host_api*, const cm_registrar*, cm_error*);
};
static_assert(sizeof(old_plugin_info) == offsetof(cm_plugin_info, shutdown));
static_assert(offsetof(old_plugin_info, init) == offsetof(cm_plugin_info, init));

struct old_factory {
  uint32_t struct_size;
  uint32_t kind;
  cm_str name;
  int32_t (*create)(cm_str, void**, cm_error*);
  void (*destroy)(void*);
  const void* vtable;
  size_t vtable_size;
};
static_assert(sizeof(old_factory) == offsetof(cm_factory, options_schema));
static_assert(offsetof(old_factory, vtable_size) == offsetof(cm_factory, vtable_size));

struct old_blob_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  int32_t (*write_open)(void*, const cm_tenant*, cm_blob_writer**, cm_error*);
  int32_t (*write_chunk)(void*, cm_blob_writer*, cm_str, cm_error*);
  int32_t (*write_commit)(void*, cm_blob_writer*, cm_str, cm_error*);
  void (*write_abort)(void*, cm_blob_writer*);
  int32_t (*read)(void*, const cm_tenant*, cm_str, uint64_t, uint64_t, const cm_sink*, cm_error*);
  int32_t (*stat)(void*, const cm_tenant*, cm_str, cm_blob_stat*, cm_error*);
};
static_assert(sizeof(old_blob_vtable) == offsetof(cm_blob_vtable, remove));
static_assert(offsetof(old_blob_vtable, stat) == offsetof(cm_blob_vtable, stat));

// ---- a minimal in-memory blob store, C style -----------------------------------

struct Store {
  std::mutex mu;
  std::map<std::pair<uint32_t, std::string>, std::string> blobs;  // (tenant, id) -> bytes
};
struct Writer {
  uint32_t tn_id;
  std::string buf;
};

int32_t fail(cm_error* err, cm_status code, const char* msg) {
  if (err) {
    err->code = code;
    std::strncpy(err->message, msg, CM_ERROR_MESSAGE_MAX - 1);
    err->message[CM_ERROR_MESSAGE_MAX - 1] = '\0';
  }
  return code;
}

std::string str(cm_str s) { return s.data ? std::string(s.data, s.size) : std::string(); }

// No exception may cross into the host: every entry point catches.
int32_t create(cm_str, void** out, cm_error* err) {
  try {
    *out = new Store;
    return CM_OK;
  } catch (...) {
    return fail(err, CM_INTERNAL, "out of memory");
  }
}

void destroy(void* self) { delete static_cast<Store*>(self); }

int32_t write_open(void*, const cm_tenant* tn, cm_blob_writer** out, cm_error* err) {
  try {
    *out = reinterpret_cast<cm_blob_writer*>(new Writer{tn ? tn->tn_id : 0, {}});
    return CM_OK;
  } catch (...) {
    return fail(err, CM_INTERNAL, "out of memory");
  }
}

int32_t write_chunk(void*, cm_blob_writer* w, cm_str bytes, cm_error* err) {
  try {
    if (bytes.size) reinterpret_cast<Writer*>(w)->buf.append(bytes.data, bytes.size);
    return CM_OK;
  } catch (...) {
    return fail(err, CM_INTERNAL, "out of memory");
  }
}

// Consumes the writer whatever the outcome, as the ABI requires.
int32_t write_commit(void* self, cm_blob_writer* w, cm_str id, cm_error* err) {
  Writer* wr = reinterpret_cast<Writer*>(w);
  int32_t rc = CM_OK;
  try {
    if (id.size == 0) {
      rc = fail(err, CM_INVALID, "empty blob id");
    } else {
      auto* st = static_cast<Store*>(self);
      std::lock_guard<std::mutex> lock(st->mu);
      st->blobs[{wr->tn_id, str(id)}] = std::move(wr->buf);
    }
  } catch (...) {
    rc = fail(err, CM_INTERNAL, "out of memory");
  }
  delete wr;
  return rc;
}

void write_abort(void*, cm_blob_writer* w) { delete reinterpret_cast<Writer*>(w); }

int32_t blob_read(void* self, const cm_tenant* tn, cm_str id, uint64_t offset, uint64_t length, const cm_sink* out, cm_error* err) {
  try {
    auto* st = static_cast<Store*>(self);
    std::string slice;
    {
      std::lock_guard<std::mutex> lock(st->mu);
      auto it = st->blobs.find({tn ? tn->tn_id : 0, str(id)});
      if (it == st->blobs.end()) return fail(err, CM_NOT_FOUND, "no such blob");
      if (offset > it->second.size()) return fail(err, CM_INVALID, "offset beyond end of blob");
      slice = it->second.substr(offset, length);  // substr clamps length (UINT64_MAX too)
    }
    if (!slice.empty() && out->write(out->ctx, slice.data(), slice.size()) != 0) return fail(err, CM_UNAVAILABLE, "reader went away");
    return CM_OK;
  } catch (...) {
    return fail(err, CM_INTERNAL, "unexpected exception");
  }
}

int32_t blob_stat(void* self, const cm_tenant* tn, cm_str id, cm_blob_stat* out, cm_error* err) {
  try {
    auto* st = static_cast<Store*>(self);
    std::lock_guard<std::mutex> lock(st->mu);
    auto it = st->blobs.find({tn ? tn->tn_id : 0, str(id)});
    if (it == st->blobs.end()) return fail(err, CM_NOT_FOUND, "no such blob");
    out->size = it->second.size();
    return CM_OK;
  } catch (...) {
    return fail(err, CM_INTERNAL, "unexpected exception");
  }
}

// ---- registration -------------------------------------------------------------

const old_blob_vtable vtable = {sizeof(old_blob_vtable), nullptr, &write_open, &write_chunk, &write_commit, &write_abort, &blob_read, &blob_stat};

const old_factory factory = {sizeof(old_factory), CM_KIND_BLOB, {"old-minor-blob", sizeof("old-minor-blob") - 1}, &create, &destroy, &vtable, sizeof(old_blob_vtable)};

int32_t init(const cm_host_api*, const cm_registrar* reg, cm_error* err) {
  // The old prefix is layout-compatible with cm_factory; struct_size tells the host where it ends.
  return reg->register_factory(reg->ctx, reinterpret_cast<const cm_factory*>(&factory), err);
}

__attribute__((used, section(CM_NOTE_SECTION))) const cm_plugin_note note = {
    CM_PLUGIN_MAGIC, CM_ABI_MAJOR, 0, CM_KIND_BLOB, 0, "old-minor", "0.9.0"};

const old_plugin_info info = {sizeof(old_plugin_info), CM_PLUGIN_MAGIC, CM_ABI_MAJOR, 0, CM_KIND_BLOB,
                              "old-minor", "0.9.0", "hand-written", "Test: built against an older ABI minor", &init};

}  // namespace

extern "C" __attribute__((visibility("default"))) const cm_plugin_info* cumulo_plugin_entry(void) {
  return reinterpret_cast<const cm_plugin_info*>(&info);
}
