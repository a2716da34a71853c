// Actions and the federation inbox (spec/rest-api.md §2.4): list, get,
// create, delete, accept/reject, the reaction shortcut, POST /api/inbox
// (asynchronous) and /api/inbox/sync, and GET /api/action-types. The
// pipeline itself lives in host/actions/engine.*.
#include <nlohmann/json.hpp>

#include <sstream>

#include "actions/engine.hpp"
#include "api/envelope.hpp"
#include "api/iso_time.hpp"
#include "api/services.hpp"
#include "auth/abac.hpp"

namespace cumulo::api {

using json = nlohmann::json;

namespace {

std::vector<std::string> csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

auth::Object action_object(const json& rec) {
  auth::Object o;
  o.id = rec.value("actionId", "");
  o.owner = rec.value("issuerTag", "");
  if (rec.contains("visibility") && rec["visibility"].is_string() && !rec["visibility"].get<std::string>().empty())
    o.visibility = rec["visibility"].get<std::string>()[0];
  if (rec.contains("audience") && rec["audience"].is_string()) o.audience.push_back(rec["audience"].get<std::string>());
  o.created_at = rec.value("createdAt", int64_t{0});
  return o;
}

// The body of POST /api/inbox[/sync]: {"token","related"?} ([impl]) or a
// bare JWT sent as application/jwt (the REST page's form).
std::pair<std::string, std::vector<std::string>> inbox_body(const net::HttpRequest& req) {
  auto ct = req.header("Content-Type");
  if (ct && ct->find("application/jwt") != std::string_view::npos) {
    std::string tok = req.body;
    while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) tok.pop_back();
    return {tok, {}};
  }
  json b = parse_body(req);
  if (!b.is_object() || !b.contains("token") || !b["token"].is_string()) throw ApiError(400, "E-VAL-INVALID", "Body must be {\"token\": \"<action token>\"}");
  std::vector<std::string> related;
  if (b.contains("related")) {
    if (!b["related"].is_array()) throw ApiError(400, "E-VAL-INVALID", "\"related\" must be an array of tokens");
    for (const auto& r : b["related"]) {
      if (!r.is_string()) throw ApiError(400, "E-VAL-INVALID", "\"related\" must be an array of tokens");
      related.push_back(r.get<std::string>());
    }
  }
  return {b["token"].get<std::string>(), std::move(related)};
}

}  // namespace

