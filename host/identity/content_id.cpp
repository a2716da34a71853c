#include "identity/content_id.hpp"

#include <cstring>
#include <stdexcept>

#include "identity/base64url.hpp"

namespace cumulo::identity {

Sha256Digest sha256(std::string_view bytes) {
  Sha256Digest d{};
  unsigned int n = 0;
  // One-shot EVP_Digest: no context to own. Failure means a broken OpenSSL
  // install (no default provider), not bad input.
  if (!EVP_Digest(bytes.data(), bytes.size(), d.data(), &n, EVP_sha256(), nullptr) || n != d.size()) throw std::runtime_error("SHA-256 unavailable");
  return d;
}

std::string content_id_from_digest(IdKind kind, const Sha256Digest& digest) {
  std::string id{static_cast<char>(kind), '1', '~'};
  id += base64url_encode({reinterpret_cast<const char*>(digest.data()), digest.size()});
  return id;
}

std::string content_id(IdKind kind, std::string_view bytes) { return content_id_from_digest(kind, sha256(bytes)); }

std::optional<ContentId> parse_content_id(std::string_view id) {
  if (id.size() != kContentIdLength || id[1] != '1' || id[2] != '~') return std::nullopt;
  IdKind kind;
  switch (id[0]) {
    case 'a':
      kind = IdKind::kAction;
      break;
    case 'f':
      kind = IdKind::kFile;
      break;
    case 'b':
      kind = IdKind::kBlob;
      break;
    default:
      return std::nullopt;
  }
  std::string raw;
  raw.reserve(32);
  if (!base64url_decode_append(id.substr(3), raw) || raw.size() != 32) return std::nullopt;
  ContentId out{kind, {}};
  std::memcpy(out.digest.data(), raw.data(), 32);
  return out;
}

bool content_id_matches(std::string_view id, IdKind kind, std::string_view bytes) {
  auto parsed = parse_content_id(id);
  return parsed && parsed->kind == kind && parsed->digest == sha256(bytes);
}

ContentHasher::ContentHasher() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || !EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr)) throw std::runtime_error("SHA-256 unavailable");
}

void ContentHasher::update(std::string_view bytes) {
  if (!EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size())) throw std::runtime_error("SHA-256 update failed");
}

std::string ContentHasher::finish(IdKind kind) {
  Sha256Digest d{};
  unsigned int n = 0;
  if (!EVP_DigestFinal_ex(ctx_.get(), d.data(), &n) || n != d.size()) throw std::runtime_error("SHA-256 final failed");
  return content_id_from_digest(kind, d);
}

}  // namespace cumulo::identity
