// Crdt adapter conformance: every crdt adapter (built-in, the in-memory double,
// a third party's through cumulo-adapter-test) must pass this file.
//
// The interface, as tested here (also adapters-builtin/crdt-lmdb/README.md and docs/sdk.md §6.5):
//   append(doc, update)       → seq: 1, 2, 3… per (tenant, doc), no gaps, unique under
//                               concurrency; durable once returned. Updates are opaque
//                               bytes (empty and ≥ 1 MiB allowed).
//   read(doc, after, fn)      → fn(seq, update) for every entry with seq > after, in order;
//                               an unknown doc is an empty log; fn returning nonzero stops
//                               the read, which then answers CM_UNAVAILABLE.
//   compact(doc, upto, merged) (optional) atomically replaces entries ≤ upto by one entry
//                               `merged` at seq `upto`; later entries keep their numbers and
//                               appends continue after the highest seq. upto 0 or past the
//                               end → CM_INVALID; unknown doc → CM_NOT_FOUND.
//   remove(doc)               (optional) deletes the log; unknown → CM_NOT_FOUND; a later
//                               append starts again at 1.
//   list()                    (optional) the tenant's doc ids, one per line, each ending "\n".
// Document ids: 1-1024 bytes of UTF-8 without newline or NUL, else CM_INVALID with a
// message. Ids are kept whole: ids that share any prefix never share a log.
#include <atomic>
#include <set>
#include <thread>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using plugins::CrdtHandle;
using plugins::PluginError;
using plugins::TenantRef;
using Log = std::vector<std::pair<uint64_t, std::string>>;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

class CrdtConformance : public AdapterFixture {
 protected:
  CrdtHandle crdt() const { return CrdtHandle(inst_); }
  bool persistent() const { return GetParam().options_template.find("${DIR}") != std::string::npos; }
  uint64_t append(const std::string& doc, std::string_view update, const TenantRef& tn = kA) const { return crdt().append(tn, doc, update); }
  Log log(const std::string& doc, uint64_t after = 0, const TenantRef& tn = kA) const {
    Log out;
    crdt().read(tn, doc, after, [&](uint64_t seq, std::string_view u) { out.emplace_back(seq, std::string(u)); });
    return out;
  }
  // Calls an optional slot; CM_UNSUPPORTED throws Unsupported (the test is skipped).
  void optional_call(const char* what, const std::function<int32_t(cm_error*)>& f) const {
    cm_error err = plugins::new_error();
    int32_t st = f(&err);
    if (st == CM_UNSUPPORTED) throw Unsupported{what};
    plugins::check(st, err, what);
  }
  struct Unsupported {
    const char* what;
  };
  std::vector<std::string> docs(const TenantRef& tn = kA) const {
    const auto& vt = inst_->factory().vt.crdt;
    if (!vt.list) throw Unsupported{"list"};
    plugins::StringSink s;
    auto ct = tn.c();
    optional_call("crdt list", [&](cm_error* e) { return vt.list(inst_->self(), &ct, &s.sink, e); });
    EXPECT_TRUE(s.data.empty() || s.data.back() == '\n') << "every line ends with \\n";
    std::vector<std::string> out;
    for (size_t p = 0; p < s.data.size();) {
      size_t nl = s.data.find('\n', p);
      if (nl == std::string::npos) nl = s.data.size();
      out.push_back(s.data.substr(p, nl - p));
      p = nl + 1;
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  void compact(const std::string& doc, uint64_t upto, std::string_view merged, const TenantRef& tn = kA) const {
    const auto& vt = inst_->factory().vt.crdt;
    if (!vt.compact) throw Unsupported{"compact"};
    auto ct = tn.c();
    optional_call("crdt compact", [&](cm_error* e) { return vt.compact(inst_->self(), &ct, plugins::to_cm(doc), upto, plugins::to_cm(merged), e); });
  }
  void remove(const std::string& doc, const TenantRef& tn = kA) const {
    const auto& vt = inst_->factory().vt.crdt;
    if (!vt.remove) throw Unsupported{"remove"};
    auto ct = tn.c();
    optional_call("crdt remove", [&](cm_error* e) { return vt.remove(inst_->self(), &ct, plugins::to_cm(doc), e); });
  }
};

// Runs a test body that uses optional slots; skips when the adapter lacks one.
#define WITH_OPTIONAL(body)                                                                         \
  try {                                                                                             \
    body                                                                                            \
  } catch (const Unsupported& u) {                                                                  \
    GTEST_SKIP() << u.what << " is not supported (optional in the interface)";                      \
  }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const PluginError& e) {
    return e.what();
  }
  return "";
}

