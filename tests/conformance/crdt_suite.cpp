// Crdt adapter conformance: per-document update logs with contiguous
// sequence numbers, compaction, removal, listing, durability, isolation.
#include <thread>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using plugins::CrdtHandle;
using plugins::PluginError;
using plugins::TenantRef;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};


class CrdtConformance : public AdapterFixture {
 protected:
  CrdtHandle crdt() const { return CrdtHandle(inst_); }
  bool in_memory() const { return GetParam().factory.rfind("hello-", 0) == 0; }
  static std::vector<std::pair<uint64_t, std::string>> log(const CrdtHandle& c, const TenantRef& tn, const std::string& doc, uint64_t after = 0) {
    std::vector<std::pair<uint64_t, std::string>> out;
    c.read(tn, doc, after, [&](uint64_t seq, std::string_view u) { out.emplace_back(seq, std::string(u)); });
    return out;
  }
  std::vector<std::string> docs(const TenantRef& tn) const {
    plugins::StringSink s;
    auto ct = tn.c();
    cm_error err = plugins::new_error();
    plugins::check(inst_->factory().vt.crdt.list(inst_->self(), &ct, &s.sink, &err), err, "crdt list");
    std::vector<std::string> out;
    for (size_t p = 0; p < s.data.size();) {
      size_t nl = s.data.find('\n', p);
      out.push_back(s.data.substr(p, nl - p));
      p = nl + 1;
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  void compact(const TenantRef& tn, const std::string& doc, uint64_t upto, std::string_view merged) const {
    auto ct = tn.c();
    cm_error err = plugins::new_error();
    plugins::check(inst_->factory().vt.crdt.compact(inst_->self(), &ct, plugins::to_cm(doc), upto, plugins::to_cm(merged), &err), err, "crdt compact");
  }
  void remove(const TenantRef& tn, const std::string& doc) const {
    auto ct = tn.c();
    cm_error err = plugins::new_error();
    plugins::check(inst_->factory().vt.crdt.remove(inst_->self(), &ct, plugins::to_cm(doc), &err), err, "crdt remove");
  }
};

TEST_P(CrdtConformance, AppendReadInOrder) {
  auto c = crdt();
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(c.append(kA, "f1~doc", "u" + std::to_string(i)), static_cast<uint64_t>(i));
  auto all = log(c, kA, "f1~doc");
  ASSERT_EQ(all.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(all[static_cast<size_t>(i)], std::make_pair(static_cast<uint64_t>(i + 1), "u" + std::to_string(i + 1)));
  auto tail = log(c, kA, "f1~doc", 7);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail[0].first, 8u);
  EXPECT_TRUE(log(c, kA, "f1~other").empty());  // unknown doc: empty log
}

TEST_P(CrdtConformance, BinaryLargeAndEmptyUpdates) {
  auto c = crdt();
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131);
  c.append(kA, "d", big);
  c.append(kA, "d", "");
  auto all = log(c, kA, "d");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].second, big);
  EXPECT_EQ(all[1].second, "");
}

TEST_P(CrdtConformance, CompactionReplacesPrefix) {
  auto c = crdt();
  for (int i = 1; i <= 6; ++i) c.append(kA, "d", "u" + std::to_string(i));
  compact(kA, "d", 4, "merged1-4");
  auto all = log(c, kA, "d");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], std::make_pair(uint64_t{4}, std::string("merged1-4")));
  EXPECT_EQ(all[1].first, 5u);
  EXPECT_EQ(c.append(kA, "d", "u7"), 7u);  // numbering continues
  EXPECT_EQ(log(c, kA, "d", 4).size(), 3u);
  EXPECT_EQ(code_of([&] { compact(kA, "d", 99, "x"); }), CM_INVALID);
  EXPECT_EQ(code_of([&] { compact(kA, "nope", 1, "x"); }), CM_NOT_FOUND);
}

