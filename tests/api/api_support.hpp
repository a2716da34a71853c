// Helpers for the Cloudillo API tests: real HTTP against an in-process host,
// and owner tokens minted directly (as login would).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/services.hpp"
#include "support/fixture.hpp"

namespace cumulo::test::api {

using json = nlohmann::json;

inline std::string host_of(const std::string& id_tag) { return "cl-o." + id_tag; }

/// A session token of `user` on `tenant`'s host (what login mints).
inline std::string mint(TestHost& h, const std::string& tenant, const std::string& user, const std::vector<std::string>& roles = {}) {
  auto t = h.app().backends().tenant(tenant);
  if (!t) throw std::runtime_error("no tenant " + tenant);
  return h.app().services().authn.mint(*t, user, roles);
}

inline Resp call(TestHost& h, const std::string& method, const std::string& target, const std::string& tenant, const std::string& token = "",
                 const json& body = nullptr, std::map<std::string, std::string> headers = {}) {
  Req r;
  r.method = method;
  r.target = target;
  r.host = host_of(tenant);
  if (!body.is_null()) {
    r.body = body.dump();
    headers["Content-Type"] = "application/json";
  }
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  r.headers = std::move(headers);
  auto res = http(h.port(), r);
  EXPECT_TRUE(res.ok) << res.error;
  return res;
}

/// The body as JSON (null for an empty body).
inline json body(const Resp& r) { return r.body.empty() ? json(nullptr) : json::parse(r.body); }
inline std::string error_code(const Resp& r) { return body(r)["error"]["code"].get<std::string>(); }

/// The TenantScope a request to `tenant`'s host would get.
inline cumulo::api::TenantScope scope_of(TestHost& h, const std::string& tenant) {
  net::HttpRequest req;
  req.host = host_of(tenant);
  return h.app().services().tenant(req);
}

}  // namespace cumulo::test::api
