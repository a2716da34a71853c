// Profiles (spec/rest-api.md §2.2-2.3, core.md §3.2-3.3): the tenant's own
// profile (/api/me*) and its view of other identities (/api/profiles*).
//
// The own profile is the meta tenant record {idTag, name, type "P"|"C",
// profilePic, coverPic, x}; keys come from the KeyRing. Other identities
// are the tenant's meta profiles, which also hold the relationship state
// (following, follower, connected, status, trust, hiddenInHome).
//
// `x` visibility (/api/me/full): `x` is a flat string map. A key's section
// is the part before its first '.', and the key "<section>.vis" holds the
// section's visibility code. Each section is an ABAC object {owner: the
// tenant, visibility: that code} read with `profile:read`, so the engine's
// rules apply: P public, V any authenticated caller, F followers (and
// connections), C connections; any other code is Direct (owner-only).
// Sections without a ".vis" key are public. The ".vis" keys themselves are
// Direct (shown to the owner only).
//
// Remote profiles: an identity the tenant has no profile of is fetched from
// https://cl-o.<idTag>/api/me on first read and cached (Services::sync_profile);
// POST /api/profiles/{idTag}/refresh refetches it.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "api/envelope.hpp"
#include "api/iso_time.hpp"
#include "api/services.hpp"
#include "auth/abac.hpp"
#include "identity/base64url.hpp"
#include "identity/content_id.hpp"

namespace cumulo::api {

using json = nlohmann::json;

namespace {

json tenant_record(const TenantScope& t) {
  const auto rec = t.meta().get_tenant(t.ref());
  if (rec.empty()) throw ApiError(404, "E-CORE-NOTFOUND", "No profile for " + t.info.id_tag);
  return json::parse(rec);
}

const char* wire_type(const json& rec) {
  const auto it = rec.find("type");
  if (it == rec.end() || !it->is_string()) return "person";
  const auto& v = it->get_ref<const std::string&>();
  return v == "C" || v == "community" ? "community" : "person";
}

void copy_string(const json& from, json& to, const char* key) {
  if (auto it = from.find(key); it != from.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) to[key] = *it;
}

/// ProfileInfo {idTag, name, type, profilePic?}.
json profile_info(const json& rec, const std::string& id_tag) {
  json p = {
      {"idTag", id_tag}, {"name", rec.value("name", json(id_tag)).is_string() ? rec.value("name", json(id_tag)) : json(id_tag)}, {"type", wire_type(rec)}};
  copy_string(rec, p, "profilePic");
  return p;
}

/// The relationship state of a cached profile (ProfileWithStatus).
json profile_with_status(const json& rec, bool with_relationship) {
  json p = profile_info(rec, rec.value("idTag", ""));
  if (!with_relationship) return p;
  for (const char* k : {"status", "following", "follower", "connected", "trust", "hiddenInHome"})
    if (auto it = rec.find(k); it != rec.end() && !it->is_null()) p[k] = *it;
  return p;
}

json me_keys(Services& s, const TenantScope& t) {
  json keys = json::array();
  for (const auto& k : s.keys.public_keys(t.info)) {
    json j = {{"keyId", k.key_id}, {"publicKey", k.public_key}};
    if (k.expires_at) j["expiresAt"] = iso_time(*k.expires_at);
    keys.push_back(std::move(j));
  }
  return keys;
}

std::string etag_of(const std::string& body) {
  const auto d = identity::sha256(body);
  return "\"" + identity::base64url_encode(std::string_view(reinterpret_cast<const char*>(d.data()), 16)) + "\"";
}

/// RFC 9110 §13.1.2 weak comparison over a list of tags (or "*").
bool etag_matches(std::string_view header, const std::string& etag) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    auto tag = header.substr(0, comma);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

/// The tenant's profile of `id_tag` (or its own profile) as an ABAC object.
auth::Object profile_object(const TenantScope& t, const std::string& id_tag, std::optional<char> vis = std::nullopt) {
  auth::Object o;
  o.id = id_tag;
  o.owner = t.info.id_tag;
  o.visibility = vis;
  return o;
}

std::string section_of(const std::string& key) { return key.substr(0, key.find('.')); }

/// `x` as the caller may see it: one profile:read decision per visibility code.
json filter_x(Services& s, const TenantScope& t, const std::optional<auth::AuthCtx>& ctx, const json& x) {
  json out = json::object();
  if (!x.is_object()) return out;
  std::map<std::string, bool> seen;  // ".vis" code → allowed ("" = the .vis keys themselves)
  auto may_see = [&](const std::string& code) {
    auto it = seen.find(code);
    if (it != seen.end()) return it->second;
    // A one-character code is a visibility; anything else (and "") is Direct.
    const auto vis = code.size() == 1 ? std::optional<char>(code[0]) : std::nullopt;
    return seen[code] = s.authorize(t, ctx, "profile:read", profile_object(t, t.info.id_tag, vis)).allow;
  };
  for (const auto& [k, val] : x.items()) {
    const auto sec = section_of(k);
    if (k == sec + ".vis") {
      if (may_see("")) out[k] = val;
      continue;
    }
    const auto vis_it = x.find(sec + ".vis");
    const std::string vis = vis_it != x.end() && vis_it->is_string() ? vis_it->get<std::string>() : "P";
    if (may_see(vis.empty() ? "-" : vis)) out[k] = val;
  }
  return out;
}

/// Relationship fields are the tenant's Direct data (owner or leader).
bool sees_relationships(Services& s, const TenantScope& t, const auth::AuthCtx& ctx, const std::string& id_tag) {
  return s.authorize(t, ctx, "profile:read", profile_object(t, id_tag)).allow;
}

/// The tenant's cached profile of `id_tag` as the caller may see it.
json cached_view(Services& s, const TenantScope& t, const auth::AuthCtx& ctx, const std::string& id_tag) {
  const auto rec = t.meta().get_profile(t.ref(), id_tag);
  if (rec.empty()) throw ApiError(404, "E-CORE-NOTFOUND", "Profile " + id_tag + " is not known");
  return profile_with_status(json::parse(rec), sees_relationships(s, t, ctx, id_tag));
}

bool flag(const std::string& v, const char* name) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw ApiError(400, "E-VAL-INVALID", std::string("Request validation failed: ") + name + " must be true or false");
}

uint32_t parse_limit(const net::HttpRequest& req, uint32_t dflt, uint32_t max) {
  const auto v = req.query_param("limit");
  if (!v || v->empty()) return dflt;
  try {
    size_t used = 0;
    const long n = std::stol(*v, &used);
    if (used == v->size() && n >= 1) return static_cast<uint32_t>(std::min<long>(n, max));
  } catch (const std::exception&) {
  }
  throw ApiError(400, "E-VAL-INVALID", "Request validation failed: limit must be a positive integer");
}

const std::set<std::string> kStatuses = {"A", "B", "M", "S", "X"};

}  // namespace

