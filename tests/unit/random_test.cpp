// The DRBG wrappers: requested sizes, and no two outputs alike.
#include <gtest/gtest.h>

#include <algorithm>

#include "rped/crypto/symmetric.h"
#include "support/result_assertions.h"

namespace rped::crypto {
namespace {

using test::is_ok;
using test::must;

bool all_zero(ByteView bytes) {
  return std::ranges::all_of(bytes, [](std::uint8_t b) { return b == 0; });
}

TEST(Random, FillsTheWholeBuffer) {
  // 32 zero bytes from a DRBG would be a 2^-256 event: an unwritten head or tail is a bug.
  Bytes buffer(4099, 0);
  ASSERT_TRUE(is_ok(random_bytes(buffer)));
  EXPECT_FALSE(all_zero(std::span(buffer).first(32)));
  EXPECT_FALSE(all_zero(std::span(buffer).last(32)));
  Bytes again(4099, 0);
  ASSERT_TRUE(is_ok(random_bytes(again)));
  EXPECT_NE(buffer, again);
  EXPECT_TRUE(is_ok(random_bytes({})));
}

TEST(Random, SecretsHaveTheRequestedSizeAndDiffer) {
  const SecretBytes a = must(random_secret(32));
  const SecretBytes b = must(random_secret(32));
  EXPECT_EQ(a.size(), 32u);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(must(random_secret(0)).empty());
}

}  // namespace
}  // namespace rped::crypto