TEST_P(CrdtConformance, AppendThenReadInOrder) {
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(append("f1~doc", "u" + std::to_string(i)), static_cast<uint64_t>(i));
  auto all = log("f1~doc");
  ASSERT_EQ(all.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(all[size_t(i)], std::make_pair(uint64_t(i + 1), "u" + std::to_string(i + 1)));
  EXPECT_EQ(log("f1~doc", 7), (Log{{8, "u8"}, {9, "u9"}, {10, "u10"}}));
  EXPECT_TRUE(log("f1~doc", 10).empty());
  EXPECT_TRUE(log("f1~doc", 1000).empty());
  EXPECT_TRUE(log("f1~other").empty());  // unknown doc: an empty log
  EXPECT_EQ(append("f1~other", "x"), 1u);  // numbering is per document
}

TEST_P(CrdtConformance, BinaryEmptyAndLargeUpdates) {
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 8));
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  append("d", big);
  append("d", "");
  append("d", every_byte);
  auto all = log("d");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[0].second == big) << "1 MiB update differs";
  EXPECT_EQ(all[1].second, "");
  EXPECT_EQ(all[2].second, every_byte);
}

TEST_P(CrdtConformance, CompactionReplacesAPrefix) {
  WITH_OPTIONAL({
    for (int i = 1; i <= 6; ++i) append("d", "u" + std::to_string(i));
    compact("d", 4, "merged1-4");
    EXPECT_EQ(log("d"), (Log{{4, "merged1-4"}, {5, "u5"}, {6, "u6"}}));
    EXPECT_EQ(log("d", 3), (Log{{4, "merged1-4"}, {5, "u5"}, {6, "u6"}}));
    EXPECT_EQ(log("d", 4), (Log{{5, "u5"}, {6, "u6"}}));  // a reader that saw 4 skips the merge
    EXPECT_EQ(append("d", "u7"), 7u);                      // numbering continues
    compact("d", 7, "merged1-7");                         // the whole log
    EXPECT_EQ(log("d"), (Log{{7, "merged1-7"}}));
    EXPECT_EQ(append("d", "u8"), 8u);
    compact("d", 7, "again");  // compacting onto the merged entry itself
    EXPECT_EQ(log("d"), (Log{{7, "again"}, {8, "u8"}}));
  })
}

TEST_P(CrdtConformance, CompactionBounds) {
  WITH_OPTIONAL({
    for (int i = 1; i <= 3; ++i) append("d", "u");
    EXPECT_EQ(code_of([&] { compact("d", 4, "x"); }), CM_INVALID);
    EXPECT_EQ(code_of([&] { compact("d", 0, "x"); }), CM_INVALID);
    EXPECT_EQ(code_of([&] { compact("nope", 1, "x"); }), CM_NOT_FOUND);
    EXPECT_EQ(log("d").size(), 3u);  // failed compactions change nothing
  })
}

