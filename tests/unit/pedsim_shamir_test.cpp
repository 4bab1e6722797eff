// M-of-N splitting of PED key secrets: GF(2^8) known answers, hand-computed
// splits, and properties (any M of N recombine; M-1 do not give the secret).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "rped/crypto/symmetric.h"
#include "rped/pedsim/shamir.h"
#include "support/result_assertions.h"

namespace rped::pedsim {
namespace {

using rped::test::fails_with;
using rped::test::is_ok;
using rped::test::must;

SecretBytes secret_of(std::initializer_list<std::uint8_t> bytes) {
  const std::vector<std::uint8_t> v(bytes);
  return SecretBytes::copy_of(v);
}

// Coefficients handed out in order, for known answers.
CoefficientSource fixed(std::vector<std::uint8_t> coefficients) {
  return [coefficients](std::span<std::uint8_t> out) -> Result<void> {
    if (out.size() != coefficients.size()) {
      return make_error(Errc::invalid_length, "test coefficient count");
    }
    std::copy(coefficients.begin(), coefficients.end(), out.begin());
    return {};
  };
}

std::vector<std::uint8_t> bytes(const SecretBytes& s) {
  return {s.reveal().begin(), s.reveal().end()};
}

TEST(Gf256, KnownProducts) {
  // FIPS 197 §4.2: {57} * {83} = {c1}, {57} * {13} = {fe}.
  EXPECT_EQ(gf256_mul(0x57, 0x83), 0xC1);
  EXPECT_EQ(gf256_mul(0x57, 0x13), 0xFE);
  // FIPS 197 §4.2.1: {53} and {ca} are inverses.
  EXPECT_EQ(gf256_mul(0x53, 0xCA), 0x01);
  EXPECT_EQ(gf256_inv(0x53), 0xCA);
  EXPECT_EQ(gf256_inv(0xCA), 0x53);
  EXPECT_EQ(gf256_inv(0x00), 0x00);
  EXPECT_EQ(gf256_inv(0x01), 0x01);
}

TEST(Gf256, FieldLawsHoldForEveryElement) {
  for (unsigned a = 0; a < 256; ++a) {
    const auto x = static_cast<std::uint8_t>(a);
    EXPECT_EQ(gf256_mul(x, 1), x);
    EXPECT_EQ(gf256_mul(x, 0), 0);
    if (x != 0) {
      ASSERT_EQ(gf256_mul(x, gf256_inv(x)), 1) << "a = " << a;
    }
    for (unsigned b = 0; b < 256; ++b) {
      ASSERT_EQ(gf256_mul(x, static_cast<std::uint8_t>(b)),
                gf256_mul(static_cast<std::uint8_t>(b), x));
    }
  }
}

TEST(Shamir, KnownAnswerTwoOfThree) {
  // f(x) = 0x42 + 0x05 x: f(1) = 0x47, f(2) = 0x42 ^ 0x0a = 0x48, f(3) = 0x42 ^ 0x0f = 0x4d.
  const auto shares = must(shamir_split(secret_of({0x42}), 2, 3, fixed({0x05})));
  ASSERT_EQ(shares.size(), 3u);
  EXPECT_EQ(shares[0].x, 1);
  EXPECT_EQ(bytes(shares[0].y), std::vector<std::uint8_t>{0x47});
  EXPECT_EQ(bytes(shares[1].y), std::vector<std::uint8_t>{0x48});
  EXPECT_EQ(bytes(shares[2].y), std::vector<std::uint8_t>{0x4D});
  std::vector<ShamirShare> pair;
  pair.push_back(ShamirShare{1, secret_of({0x47})});
  pair.push_back(ShamirShare{3, secret_of({0x4D})});
  EXPECT_EQ(bytes(must(shamir_combine(pair))), std::vector<std::uint8_t>{0x42});
}

TEST(Shamir, KnownAnswerThreeOfThreeTwoBytes) {
  // Byte 0: f(x) = 0x01 + 0x02 x + 0x03 x^2 -> f(1) = 0x00, f(2) = 0x09, f(3) = 0x08.
  // Byte 1: f(x) = 0xff + 0x00 x + 0x00 x^2 -> 0xff everywhere.
  // Coefficient layout: a1 of every byte, then a2 of every byte.
  const auto shares =
      must(shamir_split(secret_of({0x01, 0xFF}), 3, 3, fixed({0x02, 0x00, 0x03, 0x00})));
  EXPECT_EQ(bytes(shares[0].y), (std::vector<std::uint8_t>{0x00, 0xFF}));
  EXPECT_EQ(bytes(shares[1].y), (std::vector<std::uint8_t>{0x09, 0xFF}));
  EXPECT_EQ(bytes(shares[2].y), (std::vector<std::uint8_t>{0x08, 0xFF}));
  EXPECT_EQ(bytes(must(shamir_combine(shares))), (std::vector<std::uint8_t>{0x01, 0xFF}));
}

TEST(Shamir, OneOfNHandsOutTheSecretItself) {
  const SecretBytes secret = must(crypto::random_secret(32));
  const auto shares = must(shamir_split(secret, 1, 4));
  for (const auto& share : shares) {
    EXPECT_TRUE(share.y == secret);
  }
}

// Every subset of size k of {0..n-1}, as bit masks.
std::vector<unsigned> subsets(unsigned n, unsigned k) {
  std::vector<unsigned> out;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    if (static_cast<unsigned>(__builtin_popcount(mask)) == k) {
      out.push_back(mask);
    }
  }
  return out;
}

std::vector<ShamirShare> pick(const std::vector<ShamirShare>& shares, unsigned mask) {
  std::vector<ShamirShare> out;
  for (unsigned i = 0; i < shares.size(); ++i) {
    if ((mask >> i) & 1u) {
      out.push_back(ShamirShare{shares[i].x, shares[i].y.clone()});
    }
  }
  return out;
}

TEST(Shamir, AnyMOfNRecombineAndMMinusOneDoNot) {
  for (std::uint8_t n = 1; n <= 7; ++n) {
    for (std::uint8_t m = 1; m <= n; ++m) {
      const SecretBytes secret = must(crypto::random_secret(32));
      const auto shares = must(shamir_split(secret, m, n));
      ASSERT_EQ(shares.size(), n);
      for (const unsigned mask : subsets(n, m)) {
        const auto chosen = pick(shares, mask);
        EXPECT_TRUE(must(shamir_combine(chosen)) == secret)
            << int(m) << " of " << int(n) << " mask " << mask;
      }
      if (m > 1) {
        for (const unsigned mask : subsets(n, m - 1u)) {
          const auto chosen = pick(shares, mask);
          EXPECT_FALSE(must(shamir_combine(chosen)) == secret)
              << int(m) << " of " << int(n) << " mask " << mask;
        }
      }
      // More than M shares lie on the same polynomial.
      EXPECT_TRUE(must(shamir_combine(shares)) == secret);
    }
  }
}

TEST(Shamir, SixteenOfSixteenWithALongSecret) {
  const SecretBytes secret = must(crypto::random_secret(1024));
  const auto shares = must(shamir_split(secret, 16, 16));
  EXPECT_TRUE(must(shamir_combine(shares)) == secret);
  std::vector<ShamirShare> fifteen = pick(shares, 0x7FFF);
  EXPECT_FALSE(must(shamir_combine(fifteen)) == secret);
}

TEST(Shamir, FreshCoefficientsEachTime) {
  const SecretBytes secret = must(crypto::random_secret(32));
  const auto a = must(shamir_split(secret, 2, 2));
  const auto b = must(shamir_split(secret, 2, 2));
  EXPECT_FALSE(a[0].y == b[0].y);
}

TEST(Shamir, RefusesBadParameters) {
  const SecretBytes secret = must(crypto::random_secret(8));
  EXPECT_TRUE(fails_with(shamir_split(secret, 0, 3), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(shamir_split(secret, 4, 3), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(shamir_split(secret, 2, 17), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(shamir_split(SecretBytes{}, 1, 1), Errc::invalid_length));
  EXPECT_TRUE(fails_with(shamir_split(SecretBytes(1025), 1, 1), Errc::invalid_length));

  std::vector<ShamirShare> none;
  EXPECT_TRUE(fails_with(shamir_combine(none), Errc::invalid_argument));
  std::vector<ShamirShare> twice;
  twice.push_back(ShamirShare{2, secret_of({1})});
  twice.push_back(ShamirShare{2, secret_of({1})});
  EXPECT_TRUE(fails_with(shamir_combine(twice), Errc::invalid_argument));
  std::vector<ShamirShare> zero;
  zero.push_back(ShamirShare{0, secret_of({1})});
  EXPECT_TRUE(fails_with(shamir_combine(zero), Errc::invalid_argument));
  std::vector<ShamirShare> uneven;
  uneven.push_back(ShamirShare{1, secret_of({1})});
  uneven.push_back(ShamirShare{2, secret_of({1, 2})});
  EXPECT_TRUE(fails_with(shamir_combine(uneven), Errc::invalid_length));
}

}  // namespace
}  // namespace rped::pedsim
