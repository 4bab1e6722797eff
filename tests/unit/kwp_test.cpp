// AES key wrap with padding (SP 800-38F §6.3 / RFC 5649): round trips, and
// every integrity, padding and length failure is unwrap_failed with no output.
#include <gtest/gtest.h>

#include <algorithm>

#include "rped/crypto/symmetric.h"
#include "support/aes_block.h"
#include "support/result_assertions.h"

namespace rped::crypto {
namespace {

using test::fails_with;
using test::hex;
using test::is_ok;
using test::must;

const Bytes kKek = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

Bytes pattern(std::size_t length) {
  Bytes out(length);
  std::ranges::generate(out,
                        [i = 0]() mutable { return static_cast<std::uint8_t>(0x30 + i++ * 3); });
  return out;
}

// SP 800-38F §6.3 step 1: the padded plaintext is a multiple of 8 bytes; the wrap adds 8.
std::size_t wrapped_length(std::size_t plaintext) {
  return (plaintext + 7) / 8 * 8 + 8;
}

// With at most 8 plaintext bytes KWP is one AES block: AES_K(A65959A6 || MLI || padded P).
// Building that block by hand lets a test choose an ICV, MLI or padding the API would never
// produce.
Bytes single_block_wrap(std::uint32_t icv, std::uint32_t mli, ByteView padded_plaintext) {
  Bytes block;
  append_u32_be(block, icv);
  append_u32_be(block, mli);
  block.insert(block.end(), padded_plaintext.begin(), padded_plaintext.end());
  return test::aes_ecb_encrypt(kKek, block);
}

constexpr std::uint32_t kIcv2 = 0xA65959A6;

// RFC 5649 §6, second example (192-bit KEK); also checked with `openssl enc -id-aes192-wrap-pad`.
TEST(AesKwp, KnownAnswer) {
  const Bytes kek = hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
  const Bytes key = hex("466f7250617369");
  const Bytes wrapped = hex("afbeb0f07dfbf5419200f2ccb50bb24f");
  EXPECT_EQ(must(aes_kwp_wrap(kek, key)), wrapped);
  EXPECT_TRUE(std::ranges::equal(must(aes_kwp_unwrap(kek, wrapped)).reveal(), key));
}

TEST(AesKwp, RoundTripsEveryLengthClass) {
  for (const std::size_t length : {1, 7, 8, 9, 15, 16, 17, 4096}) {
    const Bytes plaintext = pattern(length);
    const auto wrapped = aes_kwp_wrap(kKek, plaintext);
    ASSERT_TRUE(is_ok(wrapped)) << length;
    EXPECT_EQ(wrapped->size(), wrapped_length(length)) << length;
    const auto unwrapped = aes_kwp_unwrap(kKek, wrapped.value());
    ASSERT_TRUE(is_ok(unwrapped)) << length;
    EXPECT_TRUE(std::ranges::equal(unwrapped->reveal(), plaintext)) << length;
  }
}

TEST(AesKwp, Aes128And192KeksAreAccepted) {
  for (const std::size_t kek_length : {16, 24}) {
    const Bytes kek(kek_length, 0x42);
    const Bytes wrapped = must(aes_kwp_wrap(kek, pattern(20)));
    EXPECT_TRUE(std::ranges::equal(must(aes_kwp_unwrap(kek, wrapped)).reveal(), pattern(20)))
        << kek_length;
  }
}

TEST(AesKwp, LargestPlaintextIsAllowedAndOneMoreIsNot) {
  const Bytes largest(kMaxKwpPlaintextBytes, 0x11);
  const auto wrapped = aes_kwp_wrap(kKek, largest);
  ASSERT_TRUE(is_ok(wrapped));
  EXPECT_TRUE(std::ranges::equal(must(aes_kwp_unwrap(kKek, wrapped.value())).reveal(), largest));
  EXPECT_TRUE(
      fails_with(aes_kwp_wrap(kKek, Bytes(kMaxKwpPlaintextBytes + 1, 0x11)), Errc::invalid_length));
}

TEST(AesKwp, EmptyPlaintextIsRefused) {
  EXPECT_TRUE(fails_with(aes_kwp_wrap(kKek, {}), Errc::invalid_length));
}

TEST(AesKwp, KekOfUnsupportedLengthIsInvalidLength) {
  const Bytes wrapped = must(aes_kwp_wrap(kKek, pattern(9)));
  for (const std::size_t length : {0, 15, 31, 33, 64}) {
    EXPECT_TRUE(fails_with(aes_kwp_wrap(Bytes(length, 1), pattern(9)), Errc::invalid_length))
        << length;
    EXPECT_TRUE(fails_with(aes_kwp_unwrap(Bytes(length, 1), wrapped), Errc::invalid_length))
        << length;
  }
}

// A failed unwrap is a Result without a value: no partial plaintext can leak.
TEST(AesKwp, EveryFlippedByteIsUnwrapFailed) {
  for (const std::size_t length : {5, 24}) {
    const Bytes wrapped = must(aes_kwp_wrap(kKek, pattern(length)));
    for (std::size_t i = 0; i < wrapped.size(); ++i) {
      Bytes flipped = wrapped;
      flipped[i] ^= 0x01;
      EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, flipped), Errc::unwrap_failed))
          << length << " byte " << i;
    }
  }
}

