// `cumulo` — the host binary.
//   cumulo serve [--config FILE]
//   cumulo plugins list [--config FILE]
//   cumulo plugins check FILE
//   cumulo version
#include <cumulo/cumulo_abi.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "app/logging.hpp"
#include "app/tenant_registry.hpp"

namespace fs = std::filesystem;
using cumulo::app::Config;

namespace {

int usage() {
  std::cerr << "usage:\n"
               "  cumulo serve [--config FILE]         run the server (env: MODE, LISTEN, DATA_DIR, BASE_ID_TAG, ...)\n"
               "  cumulo plugins list [--config FILE]  load every plugin and show file, kind, name, version, ABI, status\n"
               "  cumulo plugins check FILE            check one plugin file without registering it\n"
               "  cumulo tenant create ID_TAG [--profile P]   register a tenant (tnId assigned)\n"
               "  cumulo tenant list                   tenants with tnId and backend profile\n"
               "  cumulo tenant show ID_TAG            one tenant as JSON\n"
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
      cumulo::app::TenantRegistry reg(cfg.data_dir / "tenants.json");
      // As `serve` does: the base tenant exists first (tnId 1 on a fresh node).
      if (!cfg.base_id_tag.empty()) reg.ensure(cfg.base_id_tag, cfg.default_profile);
      auto as_json = [](const cumulo::app::TenantRecord& r) {
        return nlohmann::json{{"tnId", r.tn_id}, {"idTag", r.id_tag}, {"profile", r.profile}, {"createdAt", r.created_at}};
      };
      if (args[1] == "create" && (args.size() == 3 || (args.size() == 5 && args[3] == "--profile"))) {
        const std::string profile = args.size() == 5 ? args[4] : cfg.default_profile;
        if (!cfg.profiles.count(profile)) throw cumulo::app::ConfigError("unknown profile '" + profile + "'");
        auto r = reg.create(args[2], profile);
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