TEST_P(CrdtConformance, RemoveAndList) {
  auto c = crdt();
  c.append(kA, "a", "1");
  c.append(kA, "b", "1");
  c.append(kB, "c", "1");
  EXPECT_EQ(docs(kA), (std::vector<std::string>{"a", "b"}));
  remove(kA, "a");
  EXPECT_EQ(docs(kA), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(log(c, kA, "a").empty());
  EXPECT_EQ(code_of([&] { remove(kA, "a"); }), CM_NOT_FOUND);
  EXPECT_EQ(c.append(kA, "a", "again"), 1u);  // a removed doc starts over
}

TEST_P(CrdtConformance, FullIdsNeverCollide) {
  auto c = crdt();
  const std::string base(300, 'x');
  c.append(kA, base + "1", "one");
  c.append(kA, base + "2", "two");
  c.append(kA, "ab", "ab");
  c.append(kA, "a", "a");
  EXPECT_EQ(log(c, kA, base + "1"), (std::vector<std::pair<uint64_t, std::string>>{{1, "one"}}));
  EXPECT_EQ(log(c, kA, base + "2"), (std::vector<std::pair<uint64_t, std::string>>{{1, "two"}}));
  EXPECT_EQ(log(c, kA, "a"), (std::vector<std::pair<uint64_t, std::string>>{{1, "a"}}));
  EXPECT_EQ(log(c, kA, "ab"), (std::vector<std::pair<uint64_t, std::string>>{{1, "ab"}}));
}

TEST_P(CrdtConformance, UnicodeIdsAndBadInput) {
  auto c = crdt();
  c.append(kA, "dokumentum/ünïcödé ✓", "x");
  EXPECT_EQ(log(c, kA, "dokumentum/ünïcödé ✓").size(), 1u);
  const std::vector<std::string> bad = {"", std::string(401, 'a'), "line\nbreak", std::string("nul\0", 4)};
  for (const auto& d : bad) {
    EXPECT_EQ(code_of([&] { c.append(kA, d, "x"); }), CM_INVALID) << d.size();
    EXPECT_EQ(code_of([&] { log(c, kA, d); }), CM_INVALID) << d.size();
  }
}

TEST_P(CrdtConformance, TenantIsolation) {
  auto c = crdt();
  c.append(kA, "shared-name", "alice");
  EXPECT_EQ(c.append(kB, "shared-name", "bob"), 1u);  // separate logs
  EXPECT_EQ(log(c, kA, "shared-name"), (std::vector<std::pair<uint64_t, std::string>>{{1, "alice"}}));
  EXPECT_EQ(log(c, kB, "shared-name"), (std::vector<std::pair<uint64_t, std::string>>{{1, "bob"}}));
  EXPECT_EQ(code_of([&] { remove(kB, "only-alice"); }), CM_NOT_FOUND);
  remove(kB, "shared-name");
  EXPECT_EQ(log(c, kA, "shared-name").size(), 1u);
}

TEST_P(CrdtConformance, ReaderCanStop) {
  auto c = crdt();
  for (int i = 0; i < 5; ++i) c.append(kA, "d", "u");
  int seen = 0;
  auto ct = kA.c();
  cm_error err = plugins::new_error();
  auto cb = [](void* ctx, uint64_t, cm_str) -> int { return ++*static_cast<int*>(ctx) >= 2 ? 1 : 0; };
  int32_t st = inst_->factory().vt.crdt.read(inst_->self(), &ct, plugins::to_cm("d"), 0, cb, &seen, &err);
  EXPECT_EQ(st, CM_UNAVAILABLE);
  EXPECT_EQ(seen, 2);
}

TEST_P(CrdtConformance, ConcurrentAppendsGetContiguousSeqs) {
  auto c = crdt();
  std::mutex mu;
  std::vector<uint64_t> seqs;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        uint64_t s = c.append(kA, "busy", "t" + std::to_string(t));
        std::lock_guard lk(mu);
        seqs.push_back(s);
      }
    });
  for (auto& th : threads) th.join();
  std::sort(seqs.begin(), seqs.end());
  ASSERT_EQ(seqs.size(), 400u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
  EXPECT_EQ(log(c, kA, "busy").size(), 400u);
}

TEST_P(CrdtConformance, DurableAcrossReopen) {
  if (in_memory()) GTEST_SKIP() << "in-memory double";
  crdt().append(kA, "d", "persisted");
  inst_.reset();  // LMDB: one open environment per directory and process
  CrdtHandle again(reopen());
  EXPECT_EQ(log(again, kA, "d"), (std::vector<std::pair<uint64_t, std::string>>{{1, "persisted"}}));
  EXPECT_EQ(again.append(kA, "d", "next"), 2u);
}

INSTANTIATE_TEST_SUITE_P(Crdt, CrdtConformance, ::testing::ValuesIn(adapters_of(CM_KIND_CRDT)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CrdtConformance);

}  // namespace
}  // namespace cumulo::conformance
