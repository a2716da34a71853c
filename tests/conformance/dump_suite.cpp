// Conformance of the portable tenant dump (ABI 1.1 export_tenant /
// import_items; item format in docs/sdk.md, "Portable tenant dump") for every
// meta, auth and rtdb adapter. Adapters without the slots are skipped.
//
// A tenant is filled through the regular API (only the parts the adapter
// has), exported, imported into a fresh instance of the same and of every
// other implementation of the kind, and re-exported: the items must be equal
// byte for byte after canonicalising the JSON. Also: the documented order,
// paging with `after` + `limit`, idempotent re-import, "v":null deletes, and
// another tenant of the same instance untouched.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>

#include "conformance.hpp"

namespace cumulo::conformance {
namespace {

using json = nlohmann::json;
using plugins::AdapterHandle;
using plugins::TenantRef;
using Inst = std::shared_ptr<plugins::Instance>;

const TenantRef kA{1, "alice.test"};
const TenantRef kB{2, "bob.test"};

std::vector<AdapterUnderTest> dump_adapters() {
  std::vector<AdapterUnderTest> out;
  for (uint32_t k : {CM_KIND_META, CM_KIND_AUTH, CM_KIND_RTDB})
    for (auto& a : adapters_of(k)) out.push_back(a);
  return out;
}

// Meta parts, as a mask (tasks are node-global and never dumped).
constexpr unsigned kTenants = 1, kActions = 2, kFiles = 4, kSettings = 8, kRecords = 16;

unsigned parts_of(const Inst& i) {
  if (i->factory().kind != CM_KIND_META) return 0;
  const auto& v = i->factory().vt.meta;
  return (v.tenants ? kTenants : 0u) | (v.actions ? kActions : 0u) | (v.files ? kFiles : 0u) | (v.settings ? kSettings : 0u) | (v.records ? kRecords : 0u);
}

cm_str s(std::string_view v) { return plugins::to_cm(v); }

// Runs a slot that may write output; throws PluginError on failure.
std::string call(const char* what, const std::function<int32_t(const cm_sink*, cm_error*)>& f) {
  plugins::StringSink sink;
  cm_error err = plugins::new_error();
  plugins::check(f(&sink.sink, &err), err, what);
  return sink.data;
}
void run(const char* what, const std::function<int32_t(cm_error*)>& f) {
  cm_error err = plugins::new_error();
  plugins::check(f(&err), err, what);
}

std::string export_text(const Inst& i, const TenantRef& tn, std::string_view after = "", uint32_t limit = 0) {
  std::string out;
  EXPECT_TRUE(AdapterHandle(i).export_tenant(tn, after, limit, [&](std::string_view c) {
    out.append(c);
    return true;
  }));
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) lines.push_back(text.substr(start, nl - start));
  EXPECT_EQ(start, text.size()) << "every item ends with \\n";
  return lines;
}

// {"k","t","v"} with sorted keys, in export order.
std::vector<std::string> canonical(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : split_lines(text)) {
    json j = json::parse(l);
    EXPECT_TRUE(j.is_object() && j["t"].is_string() && j["k"].is_string() && j.contains("v")) << l;
    out.push_back(json{{"t", j["t"]}, {"k", j["k"]}, {"v", j["v"]}}.dump());
  }
  return out;
}

std::vector<std::string> items_of(const Inst& i, const TenantRef& tn) { return canonical(export_text(i, tn)); }

// The deletion lines of every item of a canonical export.
std::string deletions(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& l : items) {
    json j = json::parse(l);
    out += json{{"t", j["t"]}, {"k", j["k"]}, {"v", nullptr}}.dump() + "\n";
  }
  return out;
}

class DumpConformance : public AdapterFixture {
 protected:
  bool supported() const { return AdapterHandle(inst_).has_dump(); }

