// SP 800-56C r1 §4.1 one-step KDF with SHA-512, against the construction
// computed by hand: DKM = H(1 || Z || FixedInfo) || H(2 || Z || FixedInfo) || ...
#include "rped/crypto/kdf.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

#include "support/result_assertions.h"

namespace rped::crypto {
namespace {

using test::bytes_of;
using test::fails_with;
using test::is_ok;
using test::must;

Bytes digest(const EVP_MD* md, ByteView data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
    throw std::runtime_error("digest failed");
  }
  out.resize(len);
  return out;
}

// DKM = H(1 || Z || FixedInfo) || H(2 || Z || FixedInfo) || ..., truncated to out_bytes.
Bytes reference_kdf(ByteView z, ByteView fixed_info, std::size_t out_bytes,
                    const EVP_MD* md = EVP_sha512()) {
  Bytes dkm;
  for (std::uint32_t counter = 1; dkm.size() < out_bytes; ++counter) {
    Bytes block;
    append_u32_be(block, counter);
    block.insert(block.end(), z.begin(), z.end());
    block.insert(block.end(), fixed_info.begin(), fixed_info.end());
    const Bytes h = digest(md, block);
    dkm.insert(dkm.end(), h.begin(), h.end());
  }
  dkm.resize(out_bytes);
  return dkm;
}

const Bytes kZ = test::hex("00010203040506070809fafbfcfdfeff");
const Bytes kFixedInfo = bytes_of("rped channel v1");

TEST(OneStepKdf, MatchesTheHandComputedConstruction) {
  for (const std::size_t length : {1, 63, 64, 65, 127, 128, 130, 192, 256}) {
    const auto dkm = one_step_kdf_sha512(kZ, kFixedInfo, length);
    ASSERT_TRUE(is_ok(dkm)) << length;
    EXPECT_EQ(dkm->size(), length);
    EXPECT_TRUE(std::ranges::equal(dkm->reveal(), reference_kdf(kZ, kFixedInfo, length))) << length;
  }
}

TEST(OneStepKdf, ShorterOutputIsAPrefixOfLonger) {
  const SecretBytes long_dkm = must(one_step_kdf_sha512(kZ, kFixedInfo, 128));
  const SecretBytes short_dkm = must(one_step_kdf_sha512(kZ, kFixedInfo, 64));
  EXPECT_TRUE(std::ranges::equal(short_dkm.reveal(), long_dkm.reveal().first(64)));
}

TEST(OneStepKdf, EveryInputChangesTheOutput) {
  const SecretBytes base = must(one_step_kdf_sha512(kZ, kFixedInfo, 64));
  Bytes other_z = kZ;
  other_z[0] ^= 0x01;
  EXPECT_FALSE(base == must(one_step_kdf_sha512(other_z, kFixedInfo, 64)));
  EXPECT_FALSE(base == must(one_step_kdf_sha512(kZ, bytes_of("rped channel v2"), 64)));
  // Empty FixedInfo is allowed and is not the same as any other FixedInfo.
  const auto no_info = one_step_kdf_sha512(kZ, {}, 64);
  ASSERT_TRUE(is_ok(no_info));
  EXPECT_TRUE(std::ranges::equal(no_info->reveal(), reference_kdf(kZ, {}, 64)));
}

TEST(OneStepKdf, LargestOutputIsAllowed) {
  const auto dkm = one_step_kdf_sha512(kZ, kFixedInfo, kMaxKdfOutputBytes);
  ASSERT_TRUE(is_ok(dkm));
  EXPECT_EQ(dkm->size(), kMaxKdfOutputBytes);
  EXPECT_TRUE(
      std::ranges::equal(dkm->reveal().last(64),
                         ByteView(reference_kdf(kZ, kFixedInfo, kMaxKdfOutputBytes)).last(64)));
}

TEST(OneStepKdf, OtherHashesFollowTheSameConstruction) {
  const std::pair<Hash, const EVP_MD*> hashes[] = {
      {Hash::sha1, EVP_sha1()},
      {Hash::sha224, EVP_sha224()},
      {Hash::sha256, EVP_sha256()},
      {Hash::sha512, EVP_sha512()},
  };
  for (const auto& [hash, md] : hashes) {
    EXPECT_EQ(digest_bytes(hash), static_cast<std::size_t>(EVP_MD_get_size(md)));
    const auto dkm = one_step_kdf(hash, kZ, kFixedInfo, 77);  // spans several blocks of every hash
    ASSERT_TRUE(is_ok(dkm)) << hash_name(hash);
    EXPECT_TRUE(std::ranges::equal(dkm->reveal(), reference_kdf(kZ, kFixedInfo, 77, md)))
        << hash_name(hash);
  }
}

TEST(OneStepKdf, EmptyZIsRefused) {
  EXPECT_TRUE(fails_with(one_step_kdf_sha512({}, kFixedInfo, 64), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(one_step_kdf(Hash::sha256, {}, kFixedInfo, 32), Errc::invalid_argument));
}

TEST(OneStepKdf, OutputLengthOutOfRangeIsRefused) {
  EXPECT_TRUE(fails_with(one_step_kdf_sha512(kZ, kFixedInfo, 0), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(one_step_kdf_sha512(kZ, kFixedInfo, kMaxKdfOutputBytes + 1),
                         Errc::invalid_argument));
  EXPECT_TRUE(fails_with(one_step_kdf_sha512(kZ, kFixedInfo, SIZE_MAX), Errc::invalid_argument));
}

}  // namespace
}  // namespace rped::crypto
