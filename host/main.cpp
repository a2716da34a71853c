// `cumulo` — the host binary.
//   cumulo serve [--config FILE]
//   cumulo plugins list [--config FILE]
//   cumulo plugins check FILE
//   cumulo tenant create|list|show|migrate …
//   cumulo version
#include <cumulo/cumulo_abi.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "app/data_lock.hpp"
#include "app/logging.hpp"
#include "app/migrate.hpp"
#include "app/provision.hpp"
#include "auth/keyring.hpp"
#include "app/tenant_registry.hpp"

namespace fs = std::filesystem;
using cumulo::app::Config;

namespace {

int usage() {
  std::cerr << "usage:\n"
               "  cumulo serve [--config FILE]         run the server (env: MODE, LISTEN, DATA_DIR, BASE_ID_TAG, ...)\n"
               "  cumulo plugins list [--config FILE]  load every plugin and show file, kind, name, version, ABI, status\n"
               "  cumulo plugins check FILE            check one plugin file without registering it\n"
               "  cumulo tenant create ID_TAG [--profile P] [--password-stdin]\n"
               "                                          register and provision a tenant (keys, password)\n"
               "  cumulo tenant list                   tenants with tnId and backend profile\n"
               "  cumulo tenant show ID_TAG            one tenant as JSON\n"
               "  cumulo tenant migrate ID_TAG --to PROFILE [--batch N]\n"
               "                                       copy a tenant's data to another backend profile, verify it,\n"
               "                                       switch the tenant (stop the server first; rerun if interrupted)\n"
               "  cumulo version                       print versions\n";
  return 2;
}

std::optional<fs::path> config_path(std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--config") {
      fs::path p = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return p;
    }
  if (const char* e = std::getenv("CUMULO_CONFIG")) return fs::path(e);
  if (fs::exists("cumulo.json")) return fs::path("cumulo.json");
  return std::nullopt;
}

void print_report(const cumulo::plugins::PluginReport& r) {
  std::cout << r.file << "\n  kind: " << (r.kinds.empty() ? "-" : r.kinds) << "\n  name: " << (r.name.empty() ? "-" : r.name)
            << "\n  version: " << (r.version.empty() ? "-" : r.version) << "\n  abi: " << r.abi_major << "." << r.abi_minor << "\n  status: " << r.status;
  if (!r.reason.empty()) std::cout << " (" << r.reason << ")";
  if (!r.compiler.empty()) std::cout << "\n  compiler: " << r.compiler;
  if (!r.factories.empty()) {
    std::cout << "\n  factories:";
    for (const auto& f : r.factories) std::cout << " " << f;
  }
  std::cout << "\n";
}

