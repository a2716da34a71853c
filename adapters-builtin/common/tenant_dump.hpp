// Helpers for the portable tenant dump (ABI 1.1 export_tenant/import_items;
// the item format is docs/sdk.md, "Portable tenant dump"). Header-only and
// shared by the built-in adapters: each plugin compiles its own copy.
//
//   item      one JSON line {"t": type, "k": key, "v": value | null}
//   order     ascending by t, then k, bytewise
//   cursor    `after` = t + "\n" + k of the last item received ("" = start)
//   keys      composite keys join their parts with NUL ("\u0000" in JSON):
//             no part may contain NUL, so component order and bytewise order
//             of the joined key agree and the split is unambiguous
#pragma once

#include <cumulo/sdk.hpp>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cumulo::adapters::dump {

/// Where an export resumes: strictly after (t, k), or from the start.
struct After {
  bool start = true;
  std::string t, k;

  /// True if items of type `type` may still follow the cursor.
  bool wants_type(std::string_view type) const { return start || type >= t; }
  /// The key to resume after within `type` (nullopt: from its first key).
  std::optional<std::string_view> key_in(std::string_view type) const {
    if (start || type != t) return std::nullopt;
    return std::string_view(k);
  }
};

inline After parse_after(std::string_view after) {
  After a;
  if (after.empty()) return a;
  size_t nl = after.find('\n');
  if (nl == std::string_view::npos) throw sdk::Error(CM_INVALID, "export_tenant: \"after\" must be type + \"\\n\" + key of the last item received");
  a.start = false;
  a.t = std::string(after.substr(0, nl));
  a.k = std::string(after.substr(nl + 1));
  return a;
}

/// Joins key parts with NUL; a part containing NUL cannot be dumped.
inline std::string join_key(std::initializer_list<std::string_view> parts) {
  std::string k;
  bool first = true;
  for (std::string_view p : parts) {
    if (p.find('\0') != std::string_view::npos) throw sdk::Error(CM_INVALID, "tenant dump: a key part contains NUL and cannot be dumped portably");
    if (!first) k += '\0';
    k += p;
    first = false;
  }
  return k;
}

/// Splits a composite key into exactly `n` parts (CM_INVALID otherwise).
inline std::vector<std::string_view> split_key(std::string_view k, size_t n, std::string_view type) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t z = k.find('\0', start);
    parts.push_back(k.substr(start, z == std::string_view::npos ? std::string_view::npos : z - start));
    if (z == std::string_view::npos) break;
    start = z + 1;
  }
  if (parts.size() != n)
    throw sdk::Error(CM_INVALID, "import_items: a \"" + std::string(type) + "\" key has " + std::to_string(n) + " parts separated by NUL, got " +
                                     std::to_string(parts.size()));
  return parts;
}

/// A JSON string literal; invalid UTF-8 cannot travel in JSON (CM_INVALID).
inline std::string quote(std::string_view s) {
  try {
    return nlohmann::json(std::string(s)).dump();
  } catch (const nlohmann::json::exception&) {
    throw sdk::Error(CM_INVALID, "tenant dump: a key is not valid UTF-8 and cannot be dumped portably");
  }
}

/// Appends one item line; `v_json` is the value's JSON text, written as is.
inline void append_line(std::string& out, std::string_view t, std::string_view k, std::string_view v_json) {
  out += "{\"t\":";
  out += quote(t);
  out += ",\"k\":";
  out += quote(k);
  out += ",\"v\":";
  out += v_json;
  out += "}\n";
}

/// Export output: item lines buffered into 64 KiB writes, counted against
/// the call's `limit` (0 = none).
class Lines {
 public:
  Lines(const sdk::Sink& sink, uint32_t limit) : sink_(sink), limit_(limit) {}
  /// Adds one item; true when the limit is reached (the export stops).
  bool add(std::string_view t, std::string_view k, std::string_view v_json) {
    append_line(buf_, t, k, v_json);
    if (buf_.size() >= 64 * 1024) flush();
    return limit_ != 0 && ++n_ >= limit_;
  }
  void flush() {
    if (!buf_.empty() && !sink_.write(buf_)) throw sdk::Error(CM_UNAVAILABLE, "reader went away");
    buf_.clear();
  }

 private:
  const sdk::Sink& sink_;
  uint32_t limit_;
  uint32_t n_ = 0;
  std::string buf_;
};

/// An item to import; `v` is nullopt for a deletion ("v": null).
template <class Json>
struct Item {
  std::string t, k;
  std::optional<Json> v;
};

/// Parses every non-empty line of `lines`; anything malformed → CM_INVALID
/// naming the line, before the caller has touched its storage.
template <class Json>
std::vector<Item<Json>> parse_items(std::string_view lines) {
  std::vector<Item<Json>> items;
  size_t no = 0;
  for (size_t pos = 0; pos < lines.size();) {
    size_t nl = lines.find('\n', pos);
    std::string_view line = lines.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? lines.size() : nl + 1;
    ++no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string at = "import_items: line " + std::to_string(no) + ": ";
    if (j.is_discarded() || !j.is_object()) throw sdk::Error(CM_INVALID, at + "not a JSON object");
    auto t = j.find("t"), k = j.find("k"), v = j.find("v");
    if (t == j.end() || !t->is_string() || k == j.end() || !k->is_string() || v == j.end())
      throw sdk::Error(CM_INVALID, at + "an item is {\"t\": type, \"k\": key, \"v\": value|null}");
    Item<Json> it{t->template get<std::string>(), k->template get<std::string>(), std::nullopt};
    if (!v->is_null()) it.v = std::move(*v);
    items.push_back(std::move(it));
  }
  return items;
}

/// Canonical JSON text: keys sorted, no whitespace (the form hashes and
/// comparisons use; the same in every adapter built on nlohmann-json).
template <class Json>
std::string canonical(const Json& v) {
  return nlohmann::json(v).dump();
}

}  // namespace cumulo::adapters::dump
