// hello-auth: the smallest auth adapter — passwords and named secrets in memory.
//
// TOY ONLY: the password "hash" is std::hash over salt+password. It is fast,
// not cryptographic and differs between standard libraries. A real adapter
// uses bcrypt (see design.md §3). This sample only shows the plumbing.
#include <cumulo/sdk.hpp>

#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#ifndef HELLO_VERSION
#define HELLO_VERSION "1.0.0"
#endif

namespace {

using cumulo::sdk::AuthAdapter;
using cumulo::sdk::Sink;
using cumulo::sdk::Status;
using cumulo::sdk::Tenant;

// ---- just enough JSON to find the top-level "name" of a secret record -------

void skip_ws(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

// Reads a JSON string at s[i] == '"'. Escapes other than \uXXXX are decoded;
// \u sequences are kept verbatim (names are plain ASCII in practice).
std::optional<std::string> read_string(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return std::nullopt;
  std::string out;
  for (++i; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      ++i;
      return out;
    }
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= s.size()) break;
    switch (s[i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': out += "\\u"; break;
      default: out += s[i]; break;  // \" \\ \/
    }
  }
  return std::nullopt;  // unterminated
}

// Skips one JSON value of any kind; false on malformed input.
bool skip_value(std::string_view s, size_t& i) {
  skip_ws(s, i);
  if (i >= s.size()) return false;
  if (s[i] == '"') return read_string(s, i).has_value();
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        if (!read_string(s, i)) return false;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++i;
      if (depth == 0) return true;
    }
    return false;
  }
  size_t start = i;  // number, true, false, null
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') ++i;
  return i > start;
}

// The string value of top-level `key` in a JSON object, if present.
std::optional<std::string> top_level_string(std::string_view s, std::string_view key) {
  size_t i = 0;
  skip_ws(s, i);
  if (i >= s.size() || s[i++] != '{') return std::nullopt;
  for (;;) {
    skip_ws(s, i);
    auto k = read_string(s, i);
    if (!k) return std::nullopt;
    skip_ws(s, i);
    if (i >= s.size() || s[i++] != ':') return std::nullopt;
    skip_ws(s, i);
    if (*k == key) return read_string(s, i);
    if (!skip_value(s, i)) return std::nullopt;
    skip_ws(s, i);
    if (i >= s.size() || s[i++] != ',') return std::nullopt;
  }
}

// ---- the adapter ---------------------------------------------------------------

class HelloAuth final : public AuthAdapter {
 public:
  explicit HelloAuth(std::string_view /*options_json: none needed*/) {}

  Status set_password(const Tenant& tn, std::string_view password) override {
    std::string salt = new_salt();
    std::lock_guard lock(mu_);
    passwords_[tn.tn_id] = Hashed{salt, toy_hash(salt, password)};
    return Status::Ok();
  }

  Status check_password(const Tenant& tn, std::string_view password) override {
    std::lock_guard lock(mu_);
    auto it = passwords_.find(tn.tn_id);
    // No password set counts as a mismatch: never let an unset account in.
    if (it == passwords_.end() || toy_hash(it->second.salt, password) != it->second.hash)
      return Status::Error(CM_PERMISSION, "wrong password");
    return Status::Ok();
  }

  Status put_secret(const Tenant& tn, std::string_view record_json) override {
    auto name = top_level_string(record_json, "name");
    if (!name || name->empty()) return Status::Invalid("secret record needs a non-empty string \"name\"");
    std::lock_guard lock(mu_);
    secrets_[SecretKey{tn.tn_id, *name}] = std::string(record_json);  // stored verbatim
    return Status::Ok();
  }

  Status get_secret(const Tenant& tn, std::string_view name, const Sink& out) override {
    std::string rec;
    {
      std::lock_guard lock(mu_);
      auto it = secrets_.find(SecretKey{tn.tn_id, std::string(name)});
      if (it == secrets_.end()) return Status::NotFound("no such secret");
      rec = it->second;
    }
    return emit(out, rec);
  }

  Status delete_secret(const Tenant& tn, std::string_view name) override {
    std::lock_guard lock(mu_);
    if (secrets_.erase(SecretKey{tn.tn_id, std::string(name)}) == 0) return Status::NotFound("no such secret");
    return Status::Ok();
  }

  Status list_secrets(const Tenant& tn, std::string_view prefix, const Sink& out) override {
    std::string arr = "[";
    {
      std::lock_guard lock(mu_);
      for (auto it = secrets_.lower_bound(SecretKey{tn.tn_id, std::string(prefix)});
           it != secrets_.end() && it->first.first == tn.tn_id && std::string_view(it->first.second).substr(0, prefix.size()) == prefix; ++it) {
        if (arr.size() > 1) arr += ',';
        arr += it->second;
      }
    }
    arr += ']';
    return emit(out, arr);
  }

 private:
  struct Hashed {
    std::string salt;
    size_t hash = 0;
  };
  using SecretKey = std::pair<uint32_t, std::string>;

  static size_t toy_hash(const std::string& salt, std::string_view password) {
    return std::hash<std::string>{}(salt + std::string(password));  // TOY, see top of file
  }

  std::string new_salt() {
    std::lock_guard lock(rng_mu_);  // the engine is not thread-safe
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
    return buf;
  }

  static Status emit(const Sink& out, std::string_view text) {
    return out.write(text) ? Status::Ok() : Status::Error(CM_UNAVAILABLE, "reader went away");
  }

  std::mutex mu_;
  std::map<uint32_t, Hashed> passwords_;
  std::map<SecretKey, std::string> secrets_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

CUMULO_PLUGIN("hello-auth", HELLO_VERSION, "Sample: toy passwords and secrets in memory", CM_KIND_AUTH) {
  reg.add<HelloAuth>("hello-auth");
}