  // Fills `tn` through the regular API with what `i` has (meta: the parts in `parts`).
  void fill(const Inst& i, const TenantRef& tn, unsigned parts) {
    void* self = i->self();
    auto c = tn.c();
    const bool a = tn.tn_id == kA.tn_id;
    switch (i->factory().kind) {
      case CM_KIND_META: {
        const auto& v = i->factory().vt.meta;
        parts &= parts_of(i);
        if (parts & kSettings) {
          auto put = [&](std::string_view k, std::string_view val) {
            run("put_setting", [&](cm_error* e) { return v.settings->put_setting(self, &c, s(k), s(val), e); });
          };
          put("ui.theme", a ? "\"dark\"" : "\"light\"");
          if (a) {
            put("ui.lang", "\"hu\"");
            put("n", "42");
            put("obj", R"({"b":1,"a":[1,2.5,null,"ü"]})");
            put("ünïcode key", "true");
          }
        }
        if (parts & kRecords) {
          auto put = [&](std::string_view coll, std::string_view k, const json& rec) {
            std::string text = rec.dump();
            run("put_record", [&](cm_error* e) { return v.records->put_record(self, &c, s(coll), s(k), s(text), e); });
          };
          put("refs", "r1", {{"n", 1}, {"who", tn.id_tag}});
          if (a) {
            put("refs", "r2", {{"n", 2}});
            put("refs2", "x", {{"n", 3}});  // "refs" is a prefix of "refs2" and "refs-a": order by (collection, key)
            put("refs-a", "y", {{"n", 4}});
            put("r", "z", {{"n", 5}});
            put("tags", "a/b ü", {{"list", {1, 2}}});
          }
        }
        if (parts & kTenants) {
          call("create_tenant", [&](const cm_sink* o, cm_error* e) {
            std::string t = json{{"tnId", tn.tn_id}, {"idTag", tn.id_tag}, {"type", "P"}, {"name", a ? "Alice" : "Bob"}, {"createdAt", 1700000000}}.dump();
            return v.tenants->create_tenant(self, s(t), o, e);
          });
          auto profile = [&](const json& p) {
            std::string t = p.dump();
            run("upsert_profile", [&](cm_error* e) { return v.tenants->upsert_profile(self, &c, s(t), e); });
          };
          profile({{"idTag", "carol.test"}, {"name", "Carol"}, {"following", true}, {"roles", {"friend"}}, {"connected", "R"}});
          profile({{"idTag", tn.id_tag}, {"name", "own profile"}, {"syncedAt", 5}});
          auto key = [&](const json& k) {
            std::string t = k.dump();
            run("put_public_key", [&](cm_error* e) { return v.tenants->put_public_key(self, s(t), e); });
          };
          key({{"idTag", tn.id_tag}, {"keyId", "k1"}, {"publicKey", "PEM-" + tn.id_tag}, {"expiresAt", 1800000000}});
          key({{"idTag", "remote.test"}, {"keyId", "k9"}, {"publicKey", "not the tenant's"}});
        }
        if (parts & kActions) {
          auto put = [&](const json& act) {
            std::string t = act.dump();
            call("put_action", [&](const cm_sink* o, cm_error* e) { return v.actions->put_action(self, &c, s(t), o, e); });
          };
          put({{"actionId", "a1~post"},
               {"type", "POST"},
               {"issuerTag", tn.id_tag},
               {"createdAt", 1000},
               {"key", "post:1"},
               {"content", {{"text", "hi ü"}}},
               {"token", "eyJ.token.sig"},
               {"x", {{"custom", 1}}}});
          if (a) {
            put({{"actionId", "a2~cmnt"},
                 {"type", "CMNT"},
                 {"issuerTag", "carol.test"},
                 {"createdAt", 1001},
                 {"parentId", "a1~post"},
                 {"audience", tn.id_tag},
                 {"attachments", {"f1~abc"}},
                 {"visibility", "F"}});
            run("update_action",
                [&](cm_error* e) { return v.actions->update_action(self, &c, s("a1~post"), s(R"({"stats":{"comments":3,"reactions":5}})"), e); });
          }
          auto in = [&](const json& q) {
            std::string t = q.dump();
            run("push_inbound", [&](cm_error* e) { return v.actions->push_inbound(self, &c, s(t), e); });
          };
          in({{"actionId", "a9~in"}, {"token", "tok-in"}, {"receivedAt", 77}});
          if (a) in({{"actionId", "a8~in"}, {"token", "tok-2"}, {"ackToken", "ack"}, {"receivedAt", 78}});
        }
        if (parts & kFiles) {
          auto put = [&](const json& f) {
            std::string t = f.dump();
            return json::parse(call("put_file", [&](const cm_sink* o, cm_error* e) { return v.files->put_file(self, &c, s(t), o, e); }));
          };
          auto variant = [&](const json& var) {
            std::string t = var.dump();
            run("put_variant", [&](cm_error* e) { return v.files->put_variant(self, &c, s(t), e); });
          };
          put({{"fileId", "f1~abc"},
               {"fileType", "BLOB"},
               {"status", "A"},
               {"ownerTag", tn.id_tag},
               {"fileName", "a.png"},
               {"tags", {"x", "y"}},
               {"createdAt", 100},
               {"custom", {{"k", 1}}}});
          variant({{"fileId", "f1~abc"},
                   {"variant", "vis.sd"},
                   {"variantId", "b1~v1"},
                   {"resX", 10},
                   {"resY", 20},
                   {"format", "webp"},
                   {"size", 123},
                   {"available", true},
                   {"duration", 1.5}});
          variant({{"fileId", "f1~abc"}, {"variant", "vis.tn"}, {"variantId", "b1~v2"}, {"size", 12}});
          if (a) {
            put({{"fileId", "f1~dir"}, {"fileType", "FLDR"}, {"status", "A"}, {"ownerTag", tn.id_tag}, {"fileName", "docs"}, {"createdAt", 101}});
            // Pending uploads (no fileId): two identical ones and one with a variant.
            json pending = {{"fileType", "BLOB"}, {"status", "P"}, {"ownerTag", tn.id_tag}, {"fileName", "up.bin"}, {"createdAt", 200}};
            put(pending);
            put(pending);
            json p3 = put({{"fileType", "BLOB"}, {"status", "P"}, {"ownerTag", tn.id_tag}, {"fileName", "up2.bin"}, {"createdAt", 201}});
            if (p3.contains("fId")) variant({{"fId", p3["fId"]}, {"variant", "orig"}, {"variantId", "b1~orig"}, {"size", 9}});
          }
        }
        break;
      }
      case CM_KIND_AUTH: {
        const auto& v = i->factory().vt.auth;
        if (v.set_password) run("set_password", [&](cm_error* e) { return v.set_password(self, &c, s(a ? "alice pw" : "bob pw"), e); });
        auto secret = [&](const json& r) {
          std::string t = r.dump();
          run("put_secret", [&](cm_error* e) { return v.put_secret(self, &c, s(t), e); });
        };
        secret({{"name", "key.p384"}, {"value", "-----BEGIN PRIVATE KEY-----\n" + tn.id_tag + "\n"}, {"meta", {{"alg", "ES384"}}}});
        if (a) {
          secret({{"name", "hs256"}, {"value", "abc"}, {"expiresAt", 99}});
          if (v.create_api_key) {
            api_key_ = json::parse(call("create_api_key", [&](const cm_sink* o, cm_error* e) {
              std::string opts = json{{"name", "ci"}, {"scopes", {"files:read"}}, {"expiresAt", 4000000000}}.dump();
              return v.create_api_key(self, &c, s(opts), o, e);
            }))["key"];
          }
        }
        break;
      }
      case CM_KIND_RTDB: {
        const auto& v = i->factory().vt.rtdb;
        auto tx = [&](std::string_view db, const json& ops) {
          std::string t = ops.dump();
          call("transact", [&](const cm_sink* o, cm_error* e) { return v.transact(self, &c, s(db), s(t), o, e); });
        };
        if (!a) {
          tx("db1", json::array({{{"op", "set"}, {"path", "todos/t1"}, {"value", {{"b", true}}}}}));
          break;
        }
        // Ids longer than an LMDB key allows share a 180-byte prefix: their
        // keys are digests, yet they must come out in id order.
        const std::string p(180, 'x');
        tx("db1", json::array({{{"op", "set"}, {"path", "todos/t1"}, {"value", {{"title", "one"}, {"n", 1}}}},
                               {{"op", "set"}, {"path", "todos/t2"}, {"value", {{"title", "two ü"}, {"tags", {"a", "b"}}}}},
                               {{"op", "set"}, {"path", "users/u1"}, {"value", {{"name", "U"}}}},
                               {{"op", "set"}, {"path", "users/u1/posts/p1"}, {"value", {{"text", "nested"}}}},
                               {{"op", "set"}, {"path", "users/u10"}, {"value", {{"name", "U10"}}}},
                               {{"op", "set"}, {"path", "long/" + p + "b" + std::string(60, 'z')}, {"value", {{"i", 1}}}},
                               {{"op", "set"}, {"path", "long/" + p + "a" + std::string(60, 'z')}, {"value", {{"i", 2}}}},
                               {{"op", "set"}, {"path", "long/" + p + "a"}, {"value", {{"i", 3}}}},
                               {{"op", "set"}, {"path", "long/" + p + "c"}, {"value", {{"i", 4}}}},
                               {{"op", "set"}, {"path", "long/" + p}, {"value", {{"i", 5}}}}}));
        tx("db0", json::array({{{"op", "set"}, {"path", "c/d"}, {"value", {{"z", nullptr}}}}}));
        tx("d", json::array({{{"op", "set"}, {"path", "c/e"}, {"value", {{"y", 1.25}}}}}));  // a database id that is a prefix of others
        break;
      }
    }
  }

