/*
 * cumulo_abi.h — the Cumulo plugin ABI (C, stable).
 *
 * This header is the whole contract between the host and a plugin `.so`. It is
 * plain C so that any compiler and any C++ standard library can build a plugin
 * that the host loads (a clang++/libc++ plugin inside a g++/libstdc++ host is
 * tested in CI). C++ authors normally use <cumulo/sdk.hpp>, a header-only layer
 * over this file, and never touch these structs directly.
 *
 * Rules (docs/sdk.md explains each one):
 *   1. A plugin exports exactly one symbol, `cumulo_plugin_entry`, returning a
 *      `cm_plugin_info`. The host checks magic and ABI version before calling
 *      anything else. The same facts are also stored in the ELF section
 *      `.cumulo_plugin` (CM_NOTE_SECTION, a cm_plugin_note) so they are
 *      readable before dlopen.
 *   2. Same ABI major is required; a host with a newer minor loads plugins built
 *      against an older minor. Structs and function tables only grow at their
 *      end; every struct that crosses begins with `struct_size` and the reader
 *      copies min(sizes) and zero-fills the rest. A NULL optional slot means
 *      "feature off".
 *   3. Nothing but the types below crosses: no C++ types, no exceptions, no
 *      RTTI. Strings are UTF-8 (pointer, length) views valid for the call only.
 *   4. Memory is freed by whoever allocated it. Results flow back through
 *      host-owned sinks (`cm_sink`), so a plugin never hands the host a buffer.
 *   5. Every call may fail with a `cm_status` and a message written into a
 *      host-owned `cm_error`.
 *   6. All instance calls must be thread-safe; the host may call them from any
 *      of its blocking-executor threads, never from its network threads.
 */
#ifndef CUMULO_ABI_H
#define CUMULO_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versioning --------------------------------------------------------- */

#define CM_PLUGIN_MAGIC 0x434D4C4Fu /* "CMLO" */
#define CM_ABI_MAJOR 1
#define CM_ABI_MINOR 1 /* 1.1: portable tenant dump (export_tenant/import_items) */
#define CM_ENTRY_SYMBOL "cumulo_plugin_entry"
#define CM_NOTE_SECTION ".cumulo_plugin"

/* ---- basic types -------------------------------------------------------- */

/* A borrowed UTF-8 string or byte view; valid for the duration of the call. */
typedef struct cm_str {
  const char* data;
  size_t size;
} cm_str;

typedef enum cm_status {
  CM_OK = 0,
  CM_NOT_FOUND = 1,   /* the addressed record does not exist */
  CM_INVALID = 2,     /* bad argument or configuration (the caller's fault) */
  CM_CONFLICT = 3,    /* already exists / concurrent modification */
  CM_PERMISSION = 4,  /* refused by policy */
  CM_UNSUPPORTED = 5, /* optional feature not implemented by this plugin */
  CM_UNAVAILABLE = 6, /* backend down or busy: retry later */
  CM_TOO_LARGE = 7,   /* value exceeds a limit */
  CM_IO = 8,          /* I/O failure */
  CM_INTERNAL = 9     /* bug or unexpected state, includes caught exceptions */
} cm_status;

/* Host-owned error slot. Plugins fill it with cm_host_api.set_error (or
 * directly: code + NUL-terminated message, truncated to fit). */
#define CM_ERROR_MESSAGE_MAX 480
typedef struct cm_error {
  uint32_t struct_size;
  int32_t code; /* cm_status */
  char message[CM_ERROR_MESSAGE_MAX];
} cm_error;

/* Host-owned output sink. A plugin returns variable-length data (JSON records,
 * blob bytes, ids) by calling write() any number of times; the host owns and
 * frees the memory. write() returns 0 on success, nonzero if the host wants the
 * plugin to stop (e.g. the client went away); the plugin then returns
 * CM_UNAVAILABLE. */
typedef struct cm_sink {
  void* ctx;
  int (*write)(void* ctx, const void* data, size_t size);
} cm_sink;

/* Host-owned input source for streamed uploads. read() fills up to `cap`
 * bytes, stores the count in *got (0 = end of stream) and returns a status. */
typedef struct cm_source {
  void* ctx;
  int32_t (*read)(void* ctx, void* buf, size_t cap, size_t* got);
} cm_source;

