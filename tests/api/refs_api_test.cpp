// /api/refs over real HTTP and consume_ref (spec/rest-api.md §2.8): create,
// list, get, delete, use counts and expiry. Expiry is injected through an
// explicit expiresAt in the past, never by waiting.
#include <atomic>
#include <set>
#include <thread>

#include "api/api_support.hpp"
#include "api/envelope.hpp"
#include "api/refs.hpp"

using namespace cumulo::test;
using namespace cumulo::test::api;
using cumulo::api::ApiError;
using cumulo::api::consume_ref;

namespace {

const json kTwoTenants = {{"tenants", {{{"idTag", "bob.test"}}}}};

unsigned consume_status(TestHost& h, const std::string& tenant, const std::string& id, bool dry_run = false) {
  try {
    consume_ref(h.app().services(), scope_of(h, tenant), id, dry_run);
    return 200;
  } catch (const ApiError& e) {
    return e.status();
  }
}

}  // namespace

TEST(RefsApi, CreateListGetDelete) {
  TestHost h(kTwoTenants, builtin_plugins());
  const auto alice = mint(h, "alice.test", "alice.test", {"SADM"}), bob = mint(h, "bob.test", "bob.test");

  auto c = call(h, "POST", "/api/refs", "bob.test", bob, {{"type", "share.file"}, {"resourceId", "f1~doc"}, {"description", "for Carol"}, {"count", 3}});
  ASSERT_EQ(c.status, 201) << c.body;
  const auto ref = body(c)["data"];
  const std::string id = ref["refId"];
  EXPECT_EQ(id.size(), 43u);  // 32 random bytes, base64url without padding
  EXPECT_EQ(id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
  EXPECT_EQ(ref["type"], "share.file");
  EXPECT_EQ(ref["count"], 3);
  EXPECT_EQ(ref["resourceId"], "f1~doc");
  EXPECT_EQ(ref["accessLevel"], "read");
  EXPECT_EQ(ref["description"], "for Carol");
  EXPECT_EQ(ref["createdAt"].get<std::string>().back(), 'Z');
  EXPECT_FALSE(ref.contains("expiresAt"));

  // Validation and permissions.
  EXPECT_EQ(call(h, "POST", "/api/refs", "bob.test", bob, {{"type", "share.file"}}).status, 400);  // no resourceId
  EXPECT_EQ(call(h, "POST", "/api/refs", "bob.test", bob, {{"type", "share.file"}, {"resourceId", "f1~x"}, {"count", 0}}).status, 400);
  EXPECT_EQ(call(h, "POST", "/api/refs", "bob.test", bob, {{"type", "share.file"}, {"resourceId", "f1~x"}, {"accessLevel", "admin"}}).status, 400);
  EXPECT_EQ(call(h, "POST", "/api/refs", "bob.test", bob, {{"type", "share.file"}, {"resourceId", "f1~x"}, {"expiresAt", "soon"}}).status, 400);
  EXPECT_EQ(call(h, "POST", "/api/refs", "bob.test", bob, {{"type", "welcome"}}).status, 403);  // non-share types need SADM
  EXPECT_EQ(call(h, "POST", "/api/refs", "bob.test", "", {{"type", "share.file"}, {"resourceId", "f1~x"}}).status, 403);
  EXPECT_EQ(call(h, "POST", "/api/refs", "bob.test", alice, {{"type", "share.file"}, {"resourceId", "f1~x"}}).status, 401);
  auto welcome = call(h, "POST", "/api/refs", "alice.test", alice, {{"type", "welcome"}, {"expiresAt", 4102444800}});
  ASSERT_EQ(welcome.status, 201) << welcome.body;
  EXPECT_EQ(body(welcome)["data"]["expiresAt"], "2100-01-01T00:00:00Z");
  ASSERT_EQ(call(h, "POST", "/api/refs", "alice.test", alice, {{"type", "share.file"}, {"resourceId", "f1~a"}}).status, 201);

  // Lists are per tenant; pagination is offset-based.
  auto list = call(h, "GET", "/api/refs", "bob.test", bob);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(body(list)["data"].size(), 1u);
  EXPECT_EQ(body(list)["data"][0], ref);
  EXPECT_EQ(body(list)["pagination"], json({{"offset", 0}, {"limit", 20}, {"total", 1}}));
  auto alice_list = body(call(h, "GET", "/api/refs?limit=1", "alice.test", alice));
  EXPECT_EQ(alice_list["pagination"]["total"], 2);
  EXPECT_EQ(alice_list["data"].size(), 1u);
  EXPECT_EQ(body(call(h, "GET", "/api/refs?offset=1&limit=1", "alice.test", alice))["data"].size(), 1u);
  EXPECT_EQ(body(call(h, "GET", "/api/refs?type=welcome", "alice.test", alice))["data"].size(), 1u);
  EXPECT_EQ(body(call(h, "GET", "/api/refs?resourceId=f1~a", "alice.test", alice))["data"].size(), 1u);
  EXPECT_EQ(call(h, "GET", "/api/refs?type=welcome", "bob.test", bob).status, 403);
  EXPECT_EQ(call(h, "GET", "/api/refs?filter=bogus", "bob.test", bob).status, 400);
  EXPECT_EQ(call(h, "GET", "/api/refs", "bob.test").status, 403);

  // Get: the owner sees everything, anyone else only {refId, type}.
  EXPECT_EQ(body(call(h, "GET", "/api/refs/" + id, "bob.test", bob))["data"], ref);
  EXPECT_EQ(body(call(h, "GET", "/api/refs/" + id, "bob.test"))["data"], json({{"refId", id}, {"type", "share.file"}}));
  EXPECT_EQ(body(call(h, "GET", "/api/refs/" + id, "bob.test", mint(h, "bob.test", "carol.test")))["data"].size(), 2u);
  EXPECT_EQ(call(h, "GET", "/api/refs/" + id, "alice.test", alice).status, 404);  // another tenant's ref
  EXPECT_EQ(call(h, "GET", "/api/refs/nope", "bob.test", bob).status, 404);

  // Delete.
  EXPECT_EQ(call(h, "DELETE", "/api/refs/" + id, "bob.test", "").status, 403);
  EXPECT_EQ(call(h, "DELETE", "/api/refs/" + id, "bob.test", alice).status, 401);
  EXPECT_EQ(call(h, "DELETE", "/api/refs/" + id, "bob.test", bob).status, 200);
  EXPECT_EQ(call(h, "GET", "/api/refs/" + id, "bob.test", bob).status, 404);
  EXPECT_EQ(call(h, "DELETE", "/api/refs/" + id, "bob.test", bob).status, 404);
  EXPECT_EQ(body(call(h, "GET", "/api/refs?filter=all", "bob.test", bob))["pagination"]["total"], 0);
}

TEST(RefsApi, ConsumeCountsAndExpiry) {
  TestHost h(kTwoTenants, builtin_plugins());
  const auto bob = mint(h, "bob.test", "bob.test");
  auto create = [&](json extra) {
    extra["type"] = "share.file";
    extra["resourceId"] = "f1~doc";
    auto r = call(h, "POST", "/api/refs", "bob.test", bob, extra);
    EXPECT_EQ(r.status, 201) << r.body;
    return body(r)["data"]["refId"].get<std::string>();
  };
  const auto one = create(json::object()), two = create({{"count", 2}}), unlimited = create({{"count", nullptr}});
  const auto expired_iso = create({{"expires_at", "2020-01-01T00:00:00Z"}, {"count", nullptr}});
  const auto expired_unix = create({{"expiresAt", 1577836800}});

  // Absent count = one use. A dry run does not use it.
  EXPECT_EQ(consume_status(h, "bob.test", one, true), 200u);
  EXPECT_EQ(consume_ref(h.app().services(), scope_of(h, "bob.test"), one, false)["count"], 0);
  EXPECT_EQ(consume_status(h, "bob.test", one), 410u);
  EXPECT_EQ(consume_status(h, "bob.test", one, true), 410u);
  // Two uses.
  EXPECT_EQ(consume_ref(h.app().services(), scope_of(h, "bob.test"), two, false)["count"], 1);
  EXPECT_EQ(body(call(h, "GET", "/api/refs/" + two, "bob.test", bob))["data"]["count"], 1);
  EXPECT_EQ(consume_status(h, "bob.test", two), 200u);
  EXPECT_EQ(consume_status(h, "bob.test", two), 410u);
  // Unlimited stays unlimited.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(consume_status(h, "bob.test", unlimited), 200u);
  EXPECT_TRUE(body(call(h, "GET", "/api/refs/" + unlimited, "bob.test", bob))["data"]["count"].is_null());
  // Expired (ISO via expires_at, and Unix via expiresAt) → 410; unknown → 404;
  // another tenant's ref is unknown there.
  EXPECT_EQ(consume_status(h, "bob.test", expired_iso), 410u);
  EXPECT_EQ(consume_status(h, "bob.test", expired_unix), 410u);
  EXPECT_EQ(body(call(h, "GET", "/api/refs/" + expired_iso, "bob.test", bob))["data"]["expiresAt"], "2020-01-01T00:00:00Z");
  EXPECT_EQ(consume_status(h, "bob.test", "nope"), 404u);
  EXPECT_EQ(consume_status(h, "alice.test", unlimited), 404u);
  // Guests learn that a dead link is dead.
  EXPECT_EQ(call(h, "GET", "/api/refs/" + one, "bob.test").status, 410);
  EXPECT_EQ(call(h, "GET", "/api/refs/" + expired_iso, "bob.test").status, 410);

  // The list filters by state.
  auto ids = [&](const std::string& filter) {
    std::set<std::string> out;
    const json listed = body(call(h, "GET", "/api/refs?filter=" + filter, "bob.test", bob));
    for (const auto& r : listed["data"]) out.insert(r["refId"].get<std::string>());
    return out;
  };
  EXPECT_EQ(ids("active"), std::set<std::string>{unlimited});
  EXPECT_EQ(ids("used"), (std::set<std::string>{one, two}));
  EXPECT_EQ(ids("expired"), (std::set<std::string>{expired_iso, expired_unix}));
  EXPECT_EQ(ids("all").size(), 5u);
  EXPECT_EQ(ids(""), std::set<std::string>{unlimited});  // active is the default

  // A one-shot ref is granted exactly once under concurrent use.
  const auto race = create(json::object());
  std::atomic<int> granted{0}, gone{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      const auto st = consume_status(h, "bob.test", race);
      (st == 200 ? granted : gone)++;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 1);
  EXPECT_EQ(gone.load(), 7);
}