  std::string api_key_;
};

TEST_P(DumpConformance, ExportIsSortedAndPagesResume) {
  if (!supported()) GTEST_SKIP() << GetParam().factory << " has no portable dump slots (ABI 1.1 export_tenant/import_items)";
  fill(inst_, kA, ~0u);
  fill(inst_, kB, ~0u);
  const std::string full = export_text(inst_, kA);
  auto lines = split_lines(full);
  ASSERT_FALSE(lines.empty());
  std::pair<std::string, std::string> prev;
  for (size_t n = 0; n < lines.size(); ++n) {
    json j = json::parse(lines[n]);
    std::pair<std::string, std::string> key{j["t"], j["k"]};
    if (n) {
      EXPECT_LT(prev, key) << "item " << n << " is out of order: " << lines[n];
    }
    prev = key;
    EXPECT_EQ(lines[n].find("bob.test"), std::string::npos) << "tenant B's data in A's dump: " << lines[n];
    EXPECT_EQ(lines[n].find("remote.test"), std::string::npos) << "another identity's key in A's dump: " << lines[n];
  }
  // Pages of 1 and of 3, each resuming after the last item received.
  for (uint32_t limit : {1u, 3u}) {
    std::string paged, after;
    for (int guard = 0; guard < 1000; ++guard) {
      std::string page = export_text(inst_, kA, after, limit);
      auto got = split_lines(page);
      ASSERT_LE(got.size(), limit);
      if (got.empty()) break;
      paged += page;
      json last = json::parse(got.back());
      after = last["t"].get<std::string>() + "\n" + last["k"].get<std::string>();
    }
    EXPECT_EQ(paged, full) << "limit " << limit;
  }
  // A sink that stops: the adapter gives up without an error of its own.
  EXPECT_FALSE(AdapterHandle(inst_).export_tenant(kA, "", 0, [](std::string_view) { return false; }));
}