/* Every adapter call names the tenant it acts for. `tn_id` 0 is the
 * node-global scope (tasks, certificates). Adapters MUST scope all data by it. */
typedef struct cm_tenant {
  uint32_t struct_size;
  uint32_t tn_id;
  cm_str id_tag;
} cm_tenant;

/* ---- plugin kinds ------------------------------------------------------- */

typedef enum cm_kind {
  CM_KIND_AUTH = 1u << 0,
  CM_KIND_META = 1u << 1,
  CM_KIND_BLOB = 1u << 2,
  CM_KIND_RTDB = 1u << 3,
  CM_KIND_CRDT = 1u << 4,
  CM_KIND_ACTION_TYPE = 1u << 5,
  CM_KIND_FILE_PROCESSOR = 1u << 6
} cm_kind;

/* ---- host services lent to plugins -------------------------------------- */

typedef enum cm_log_level { CM_LOG_DEBUG = 1, CM_LOG_INFO = 2, CM_LOG_WARN = 3, CM_LOG_ERROR = 4 } cm_log_level;

typedef struct cm_host_api {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  /* Logging through the host's logger (spdlog), tagged with the plugin name. */
  void (*log)(void* host_ctx, int32_t level, cm_str message);
  /* Writes code + message into `err` (truncating). Returns `code`. */
  int32_t (*set_error)(cm_error* err, int32_t code, cm_str message);
  /* Memory the host may free or account for. */
  void* (*alloc)(size_t size);
  void (*free)(void* ptr);
  /* Wall clock in Unix microseconds, as the host sees it. */
  int64_t (*now_us)(void* host_ctx);
  /* Adds `value` to a counter exposed at /metrics as
   * cumulo_plugin_metric_total{plugin="<plugin>",name="<name>"}. */
  void (*metric_add)(void* host_ctx, cm_str name, double value);
  /* Opaque context to pass back into log/now_us/metric_add. */
  void* host_ctx;
} cm_host_api;

/* ---- registration ------------------------------------------------------- */

/* A factory creates instances of one kind from JSON options. `vtable` points
 * at the kind's table below (e.g. cm_blob_vtable); the host copies
 * min(vtable_size, its own size) and zero-fills the rest. */
typedef struct cm_factory {
  uint32_t struct_size;
  uint32_t kind; /* one cm_kind bit */
  cm_str name;   /* unique per kind, [a-z0-9_-]{1,47}, e.g. "blob-fs" */
  /* Validates `options_json` and creates an instance bound to its data
   * location. `*instance` is opaque to the host. */
  int32_t (*create)(cm_str options_json, void** instance, cm_error* err);
  void (*destroy)(void* instance);
  const void* vtable;
  size_t vtable_size;
  /* Optional: JSON schema of the options (informational; borrowed during
   * registration only). */
  cm_str options_schema;
} cm_factory;

typedef struct cm_registrar {
  uint32_t struct_size;
  void* ctx;
  /* Valid only during init (the registrar pointer must not be kept);
   * all-or-nothing: if init fails every factory it registered is dropped.
   * A (kind, name) already provided by another plugin is refused. */
  int32_t (*register_factory)(void* ctx, const cm_factory* factory, cm_error* err);
} cm_registrar;

/* ---- the entry point ---------------------------------------------------- */

typedef struct cm_plugin_info {
  uint32_t struct_size;
  uint32_t magic;     /* CM_PLUGIN_MAGIC */
  uint16_t abi_major; /* CM_ABI_MAJOR the plugin was built with */
  uint16_t abi_minor;
  uint32_t kinds;      /* OR of cm_kind */
  const char* name;    /* unique plugin name, [a-z0-9_-]{1,47}; equals the note's */
  const char* version; /* plugin's own version, e.g. "1.2.0" */
  const char* compiler;
  const char* description;
  /* Called once after the checks pass. Register factories here, nowhere else. */
  int32_t (*init)(const cm_host_api* host, const cm_registrar* registrar, cm_error* err);
  /* Optional. Called once before the library is unmapped, after every
   * instance it created was destroyed. Must join any thread it started. */
  void (*shutdown)(void);
} cm_plugin_info;