void add_action_routes(Router& r, Services& s) {
  r.add("GET", "/api/actions", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    auto ctx = s.auth_optional(c.req, t);
    json f = json::object();
    auto q = [&](const char* name) { return c.req.query_param(name); };
    if (auto v = q("type")) {
      // "TYPE" or "TYPE:SUB" forms; a sub-typed filter narrows afterwards.
      json types = json::array();
      for (const auto& x : csv(*v)) types.push_back(x.substr(0, x.find(':')));
      f["type"] = types;
    }
    f["status"] = q("status") ? json(csv(*q("status"))) : json::array({"A", "C", "N"});
    if (auto v = q("issuer")) f["issuerTag"] = *v;
    if (auto v = q("audience")) f["audience"] = *v;
    if (auto v = q("parentId")) f["parentId"] = *v;
    if (auto v = q("rootId")) f["rootId"] = *v;
    if (auto v = q("subject")) f["subject"] = *v;
    if (auto v = q("cursor")) f["cursor"] = *v;
    if (auto v = q("createdBefore")) {
      auto ts = parse_time(json(*v));
      if (!ts) throw ApiError(400, "E-VAL-INVALID", "createdBefore must be ISO-8601 or Unix seconds");
      f["before"] = *ts;
    }
    int64_t limit = 20;
    if (auto v = q("limit")) {
      try {
        limit = std::clamp<int64_t>(std::stoll(*v), 1, 500);
      } catch (const std::exception&) {
        throw ApiError(400, "E-VAL-INVALID", "limit must be a number");
      }
    }
    f["limit"] = limit;
    std::optional<int64_t> after;
    if (auto v = q("createdAfter")) after = parse_time(json(*v));
    const bool tokens = q("includeTokens") == "true";
    std::vector<std::string> sub_types;
    if (auto v = q("type"))
      for (const auto& x : csv(*v))
        if (auto colon = x.find(':'); colon != std::string::npos) sub_types.push_back(x.substr(colon + 1));
    auto& eng = s.actions();
    json page;
    if (auto id = q("actionId")) {
      auto one = t.meta().get_action(t.ref(), *id);
      page = {{"actions", one.empty() ? json::array() : json::array({json::parse(one)})}, {"cursor", nullptr}};
    } else {
      page = json::parse(t.meta().list_actions(t.ref(), f.dump()));
    }
    json items = json::array();
    const bool owner = ctx && ctx->is_owner();
    for (auto& rec : page["actions"]) {
      if (after && rec.value("createdAt", int64_t{0}) <= *after) continue;
      const std::string st = rec.contains("subType") && rec["subType"].is_string() ? rec["subType"].get<std::string>() : "";
      if (!sub_types.empty() && std::find(sub_types.begin(), sub_types.end(), st) == sub_types.end()) continue;
      if (sub_types.empty() && st == "DEL") continue;  // deletions are bookkeeping, not feed items
      if (!owner && !s.authorize(t, ctx, "action:read", action_object(rec)).allow) continue;
      if (tokens) {
        auto full = t.meta().get_action(t.ref(), rec.value("actionId", ""));
        if (!full.empty()) rec = json::parse(full);
      }
      items.push_back(eng.view(t, rec, tokens));
    }
    const json next = page.value("cursor", json(nullptr));
    c.res.set_header("Cache-Control", "no-store");
    c.res.body =
        json{{"data", items}, {"cursorPagination", {{"nextCursor", next}, {"hasMore", !next.is_null()}}}, {"time", iso_now()}, {"reqId", c.req.req_id}}.dump();
  });

  r.add("POST", "/api/actions", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    auto rec = s.actions().create(t, parse_body(c.req));
    send_data(c.req, c.res, s.actions().view(t, rec, true), 201);
  });

  r.add("GET", "/api/actions/{actionId}", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    auto ctx = s.auth_optional(c.req, t);
    auto text = t.meta().get_action(t.ref(), c.param("actionId"));
    if (text.empty()) throw ApiError(404, "E-CORE-NOTFOUND", "No action " + c.param("actionId"));
    json rec = json::parse(text);
    if (!(ctx && ctx->is_owner())) {
      if (rec.value("status", "") == "D") throw ApiError(404, "E-CORE-NOTFOUND", "No action " + c.param("actionId"));
      s.require(c.req, t, ctx, "action:read", action_object(rec));
    }
    send_data(c.req, c.res, s.actions().view(t, rec, true));
  });

  r.add("DELETE", "/api/actions/{actionId}", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    s.actions().remove(t, c.param("actionId"));
    send_data(c.req, c.res, nullptr);
  });

  auto decide = [&s](RouteCtx& c, bool accept) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    if (accept)
      s.actions().accept(t, c.param("actionId"));
    else
      s.actions().reject(t, c.param("actionId"), "");
    send_data(c.req, c.res, nullptr);
  };
  r.add("POST", "/api/actions/{actionId}/accept", [decide](RouteCtx& c) { decide(c, true); });
  r.add("POST", "/api/actions/{actionId}/reject", [decide](RouteCtx& c) { decide(c, false); });

  // The TS client's addReaction: sugar for POST /api/actions (rest-api.md §2.4).
  r.add("POST", "/api/actions/{actionId}/reaction", [&s](RouteCtx& c) {
    auto t = s.tenant(c.req);
    s.owner_required(c.req, t);
    json b = parse_body(c.req);
    std::string kind = b.is_object() ? b.value("type", "LIKE") : "LIKE";
    auto rec = s.actions().create(t, json{{"type", "REACT"}, {"subType", kind}, {"subject", c.param("actionId")}});
    send_data(c.req, c.res, s.actions().view(t, rec, true), 201);
  });

  // The `general` bucket is counted by the dispatcher for every /api route;
  // the inbox counts against `federation` instead (peers, not users).
  auto inbox = [&s](RouteCtx& c, bool sync) {
    s.rate_limit(c.req, c.res, RateBucket::kFederation);
    auto t = s.tenant(c.req);
    auto [token, related] = inbox_body(c.req);
    json ret = s.actions().receive(t, token, related, c.req.remote_ip, sync);
    send_data(c.req, c.res, sync ? ret : json(nullptr), 201);
  };
  r.add("POST", "/api/inbox", [inbox](RouteCtx& c) { inbox(c, false); });
  r.add("POST", "/api/inbox/sync", [inbox](RouteCtx& c) { inbox(c, true); });

  // What this node understands (plugins may add, replace or remove types).
  r.add("GET", "/api/action-types", [&s](RouteCtx& c) {
    auto snap = s.actions().types().snapshot();
    json types = json::array();
    for (const auto& [name, t] : snap->types) types.push_back({{"type", name}, {"plugin", t->plugin_name}, {"definition", t->def.source}});
    json errors = json::object();
    for (const auto& [k, v] : snap->errors) errors[k] = v;
    send_data(c.req, c.res, {{"types", types}, {"refused", errors}});
  });
}

}  // namespace cumulo::api