TEST_P(DumpConformance, RoundTripThroughAFreshInstance) {
  if (!supported()) GTEST_SKIP() << GetParam().factory << " has no portable dump slots (ABI 1.1 export_tenant/import_items)";
  fill(inst_, kA, ~0u);
  const std::string text = export_text(inst_, kA);
  const auto want = canonical(text);
  auto copy = fresh_elsewhere();
  AdapterHandle(copy).import_items(kA, text);
  EXPECT_EQ(items_of(copy, kA), want);
  // Re-importing changes nothing and duplicates nothing.
  AdapterHandle(copy).import_items(kA, text);
  EXPECT_EQ(items_of(copy, kA), want);
  // Secrets work in the copy: bcrypt hashes and API key hashes moved as they are.
  if (copy->factory().kind == CM_KIND_AUTH) {
    const auto& v = copy->factory().vt.auth;
    auto c = kA.c();
    cm_error e = plugins::new_error();
    if (v.check_password) {
      EXPECT_EQ(v.check_password(copy->self(), &c, s("alice pw"), &e), CM_OK);
      EXPECT_EQ(v.check_password(copy->self(), &c, s("wrong"), &e), CM_PERMISSION);
    }
    if (!api_key_.empty()) {
      json r = json::parse(call("validate_api_key", [&](const cm_sink* o, cm_error* err) { return v.validate_api_key(copy->self(), s(api_key_), o, err); }));
      EXPECT_EQ(r["tnId"], kA.tn_id);
      EXPECT_EQ(r["scopes"], json::array({"files:read"}));
    }
  }
  if (copy->factory().kind == CM_KIND_RTDB) {
    auto c = kA.c();
    json d = json::parse(
        call("get", [&](const cm_sink* o, cm_error* e) { return copy->factory().vt.rtdb.get(copy->self(), &c, s("db1"), s("users/u1/posts/p1"), o, e); }));
    EXPECT_EQ(d, json({{"text", "nested"}}));
  }
}

