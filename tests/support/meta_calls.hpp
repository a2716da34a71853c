// Meta calls that plugins::MetaHandle does not wrap, and a mixed load of
// many threads, shared by the engine-specific tests (sqlite_specific_test,
// pg_specific_test). Header-only.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "plugins/adapters.hpp"

namespace cumulo::test {

using Inst = std::shared_ptr<plugins::Instance>;

inline nlohmann::json put_action(const Inst& m, const plugins::TenantRef& tn, const nlohmann::json& a) {
  plugins::StringSink s;
  cm_error err = plugins::new_error();
  auto c = tn.c();
  std::string text = a.dump();
  plugins::check(m->factory().vt.meta.actions->put_action(m->self(), &c, plugins::to_cm(text), &s.sink, &err), err, "put_action");
  return nlohmann::json::parse(s.data);
}

inline nlohmann::json list_actions(const Inst& m, const plugins::TenantRef& tn, const nlohmann::json& f) {
  plugins::StringSink s;
  cm_error err = plugins::new_error();
  auto c = tn.c();
  std::string text = f.dump();
  plugins::check(m->factory().vt.meta.actions->list_actions(m->self(), &c, plugins::to_cm(text), &s.sink, &err), err, "list_actions");
  return nlohmann::json::parse(s.data);
}

/// A post by alice.test.
inline nlohmann::json post(const std::string& id, int64_t t, const std::string& vis = "P") {
  return {{"actionId", id}, {"type", "POST"}, {"issuerTag", "alice.test"}, {"createdAt", t}, {"visibility", vis}, {"content", {{"text", "x"}}}};
}

/// Posts p1…p5 (createdAt 101…105); all but p3 carry the token "token-<i>".
/// The migration tests store them, rebuild the old layout, and reopen.
inline void put_posts_with_tokens(const Inst& m, const plugins::TenantRef& tn) {
  for (int i = 1; i <= 5; ++i) {
    auto a = post("p" + std::to_string(i), 100 + i);
    if (i != 3) a["token"] = "token-" + std::to_string(i);
    put_action(m, tn, a);
  }
}
/// "p1=token-1 p2=token-2 p3=- …": the tokens get_action returns for them.
inline std::string tokens_of_posts(const Inst& m, const plugins::TenantRef& tn) {
  std::string out;
  for (int i = 1; i <= 5; ++i) {
    const std::string id = "p" + std::to_string(i);
    auto a = nlohmann::json::parse(plugins::MetaHandle(m).get_action(tn, id));
    out += (i > 1 ? " " : "") + id + "=" + (a.contains("token") && a["token"].is_string() ? a["token"].get<std::string>() : "-");
  }
  return out;
}
inline constexpr const char* kPostsTokens = "p1=token-1 p2=token-2 p3=- p4=token-4 p5=token-5";

/// Every action of `tn`, following cursors.
/// Every stored action of `tn`, or only those with `status` (superseded
/// actions stay stored with status "D").
inline size_t count_actions(const Inst& m, const plugins::TenantRef& tn, const std::string& status = "") {
  size_t total = 0;
  nlohmann::json f = {{"limit", 500}};
  if (!status.empty()) f["status"] = status;
  for (;;) {
    nlohmann::json r = list_actions(m, tn, f);
    total += r["actions"].size();
    if (r["cursor"].is_null()) return total;
    f["cursor"] = r["cursor"];
  }
}

struct LoadResult {
  int errors = 0;
  int posts = 0;  // plain posts stored (each must be listed afterwards)
  std::string first_error;
};

/// `threads` threads for `duration` over `instances` (thread t uses
/// instance t % n, tenant 1 or 2): posts, feed reads, settings, deduplicated
/// tasks and setting reads; with `keyed`, also puts that override each other
/// by key (at most 3 keys per tenant survive).
inline LoadResult mixed_load(const std::vector<Inst>& instances, int threads, std::chrono::milliseconds duration, bool keyed = false) {
  const plugins::TenantRef tenants[] = {{1, "alice.test"}, {2, "bob.test"}};
  std::atomic<int> errors{0}, posts{0};
  std::mutex mu;
  std::string first_error;
  const auto deadline = std::chrono::steady_clock::now() + duration;
  const int kinds = keyed ? 5 : 4;
  std::vector<std::thread> ths;
  for (int t = 0; t < threads; ++t)
    ths.emplace_back([&, t] {
      const Inst& m = instances[static_cast<size_t>(t) % instances.size()];
      const plugins::TenantRef& tn = tenants[t % 4 < 2 ? 0 : 1];
      plugins::MetaHandle h(m);
      for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
        try {
          switch (i % kinds) {
            case 0:
              put_action(m, tn, post("t" + std::to_string(t) + "-" + std::to_string(i), i));
              ++posts;
              break;
            case 1:
              list_actions(m, tn, {{"visibility", {"P", "F"}}});
              break;
            case 2:
              h.put_setting(tn, "k" + std::to_string(i % 50), std::to_string(i));
              h.create_task(nlohmann::json{{"kind", "k"}, {"key", std::to_string(i % 7)}}.dump());
              break;
            case 3:
              h.get_setting(tn, "k" + std::to_string((i - 1) % 50));
              break;  // written by case 2
            default: {
              nlohmann::json r = post("r" + std::to_string(t) + "-" + std::to_string(i), i);
              r["key"] = "REACT:" + std::to_string(i % 3);
              put_action(m, tn, r);
            }
          }
        } catch (const std::exception& e) {
          ++errors;
          std::lock_guard lk(mu);
          if (first_error.empty()) first_error = e.what();
        }
      }
    });
  for (auto& th : ths) th.join();
  return {errors.load(), posts.load(), first_error};
}

}  // namespace cumulo::test