typedef const cm_plugin_info* (*cm_plugin_entry_fn)(void);

/* The note stored in section CM_NOTE_SECTION: fixed size, readable from the
 * file before it is mapped. */
typedef struct cm_plugin_note {
  uint32_t magic;
  uint16_t abi_major;
  uint16_t abi_minor;
  uint32_t kinds;
  uint32_t reserved;
  char name[48];
  char version[32];
} cm_plugin_note;

/* ====================================================================== */
/*  Interfaces, one vtable per kind. Every function receives the instance   */
/*  from cm_factory.create. Required slots are marked; others may be NULL.  */
/*  Records cross as JSON documents (schemas in docs/sdk.md) so that fields */
/*  can be added without changing the ABI; hot paths use typed arguments.   */
/* ====================================================================== */

/* Optional on every vtable: `health` answers whether the backend works (used
 * by /ready). Returns CM_OK or an error. */
typedef int32_t (*cm_health_fn)(void* self, cm_error* err);

/* Optional on the auth, meta and rtdb vtables (ABI 1.1): the portable tenant
 * dump that `cumulo tenant migrate` moves between adapters. A tenant's data
 * is a set of items, each one JSON line {"t":type,"k":key,"v":value}; the
 * types, keys and value shapes are adapter-independent (docs/sdk.md,
 * "Portable tenant dump").
 *   export_tenant writes the items whose (t, k) sorts after `after`, in
 *   ascending byte order of t then k, at most `limit` of them (0 = all), one
 *   "\n"-terminated line each. `after` is empty (from the start) or the last
 *   item received as t + "\n" + k.
 *   import_items upserts every line of `lines` (items as exported); an item
 *   whose "v" is null is deleted. One call is atomic, and repeating an
 *   import is harmless, so an interrupted migration can simply be rerun. */
typedef int32_t (*cm_export_tenant_fn)(void* self, const cm_tenant* tn, cm_str after, uint32_t limit, const cm_sink* out_lines, cm_error* err);
typedef int32_t (*cm_import_items_fn)(void* self, const cm_tenant* tn, cm_str lines, cm_error* err);

/* ---- blob: immutable content-addressed bytes ----------------------------- */

typedef struct cm_blob_writer cm_blob_writer; /* plugin-owned write handle */

typedef struct cm_blob_stat {
  uint32_t struct_size;
  uint64_t size;
} cm_blob_stat;

typedef struct cm_blob_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  /* Required. Streamed write: open, write chunks, commit under `blob_id` (the
   * host computed it from the bytes) or abort. A committed blob appears
   * atomically; an aborted or crashed write leaves nothing visible.
   * write_commit and write_abort always consume the writer, even when
   * write_commit fails. */
  int32_t (*write_open)(void* self, const cm_tenant* tn, cm_blob_writer** out, cm_error* err);
  int32_t (*write_chunk)(void* self, cm_blob_writer* w, cm_str bytes, cm_error* err);
  int32_t (*write_commit)(void* self, cm_blob_writer* w, cm_str blob_id, cm_error* err);
  void (*write_abort)(void* self, cm_blob_writer* w);
  /* Required. Streams bytes [offset, offset+length) into `out`; length
   * UINT64_MAX = to the end. */
  int32_t (*read)(void* self, const cm_tenant* tn, cm_str blob_id, uint64_t offset, uint64_t length, const cm_sink* out, cm_error* err);
  /* Required. CM_NOT_FOUND if absent. */
  int32_t (*stat)(void* self, const cm_tenant* tn, cm_str blob_id, cm_blob_stat* out, cm_error* err);
  int32_t (*remove)(void* self, const cm_tenant* tn, cm_str blob_id, cm_error* err);
  /* Writes one blob id per line ("\n" terminated) to `out`, ids > `after`
   * in ascending order; limit 0 = no limit. */
  int32_t (*list)(void* self, const cm_tenant* tn, cm_str after, uint32_t limit, const cm_sink* out, cm_error* err);
} cm_blob_vtable;

/* ---- auth: secrets ------------------------------------------------------- */

