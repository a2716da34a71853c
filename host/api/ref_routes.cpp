// References (spec/rest-api.md §2.8): share links and one-shot tokens.
// The owner manages `share.*` refs; every other type (invites, password
// resets, registration…) is SADM-only, as in [impl].
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>

#include "api/envelope.hpp"
#include "api/iso_time.hpp"
#include "api/refs.hpp"
#include "auth/abac.hpp"
#include "identity/base64url.hpp"

namespace cumulo::api {

using json = nlohmann::json;

namespace {

constexpr std::string_view kRefs = "refs";

// Serialises read-modify-write of ref counts (one process serves a tenant).
std::mutex g_consume_mu;

const plugins::MetaHandle& records(const TenantScope& t) {
  const auto& m = t.meta();
  if (!m.has_records()) throw ApiError(503, "E-SYS-UNAVAIL", "The meta adapter of " + t.info.id_tag + " stores no records");
  return m;
}

json load(const TenantScope& t, const std::string& ref_id) {
  const auto rec = records(t).find_record(t.ref(), kRefs, ref_id);
  if (rec.empty()) throw ApiError(404, "E-CORE-NOTFOUND", "Unknown ref");
  return json::parse(rec);
}

bool is_share(const std::string& type) { return type.rfind("share.", 0) == 0; }

/// Managing a ref of `type`, decided by the ABAC engine: the tenant's
/// `share.*` refs are the owner's (or a leader's) objects; every other type
/// is node administration and needs SADM (a TOP rule).
auth::Decision may_manage(Services& s, const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, const std::string& type, const std::string& ref_id) {
  auth::Object o;
  o.id = ref_id;
  o.owner = t.info.id_tag;
  return s.authorize(t, ctx, "ref:update", o, is_share(type) ? auth::Policy{} : sadm_only());
}

void require_manager(Services& s, const RouteCtx& c, const TenantScope& t, const auth::AuthCtx& ctx, const std::string& type, const std::string& ref_id = {}) {
  auth::Object o;
  o.id = ref_id.empty() ? "refs:" + type : ref_id;
  o.owner = t.info.id_tag;
  s.require(c.req, t, ctx, "ref:update", o, is_share(type) ? auth::Policy{} : sadm_only());
}

enum class State { kActive, kUsed, kExpired };

State state_of(const json& rec, int64_t now) {
  const auto& count = rec.value("count", json(nullptr));
  if (count.is_number_integer() && count.get<int64_t>() <= 0) return State::kUsed;
  const auto& exp = rec.value("expiresAt", json(nullptr));
  if (exp.is_number_integer() && exp.get<int64_t>() <= now) return State::kExpired;
  return State::kActive;
}

/// The wire Ref: times as ISO strings ([impl]).
json ref_view(const json& rec) {
  json v = {{"refId", rec.at("refId")}, {"type", rec.at("type")}, {"count", rec.value("count", json(nullptr))}};
  if (auto it = rec.find("createdAt"); it != rec.end() && it->is_number_integer()) v["createdAt"] = iso_time(it->get<int64_t>());
  if (auto it = rec.find("expiresAt"); it != rec.end() && it->is_number_integer()) v["expiresAt"] = iso_time(it->get<int64_t>());
  for (const char* k : {"description", "resourceId", "accessLevel", "params"})
    if (auto it = rec.find(k); it != rec.end() && !it->is_null()) v[k] = *it;
  return v;
}

std::string new_ref_id() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
  return identity::base64url_encode(std::string_view(reinterpret_cast<const char*>(buf), sizeof buf));
}

ApiError invalid(const std::string& what) { return ApiError(400, "E-VAL-INVALID", "Request validation failed: " + what); }

size_t query_size(const net::HttpRequest& req, const char* name, size_t dflt, size_t max) {
  const auto v = req.query_param(name);
  if (!v || v->empty()) return dflt;
  if (v->find_first_not_of("0123456789") != std::string::npos || v->size() > 9) throw invalid(std::string(name) + " must be a non-negative integer");
  return std::min<size_t>(std::stoul(*v), max);
}

}  // namespace

json consume_ref(Services& s, const TenantScope& t, const std::string& ref_id, bool dry_run) {
  std::lock_guard lock(g_consume_mu);
  auto rec = load(t, ref_id);
  switch (state_of(rec, s.now())) {
    case State::kUsed:
      throw ApiError(410, "E-CORE-GONE", "This ref has been used up");
    case State::kExpired:
      throw ApiError(410, "E-CORE-GONE", "This ref has expired");
    case State::kActive:
      break;
  }
  if (dry_run) return rec;
  if (auto& count = rec["count"]; count.is_number_integer()) {
    count = count.get<int64_t>() - 1;
    records(t).put_record(t.ref(), kRefs, ref_id, rec.dump());
  }
  return rec;
}