void add_profile_routes(Router& r, Services& s) {
  // Public and cacheable: peers read the signing keys here.
  r.add("GET", "/api/me", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    auto entry = s.me_cached(t.info.id_tag);
    if (!entry) {
      const auto rec = tenant_record(t);
      json data = profile_info(rec, t.info.id_tag);
      data["keys"] = me_keys(s, t);
      std::string body = data.dump();
      std::string etag = etag_of(body);
      entry = s.me_store(t.info.id_tag, std::move(body), std::move(etag));
    }
    c.res.set_header("ETag", entry->etag);
    c.res.set_header("Cache-Control", "no-cache");
    if (auto inm = c.req.header("If-None-Match"); inm && etag_matches(*inm, entry->etag)) {
      c.res.status = 304;
      c.res.content_type.clear();
      return;
    }
    send_data_json(c.req, c.res, entry->data);
  });

  r.add("GET", "/api/me/keys", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    json keys = json::array();
    for (const auto& k : s.keys.public_keys(t.info))
      keys.push_back({{"keyId", k.key_id},
                      {"publicKey", k.public_key},
                      {"createdAt", k.created_at},
                      {"expiresAt", k.expires_at ? json(*k.expires_at) : json(nullptr)},
                      {"keyType", k.key_type}});
    send_data(c.req, c.res, keys);
  });

  r.add("GET", "/api/me/full", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.auth_optional(c.req, t);
    const auto rec = tenant_record(t);
    json data = profile_info(rec, t.info.id_tag);
    copy_string(rec, data, "coverPic");
    data["keys"] = me_keys(s, t);
    auto x = filter_x(s, t, ctx, rec.value("x", json::object()));
    if (!x.empty()) data["x"] = std::move(x);
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, data);
  });

  // [impl] answers bare {profile: ProfileInfo}. The /api/me ETag is a hash
  // of the body, so any change here yields a new one.
  r.add("PATCH", "/api/me", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.auth_required(c.req, t);
    s.require(c.req, t, ctx, "profile:update", profile_object(t, t.info.id_tag));
    const auto body = parse_body(c.req);
    if (!body.is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be an object");
    auto rec = tenant_record(t);
    json patch = json::object();
    if (auto it = body.find("name"); it != body.end()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty() || it->get_ref<const std::string&>().size() > 200)
        throw ApiError(400, "E-VAL-INVALID", "Request validation failed: name must be a non-empty string of at most 200 bytes");
      patch["name"] = *it;
    }
    if (auto it = body.find("x"); it != body.end()) {
      if (!it->is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: x must be an object");
      json x = rec.value("x", json::object());
      if (!x.is_object()) x = json::object();
      for (const auto& [k, v] : it->items()) {
        if (k.empty()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: empty x key");
        if (v.is_null())
          x.erase(k);
        else if (v.is_string())
          x[k] = v;
        else
          throw ApiError(400, "E-VAL-INVALID", "Request validation failed: x." + k + " must be a string or null");
      }
      patch["x"] = std::move(x);
    }
    if (!patch.empty()) {
      t.meta().update_tenant(t.ref(), patch.dump());
      s.me_invalidate(t.info.id_tag);
      rec.merge_patch(patch);
      if (patch.contains("x")) rec["x"] = patch["x"];  // merge_patch would drop keys, not replace the map
    }
    c.res.set_header("Cache-Control", "no-store");
    c.res.body = json{{"profile", profile_info(rec, t.info.id_tag)}}.dump();
  });

  // Known profiles. The caller must be authenticated; relationship flags
  // and filters are the owner's private data.
  r.add("GET", "/api/profiles", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.auth_required(c.req, t);
    const bool owner = sees_relationships(s, t, ctx, t.info.id_tag);
    json filter = json::object();
    if (auto q = c.req.query_param("q"); q && !q->empty())
      filter["q"] = *q;
    else if (auto q2 = c.req.query_param("search"); q2 && !q2->empty())
      filter["q"] = *q2;
    if (auto v = c.req.query_param("idTag"); v && !v->empty()) filter["idTags"] = json::array({*v});
    for (const char* f : {"following", "follower"})
      if (auto v = c.req.query_param(f); v && !v->empty()) filter[f] = flag(*v, f);
    if (auto v = c.req.query_param("connected"); v && !v->empty()) {
      // [impl] true/false/R; the doc's words are accepted too.
      if (*v == "R" || *v == "pending")
        filter["connected"] = "R";
      else if (*v == "connected")
        filter["connected"] = true;
      else if (*v == "disconnected")
        filter["connected"] = false;
      else
        filter["connected"] = flag(*v, "connected");
    }
    if ((filter.contains("following") || filter.contains("follower") || filter.contains("connected")) && !owner)
      throw ApiError(403, "E-AUTH-NOPERM", "Only " + t.info.id_tag + " may filter by relationship");
    std::optional<std::string> type;
    if (auto v = c.req.query_param("type"); v && !v->empty()) {
      if (*v != "person" && *v != "community") throw ApiError(400, "E-VAL-INVALID", "Request validation failed: type must be person or community");
      type = *v;
    }
    std::set<std::string> statuses;
    if (auto v = c.req.query_param("status"); v && !v->empty()) {
      for (auto st : auth::split_roles(*v))
        if (kStatuses.count(st)) statuses.insert(st);
      if (statuses.empty()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: status must list A, B, M, S or X");
    }
    filter["limit"] = parse_limit(c.req, 20, 1000);
    if (auto v = c.req.query_param("cursor"); v && !v->empty()) filter["cursor"] = *v;
    const auto page = json::parse(t.meta().list_profiles(t.ref(), filter.dump()));
    json items = json::array();
    for (const auto& p : page.value("profiles", json::array())) {
      // type and status are filtered here (the adapter does not know them),
      // so a page may hold fewer than `limit` items; the cursor stays valid.
      json view = profile_with_status(p, owner);
      if (type && view["type"] != *type) continue;
      const auto st = p.value("status", json(nullptr));
      if (!statuses.empty() && !statuses.count(st.is_string() ? st.get<std::string>() : std::string("A"))) continue;
      items.push_back(std::move(view));
    }
    const json next = page.value("cursor", json(nullptr));
    c.res.set_header("Cache-Control", "no-store");
    c.res.body =
        json{{"data", items}, {"cursorPagination", {{"nextCursor", next}, {"hasMore", !next.is_null()}}}, {"time", iso_now()}, {"reqId", c.req.req_id}}.dump();
  });

  // Profiles are readable by any verified caller the tenant has not blocked.
  // An identity without a cached profile is fetched from its node first.
  r.add("GET", "/api/profiles/{idTag}", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.auth_required(c.req, t);
    const auto& id_tag = c.param("idTag");
    s.require(c.req, t, ctx, "profile:read", profile_object(t, id_tag, 'V'));
    c.res.set_header("Cache-Control", "no-store");
    if (id_tag == t.info.id_tag) return send_data(c.req, c.res, profile_info(tenant_record(t), id_tag));
    if (t.meta().get_profile(t.ref(), id_tag).empty()) {
      // Unreachable or not an identity: both are "no such profile" here.
      if (s.sync_profile(t, id_tag, false) != Services::ProfileSync::kUpdated)
        throw ApiError(404, "E-CORE-NOTFOUND", "Profile " + id_tag + " is not known and could not be fetched");
    }
    send_data(c.req, c.res, cached_view(s, t, ctx, id_tag));
  });

  // Refetches a remote profile (If-None-Match with the stored etag; 304
  // keeps it). A peer that cannot be reached → 503 for a cached profile
  // (it stays as it was), 404 for an unknown one.
  r.add("POST", "/api/profiles/{idTag}/refresh", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.auth_required(c.req, t);
    const auto& id_tag = c.param("idTag");
    s.require(c.req, t, ctx, "profile:update", profile_object(t, id_tag));
    if (id_tag == t.info.id_tag) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: the own profile is not remote");
    const bool known = !t.meta().get_profile(t.ref(), id_tag).empty();
    switch (s.sync_profile(t, id_tag, true)) {
      case Services::ProfileSync::kUpdated:
      case Services::ProfileSync::kNotModified:
        break;
      case Services::ProfileSync::kUnreachable:
        if (known) throw ApiError(503, "E-SYS-UNAVAIL", "The node of " + id_tag + " cannot be reached");
        [[fallthrough]];
      case Services::ProfileSync::kNotFound:
        throw ApiError(404, "E-CORE-NOTFOUND", "Profile " + id_tag + " could not be fetched");
    }
    c.res.set_header("Cache-Control", "no-store");
    send_data(c.req, c.res, cached_view(s, t, ctx, id_tag));
  });

  // Local relationship state and preferences; creates a stub row if the
  // profile is not cached yet. [impl]: 200 with an empty body.
  r.add("PATCH", "/api/profiles/{idTag}", [&s](RouteCtx& c) {
    const auto t = s.tenant(c.req);
    const auto ctx = s.auth_required(c.req, t);
    const auto& id_tag = c.param("idTag");
    s.require(c.req, t, ctx, "profile:update", profile_object(t, id_tag));
    if (id_tag == t.info.id_tag) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: use PATCH /api/me for the own profile");
    const auto body = parse_body(c.req);
    if (!body.is_object()) throw ApiError(400, "E-VAL-INVALID", "Request validation failed: body must be an object");
    json up = {{"idTag", id_tag}};
    auto bad = [](const std::string& what) { return ApiError(400, "E-VAL-INVALID", "Request validation failed: " + what); };
    for (const auto& [k, v] : body.items()) {
      if (k == "status") {
        if (!v.is_null() && !(v.is_string() && kStatuses.count(v.get<std::string>()))) throw bad("status must be A, B, M, S, X or null");
      } else if (k == "trust") {
        if (!v.is_null() && v != "always" && v != "never") throw bad("trust must be always, never or null");
      } else if (k == "hiddenInHome" || k == "following") {
        if (!v.is_null() && !v.is_boolean()) throw bad(k + " must be a boolean or null");
      } else if (k == "connected") {
        if (!v.is_null() && !v.is_boolean() && v != "R") throw bad("connected must be true, false, \"R\" or null");
      } else {
        throw bad("unknown field " + k);
      }
      up[k] = v;
    }
    if (t.meta().get_profile(t.ref(), id_tag).empty()) up["name"] = id_tag;  // stub until synced
    t.meta().upsert_profile(t.ref(), up.dump());
    s.relationship_changed(id_tag);  // status/connected feed the ABAC level
    c.res.content_type.clear();
    c.res.body.clear();
  });
}

}  // namespace cumulo::api
