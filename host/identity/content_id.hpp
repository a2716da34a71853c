// Content ids (spec/core.md §4.1): prefix + version "1" + "~" +
// base64url_nopad(SHA-256(bytes)); 43-char hash, 46-char id.
//   a1~  action: the exact ASCII text of the compact JWT as received
//   f1~  file:   the exact descriptor string "d2,…"
//   b1~  blob:   the raw bytes
// Never re-serialise before hashing: the id is over the bytes as they are.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "identity/ossl.hpp"

namespace cumulo::identity {

enum class IdKind : char { kAction = 'a', kFile = 'f', kBlob = 'b' };

inline constexpr size_t kContentIdLength = 46;
using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::string_view bytes);
/// "<k>1~" + base64url(digest).
std::string content_id_from_digest(IdKind kind, const Sha256Digest& digest);
/// "<k>1~" + base64url(SHA-256(bytes)).
std::string content_id(IdKind kind, std::string_view bytes);
inline std::string action_id(std::string_view compact_jwt) { return content_id(IdKind::kAction, compact_jwt); }
inline std::string file_id(std::string_view descriptor) { return content_id(IdKind::kFile, descriptor); }
inline std::string blob_id(std::string_view bytes) { return content_id(IdKind::kBlob, bytes); }

/// A parsed id: its kind and digest. nullopt unless the id is exactly
/// 46 chars, a known prefix, version 1 (a2~/a3~ are reserved: rejected until
/// implemented, spec §4.1), "~" and a canonical 43-char base64url hash.
struct ContentId {
  IdKind kind;
  Sha256Digest digest;
};
std::optional<ContentId> parse_content_id(std::string_view id);
/// True if `id` is a valid id of `kind` for exactly these bytes.
bool content_id_matches(std::string_view id, IdKind kind, std::string_view bytes);

/// Streaming SHA-256 for blobs that do not fit in memory.
class ContentHasher {
 public:
  ContentHasher();
  void update(std::string_view bytes);
  /// The id; the hasher is spent afterwards.
  std::string finish(IdKind kind);

 private:
  ossl::MdCtx ctx_;
};

}  // namespace cumulo::identity
