// `cumulo` — the host binary.
//   cumulo serve [--config FILE]
//   cumulo plugins list [--config FILE]
//   cumulo plugins check FILE
//   cumulo version
#include <cumulo/cumulo_abi.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "app/logging.hpp"

namespace fs = std::filesystem;
using cumulo::app::Config;

namespace {

int usage() {
  std::cerr << "usage:\n"
               "  cumulo serve [--config FILE]         run the server (env: MODE, LISTEN, DATA_DIR, BASE_ID_TAG, ...)\n"
               "  cumulo plugins list [--config FILE]  load every plugin and show file, kind, name, version, ABI, status\n"
               "  cumulo plugins check FILE            check one plugin file without registering it\n"
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
