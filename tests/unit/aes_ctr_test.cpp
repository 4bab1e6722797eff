// AES-256-CTR: argument checks, aliasing, and the 128-bit counter increment
// against raw AES-ECB of the expected counter blocks.
#include <gtest/gtest.h>

#include <algorithm>

#include "rped/crypto/symmetric.h"
#include "support/aes_block.h"
#include "support/result_assertions.h"

namespace rped::crypto {
namespace {

using test::aes_ecb_encrypt;
using test::fails_with;
using test::hex;
using test::is_ok;

const Bytes kKey = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");

Bytes ctr(ByteView key, ByteView counter_block, ByteView in) {
  Bytes out(in.size());
  const Result<void> r = aes256_ctr_xor(key, counter_block, in, out);
  if (!r.ok()) {
    throw std::runtime_error("aes256_ctr_xor: " + test::describe(r.error()));
  }
  return out;
}

// Keystream of `blocks` blocks, computed as AES_K(counter_i) for the given counters.
Bytes expected_keystream(std::initializer_list<ByteView> counters) {
  Bytes blocks;
  for (const ByteView c : counters) {
    blocks.insert(blocks.end(), c.begin(), c.end());
  }
  return aes_ecb_encrypt(kKey, blocks);
}

// SP 800-38A F.5.5 CTR-AES256.Encrypt (also checked with `openssl enc -aes-256-ctr`).
TEST(AesCtr, KnownAnswer) {
  const Bytes plaintext =
      hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
          "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  const Bytes ciphertext =
      hex("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
          "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
  EXPECT_EQ(ctr(kKey, hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), plaintext), ciphertext);
}

TEST(AesCtr, CounterCarriesAcrossTheLow64Bits) {
  const Bytes counter = hex("0000000000000000ffffffffffffffff");
  const Bytes next = hex("00000000000000010000000000000000");
  EXPECT_EQ(ctr(kKey, counter, Bytes(32, 0)), expected_keystream({counter, next}));
}

TEST(AesCtr, CounterWrapsModulo2To128) {
  const Bytes counter(16, 0xff);
  const Bytes zero(16, 0x00);
  EXPECT_EQ(ctr(kKey, counter, Bytes(32, 0)), expected_keystream({counter, zero}));
}

TEST(AesCtr, PartialFinalBlockUsesTheKeystreamPrefix) {
  const Bytes counter = hex("000102030405060708090a0b0c0d0e0f");
  const Bytes keystream = ctr(kKey, counter, Bytes(48, 0));
  EXPECT_EQ(ctr(kKey, counter, Bytes(37, 0)), Bytes(keystream.begin(), keystream.begin() + 37));
}

TEST(AesCtr, EncryptThenDecryptRoundTrips) {
  const Bytes counter = hex("0102030405060708090a0b0c0d0e0f10");
  Bytes plaintext(1000);
  std::ranges::generate(plaintext,
                        [i = 0]() mutable { return static_cast<std::uint8_t>(i++ * 7); });
  const Bytes ciphertext = ctr(kKey, counter, plaintext);
  EXPECT_NE(ciphertext, plaintext);
  EXPECT_EQ(ctr(kKey, counter, ciphertext), plaintext);
}

TEST(AesCtr, InPlaceEqualsOutOfPlace) {
  const Bytes counter = hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  Bytes buffer(77, 0x5c);
  const Bytes out_of_place = ctr(kKey, counter, buffer);
  ASSERT_TRUE(is_ok(aes256_ctr_xor(kKey, counter, buffer, buffer)));
  EXPECT_EQ(buffer, out_of_place);
}

TEST(AesCtr, EmptyInputIsANoOp) {
  Bytes out;
  EXPECT_TRUE(is_ok(aes256_ctr_xor(kKey, Bytes(16, 0), {}, out)));
}

TEST(AesCtr, WrongKeyLengthIsInvalidLength) {
  Bytes out(16);
  for (const std::size_t length : {0, 16, 24, 31, 33}) {
    EXPECT_TRUE(fails_with(aes256_ctr_xor(Bytes(length, 1), Bytes(16, 0), Bytes(16, 0), out),
                           Errc::invalid_length))
        << length;
  }
}

TEST(AesCtr, WrongCounterBlockLengthIsInvalidLength) {
  Bytes out(16);
  for (const std::size_t length : {0, 12, 15, 17}) {
    EXPECT_TRUE(
        fails_with(aes256_ctr_xor(kKey, Bytes(length, 0), Bytes(16, 0), out), Errc::invalid_length))
        << length;
  }
}

TEST(AesCtr, OutputLengthDifferentFromInputIsInvalidLength) {
  Bytes shorter(15);
  Bytes longer(17);
  EXPECT_TRUE(
      fails_with(aes256_ctr_xor(kKey, Bytes(16, 0), Bytes(16, 0), shorter), Errc::invalid_length));
  EXPECT_TRUE(
      fails_with(aes256_ctr_xor(kKey, Bytes(16, 0), Bytes(16, 0), longer), Errc::invalid_length));
}

}  // namespace
}  // namespace rped::crypto

namespace rped::crypto {
namespace {

// Aes256Ctr keeps the key schedule across messages; each apply() starts afresh
// from its own counter block, whatever the previous message left behind.
TEST(Aes256CtrKeyed, EachMessageStartsFromItsOwnCounter) {
  Aes256Ctr keyed = test::must(Aes256Ctr::create(kKey));
  const Bytes first_counter = hex("00000000000000000000000000000001");
  const Bytes second_counter = hex("00000000000000010000000000000000");
  Bytes partial(20, 0x33);  // leaves 12 unused keystream bytes in the last block
  ASSERT_TRUE(is_ok(keyed.apply(first_counter, partial, partial)));
  EXPECT_EQ(partial, ctr(kKey, first_counter, Bytes(20, 0x33)));
  Bytes second(48, 0x44);
  ASSERT_TRUE(is_ok(keyed.apply(second_counter, second, second)));
  EXPECT_EQ(second, ctr(kKey, second_counter, Bytes(48, 0x44)));
  Bytes again(20, 0x33);
  ASSERT_TRUE(is_ok(keyed.apply(first_counter, again, again)));
  EXPECT_EQ(again, partial);
}

TEST(Aes256CtrKeyed, ArgumentLengthsAreChecked) {
  EXPECT_TRUE(fails_with(Aes256Ctr::create(Bytes(31, 0)), Errc::invalid_length));
  EXPECT_TRUE(fails_with(Aes256Ctr::create({}), Errc::invalid_length));
  Aes256Ctr keyed = test::must(Aes256Ctr::create(kKey));
  Bytes out(16);
  EXPECT_TRUE(fails_with(keyed.apply(Bytes(15, 0), Bytes(16, 0), out), Errc::invalid_length));
  EXPECT_TRUE(fails_with(keyed.apply(Bytes(16, 0), Bytes(17, 0), out), Errc::invalid_length));
  // A refused call leaves the object usable.
  ASSERT_TRUE(is_ok(keyed.apply(Bytes(16, 0), Bytes(16, 0), out)));
  EXPECT_EQ(out, expected_keystream({Bytes(16, 0)}));
}

}  // namespace
}  // namespace rped::crypto