typedef struct cm_auth_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  /* Passwords: the adapter hashes (bcrypt) and verifies; the host never sees
   * stored hashes. check_password returns CM_OK or CM_PERMISSION. */
  int32_t (*set_password)(void* self, const cm_tenant* tn, cm_str password, cm_error* err);
  int32_t (*check_password)(void* self, const cm_tenant* tn, cm_str password, cm_error* err);
  /* Named secrets: private keys (PEM), HS256 secret, VAPID keys, certificates.
   * Record JSON: {"name","value","expiresAt"?,"meta"?}. */
  int32_t (*put_secret)(void* self, const cm_tenant* tn, cm_str record_json, cm_error* err);
  int32_t (*get_secret)(void* self, const cm_tenant* tn, cm_str name, const cm_sink* out_json, cm_error* err);
  int32_t (*delete_secret)(void* self, const cm_tenant* tn, cm_str name, cm_error* err);
  /* JSON array of records whose name starts with `prefix`. */
  int32_t (*list_secrets)(void* self, const cm_tenant* tn, cm_str prefix, const cm_sink* out_json, cm_error* err);
  /* API keys: stored hashed. create writes {"keyId","key"} (the only time the
   * plaintext exists); validate writes {"keyId","tnId","scopes"} or NOT_FOUND. */
  int32_t (*create_api_key)(void* self, const cm_tenant* tn, cm_str options_json, const cm_sink* out_json, cm_error* err);
  int32_t (*validate_api_key)(void* self, cm_str key, const cm_sink* out_json, cm_error* err);
  int32_t (*delete_api_key)(void* self, const cm_tenant* tn, cm_str key_id, cm_error* err);
  /* ABI 1.1 */
  cm_export_tenant_fn export_tenant;
  cm_import_items_fn import_items;
} cm_auth_vtable;

/* ---- meta: non-secret metadata, split into cohesive parts ---------------- */
/* A meta instance exposes any subset of the parts below; a NULL part means
 * the adapter does not store that data (another profile entry must). Each
 * query takes a JSON filter and writes a JSON array; each write takes a JSON
 * record and may write the stored record (with assigned ids) back. */

typedef struct cm_meta_tenants {
  uint32_t struct_size;
  int32_t (*create_tenant)(void* self, cm_str tenant_json, const cm_sink* out_json, cm_error* err);
  int32_t (*get_tenant)(void* self, const cm_tenant* tn, const cm_sink* out_json, cm_error* err);
  int32_t (*update_tenant)(void* self, const cm_tenant* tn, cm_str patch_json, cm_error* err);
  int32_t (*delete_tenant)(void* self, const cm_tenant* tn, cm_error* err);
  int32_t (*list_tenants)(void* self, cm_str filter_json, const cm_sink* out_json, cm_error* err);
  int32_t (*upsert_profile)(void* self, const cm_tenant* tn, cm_str profile_json, cm_error* err);
  int32_t (*get_profile)(void* self, const cm_tenant* tn, cm_str id_tag, const cm_sink* out_json, cm_error* err);
  int32_t (*list_profiles)(void* self, const cm_tenant* tn, cm_str filter_json, const cm_sink* out_json, cm_error* err);
  int32_t (*put_public_key)(void* self, cm_str key_json, cm_error* err);
  int32_t (*get_public_key)(void* self, cm_str id_tag, cm_str key_id, const cm_sink* out_json, cm_error* err);
} cm_meta_tenants;

typedef struct cm_meta_actions {
  uint32_t struct_size;
  /* Stores an action; if its "key" matches an existing action, that one is
   * overridden. Writes the stored record back. */
  int32_t (*put_action)(void* self, const cm_tenant* tn, cm_str action_json, const cm_sink* out_json, cm_error* err);
  int32_t (*get_action)(void* self, const cm_tenant* tn, cm_str action_id, const cm_sink* out_json, cm_error* err);
  int32_t (*update_action)(void* self, const cm_tenant* tn, cm_str action_id, cm_str patch_json, cm_error* err);
  int32_t (*list_actions)(void* self, const cm_tenant* tn, cm_str filter_json, const cm_sink* out_json, cm_error* err);
  /* Inbound queue: tokens received but not yet verified. */
  int32_t (*push_inbound)(void* self, const cm_tenant* tn, cm_str inbound_json, cm_error* err);
  int32_t (*pop_inbound)(void* self, const cm_tenant* tn, uint32_t limit, const cm_sink* out_json, cm_error* err);
} cm_meta_actions;

