// cumulo-adapter-test: runs the conformance suites against a third party's
// adapter plugin, exactly as they run against the built-in ones.
//   cumulo-adapter-test <plugin.so>[::factory[::options-json]] ... [gtest flags]
// Options may contain ${DIR}: a fresh directory per test.
#include <spdlog/spdlog.h>

#include <iostream>

#include "conformance.hpp"

int main(int argc, char** argv) {
  // First use of spdlog before the plugin manager's static: the logger must
  // outlive the manager, which logs while unmapping plugins at exit.
  spdlog::set_level(spdlog::level::warn);
  try {
    cumulo::conformance::register_from_args(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cumulo-adapter-test: " << e.what() << "\n";
    return 2;
  }
  if (cumulo::conformance::registry().empty()) {
    std::cerr << "usage: cumulo-adapter-test <plugin.so>[::factory[::options-json]] ... [--gtest_filter=...]\n"
                 "no storage adapter factory found in the given plugins\n";
    return 2;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
