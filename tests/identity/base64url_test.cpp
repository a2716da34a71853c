#include "identity/base64url.hpp"

#include <gtest/gtest.h>

#include <random>

namespace cumulo::identity {
namespace {

// RFC 4648 §10 test vectors.
struct Vec {
  const char* in;
  const char* std;
  const char* url;
};
constexpr Vec kRfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(Base64, Rfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    EXPECT_EQ(base64_encode(v.in), v.std);
    EXPECT_EQ(base64url_encode(v.in), v.url);
    EXPECT_EQ(base64_decode(v.std), std::string(v.in)) << v.std;
    EXPECT_EQ(base64url_decode(v.url), std::string(v.in)) << v.url;
    EXPECT_EQ(base64url_length(std::string_view(v.in).size()), std::string_view(v.url).size());
  }
}

TEST(Base64, UrlAlphabet) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(base64_encode(bytes), "+/+/");
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), bytes);
  EXPECT_FALSE(base64url_decode("+/+/"));
  EXPECT_FALSE(base64_decode("-_-_"));
}

TEST(Base64, StrictRejections) {
  const std::string bad_url[] = {"Zg==", "Zg=",      "Z",  "Zm9vY", "Zh", "Zm9", "Zm9vYh", "Zm9=", " Zg", "Zg ", "Zm\n9v", std::string("Zm9v\0", 5),
                                 "Zm.v", "Zm9vYmF=", "=Zg"};
  for (const auto& bad : bad_url) EXPECT_FALSE(base64url_decode(bad)) << bad;
  // Standard: padding required and canonical.
  for (const char* bad : {"Zg", "Zg=", "Zg===", "Zh==", "Zm9=", "Zm8=Zm8=", "Zm 9v", "Z===", "===="}) EXPECT_FALSE(base64_decode(bad)) << bad;
  EXPECT_EQ(base64_decode(""), std::string());
}

TEST(Base64, RandomRoundTripAndEncodeTo) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 70, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    std::string u = base64url_encode(s);
    EXPECT_EQ(base64url_decode(u), s);
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
    char buf[128];
    EXPECT_EQ(std::string(buf, base64url_encode_to(s, buf)), u);
    EXPECT_EQ(u.find_first_of("+/="), std::string::npos);
  }
}

}  // namespace
}  // namespace cumulo::identity
