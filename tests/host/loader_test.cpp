// The loader refuses every kind of bad file with a clear reason, keeps the
// host serving, and accepts plugins built against an older ABI minor.
#include <gtest/gtest.h>

#include "plugins/adapters.hpp"
#include "support/fixture.hpp"

using namespace cumulo;
using namespace cumulo::test;
using plugins::PluginManager;

namespace {

struct LoaderTest : ::testing::Test {
  TempDir tmp;
  PluginManager pm{{test_plugins()}, tmp.path / "shadow"};
};

void expect_refused(PluginManager& pm, const std::string& file, const std::string& reason_part) {
  auto r = pm.load(test_plugins() / file);
  EXPECT_EQ(r.status, "refused") << file;
  EXPECT_NE(r.reason.find(reason_part), std::string::npos) << file << ": " << r.reason;
}

}  // namespace

TEST_F(LoaderTest, RefusesWrongMagic) { expect_refused(pm, "bad_magic.so", "wrong magic: expected 0x434D4C4F, found 0xDEADBEEF"); }
TEST_F(LoaderTest, RefusesWrongMajor) { expect_refused(pm, "bad_major.so", "ABI major mismatch: host speaks 1.1, plugin was built for 2."); }
TEST_F(LoaderTest, RefusesMissingEntry) { expect_refused(pm, "no_entry.so", "missing entry symbol cumulo_plugin_entry"); }
TEST_F(LoaderTest, RefusesTruncatedFile) { expect_refused(pm, "truncated.so", "truncated ELF file"); }
TEST_F(LoaderTest, RefusesNonElf) { expect_refused(pm, "non_elf.so", "not an ELF file"); }

TEST_F(LoaderTest, FailedInitRegistersNothing) {
  expect_refused(pm, "init_fails.so", "init failed: init exploded");
  EXPECT_EQ(pm.loaded_count(), 0u);
  EXPECT_EQ(pm.mapped_count(), 0u);  // unmapped again
}

TEST_F(LoaderTest, DuplicateFactoryRefusedNamingOwner) {
  ASSERT_EQ(pm.load(sample_plugins() / "hello-blob.so").status, "loaded");
  expect_refused(pm, "dup_factory.so", "already provided by plugin 'hello-blob'");
  EXPECT_EQ(pm.loaded_count(), 1u);
}

TEST_F(LoaderTest, AcceptsOlderMinorWithShorterStructs) {
  auto r = pm.load(test_plugins() / "old_minor.so");
  ASSERT_EQ(r.status, "loaded") << r.reason;
  ASSERT_EQ(r.factories.size(), 1u);
  auto f = pm.find(CM_KIND_BLOB, r.factories[0].substr(r.factories[0].find(':') + 1));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->vt.blob.remove, nullptr);  // beyond its vtable: absent, not garbage
  plugins::BlobHandle blob(pm.create(CM_KIND_BLOB, f->name, "{}"));
  plugins::TenantRef tn{1, "alice.test"};
  blob.write_all(tn, "b1~old", "older minor works");
  EXPECT_EQ(blob.read_all(tn, "b1~old"), "older minor works");
  EXPECT_EQ(blob.size(tn, "b1~old"), 17u);
  try {
    blob.remove(tn, "b1~old");
    FAIL() << "remove should be unsupported";
  } catch (const plugins::PluginError& e) {
    EXPECT_EQ(e.code(), CM_UNSUPPORTED);
  }
}

TEST_F(LoaderTest, CheckDoesNotRegister) {
  auto r = pm.check(sample_plugins() / "hello-blob.so");
  EXPECT_EQ(r.status, "ok");
  EXPECT_EQ(r.name, "hello-blob");
  EXPECT_EQ(pm.loaded_count(), 0u);
  EXPECT_FALSE(pm.find(CM_KIND_BLOB, "hello-blob"));
}

TEST_F(LoaderTest, LibraryOutlivesUnloadWhileInstanceAlive) {
  ASSERT_EQ(pm.load(sample_plugins() / "hello-blob.so").status, "loaded");
  auto inst = pm.create(CM_KIND_BLOB, "hello-blob", "{}");
  ASSERT_TRUE(pm.unload("hello-blob"));
  EXPECT_EQ(pm.loaded_count(), 0u);
  EXPECT_EQ(pm.mapped_count(), 1u);  // still mapped: an instance lives
  plugins::BlobHandle blob(inst);
  blob.write_all({1, "a"}, "b1~x", "still works");
  EXPECT_EQ(blob.read_all({1, "a"}, "b1~x"), "still works");
  blob = plugins::BlobHandle();
  inst.reset();
  EXPECT_EQ(pm.mapped_count(), 0u);
}

TEST(LoaderHost, HostKeepsServingWithBadPlugins) {
  std::vector<fs::path> files;
  for (auto n : {"bad_magic.so", "bad_major.so", "no_entry.so", "truncated.so", "non_elf.so", "init_fails.so", "old_minor.so"}) files.push_back(test_plugins() / n);
  TestHost host({}, files);
  auto h = host.get("/health");
  ASSERT_TRUE(h.ok) << h.error;
  EXPECT_EQ(h.status, 200);
  auto list = host.admin("GET", "/api/_admin/plugins");
  ASSERT_EQ(list.status, 200);
  auto j = nlohmann::json::parse(list.body)["data"]["plugins"];
  int refused = 0, loaded = 0;
  for (const auto& p : j) {
    if (p["status"] == "refused") {
      ++refused;
      EXPECT_FALSE(p["reason"].get<std::string>().empty());
    }
    if (p["status"] == "loaded") ++loaded;
  }
  EXPECT_EQ(refused, 6);
  EXPECT_EQ(loaded, 1);
}
