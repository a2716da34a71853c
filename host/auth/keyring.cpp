#include "auth/keyring.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace cumulo::auth {

using json = nlohmann::json;

namespace {
constexpr std::string_view kProfileKeyPrefix = "profile_key:";
const plugins::TenantRef kNodeScope{0, ""};
}  // namespace

KeyRing::KeyRing(app::Backends& backends) : backends_(backends) {}

std::shared_ptr<const app::Binding> KeyRing::binding(const app::TenantInfo& t) const {
  auto b = backends_.for_tenant(t);
  if (!b || !b->auth) throw std::runtime_error("tenant " + t.id_tag + " has no auth adapter bound (profile '" + t.profile + "')");
  return b;
}

identity::HmacKey KeyRing::access_key() {
  std::lock_guard lk(mu_);
  if (access_key_) return *access_key_;
  // Node-wide: it lives in the default profile's auth adapter, at tn 0, so
  // every tenant's tokens validate no matter where the tenant's data is.
  auto b = backends_.for_profile(backends_.default_profile());
  if (!b || !b->auth) throw std::runtime_error("the default profile has no auth adapter: cannot hold the access-token secret");
  auto rec = b->auth.find_secret(kNodeScope, "jwt_secret");
  if (!rec.empty()) {
    auto k = identity::HmacKey::from_storage(json::parse(rec).at("value").get<std::string>());
    if (!k) throw std::runtime_error("stored jwt_secret is malformed");
    access_key_ = *k;
  } else {
    auto k = identity::HmacKey::generate();
    if (!k) throw std::runtime_error("cannot generate the access-token secret");
    b->auth.put_secret(kNodeScope, json{{"name", "jwt_secret"}, {"value", k->to_storage()}}.dump());
    access_key_ = *k;
  }
  return *access_key_;
}

std::shared_ptr<const KeyRing::TenantKeys> KeyRing::load(const app::TenantInfo& t) {
  {
    std::lock_guard lk(mu_);
    if (auto it = cache_.find(t.id_tag); it != cache_.end()) return it->second;
  }
  auto b = binding(t);
  auto list = json::parse(b->auth.list_secrets(t.ref(), kProfileKeyPrefix));
  auto keys = std::make_shared<TenantKeys>();
  for (const auto& rec : list) {
    const std::string name = rec.at("name");
    auto key = identity::EcKey::from_private_storage(rec.at("value").get<std::string>());
    if (!key) throw std::runtime_error("stored profile key " + name + " of " + t.id_tag + " is malformed");
    PublicKeyInfo info;
    info.key_id = name.substr(kProfileKeyPrefix.size());
    info.public_key = key->public_wire();
    if (rec.contains("meta") && rec["meta"].is_object()) info.created_at = rec["meta"].value("createdAt", int64_t{0});
    if (rec.contains("expiresAt") && rec["expiresAt"].is_number_integer()) info.expires_at = rec["expiresAt"].get<int64_t>();
    keys->priv.emplace(info.key_id, std::make_shared<const identity::EcKey>(std::move(*key)));
    keys->pub.push_back(std::move(info));
  }
  std::sort(keys->pub.begin(), keys->pub.end(), [](const auto& x, const auto& y) { return x.key_id < y.key_id; });
  std::lock_guard lk(mu_);
  cache_[t.id_tag] = keys;
  return keys;
}

SigningKey KeyRing::signing_key(const app::TenantInfo& t) {
  auto keys = load(t);
  const auto now = static_cast<int64_t>(std::time(nullptr));
  for (auto it = keys->pub.rbegin(); it != keys->pub.rend(); ++it) {
    if (it->expires_at && *it->expires_at <= now) continue;
    return SigningKey{it->key_id, keys->priv.at(it->key_id)};
  }
  throw std::runtime_error("tenant " + t.id_tag + " has no valid profile key");
}

std::vector<PublicKeyInfo> KeyRing::public_keys(const app::TenantInfo& t) { return load(t)->pub; }

PublicKeyInfo KeyRing::create_profile_key(const app::TenantInfo& t, int64_t now) {
  auto b = binding(t);
  auto existing = load(t);
  // [impl] key ids are dates (%y%m%d); a second key on one day gets a
  // suffix so it still sorts after (newest = largest id).
  std::string base = identity::profile_key_id(static_cast<std::time_t>(now)), id = base;
  for (char suffix = 'a'; std::any_of(existing->pub.begin(), existing->pub.end(), [&](const auto& k) { return k.key_id == id; }); ++suffix) {
    if (suffix > 'z') throw std::runtime_error("too many profile keys created today for " + t.id_tag);
    id = base + suffix;
  }
  auto key = identity::EcKey::generate(identity::Curve::kP384);
  if (!key) throw std::runtime_error("cannot generate a P-384 key");
  PublicKeyInfo info{id, key->public_wire(), now, std::nullopt, "signing"};
  b->auth.put_secret(t.ref(), json{{"name", std::string(kProfileKeyPrefix) + id},
                                   {"value", key->private_storage()},
                                   {"meta", {{"publicKey", info.public_key}, {"createdAt", now}, {"keyType", "signing"}}}}
                                  .dump());
  invalidate(t.id_tag);
  return info;
}

bool KeyRing::has_vapid(const app::TenantInfo& t) { return !binding(t)->auth.find_secret(t.ref(), "vapid").empty(); }

std::string KeyRing::vapid_public_key(const app::TenantInfo& t, int64_t now) {
  auto b = binding(t);
  auto rec = b->auth.find_secret(t.ref(), "vapid");
  if (!rec.empty()) return json::parse(rec).at("meta").at("publicKey").get<std::string>();
  auto pair = identity::generate_vapid_key();
  if (!pair) throw std::runtime_error("cannot generate a VAPID key");
  b->auth.put_secret(t.ref(), json{{"name", "vapid"}, {"value", pair->private_key}, {"meta", {{"publicKey", pair->public_key}, {"createdAt", now}}}}.dump());
  return pair->public_key;
}

void KeyRing::invalidate(const std::string& id_tag) {
  std::lock_guard lk(mu_);
  cache_.erase(id_tag);
}

}  // namespace cumulo::auth