typedef struct cm_meta_files {
  uint32_t struct_size;
  int32_t (*put_file)(void* self, const cm_tenant* tn, cm_str file_json, const cm_sink* out_json, cm_error* err);
  int32_t (*get_file)(void* self, const cm_tenant* tn, cm_str file_id, const cm_sink* out_json, cm_error* err);
  int32_t (*update_file)(void* self, const cm_tenant* tn, cm_str file_id, cm_str patch_json, cm_error* err);
  int32_t (*list_files)(void* self, const cm_tenant* tn, cm_str filter_json, const cm_sink* out_json, cm_error* err);
  int32_t (*put_variant)(void* self, const cm_tenant* tn, cm_str variant_json, cm_error* err);
  int32_t (*list_variants)(void* self, const cm_tenant* tn, cm_str file_id, const cm_sink* out_json, cm_error* err);
} cm_meta_files;

/* Scheduler persistence (node-global: the calls take no tenant). Task JSON:
 * {"id","kind","key","status":"P|F|E","priority":"high|medium|low",
 *  "nextAt" (Unix ms),"attempt","retry"?:{"minWait","maxWait","times"},
 *  "cron","deps":[ids],"input","output","error","createdAt" (Unix ms)}.
 * An empty "key" means no dedup key. */
typedef struct cm_meta_tasks {
  uint32_t struct_size;
  /* Stores a new task and writes back {"id":N}; if "key" is non-empty and a
   * pending task of the same kind has it, writes that task's id and stores
   * nothing. */
  int32_t (*create_task)(void* self, cm_str task_json, const cm_sink* out_json, cm_error* err);
  /* Replaces status/nextAt/attempt/error/output of task `id`. */
  int32_t (*update_task)(void* self, int64_t id, cm_str patch_json, cm_error* err);
  int32_t (*get_task)(void* self, int64_t id, const cm_sink* out_json, cm_error* err);
  /* JSON array of every task with status "P". */
  int32_t (*list_pending_tasks)(void* self, const cm_sink* out_json, cm_error* err);
  int32_t (*delete_task)(void* self, int64_t id, cm_error* err);
} cm_meta_tasks;

typedef struct cm_meta_settings {
  uint32_t struct_size;
  int32_t (*get_setting)(void* self, const cm_tenant* tn, cm_str key, const cm_sink* out_json, cm_error* err);
  int32_t (*put_setting)(void* self, const cm_tenant* tn, cm_str key, cm_str value_json, cm_error* err);
  int32_t (*list_settings)(void* self, const cm_tenant* tn, cm_str prefix, const cm_sink* out_json, cm_error* err);
  int32_t (*delete_setting)(void* self, const cm_tenant* tn, cm_str key, cm_error* err);
} cm_meta_settings;

/* References (share links), tags, push subscriptions and other small
 * collections share one generic keyed-record part: (collection, key) → JSON. */
typedef struct cm_meta_records {
  uint32_t struct_size;
  int32_t (*put_record)(void* self, const cm_tenant* tn, cm_str collection, cm_str key, cm_str record_json, cm_error* err);
  int32_t (*get_record)(void* self, const cm_tenant* tn, cm_str collection, cm_str key, const cm_sink* out_json, cm_error* err);
  int32_t (*delete_record)(void* self, const cm_tenant* tn, cm_str collection, cm_str key, cm_error* err);
  int32_t (*list_records)(void* self, const cm_tenant* tn, cm_str collection, cm_str filter_json, const cm_sink* out_json, cm_error* err);
} cm_meta_records;

typedef struct cm_meta_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  const cm_meta_tenants* tenants;
  const cm_meta_actions* actions;
  const cm_meta_files* files;
  const cm_meta_tasks* tasks;
  const cm_meta_settings* settings;
  const cm_meta_records* records;
  /* ABI 1.1 */
  cm_export_tenant_fn export_tenant;
  cm_import_items_fn import_items;
} cm_meta_vtable;

/* ---- rtdb: path-addressed JSON documents --------------------------------- */

typedef void (*cm_rtdb_change_fn)(void* ctx, cm_str change_json);