// cumulo tenant migrate ID_TAG --to PROFILE [--batch N]
int tenant_migrate(Config cfg, const std::vector<std::string>& args) {
  std::string id_tag, to;
  uint32_t batch = 500;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--to" && i + 1 < args.size()) {
      to = args[++i];
    } else if (args[i] == "--batch" && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) == 0)
        throw cumulo::app::ConfigError("--batch must be an integer in [1, 999999]");
      batch = static_cast<uint32_t>(std::stoul(v));
    } else if (id_tag.empty() && !args[i].empty() && args[i][0] != '-') {
      id_tag = args[i];
    } else {
      return usage();
    }
  }
  if (id_tag.empty() || to.empty()) return usage();
  // Exclusive: no server may serve (or write) the tenant while it moves.
  cumulo::app::DataDirLock lock(cfg.data_dir, cumulo::app::DataDirLock::Mode::Exclusive,
                                "DATA_DIR " + cfg.data_dir.string() + " is in use by a running `cumulo serve` (or another migration): stop the server first");
  cumulo::app::TenantRegistry reg(cfg.data_dir / "tenants.json");
  if (!cfg.base_id_tag.empty()) reg.ensure(cfg.base_id_tag, cfg.default_profile);
  const auto before = reg.get(id_tag);
  if (cfg.plugin_dirs.empty()) cfg.plugin_dirs = cumulo::app::default_plugin_dirs();
  cumulo::plugins::PluginManager pm(cfg.plugin_dirs, cfg.data_dir / ".plugin-cache");
  pm.load_all();
  cumulo::app::ProgressPrinter printer(stderr, ::isatty(STDERR_FILENO) != 0, id_tag);
  cumulo::app::MigrationOptions opts;
  opts.batch = batch;
  opts.progress = [&](const cumulo::app::MigrationProgress& p) { printer(p); };
  try {
    cumulo::app::Migrator m(cfg, pm, reg, opts);
    for (const auto& r : m.run(id_tag, to)) {
      if (r.shared) {
        std::printf("%-4s  %s\n", r.kind.c_str(), r.source.c_str());
        continue;
      }
      std::printf("%-4s  %llu items, %.1f MiB in %.2f s (%llu written, %llu deleted), sha256 %s\n      %s -> %s\n", r.kind.c_str(),
                  static_cast<unsigned long long>(r.items), static_cast<double>(r.bytes) / (1 << 20), r.seconds, static_cast<unsigned long long>(r.written),
                  static_cast<unsigned long long>(r.deleted), r.sha256.c_str(), r.source.c_str(), r.target.c_str());
    }
  } catch (const cumulo::app::MigrationError& e) {
    std::cerr << "cumulo: migrate: " << e.what() << "\n";
    return 1;
  }
  std::printf(
      "tenant %s now uses profile '%s'. Its data on profile '%s' was left in place: docs/operations.md, \"Migrating a tenant\", says how to delete it.\n",
      id_tag.c_str(), to.c_str(), before ? before->profile.c_str() : "?");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  try {
    if (args[0] == "version") {
      std::cout << "cumulo " << CUMULO_VERSION << " (plugin ABI " << CM_ABI_MAJOR << "." << CM_ABI_MINOR << ")\n";
      return 0;
    }
    auto cfg_file = config_path(args);
    auto cfg = Config::load(cfg_file, [](const char* n) { return std::getenv(n); });
    cumulo::app::setup_logging(cfg.log_level, cfg.log_format);

    if (args[0] == "serve") {
      cumulo::app::App app(std::move(cfg));
      app.start();
      app.run_until_signal();
      return 0;
    }
    if (args[0] == "tenant" && args.size() >= 2) {
      spdlog::set_level(spdlog::level::warn);
      if (args[1] == "migrate") return tenant_migrate(std::move(cfg), args);
      cumulo::app::TenantRegistry reg(cfg.data_dir / "tenants.json");
      // As `serve` does: the base tenant exists first (tnId 1 on a fresh node).
      if (!cfg.base_id_tag.empty()) reg.ensure(cfg.base_id_tag, cfg.default_profile);
      auto as_json = [](const cumulo::app::TenantRecord& r) {
        return nlohmann::json{{"tnId", r.tn_id}, {"idTag", r.id_tag}, {"profile", r.profile}, {"createdAt", r.created_at}};
      };
      if (args[1] == "create" && args.size() >= 3) {
        std::string profile = cfg.default_profile;
        bool password_stdin = false;
        for (size_t i = 3; i < args.size(); ++i) {
          if (args[i] == "--profile" && i + 1 < args.size()) profile = args[++i];
          else if (args[i] == "--password-stdin") password_stdin = true;
          else return usage();
        }
        if (!cfg.profiles.count(profile)) throw cumulo::app::ConfigError("unknown profile '" + profile + "'");
        std::optional<std::string> password;
        if (password_stdin) {
          std::string line;
          std::getline(std::cin, line);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (line.empty()) throw cumulo::app::ConfigError("--password-stdin: no password on stdin");
          password = line;
        }
        auto r = reg.create(args[2], profile);
        // Provision through the tenant's own adapters: tenant record, P-384
        // profile key, VAPID key, password (spec/core.md §2.5).
        if (cfg.plugin_dirs.empty()) cfg.plugin_dirs = cumulo::app::default_plugin_dirs();
        cumulo::plugins::PluginManager pm(cfg.plugin_dirs, cfg.data_dir / ".plugin-cache");
        pm.load_all();
        {
          cumulo::app::Backends backends(cfg, pm);
          backends.rebind();
          cumulo::auth::KeyRing keys(backends);
          cumulo::app::ProvisionOptions po;
          po.password = password;
          auto t = backends.tenant(r.id_tag);
          if (!t) throw std::runtime_error("tenant " + r.id_tag + " vanished from the registry");
          cumulo::app::provision_tenant(backends, keys, *t, po, static_cast<int64_t>(std::time(nullptr)));
          std::cerr << "provisioned with profile key " << keys.signing_key(*t).key_id << "\n";
        }
        std::cout << as_json(r).dump(2) << "\n";
        std::cerr << "created; a running server picks it up on SIGHUP or POST /api/_admin/plugins/reload\n";
        return 0;
      }
      if (args[1] == "list" && args.size() == 2) {
        std::printf("%-8s %-40s %s\n", "TN_ID", "ID_TAG", "PROFILE");
        for (const auto& r : reg.list()) std::printf("%-8u %-40s %s\n", r.tn_id, r.id_tag.c_str(), r.profile.c_str());
        return 0;
      }
      if (args[1] == "show" && args.size() == 3) {
        auto r = reg.get(args[2]);
        if (!r) {
          std::cerr << "cumulo: no tenant " << args[2] << "\n";
          return 1;
        }
        auto j = as_json(*r);
        auto p = cfg.profiles.find(r->profile);
        if (p != cfg.profiles.end())
          for (const auto& [kind, spec] : p->second.adapters) j["backends"][kind] = {{"factory", spec.factory}, {"options", nlohmann::json::parse(spec.options_json)}};
        std::cout << j.dump(2) << "\n";
        return 0;
      }
      return usage();
    }
    if (args[0] == "plugins" && args.size() >= 2) {
      // Plugin inspection is quiet: the report is the output.
      spdlog::set_level(spdlog::level::off);
      fs::path scratch = fs::temp_directory_path() / ("cumulo-plugins-" + std::to_string(::getpid()));
      cumulo::plugins::PluginManager pm(cfg.plugin_dirs.empty() ? std::vector<fs::path>{} : cfg.plugin_dirs, scratch);
      int rc = 0;
      if (args[1] == "check" && args.size() == 3) {
        auto r = pm.check(args[2]);
        print_report(r);
        rc = r.status == "refused" ? 1 : 0;
      } else if (args[1] == "list") {
        if (cfg.plugin_dirs.empty()) cfg.plugin_dirs = cumulo::app::default_plugin_dirs();
        cumulo::plugins::PluginManager lister(cfg.plugin_dirs, scratch);
        for (const auto& r : lister.load_all()) print_report(r);
      } else {
        rc = usage();
      }
      std::error_code ec;
      fs::remove_all(scratch, ec);
      return rc;
    }
    return usage();
  } catch (const cumulo::app::ConfigError& e) {
    std::cerr << "cumulo: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "cumulo: " << e.what() << "\n";
    return 1;
  }
}