TEST(AesKwp, WrongKekIsUnwrapFailed) {
  const Bytes wrapped = must(aes_kwp_wrap(kKek, pattern(32)));
  Bytes other = kKek;
  other.back() ^= 0x01;
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(other, wrapped), Errc::unwrap_failed));
}

TEST(AesKwp, TruncatedOrExtendedWrapIsUnwrapFailed) {
  const Bytes wrapped = must(aes_kwp_wrap(kKek, pattern(32)));  // 40 bytes
  const ByteView w = wrapped;
  // Still a multiple of 8: the integrity check has to catch it.
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, w.first(32)), Errc::unwrap_failed));
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, w.first(16)), Errc::unwrap_failed));
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, w.last(32)), Errc::unwrap_failed));
  Bytes extended = wrapped;
  extended.insert(extended.end(), 8, 0);
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, extended), Errc::unwrap_failed));
}

TEST(AesKwp, WrapLengthNotAMultipleOfEightOrBelowSixteenIsUnwrapFailed) {
  const Bytes wrapped = must(aes_kwp_wrap(kKek, pattern(32)));
  const ByteView w = wrapped;
  for (const std::size_t length : {0, 1, 8, 15, 17, 39}) {
    EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, w.first(length)), Errc::unwrap_failed)) << length;
  }
}

TEST(AesKwp, HandBuiltSingleBlockWrapUnwraps) {
  // Control for the negative cases below: the hand-built block is a correct wrap.
  const Bytes padded = hex("0102030405000000");
  const Bytes wrapped = single_block_wrap(kIcv2, 5, padded);
  EXPECT_EQ(wrapped, must(aes_kwp_wrap(kKek, hex("0102030405"))));
  EXPECT_TRUE(std::ranges::equal(must(aes_kwp_unwrap(kKek, wrapped)).reveal(), hex("0102030405")));
}

TEST(AesKwp, BadIcvLengthOrPaddingIsUnwrapFailed) {
  const Bytes padded = hex("0102030405000000");
  // SP 800-38F §6.3 KWP-AD step 4: ICV2 must match ...
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, single_block_wrap(0xA65959A7, 5, padded)),
                         Errc::unwrap_failed));
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, single_block_wrap(0xA6A6A6A6, 5, padded)),
                         Errc::unwrap_failed));
  // ... 8(n-1) < MLI <= 8n with n = 1 semiblock ...
  EXPECT_TRUE(
      fails_with(aes_kwp_unwrap(kKek, single_block_wrap(kIcv2, 0, padded)), Errc::unwrap_failed));
  EXPECT_TRUE(
      fails_with(aes_kwp_unwrap(kKek, single_block_wrap(kIcv2, 9, padded)), Errc::unwrap_failed));
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, single_block_wrap(kIcv2, 0xffffffff, padded)),
                         Errc::unwrap_failed));
  // ... and the padding bytes are zero.
  EXPECT_TRUE(fails_with(aes_kwp_unwrap(kKek, single_block_wrap(kIcv2, 5, hex("0102030405000001"))),
                         Errc::unwrap_failed));
}

}  // namespace
}  // namespace rped::crypto
