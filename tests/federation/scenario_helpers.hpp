// Small steps shared by the conformance scenario tests (spec/actions-
// federation.md §18): relationships set up through the real pipeline, and
// polling helpers. Header-only; every wait has a deadline.
#pragma once

#include <algorithm>
#include <string>

#include "federation/federation.hpp"
#include "identity/base64url.hpp"

namespace cumulo::test::fed {

inline std::string id_of(const json& view) { return view.is_object() ? view.value("actionId", "") : ""; }

/// The payload claims of a compact action token.
inline json claims_of(const std::string& token) {
  auto d1 = token.find('.'), d2 = token.rfind('.');
  return json::parse(*cumulo::identity::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1)));
}
inline json claims_of(const json& token) { return claims_of(token.get<std::string>()); }

/// `who`'s profile on `on` shows `field` == `value` (polls).
inline bool wait_profile(Federation& f, const std::string& on, const std::string& who, const std::string& field, const json& value,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  return eventually(
      [&] {
        auto p = f.profile(on, who);
        return p.is_object() && p.contains(field) && p[field] == value;
      },
      timeout);
}

/// `a` follows `b` (FLLW delivered and active on b).
inline void follow(Federation& f, const std::string& a, const std::string& b) {
  auto fl = f.create(a, {{"type", "FLLW"}, {"audienceTag", b}});
  ASSERT_TRUE(f.wait_stored(b, id_of(fl), "A")) << a << " → " << b << ": FLLW never arrived";
  ASSERT_TRUE(wait_profile(f, b, a, "follower", true));
}

/// `a` and `b` connected through a mutual CONN (no user action).
inline void make_connected(Federation& f, const std::string& a, const std::string& b) {
  auto c1 = f.create(a, {{"type", "CONN"}, {"audienceTag", b}, {"content", "hi"}});
  ASSERT_TRUE(f.wait_stored(b, id_of(c1), "C")) << a << " → " << b << ": CONN never arrived";
  auto c2 = f.create(b, {{"type", "CONN"}, {"audienceTag", a}});
  ASSERT_TRUE(f.wait_stored(a, id_of(c2), "A")) << b << " → " << a << ": CONN never arrived";
  ASSERT_TRUE(wait_profile(f, a, b, "connected", true));
  ASSERT_TRUE(wait_profile(f, b, a, "connected", true));
}

/// The task keys of `id_tag` starting with `prefix`.
inline std::vector<std::string> task_keys(Federation& f, const std::string& id_tag, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& t : f.tasks(id_tag, prefix)) out.push_back(t.value("key", ""));
  return out;
}

/// Any task key of `id_tag` starting with `prefix` and ending with `suffix`.
inline bool has_task(Federation& f, const std::string& id_tag, const std::string& prefix, const std::string& suffix) {
  auto keys = task_keys(f, id_tag, prefix);
  return std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0; });
}

/// has_task, polled until it holds (or 30 s pass): the task is scheduled just
/// after the action it carries is stored, so a test that saw the action may
/// look before the task exists.
inline bool gets_task(Federation& f, const std::string& id_tag, const std::string& prefix, const std::string& suffix) {
  return eventually([&] { return has_task(f, id_tag, prefix, suffix); }, std::chrono::seconds(30));
}

/// GET /api/actions/{id} on `id_tag` as its owner: the ActionView (null if not 200).
inline json get_view(Federation& f, const std::string& id_tag, const std::string& action_id) {
  auto r = f.call(id_tag, "GET", "/api/actions/" + action_id);
  if (r.status != 200) return nullptr;
  return json::parse(r.body)["data"];
}

/// The owner's STAT about `parent` held on `id_tag` (the active one), or null.
inline json stat_of(Federation& f, const std::string& id_tag, const std::string& parent) {
  auto l = f.list(id_tag, {{"type", json::array({"STAT"})}, {"parentId", parent}, {"status", json::array({"A"})}});
  return l.empty() ? json(nullptr) : l[0];
}

}  // namespace cumulo::test::fed
