#include "identity/content_id.hpp"

#include <gtest/gtest.h>

namespace cumulo::identity {
namespace {

TEST(ContentId, KnownAnswers) {
  // SHA-256("") and SHA-256("abc") (FIPS 180-2), unpadded base64url.
  EXPECT_EQ(blob_id(""), "b1~47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  EXPECT_EQ(blob_id("abc"), "b1~ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  EXPECT_EQ(file_id("abc"), "f1~ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  EXPECT_EQ(action_id("abc"), "a1~ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}

TEST(ContentId, ShapeAndParse) {
  std::string id = blob_id("hello");
  EXPECT_EQ(id.size(), kContentIdLength);
  EXPECT_EQ(id.find_first_of("=+/"), std::string::npos);
  auto p = parse_content_id(id);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, IdKind::kBlob);
  EXPECT_EQ(p->digest, sha256("hello"));
  EXPECT_TRUE(content_id_matches(id, IdKind::kBlob, "hello"));
  EXPECT_FALSE(content_id_matches(id, IdKind::kFile, "hello"));
  EXPECT_FALSE(content_id_matches(id, IdKind::kBlob, "hellO"));
}

TEST(ContentId, RejectsMalformedIds) {
  std::string good = blob_id("x");
  std::string v2 = good;
  v2[1] = '2';  // reserved version: must be rejected until implemented
  std::string d = good;
  d[0] = 'd';
  std::string tilde = good;
  tilde[2] = '-';
  std::string trailing = good;
  trailing.back() = 'B';  // low 2 bits non-zero: a canonical id never ends in 'B'
  for (const std::string& bad : {v2, d, tilde, trailing, good.substr(0, 45), good + "A", std::string("b1~") + std::string(43, '='), std::string()})
    EXPECT_FALSE(parse_content_id(bad)) << bad;
}

TEST(ContentId, ActionIdIsOverExactText) {
  // Same claims, different bytes → different ids: the id is never computed
  // over a re-serialisation.
  EXPECT_NE(action_id("a.b.c"), action_id("a.b.c "));
}

TEST(ContentId, StreamingHasherMatchesOneShot) {
  ContentHasher h;
  h.update("hel");
  h.update("");
  h.update("lo");
  EXPECT_EQ(h.finish(IdKind::kBlob), blob_id("hello"));
}

}  // namespace
}  // namespace cumulo::identity
