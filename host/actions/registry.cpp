#include "actions/registry.hpp"

#include <spdlog/spdlog.h>

#include "app/backends.hpp"
#include "plugins/plugin_manager.hpp"

namespace cumulo::actions {

using json = nlohmann::json;

TypeRegistry::TypeRegistry(app::Backends& backends) : backends_(backends) {}

std::shared_ptr<const TypeRegistry::Snapshot> TypeRegistry::snapshot() {
  auto ext = backends_.extensions();
  std::lock_guard lk(mu_);
  if (snap_ && ext == seen_) return snap_;
  auto s = std::make_shared<Snapshot>();
  if (ext) {
    for (const auto& h : ext->action_types) {
      const std::string plugin = h.instance().factory().name;
      json defs;
      try {
        defs = json::parse(h.definitions());
        if (!defs.is_array()) throw std::runtime_error("definitions() must return a JSON array");
      } catch (const std::exception& e) {
        s->errors[plugin] = e.what();
        spdlog::error("action types of {} refused: {}", plugin, e.what());
        continue;
      }
      for (size_t i = 0; i < defs.size(); ++i) {
        const std::string label =
            defs[i].is_object() && defs[i].contains("type") && defs[i]["type"].is_string() ? defs[i]["type"].get<std::string>() : "#" + std::to_string(i);
        try {
          auto t = std::make_shared<ActionType>(ActionType{dsl::parse_definition(defs[i]), h, plugin});
          const std::string type = t->def.type;
          if (auto it = s->types.find(type); it != s->types.end()) {
            s->errors[plugin + ": " + type] = "already defined by " + it->second->plugin_name;
            spdlog::error("action type {} of {} refused: already defined by {}", type, plugin, it->second->plugin_name);
            continue;
          }
          s->types.emplace(type, std::move(t));
        } catch (const std::exception& e) {
          s->errors[plugin + ": " + label] = e.what();
          spdlog::error("action type {} of {} refused: {}", label, plugin, e.what());
        }
      }
    }
  }
  if (!snap_ || snap_->types.size() != s->types.size()) spdlog::info("action types: {} registered, {} refused", s->types.size(), s->errors.size());
  seen_ = std::move(ext);
  snap_ = std::move(s);
  return snap_;
}

std::shared_ptr<const ActionType> TypeRegistry::find(std::string_view type) {
  auto s = snapshot();
  if (auto it = s->types.find(std::string(type)); it != s->types.end()) return it->second;
  if (auto colon = type.find(':'); colon != std::string_view::npos)
    if (auto it = s->types.find(std::string(type.substr(0, colon))); it != s->types.end()) return it->second;
  return nullptr;
}

}  // namespace cumulo::actions