typedef struct cm_rtdb_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  /* `db` is the database (file) id, `path` a "/"-separated document path. */
  int32_t (*get)(void* self, const cm_tenant* tn, cm_str db, cm_str path, const cm_sink* out_json, cm_error* err);
  /* Query JSON: {"filter":{…},"sort":[…],"limit":N,"cursor":"…"}. */
  int32_t (*query)(void* self, const cm_tenant* tn, cm_str db, cm_str collection, cm_str query_json, const cm_sink* out_json, cm_error* err);
  /* Atomic batch: [{"op":"set|update|delete|create","path":…,"value":…}].
   * Writes the results (e.g. created ids) as a JSON array. */
  int32_t (*transact)(void* self, const cm_tenant* tn, cm_str db, cm_str ops_json, const cm_sink* out_json, cm_error* err);
  /* Change feed: `fn` is called (from any thread) for each committed change
   * under `path` until unsubscribe returns. */
  int32_t (*subscribe)(void* self, const cm_tenant* tn, cm_str db, cm_str path, cm_rtdb_change_fn fn, void* ctx, uint64_t* sub_id, cm_error* err);
  void (*unsubscribe)(void* self, uint64_t sub_id);
  /* ABI 1.1 */
  cm_export_tenant_fn export_tenant;
  cm_import_items_fn import_items;
} cm_rtdb_vtable;

/* ---- crdt: per-document Yjs update log ----------------------------------- */

/* Returns 0 to continue; nonzero asks the adapter to stop (it then returns
 * CM_UNAVAILABLE). */
typedef int (*cm_crdt_update_fn)(void* ctx, uint64_t seq, cm_str update);

typedef struct cm_crdt_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  /* Appends one binary update; writes its sequence number to *seq. */
  int32_t (*append)(void* self, const cm_tenant* tn, cm_str doc_id, cm_str update, uint64_t* seq, cm_error* err);
  /* Calls `fn` for every update with seq > after, in order. */
  int32_t (*read)(void* self, const cm_tenant* tn, cm_str doc_id, uint64_t after, cm_crdt_update_fn fn, void* ctx, cm_error* err);
  /* Replaces updates 1..upto with one merged update (compaction). */
  int32_t (*compact)(void* self, const cm_tenant* tn, cm_str doc_id, uint64_t upto, cm_str merged, cm_error* err);
  int32_t (*remove)(void* self, const cm_tenant* tn, cm_str doc_id, cm_error* err);
  int32_t (*list)(void* self, const cm_tenant* tn, const cm_sink* out_lines, cm_error* err);
} cm_crdt_vtable;

/* ---- action-type: DSL definitions + optional native hooks ---------------- */

typedef struct cm_action_type_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  /* Required. Writes the JSON array of DSL definitions this instance
   * provides (docs/sdk.md, "Action types"). */
  int32_t (*definitions)(void* self, const cm_sink* out_json, cm_error* err);
  /* Optional native hook named by a definition ("native:<name>"); `hook`
   * is <name>. Input {"hook","action","context","vars"}; output {} or any of
   * {"ops":[…],"vars":{…},"status":"A|C|N|D","return":…,"stop":true}
   * (docs/actions.md, "Native hooks"). */
  int32_t (*run_hook)(void* self, const cm_tenant* tn, cm_str hook, cm_str input_json, const cm_sink* out_json, cm_error* err);
} cm_action_type_vtable;

/* ---- file-processor: probe and variants ---------------------------------- */

typedef struct cm_file_processor_vtable {
  uint32_t struct_size;
  cm_health_fn health;
  /* Required. Nonzero if this processor handles `content_type`. */
  int32_t (*accepts)(void* self, cm_str content_type);
  /* Probe the file at `path`: writes {"width","height","duration","pages",…}. */
  int32_t (*probe)(void* self, cm_str path, cm_str content_type, const cm_sink* out_json, cm_error* err);
  /* Generate variants. Request {"source","contentType","outDir","variants":[
   * {"name":"vis.sd","maxWidth","maxHeight","format"}]}; writes a JSON array
   * of {"name","path","format","size","width","height",…}. */
  int32_t (*generate)(void* self, cm_str request_json, const cm_sink* out_json, cm_error* err);
} cm_file_processor_vtable;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CUMULO_ABI_H */
