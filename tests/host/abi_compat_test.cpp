// Proof of ABI stability: the hello plugins built with clang++ and libc++
// (out of tree, against the installed SDK; CI sets CUMULO_CLANG_PLUGIN_DIR)
// pass exactly the same calls as the g++ builds inside this g++ host.
#include <gtest/gtest.h>

#include <cstdlib>

#include "support/fixture.hpp"

using namespace cumulo::test;
using json = nlohmann::json;

namespace {

json profile_with_hello() {
  return {{"profiles",
           {{"embedded",
             {{"auth", {{"factory", "hello-auth"}}},
              {"meta", {{"factory", "hello-meta"}}},
              {"blob", {{"factory", "hello-blob"}}},
              {"rtdb", {{"factory", "hello-rtdb"}}},
              {"crdt", {{"factory", "hello-crdt"}}}}}}}};
}

std::vector<fs::path> hello_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto n : {"hello-auth", "hello-meta", "hello-blob", "hello-rtdb", "hello-crdt", "hello-action", "hello-processor"}) out.push_back(dir / (std::string(n) + ".so"));
  return out;
}

// Runs every kind's selftest and returns the results minus run-specific fields.
json exercise(TestHost& host) {
  json out = json::object();
  for (std::string kind : {"auth", "meta", "blob", "rtdb", "crdt", "action-type", "file-processor"}) {
    auto r = host.admin("POST", "/api/_admin/selftest/" + kind);
    EXPECT_EQ(r.status, 200) << kind << ": " << r.body;
    auto d = json::parse(r.body)["data"];
    d.erase("blobId");
    if (d.contains("adapter")) d["adapter"].erase("version");
    if (d.contains("processors"))
      for (auto& p : d["processors"])
        for (auto& v : p["variants"]) v.erase("path");
    out[kind] = d;
  }
  return out;
}

}  // namespace

TEST(AbiCompat, GccSamplesPassEveryKind) {
  TestHost host(profile_with_hello(), hello_files(sample_plugins()));
  auto r = exercise(host);
  EXPECT_EQ(r["action-type"]["types"], json::array({"HELLO"}));
  EXPECT_EQ(r["file-processor"]["processors"][0]["variants"][0]["name"], "txt.upper");
}

TEST(AbiCompat, ClangLibcxxSamplesBehaveIdentically) {
  const char* dir = std::getenv("CUMULO_CLANG_PLUGIN_DIR");
  if (!dir || !*dir) GTEST_SKIP() << "CUMULO_CLANG_PLUGIN_DIR not set (.ci/run sets it)";
  json gcc, clang;
  {
    TestHost host(profile_with_hello(), hello_files(sample_plugins()));
    gcc = exercise(host);
  }
  {
    TestHost host(profile_with_hello(), hello_files(dir));
    auto list = json::parse(host.admin("GET", "/api/_admin/plugins").body)["data"]["plugins"];
    for (const auto& p : list) {
      EXPECT_EQ(p["status"], "loaded") << p.dump();
      EXPECT_NE(p["compiler"].get<std::string>().find("libc++"), std::string::npos) << p.dump();
    }
    clang = exercise(host);
  }
  EXPECT_EQ(gcc, clang);
}
