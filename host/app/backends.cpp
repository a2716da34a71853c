#include "app/backends.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace cumulo::app {

using plugins::PluginError;

std::vector<std::pair<std::string, const plugins::AdapterHandle*>> Binding::handles() const {
  std::vector<std::pair<std::string, const plugins::AdapterHandle*>> out;
  if (auth) out.emplace_back("auth", &auth);
  if (meta) out.emplace_back("meta", &meta);
  if (blob) out.emplace_back("blob", &blob);
  if (rtdb) out.emplace_back("rtdb", &rtdb);
  if (crdt) out.emplace_back("crdt", &crdt);
  return out;
}

Backends::Backends(const Config& cfg, plugins::PluginManager& pm)
    : cfg_(cfg), pm_(pm), registry_(std::make_unique<TenantRegistry>(cfg.data_dir / "tenants.json")) {
  // Configured tenants are created on first sight; afterwards the registry is
  // authoritative (a migration may have moved a tenant to another profile).
  auto ensure = [&](const std::string& id, const std::string& profile) {
    if (id.empty()) return;
    const std::string want = profile.empty() ? cfg.default_profile : profile;
    auto r = registry_->ensure(id, want);
    if (r.profile != want) spdlog::warn("tenant {} is bound to profile {} (registry), config says {}: the registry wins", id, r.profile, want);
  };
  ensure(cfg.base_id_tag, "");  // on a fresh data dir the admin tenant is tn 1, as in the reference
  for (const auto& t : cfg.tenants) ensure(t.id_tag, t.profile);
  reload_tenants();
  extensions_ = std::make_shared<Extensions>();
}

Backends::~Backends() = default;

void Backends::reload_tenants() {
  registry_->reload();
  std::map<std::string, TenantInfo> next;
  for (const auto& r : registry_->list()) {
    if (!cfg_.profiles.count(r.profile)) spdlog::error("tenant {} is bound to unknown profile '{}': it will answer 503", r.id_tag, r.profile);
    next[r.id_tag] = TenantInfo{r.tn_id, r.id_tag, r.profile};
  }
  std::lock_guard lk(mu_);
  tenants_ = std::move(next);
}

namespace {

// Reuses `current` if it still comes from the factory now registered.
template <class Handle>
Handle instantiate(plugins::PluginManager& pm, uint32_t kind, const AdapterSpec& spec, const Handle& current, std::string& error) {
  auto f = pm.find(kind, spec.factory);
  if (!f) {
    error = "no " + plugins::kind_name(kind) + " factory '" + spec.factory + "' is loaded";
    return Handle();
  }
  if (current && &current.instance().factory() == f.get()) return current;
  try {
    return Handle(pm.create(kind, spec.factory, spec.options_json));
  } catch (const PluginError& e) {
    error = e.what();
    return Handle();
  }
}

}  // namespace

void Backends::rebind() {
  std::map<std::string, std::shared_ptr<const Binding>> next;
  std::shared_ptr<const Extensions> old_ext;
  std::map<std::string, std::shared_ptr<const Binding>> old;
  {
    std::lock_guard lk(mu_);
    old = bindings_;
    old_ext = extensions_;
  }
  for (const auto& [name, prof] : cfg_.profiles) {
    auto b = std::make_shared<Binding>();
    b->profile = name;
    auto cur = old.count(name) ? old[name] : std::make_shared<const Binding>();
    for (const auto& [kind, spec] : prof.adapters) {
      std::string err;
      if (kind == "auth") b->auth = instantiate(pm_, CM_KIND_AUTH, spec, cur->auth, err);
      else if (kind == "meta") b->meta = instantiate(pm_, CM_KIND_META, spec, cur->meta, err);
      else if (kind == "blob") b->blob = instantiate(pm_, CM_KIND_BLOB, spec, cur->blob, err);
      else if (kind == "rtdb") b->rtdb = instantiate(pm_, CM_KIND_RTDB, spec, cur->rtdb, err);
      else if (kind == "crdt") b->crdt = instantiate(pm_, CM_KIND_CRDT, spec, cur->crdt, err);
      if (!err.empty()) {
        spdlog::error("profile {}: {} adapter unavailable: {}", name, kind, err);
        b->errors[kind] = err;
      }
    }
    next[name] = std::move(b);
  }

  // Extensions: one instance per loaded action-type / file-processor factory.
  auto ext = std::make_shared<Extensions>();
  auto reuse_or_create = [&](uint32_t kind, const std::string& fname, auto& out, const auto& old_list) {
    for (const auto& h : old_list)
      if (h.instance().factory().name == fname && pm_.find(kind, fname).get() == &h.instance().factory()) {
        out.push_back(h);
        return;
      }
    auto opts = cfg_.extension_options.count(fname) ? cfg_.extension_options.at(fname) : std::string("{}");
    try {
      out.emplace_back(pm_.create(kind, fname, opts));
    } catch (const PluginError& e) {
      ext->errors[fname] = e.what();
      spdlog::error("{} '{}' unavailable: {}", plugins::kind_name(kind), fname, e.what());
    }
  };
  for (const auto& rep : pm_.reports()) {
    if (rep.status != "loaded" && rep.status != "replaced") continue;
    for (const auto& fk : rep.factories) {
      auto colon = fk.find(':');
      auto kind = plugins::kind_from_name(fk.substr(0, colon));
      auto fname = fk.substr(colon + 1);
      if (kind == CM_KIND_ACTION_TYPE) reuse_or_create(kind, fname, ext->action_types, old_ext->action_types);
      if (kind == CM_KIND_FILE_PROCESSOR) reuse_or_create(kind, fname, ext->processors, old_ext->processors);
    }
  }
  {
    std::lock_guard lk(mu_);
    bindings_ = std::move(next);
    extensions_ = std::move(ext);
  }
  // `old` and `old_ext` drop here; instances still used by requests live on.
}

std::shared_ptr<const Binding> Backends::for_profile(const std::string& profile) const {
  std::lock_guard lk(mu_);
  auto it = bindings_.find(profile);
  return it == bindings_.end() ? nullptr : it->second;
}

std::shared_ptr<const Extensions> Backends::extensions() const {
  std::lock_guard lk(mu_);
  return extensions_;
}

std::optional<TenantInfo> Backends::tenant(const std::string& id_tag) const {
  std::lock_guard lk(mu_);
  auto it = tenants_.find(id_tag);
  if (it == tenants_.end()) return std::nullopt;
  return it->second;
}

std::optional<TenantInfo> Backends::tenant_for_host(std::string_view host) const {
  // Strip port (not inside IPv6 brackets) and a trailing dot; lower-case.
  if (auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos) host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  constexpr std::string_view prefix = "cl-o.";
  std::string h(host);
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (h.rfind(prefix, 0) != 0) return std::nullopt;
  return tenant(h.substr(prefix.size()));
}

std::vector<TenantInfo> Backends::tenants() const {
  std::lock_guard lk(mu_);
  std::vector<TenantInfo> out;
  for (const auto& [_, t] : tenants_) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.tn_id < b.tn_id; });
  return out;
}

std::vector<std::string> Backends::profile_names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : cfg_.profiles) out.push_back(n);
  return out;
}

}  // namespace cumulo::app
