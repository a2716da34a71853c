// Shared by the DSL test files: the message of the E that f throws.
#pragma once

#include <gtest/gtest.h>

#include <string>

/// f() must throw an E; returns its what(), or records a failure and "".
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected exception not thrown";
  return {};
}