TEST_P(DumpConformance, MovesToEveryOtherImplementationAndBack) {
  if (!supported()) GTEST_SKIP() << GetParam().factory << " has no portable dump slots (ABI 1.1 export_tenant/import_items)";
  int others = 0;
  for (const auto& other : adapters_of(GetParam().kind)) {
    if (other.label == GetParam().label) continue;
    Inst there = fresh_instance_of(other);
    if (!there || !AdapterHandle(there).has_dump()) continue;
    ++others;
    SCOPED_TRACE(GetParam().label + " -> " + other.label);
    // Only what both can hold (meta: the parts they share).
    const unsigned parts = GetParam().kind == CM_KIND_META ? parts_of(inst_) & parts_of(there) : ~0u;
    Inst here = fresh_elsewhere();
    fill(here, kA, parts);
    const std::string text = export_text(here, kA);
    const auto want = canonical(text);
    AdapterHandle(there).import_items(kA, text);
    EXPECT_EQ(items_of(there, kA), want);
    // And back into a fresh instance of this implementation.
    Inst back = fresh_elsewhere();
    AdapterHandle(back).import_items(kA, export_text(there, kA));
    EXPECT_EQ(items_of(back, kA), want);
  }
  if (!others) GTEST_SKIP() << "no other " << plugins::kind_name(GetParam().kind) << " implementation with the dump slots is under test";
}

TEST_P(DumpConformance, NullDeletesAndOtherTenantsStayUntouched) {
  if (!supported()) GTEST_SKIP() << GetParam().factory << " has no portable dump slots (ABI 1.1 export_tenant/import_items)";
  fill(inst_, kA, ~0u);
  fill(inst_, kB, ~0u);
  const auto b_before = items_of(inst_, kB);
  const auto a_items = items_of(inst_, kA);
  ASSERT_GE(a_items.size(), 2u);
  AdapterHandle h(inst_);
  // Delete one item: it goes, nothing else does.
  h.import_items(kA, deletions({a_items.front()}));
  EXPECT_EQ(items_of(inst_, kA), std::vector<std::string>(a_items.begin() + 1, a_items.end()));
  // Deleting what is absent is harmless (a rerun after a crash).
  h.import_items(kA, deletions({a_items.front()}));
  // Re-importing it restores it.
  h.import_items(kA, json::parse(a_items.front()).dump() + "\n");
  EXPECT_EQ(items_of(inst_, kA), a_items);
  // Delete everything of A in one batch: A is empty, B is exactly as before.
  h.import_items(kA, deletions(a_items));
  EXPECT_TRUE(items_of(inst_, kA).empty());
  EXPECT_EQ(items_of(inst_, kB), b_before);
  // Importing A's items for B would be the host's bug, but B's own import
  // never reaches A: import B's items into a fresh instance holding A.
  Inst both = fresh_elsewhere();
  fill(both, kA, ~0u);
  const auto a_again = items_of(both, kA);
  AdapterHandle(both).import_items(kB, export_text(inst_, kB));
  EXPECT_EQ(items_of(both, kA), a_again);
  EXPECT_EQ(items_of(both, kB), b_before);
}

TEST_P(DumpConformance, MalformedBatchesChangeNothing) {
  if (!supported()) GTEST_SKIP() << GetParam().factory << " has no portable dump slots (ABI 1.1 export_tenant/import_items)";
  fill(inst_, kA, ~0u);
  const auto before = items_of(inst_, kA);
  AdapterHandle h(inst_);
  auto first = json::parse(before.front());
  // A valid deletion followed by garbage: the whole batch is refused.
  const std::string bad = json{{"t", first["t"]}, {"k", first["k"]}, {"v", nullptr}}.dump() + "\nnot json\n";
  EXPECT_NE(code_of([&] { h.import_items(kA, bad); }), CM_OK);
  EXPECT_EQ(items_of(inst_, kA), before);
  // An unknown type is refused, as CM_UNSUPPORTED or CM_INVALID.
  const std::string unknown = json{{"t", first["t"]}, {"k", first["k"]}, {"v", nullptr}}.dump() + "\n" + R"({"t":"no-such-type","k":"x","v":{}})" + "\n";
  auto code = code_of([&] { h.import_items(kA, unknown); });
  EXPECT_TRUE(code == CM_UNSUPPORTED || code == CM_INVALID) << code;
  EXPECT_EQ(items_of(inst_, kA), before);
  EXPECT_EQ(code_of([&] { h.export_tenant(kA, "no newline", 0, [](std::string_view) { return true; }); }), CM_INVALID);
}

INSTANTIATE_TEST_SUITE_P(Dump, DumpConformance, ::testing::ValuesIn(dump_adapters()), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DumpConformance);

}  // namespace
}  // namespace cumulo::conformance
