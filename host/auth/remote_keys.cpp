#include "auth/remote_keys.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "net/http_client.hpp"

namespace cumulo::auth {

using json = nlohmann::json;

namespace {
constexpr size_t kMaxFailed = 10000;
}  // namespace

RemoteKeys::RemoteKeys(app::Backends& backends, const app::OutboundConfig& cfg) : backends_(backends) {
  net::HttpClientOptions o;
  o.ca_file = cfg.ca_file;
  o.connect_to = cfg.resolve;
  o.connect_timeout_ms = cfg.timeout_ms;
  http_ = std::make_unique<net::HttpClient>(std::move(o));
}

RemoteKeys::~RemoteKeys() = default;

std::optional<RemoteKey> RemoteKeys::stored(const std::string& id_tag, const std::string& key_id) {
  const std::string ck = id_tag + "\n" + key_id;
  {
    std::lock_guard lk(mu_);
    if (auto it = parsed_.find(ck); it != parsed_.end()) return it->second;
  }
  auto b = backends_.for_profile(backends_.default_profile());
  if (!b || !b->meta || !b->meta.has_tenants()) return std::nullopt;
  auto rec = b->meta.get_public_key(id_tag, key_id);
  if (rec.empty()) return std::nullopt;
  auto j = json::parse(rec);
  auto key = identity::EcKey::from_public_wire(j.value("publicKey", ""));
  if (!key) return std::nullopt;
  RemoteKey out{std::make_shared<const identity::EcKey>(std::move(*key)), std::nullopt};
  if (j.contains("expiresAt") && j["expiresAt"].is_number_integer()) out.expires_at = j["expiresAt"].get<int64_t>();
  std::lock_guard lk(mu_);
  if (parsed_.size() >= kMaxFailed) parsed_.clear();  // bounded; refilled from storage on demand
  parsed_[ck] = out;
  return out;
}

void RemoteKeys::forget_failures() {
  std::lock_guard lk(mu_);
  failed_until_.clear();
}

std::optional<RemoteKey> RemoteKeys::find(const std::string& id_tag, const std::string& key_id, int64_t now) { return lookup(id_tag, key_id, now).key; }

RemoteKeys::Lookup RemoteKeys::lookup(const std::string& id_tag, const std::string& key_id, int64_t now, bool refresh) {
  // A stored key is used while it has not expired (tier 2).
  if (!refresh)
    if (auto k = stored(id_tag, key_id); k && (!k->expires_at || *k->expires_at > now)) return {std::move(k), Miss::kNone, false};
  const std::string neg = id_tag + "\n" + key_id;
  {
    std::lock_guard lk(mu_);
    if (auto it = failed_until_.find(neg); it != failed_until_.end() && it->second.first > now) return {std::nullopt, it->second.second, true};
  }
  Miss miss = fetch(id_tag);
  if (miss == Miss::kNone) {
    if (auto k = stored(id_tag, key_id)) return {std::move(k), Miss::kNone, false};
    miss = Miss::kNotPublished;  // the profile answered without this key id
  }
  std::lock_guard lk(mu_);
  if (failed_until_.size() >= kMaxFailed) std::erase_if(failed_until_, [now](const auto& e) { return e.second.first <= now; });
  if (failed_until_.size() < kMaxFailed) failed_until_[neg] = {now + (miss == Miss::kUnreachable ? kUnreachableTtl : kNotPublishedTtl), miss};
  return {std::nullopt, miss, false};
}

RemoteKeys::Miss RemoteKeys::fetch(const std::string& id_tag) {
  net::ClientRequest req;
  req.url = "https://cl-o." + id_tag + "/api/me";
  req.max_body = 256 << 10;
  req.timeout_ms = 10000;
  ++fetches_;
  net::ClientResponse res;
  try {
    res = http_->request(req);
  } catch (const std::exception& e) {
    spdlog::info("keys of {}: {}", id_tag, e.what());
    return Miss::kUnreachable;
  }
  if (res.status >= 500) {
    spdlog::info("keys of {}: GET /api/me answered {}", id_tag, res.status);
    return Miss::kUnreachable;
  }
  if (res.status != 200) {
    spdlog::info("keys of {}: GET /api/me answered {}", id_tag, res.status);
    return Miss::kNotPublished;
  }
  try {
    auto body = json::parse(res.body);
    const json& me = body.contains("data") && body["data"].is_object() ? body["data"] : body;  // envelope or bare
    if (me.value("idTag", "") != id_tag) {
      spdlog::warn("keys of {}: /api/me names {} instead", id_tag, me.value("idTag", ""));
      return Miss::kNotPublished;
    }
    return store_keys(id_tag, me) > 0 ? Miss::kNone : Miss::kNotPublished;
  } catch (const std::exception& e) {
    spdlog::info("keys of {}: {}", id_tag, e.what());
    return Miss::kNotPublished;
  }
}

size_t RemoteKeys::store_keys(const std::string& id_tag, const json& me) {
  auto b = backends_.for_profile(backends_.default_profile());
  if (!b || !b->meta || !b->meta.has_tenants() || !me.is_object()) return 0;
  size_t stored = 0;
  for (const auto& k : me.value("keys", json::array())) {
    if (!k.is_object() || !k.contains("keyId") || !k.contains("publicKey") || !k["keyId"].is_string() || !k["publicKey"].is_string()) continue;
    if (!identity::EcKey::from_public_wire(k["publicKey"].get<std::string>())) continue;  // not P-384 SPKI
    json rec = {{"idTag", id_tag}, {"keyId", k["keyId"]}, {"publicKey", k["publicKey"]}};
    // expiresAt: ISO-8601 in /api/me ([impl]); stored as Unix seconds.
    if (k.contains("expiresAt") && k["expiresAt"].is_string()) {
      std::tm tm{};
      const std::string iso = k["expiresAt"];
      if (strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) rec["expiresAt"] = static_cast<int64_t>(timegm(&tm));
    } else if (k.contains("expiresAt") && k["expiresAt"].is_number_integer()) {
      rec["expiresAt"] = k["expiresAt"];
    }
    b->meta.put_public_key(rec.dump());
    ++stored;
  }
  if (stored) {
    // Keys that were missing a moment ago may be among them.
    std::lock_guard lk(mu_);
    std::erase_if(failed_until_, [&](const auto& e) { return e.first.compare(0, id_tag.size() + 1, id_tag + "\n") == 0; });
    // A refetched key replaces what was parsed before.
    std::erase_if(parsed_, [&](const auto& e) { return e.first.compare(0, id_tag.size() + 1, id_tag + "\n") == 0; });
  }
  return stored;
}

}  // namespace cumulo::auth