void add_ref_routes(Router& r, Services& s) {
  r.add("GET", "/api/refs", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.owner_required(c.req, t);
    json filter = json::object();
    if (auto v = c.req.query_param("type"); v && !v->empty()) {
      require_manager(s, c, t, ctx, *v);
      filter["type"] = *v;
    }
    if (auto v = c.req.query_param("resourceId"); v && !v->empty()) filter["resourceId"] = *v;
    std::string which = c.req.query_param("filter").value_or("");
    if (which.empty()) which = "active";
    if (which != "active" && which != "used" && which != "expired" && which != "all") throw invalid("filter must be active, used, expired or all");
    const size_t offset = query_size(c.req, "offset", 0, SIZE_MAX), limit = query_size(c.req, "limit", 20, 200);
    const int64_t now = s.now();
    std::vector<json> all;
    const bool admin = may_manage(s, t, ctx, "", "refs:*").allow;  // "" is not share.*: SADM
    for (auto& rec : json::parse(records(t).list_records(t.ref(), kRefs, filter.dump()))) {
      const std::string type = rec.value("type", "");
      if (!is_share(type) && !admin) continue;  // only the types the caller may manage
      const auto st = state_of(rec, now);
      if ((which == "active" && st != State::kActive) || (which == "used" && st != State::kUsed) || (which == "expired" && st != State::kExpired)) continue;
      all.push_back(std::move(rec));
    }
    // Newest first; refId breaks ties so pages are stable.
    std::sort(all.begin(), all.end(), [](const json& a, const json& b) {
      const auto ca = a.value("createdAt", int64_t{0}), cb = b.value("createdAt", int64_t{0});
      return ca != cb ? ca > cb : a.value("refId", "") < b.value("refId", "");
    });
    json items = json::array();
    for (size_t i = offset; i < all.size() && items.size() < limit; ++i) items.push_back(ref_view(all[i]));
    c.res.set_header("Cache-Control", "no-store");
    c.res.body =
        json{{"data", items}, {"pagination", {{"offset", offset}, {"limit", limit}, {"total", all.size()}}}, {"time", iso_now()}, {"reqId", c.req.req_id}}
            .dump();
  });

  r.add("POST", "/api/refs", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.owner_required(c.req, t);
    const auto body = parse_body(c.req);
    if (!body.is_object()) throw invalid("body must be an object");
    const auto type_it = body.find("type");
    if (type_it == body.end() || !type_it->is_string() || type_it->get_ref<const std::string&>().empty() || type_it->get_ref<const std::string&>().size() > 64)
      throw invalid("type is required");
    const std::string type = *type_it;
    require_manager(s, c, t, ctx, type);
    const int64_t now = s.now();
    json rec = {{"refId", new_ref_id()}, {"type", type}, {"createdAt", now}, {"count", 1}};
    if (auto it = body.find("description"); it != body.end() && !it->is_null()) {
      if (!it->is_string()) throw invalid("description must be a string");
      rec["description"] = *it;
    }
    // [impl]'s create reads `expires_at`; the doc and every other shape say `expiresAt`.
    auto exp_it = body.find("expiresAt");
    if (exp_it == body.end()) exp_it = body.find("expires_at");
    if (exp_it != body.end() && !exp_it->is_null()) {
      const auto exp = parse_time(*exp_it);
      if (!exp) throw invalid("expiresAt must be Unix seconds or an ISO-8601 time");
      rec["expiresAt"] = *exp;  // a past time is allowed: the ref is born expired
    }
    if (auto it = body.find("count"); it != body.end()) {
      if (it->is_null())
        rec["count"] = nullptr;  // unlimited
      else if (it->is_number_integer() && it->get<int64_t>() >= 1)
        rec["count"] = *it;
      else
        throw invalid("count must be a positive integer or null");
    }
    if (auto it = body.find("resourceId"); it != body.end() && !it->is_null()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty()) throw invalid("resourceId must be a string");
      rec["resourceId"] = *it;
    }
    if (type == "share.file") {
      if (!rec.contains("resourceId")) throw invalid("share.file needs a resourceId");
      // Sharing a file hands out access to it: only its owner (the tenant's
      // files are the tenant's) or a leader may.
      auth::Object file;
      file.id = rec["resourceId"].get<std::string>();
      file.owner = t.info.id_tag;
      s.require(c.req, t, ctx, "file:share", file);
    }
    if (auto it = body.find("accessLevel"); it != body.end() && !it->is_null()) {
      if (*it != "read" && *it != "write") throw invalid("accessLevel must be read or write");
      rec["accessLevel"] = *it;
    } else if (is_share(type)) {
      rec["accessLevel"] = "read";
    }
    if (auto it = body.find("params"); it != body.end() && !it->is_null()) rec["params"] = *it;
    records(t).put_record(t.ref(), kRefs, rec["refId"].get<std::string>(), rec.dump());
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, ref_view(rec), 201);
  });

  // The owner sees the whole ref; anyone else only whether it is usable.
  r.add("GET", "/api/refs/{refId}", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.auth_optional(c.req, t);
    const auto rec = load(t, c.param("refId"));
    c.res.set_header("Cache-Control", "no-store");
    const bool manager = ctx && !ctx->scope && may_manage(s, t, ctx, rec.value("type", ""), c.param("refId")).allow;
    if (manager) return send_data(c.req, c.res, ref_view(rec));
    if (state_of(rec, s.now()) != State::kActive) throw ApiError(410, "E-CORE-GONE", "This ref is no longer valid");
    send_data(c.req, c.res, {{"refId", rec.at("refId")}, {"type", rec.at("type")}});
  });

  r.add("DELETE", "/api/refs/{refId}", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.owner_required(c.req, t);
    std::lock_guard lock(g_consume_mu);
    const auto rec = load(t, c.param("refId"));
    require_manager(s, c, t, ctx, rec.value("type", ""), c.param("refId"));
    records(t).delete_record(t.ref(), kRefs, c.param("refId"));
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, nullptr);
  });
}

}  // namespace cumulo::api
