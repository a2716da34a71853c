#include "conformance.hpp"

#include <cctype>
#include <map>
#include <mutex>
#include <random>

namespace fs = std::filesystem;

namespace cumulo::conformance {

namespace {

std::string replace_all(std::string s, const std::string& key, const std::string& value) {
  for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + value.size())) s.replace(p, key.size(), value);
  return s;
}

std::string substitute(const std::string& s, const fs::path& dir) {
  std::string id = dir.filename().string();  // unique per test location
  for (auto& c : id) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_';
  return replace_all(replace_all(s, "${DIR}", dir.string()), "${ID}", id);
}

fs::path fresh_dir() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lk(mu);
  auto p = fs::temp_directory_path() / ("cumulo-conf-" + std::to_string(::getpid()) + "-" + std::to_string(rng()));
  fs::create_directories(p);
  return p;
}

// One manager per process keeps each plugin mapped once for all tests.
plugins::PluginManager& manager() {
  static plugins::PluginManager pm({}, fs::temp_directory_path() / ("cumulo-conf-shadow-" + std::to_string(::getpid())));
  return pm;
}

void ensure_loaded(const std::string& path, uint32_t kind, const std::string& factory) {
  static std::mutex mu;
  static std::map<std::string, bool> loaded;
  std::lock_guard lk(mu);
  if (loaded[path]) return;
  auto r = manager().load(path);
  if (r.status == "refused") throw std::runtime_error("plugin " + path + " refused: " + r.reason);
  loaded[path] = true;
  if (!manager().find(kind, factory)) throw std::runtime_error("plugin " + path + " has no " + plugins::kind_name(kind) + " factory " + factory);
}

}  // namespace

std::vector<AdapterUnderTest>& registry() {
  static std::vector<AdapterUnderTest> r;
  return r;
}

std::vector<AdapterUnderTest> adapters_of(uint32_t kind) {
  std::vector<AdapterUnderTest> out;
  for (const auto& a : registry())
    if (a.kind == kind) out.push_back(a);
  return out;
}

std::string param_name(const ::testing::TestParamInfo<AdapterUnderTest>& info) {
  std::string s = info.param.label.empty() ? info.param.factory : info.param.label;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

void AdapterFixture::SetUp() {
  const auto& p = GetParam();
  if (!p.skip.empty()) GTEST_SKIP() << p.skip;
  ensure_loaded(p.plugin_path, p.kind, p.factory);
  dir_ = fresh_dir();
  inst_ = manager().create(p.kind, p.factory, substitute(p.options_template, dir_));
}

void AdapterFixture::TearDown() {
  inst_.reset();
  if (const auto& clean = GetParam().cleanup; clean && !dir_.empty()) {
    clean(substitute(GetParam().options_template, dir_));
    for (const auto& d : extra_dirs_) clean(substitute(GetParam().options_template, d));
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
  for (const auto& d : extra_dirs_) fs::remove_all(d, ec);
  for (const auto& [other, d] : other_dirs_) {
    if (other.cleanup) other.cleanup(substitute(other.options_template, d));
    fs::remove_all(d, ec);
  }
}

std::shared_ptr<plugins::Instance> AdapterFixture::reopen() {
  const auto& p = GetParam();
  return manager().create(p.kind, p.factory, substitute(p.options_template, dir_));
}

std::shared_ptr<plugins::Instance> AdapterFixture::fresh_elsewhere() {
  const auto& p = GetParam();
  extra_dirs_.push_back(fresh_dir());
  return manager().create(p.kind, p.factory, substitute(p.options_template, extra_dirs_.back()));
}

std::shared_ptr<plugins::Instance> AdapterFixture::fresh_instance_of(const AdapterUnderTest& other) {
  if (!other.skip.empty()) return nullptr;  // e.g. no PostgreSQL server in this run
  ensure_loaded(other.plugin_path, other.kind, other.factory);
  other_dirs_.emplace_back(other, fresh_dir());
  return manager().create(other.kind, other.factory, substitute(other.options_template, other_dirs_.back().second));
}

void register_from_args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) continue;  // gtest flags
    std::string path = arg, factory, options;
    if (auto p = arg.find("::"); p != std::string::npos) {
      path = arg.substr(0, p);
      factory = arg.substr(p + 2);
      if (auto q = factory.find("::"); q != std::string::npos) {
        options = factory.substr(q + 2);
        factory = factory.substr(0, q);
      }
    }
    auto report = manager().check(path);
    if (report.status == "refused") throw std::runtime_error(path + ": " + report.reason);
    for (const auto& f : report.factories) {
      auto colon = f.find(':');
      uint32_t kind = plugins::kind_from_name(f.substr(0, colon));
      std::string name = f.substr(colon + 1);
      if (!factory.empty() && name != factory) continue;
      if (kind == CM_KIND_ACTION_TYPE || kind == CM_KIND_FILE_PROCESSOR) continue;  // no storage suite
      registry().push_back({path, name, kind, options.empty() ? R"({"dir":"${DIR}"})" : options, name});
    }
  }
}

}  // namespace cumulo::conformance
