// `cumulo tenant migrate <id_tag> --to <profile>` (design.md §4): moves one
// tenant's data to another backend profile through the adapters' own
// interfaces, verifies it, and only then switches the tenant's binding.
//
// Per kind of the source profile (auth, meta, rtdb, blob, crdt):
//   scan    counts the source (items and bytes: the progress bar's totals);
//   copy    walks source and target in key order side by side (the sorted
//           portable dump for auth/meta/rtdb, blob ids, crdt document ids),
//           writes what is missing or different and deletes from the target
//           what the source does not have;
//   verify  counts and SHA-256 over the canonical stream on both sides
//           (blobs: every target blob re-hashed against its content address;
//           crdt: a hash of each document's update sequence).
// Every write is an upsert or delete of whole items, so a run interrupted at
// any point (kill -9 included) is completed by running it again: nothing is
// duplicated and nothing is lost. The source is never modified.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/tenant_registry.hpp"
#include "plugins/plugin_manager.hpp"

namespace cumulo::app {

/// A refusal or failure, worded for the operator; the binding is unchanged.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MigrationProgress {
  std::string kind;                     // auth, meta, rtdb, blob, crdt
  std::string phase;                    // scan, copy, verify
  uint64_t items = 0, items_total = 0;  // a total of 0 is not known
  uint64_t bytes = 0, bytes_total = 0;
  bool done = false;  // the phase's last report
};

struct KindReport {
  std::string kind;
  std::string source, target;         // adapter descriptions
  bool shared = false;                // the same adapter and options on both sides: nothing to move
  uint64_t items = 0, bytes = 0;      // verified equal on both sides
  uint64_t written = 0, deleted = 0;  // changed in the target by this run
  std::string sha256;                 // hex, over the kind's canonical stream
  double seconds = 0;
};

struct MigrationOptions {
  /// Items per target transaction (and per progress report).
  uint32_t batch = 500;
  size_t batch_bytes = size_t{4} << 20;
  std::function<void(const MigrationProgress&)> progress;
};

class Migrator {
 public:
  /// `pm` must have the plugins of both profiles loaded.
  Migrator(const Config& cfg, plugins::PluginManager& pm, TenantRegistry& registry, MigrationOptions opts = {});

  /// Migrates, verifies, switches. Throws MigrationError (refusals before
  /// anything is written: unknown tenant or profile, target == current, a
  /// kind the target profile lacks or whose adapters cannot dump).
  std::vector<KindReport> run(const std::string& id_tag, const std::string& to_profile);

 private:
  const Config& cfg_;
  plugins::PluginManager& pm_;
  TenantRegistry& registry_;
  MigrationOptions opts_;
};

/// Shows MigrationProgress: one redrawn bar on a terminal, else one plain
/// line per report ("migrate <id>: <kind> <phase> 120/600 items, 0.1/0.5 MiB").
class ProgressPrinter {
 public:
  ProgressPrinter(std::FILE* out, bool tty, std::string id_tag) : out_(out), tty_(tty), id_tag_(std::move(id_tag)) {}
  void operator()(const MigrationProgress& p);

 private:
  std::FILE* out_;
  bool tty_;
  std::string id_tag_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace cumulo::app