TEST_P(CrdtConformance, RemoveAndList) {
  WITH_OPTIONAL({
    EXPECT_TRUE(docs().empty());
    append("a", "1");
    append("b", "1");
    append("b", "2");
    append("c", "1", kB);
    EXPECT_EQ(docs(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(docs(kB), std::vector<std::string>{"c"});
    remove("a");
    EXPECT_EQ(docs(), std::vector<std::string>{"b"});
    EXPECT_TRUE(log("a").empty());
    EXPECT_EQ(code_of([&] { remove("a"); }), CM_NOT_FOUND);
    EXPECT_EQ(append("a", "again"), 1u);  // a removed doc starts over
    EXPECT_EQ(log("b").size(), 2u);
  })
}

TEST_P(CrdtConformance, FullIdsNeverCollide) {
  // Ids sharing long prefixes (the reference truncates keys to 24 bytes and mixes such logs).
  const std::string base(1023, 'x');
  const std::vector<std::string> ids = {base + "1", base + "2", base.substr(0, 400), base.substr(0, 401), base.substr(0, 399) + "y",
                                        std::string(24, 'p') + "-one", std::string(24, 'p') + "-two", "a", "ab"};
  for (size_t i = 0; i < ids.size(); ++i) append(ids[i], "update of " + std::to_string(i));
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(log(ids[i]), (Log{{1, "update of " + std::to_string(i)}})) << ids[i].size() << "-byte id " << i;
  EXPECT_EQ(append(base + "2", "second"), 2u);
  EXPECT_EQ(log(base + "1").size(), 1u);
  WITH_OPTIONAL({
    auto sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(docs(), sorted);  // listed whole
    compact(base + "2", 2, "merged");
    remove(base + "1");
    EXPECT_EQ(log(base + "2"), (Log{{2, "merged"}}));
    EXPECT_TRUE(log(base + "1").empty());
    EXPECT_EQ(log(base.substr(0, 401)).size(), 1u);
  })
}

TEST_P(CrdtConformance, UnicodeIds) {
  const std::vector<std::string> ids = {"dokumentum/ünïcödé ✓", "日本語のドキュメント", "emoji 🚀🙂", "f1~Árvíztűrő"};
  for (const auto& id : ids) append(id, id);
  for (const auto& id : ids) EXPECT_EQ(log(id), (Log{{1, id}})) << id;
  WITH_OPTIONAL({
    auto sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(docs(), sorted);
  })
}

TEST_P(CrdtConformance, BadIdsAreInvalidWithAMessage) {
  const std::vector<std::string> bad = {"", std::string(1025, 'a'), "line\nbreak", std::string("nul\0", 4), "bad \xff utf-8", "overlong \xc0\xaf", "surrogate \xed\xa0\x80", "cut \xe2\x9c"};
  const auto& vt = inst_->factory().vt.crdt;
  for (const auto& d : bad) {
    SCOPED_TRACE(std::to_string(d.size()) + "-byte id");
    std::string msg = message_of([&] { append(d, "x"); });
    EXPECT_EQ(code_of([&] { append(d, "x"); }), CM_INVALID);
    EXPECT_GE(msg.size(), std::min(msg.size(), msg.find(": ")) + 12) << "message: " << msg;
    EXPECT_EQ(code_of([&] { log(d); }), CM_INVALID);
    auto ct = kA.c();
    cm_error err = plugins::new_error();
    int32_t st = vt.compact ? vt.compact(inst_->self(), &ct, plugins::to_cm(d), 1, plugins::to_cm("m"), &err) : CM_INVALID;
    EXPECT_TRUE(st == CM_INVALID || st == CM_UNSUPPORTED) << "compact: " << st;
    st = vt.remove ? vt.remove(inst_->self(), &ct, plugins::to_cm(d), &err) : CM_INVALID;
    EXPECT_TRUE(st == CM_INVALID || st == CM_UNSUPPORTED) << "remove: " << st;
  }
  EXPECT_EQ(append(std::string(1024, 'a'), "x"), 1u);  // the limit itself is fine
}

TEST_P(CrdtConformance, TenantIsolation) {
  append("shared-name", "alice");
  EXPECT_EQ(append("shared-name", "bob", kB), 1u);  // separate logs, separate numbering
  EXPECT_EQ(log("shared-name"), (Log{{1, "alice"}}));
  EXPECT_EQ(log("shared-name", 0, kB), (Log{{1, "bob"}}));
  EXPECT_TRUE(log("only-alice", 0, kB).empty());
  WITH_OPTIONAL({
    append("only-alice", "a");
    EXPECT_EQ(code_of([&] { remove("only-alice", kB); }), CM_NOT_FOUND);
    EXPECT_EQ(code_of([&] { compact("only-alice", 1, "m", kB); }), CM_NOT_FOUND);
    EXPECT_EQ(docs(kB), std::vector<std::string>{"shared-name"});
    remove("shared-name", kB);
    EXPECT_EQ(log("shared-name"), (Log{{1, "alice"}}));
    EXPECT_EQ(log("only-alice"), (Log{{1, "a"}}));
  })
}

TEST_P(CrdtConformance, ReaderCanStop) {
  for (int i = 0; i < 5; ++i) append("d", "u");
  int seen = 0;
  auto ct = kA.c();
  cm_error err = plugins::new_error();
  auto cb = [](void* ctx, uint64_t, cm_str) -> int { return ++*static_cast<int*>(ctx) >= 2 ? 1 : 0; };
  int32_t st = inst_->factory().vt.crdt.read(inst_->self(), &ct, plugins::to_cm("d"), 0, cb, &seen, &err);
  EXPECT_EQ(st, CM_UNAVAILABLE);
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(log("d").size(), 5u);
}

TEST_P(CrdtConformance, ConcurrentAppendsGetUniqueContiguousSeqs) {
  constexpr int kThreads = 8, kEach = 40;
  std::mutex mu;
  std::vector<uint64_t> seqs;
  std::atomic<bool> done{false};
  std::atomic<int> gaps{0}, reads{0};
  // Readers meanwhile always see a gap-free prefix 1..k. At least one read
  // (a fast in-memory adapter can finish every append before the reader runs).
  std::thread reader([&] {
    do {
      auto l = log("busy");
      for (size_t i = 0; i < l.size(); ++i)
        if (l[i].first != i + 1) ++gaps;
      ++reads;
    } while (!done);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        uint64_t s = append("busy", "t" + std::to_string(t) + "-" + std::to_string(i));
        std::lock_guard lk(mu);
        seqs.push_back(s);
      }
    });
  for (auto& th : threads) th.join();
  done = true;
  reader.join();
  std::sort(seqs.begin(), seqs.end());
  ASSERT_EQ(seqs.size(), size_t{kThreads * kEach});
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
  auto all = log("busy");
  ASSERT_EQ(all.size(), size_t{kThreads * kEach});
  std::set<std::string> payloads;
  for (auto& [seq, u] : all) payloads.insert(u);
  EXPECT_EQ(payloads.size(), all.size());  // every update stored once
  EXPECT_EQ(gaps, 0);
  EXPECT_GT(reads, 0);
}

TEST_P(CrdtConformance, DurableAcrossReopen) {
  if (!persistent()) GTEST_SKIP() << "in-memory adapter";
  const std::string long_id = std::string(1000, 'L') + "1";
  append("d", "persisted");
  append("d", "two");
  append("d", "three");
  append(long_id, "long");
  append("e", "other tenant", kB);
  bool compacted = inst_->factory().vt.crdt.compact != nullptr;
  if (compacted) {
    auto ct = kA.c();
    cm_error err = plugins::new_error();
    compacted = inst_->factory().vt.crdt.compact(inst_->self(), &ct, plugins::to_cm("d"), 2, plugins::to_cm("merged"), &err) == CM_OK;
  }
  inst_.reset();  // LMDB: one open environment per directory and process
  inst_ = reopen();
  EXPECT_EQ(log("d"), compacted ? (Log{{2, "merged"}, {3, "three"}}) : (Log{{1, "persisted"}, {2, "two"}, {3, "three"}}));
  EXPECT_EQ(append("d", "next"), 4u);
  EXPECT_EQ(log(long_id), (Log{{1, "long"}}));
  EXPECT_EQ(log("e", 0, kB), (Log{{1, "other tenant"}}));
  WITH_OPTIONAL({ EXPECT_EQ(docs(), (std::vector<std::string>{long_id, "d"})); })
}

INSTANTIATE_TEST_SUITE_P(Crdt, CrdtConformance, ::testing::ValuesIn(adapters_of(CM_KIND_CRDT)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CrdtConformance);

}  // namespace
}  // namespace cumulo::conformance
