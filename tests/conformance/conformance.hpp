// Conformance suites for adapter plugins: the same tests run against every
// implementation of an interface (built-in adapters, the in-memory samples,
// and any third party's plugin through `cumulo-adapter-test <plugin.so>`).
//
// A suite is a value-parameterised GoogleTest fixture over AdapterUnderTest;
// the list of adapters is filled by main() before InitGoogleTest, so suites
// are instantiated with ::testing::ValuesIn(adapters_of(kind)).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugins/adapters.hpp"

namespace cumulo::conformance {

struct AdapterUnderTest {
  AdapterUnderTest() = default;
  AdapterUnderTest(std::string plugin, std::string fac, uint32_t k, std::string options, std::string lbl, std::string skip_reason = {},
                   std::function<void(const std::string&)> clean = {})
      : plugin_path(std::move(plugin)),
        factory(std::move(fac)),
        kind(k),
        options_template(std::move(options)),
        label(std::move(lbl)),
        skip(std::move(skip_reason)),
        cleanup(std::move(clean)) {}

  std::string plugin_path;       // the .so
  std::string factory;           // factory name inside it
  uint32_t kind = 0;             // cm_kind bit
  std::string options_template;  // JSON; "${DIR}" becomes a fresh per-test directory,
                                 // "${ID}" a name unique to it ([a-z0-9_], e.g. a schema)
  std::string label;             // test-name suffix, [A-Za-z0-9_]
  std::string skip;              // non-empty: every test of this adapter is skipped, saying why
  /// Called with the substituted options of every instance location a test
  /// used, after its instances are gone (e.g. drops a database schema).
  std::function<void(const std::string& options)> cleanup;
};

/// Readable test names in failure output (instead of a byte dump).
inline void PrintTo(const AdapterUnderTest& a, std::ostream* os) { *os << a.factory << " (" << a.plugin_path << ")"; }

/// Every adapter under test (filled by main before InitGoogleTest).
std::vector<AdapterUnderTest>& registry();
std::vector<AdapterUnderTest> adapters_of(uint32_t kind);
/// Name generator for INSTANTIATE_TEST_SUITE_P.
std::string param_name(const ::testing::TestParamInfo<AdapterUnderTest>& info);

/// Loads the parameter's plugin (once per path per process), gives each test
/// a fresh directory and instance; `reopen()` creates a second instance on the
/// same directory, as a restarted process would (reset `inst_` first: LMDB
/// and RocksDB allow one open per directory and process).
class AdapterFixture : public ::testing::TestWithParam<AdapterUnderTest> {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::shared_ptr<plugins::Instance> reopen();
  /// A second, independent directory and instance (isolation tests).
  std::shared_ptr<plugins::Instance> fresh_elsewhere();
  /// A fresh directory and instance of another adapter under test (tests
  /// that move data between implementations); null when `other` is skipped
  /// in this run. Cleaned up with `other`'s cleanup after the test.
  std::shared_ptr<plugins::Instance> fresh_instance_of(const AdapterUnderTest& other);

  std::filesystem::path dir_;
  std::shared_ptr<plugins::Instance> inst_;

 private:
  std::vector<std::filesystem::path> extra_dirs_;
  std::vector<std::pair<AdapterUnderTest, std::filesystem::path>> other_dirs_;  // fresh_instance_of
};

/// The status a host-side call failed with (CM_OK if it did not throw).
inline cm_status code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const plugins::PluginError& e) {
    return e.code();
  }
  return CM_OK;
}

/// main() helper: parses `<plugin.so>[::factory[::options-json]]` arguments;
/// without a factory, every adapter factory in the plugin is tested with "{}"
/// options, or {"dir":"${DIR}"} when "{}" is refused.
void register_from_args(int argc, char** argv);

}  // namespace cumulo::conformance
