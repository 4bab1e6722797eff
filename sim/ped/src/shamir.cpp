#include "rped/pedsim/shamir.h"

#include <string>

#include "rped/crypto/symmetric.h"
#include "rped/ped/device_protocol.h"

namespace rped::pedsim {

std::uint8_t gf256_mul(std::uint8_t a, std::uint8_t b) noexcept {
  // Shift-and-add with the reduction by 0x1B selected by a mask, not a branch,
  // so the time does not depend on the operands.
  std::uint8_t product = 0;
  for (int bit = 0; bit < 8; ++bit) {
    product ^= static_cast<std::uint8_t>(-(b & 1) & a);
    const auto carry = static_cast<std::uint8_t>(-(a >> 7));
    a = static_cast<std::uint8_t>((a << 1) ^ (carry & 0x1B));
    b = static_cast<std::uint8_t>(b >> 1);
  }
  return product;
}

std::uint8_t gf256_inv(std::uint8_t a) noexcept {
  // a^254 = a^-1 in GF(2^8) (the multiplicative group has order 255); 0 maps to 0.
  std::uint8_t result = 1;
  std::uint8_t power = a;
  for (int bit = 0; bit < 8; ++bit) {
    const std::uint8_t take = (254 >> bit) & 1;
    const std::uint8_t with = gf256_mul(result, power);
    const auto mask = static_cast<std::uint8_t>(-take);
    result = static_cast<std::uint8_t>((with & mask) | (result & ~mask));
    power = gf256_mul(power, power);
  }
  return result;
}

namespace {

Result<void> check_quorum(std::uint8_t m, std::uint8_t n) {
  if (m < 1 || m > n || n > ped::kMaxQuorum) {
    return make_error(Errc::invalid_argument, "quorum " + std::to_string(m) + " of " +
                                                  std::to_string(n) +
                                                  " is outside 1 <= M <= N <= 16");
  }
  return {};
}

}  // namespace

Result<std::vector<ShamirShare>> shamir_split(const SecretBytes& secret, std::uint8_t m,
                                              std::uint8_t n) {
  return shamir_split(secret, m, n,
                      [](std::span<std::uint8_t> out) { return crypto::random_bytes(out); });
}

Result<std::vector<ShamirShare>> shamir_split(const SecretBytes& secret, std::uint8_t m,
                                              std::uint8_t n,
                                              const CoefficientSource& coefficients) {
  RPED_TRY(check_quorum(m, n));
  if (secret.empty() || secret.size() > ped::kMaxSecretBytes) {
    return make_error(Errc::invalid_length, "a PED key secret is 1 to " +
                                                std::to_string(ped::kMaxSecretBytes) +
                                                " bytes, not " + std::to_string(secret.size()));
  }
  const std::size_t length = secret.size();
  const std::size_t degree = m - 1u;
  // coefficient[k * length + i] is a(k+1) of byte i's polynomial.
  SecretBytes coefficient(degree * length);
  if (degree > 0) {
    RPED_TRY(coefficients(coefficient.reveal_mutable()));
  }
  const auto s = secret.reveal();
  const auto a = coefficient.reveal();
  std::vector<ShamirShare> shares;
  shares.reserve(n);
  for (std::uint8_t x = 1; x <= n; ++x) {
    ShamirShare share{x, SecretBytes(length)};
    auto y = share.y.reveal_mutable();
    for (std::size_t i = 0; i < length; ++i) {
      // Horner: f(x) = s + x*(a1 + x*(a2 + ... + x*a(M-1))).
      std::uint8_t acc = 0;
      for (std::size_t k = degree; k > 0; --k) {
        acc = static_cast<std::uint8_t>(gf256_mul(acc, x) ^ a[(k - 1) * length + i]);
      }
      y[i] = static_cast<std::uint8_t>(gf256_mul(acc, x) ^ s[i]);
    }
    shares.push_back(std::move(share));
  }
  return shares;
}

Result<SecretBytes> shamir_combine(std::span<const ShamirShare> shares) {
  if (shares.empty() || shares.size() > ped::kMaxQuorum) {
    return make_error(Errc::invalid_argument,
                      "recombination takes 1 to 16 shares, not " + std::to_string(shares.size()));
  }
  const std::size_t length = shares.front().y.size();
  for (std::size_t i = 0; i < shares.size(); ++i) {
    if (shares[i].x == 0) {
      return make_error(Errc::invalid_argument,
                        "share index 0 is not a split (f(0) is the secret)");
    }
    if (shares[i].y.size() != length || length == 0) {
      return make_error(Errc::invalid_length, "shares of one secret have the same non-zero length");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (shares[j].x == shares[i].x) {
        return make_error(Errc::invalid_argument,
                          "share " + std::to_string(shares[i].x) + " is given twice");
      }
    }
  }
  // Lagrange basis at 0: l_i(0) = prod_{j != i} x_j / (x_j - x_i); minus is XOR in GF(2^8).
  SecretBytes secret(length);
  auto out = secret.reveal_mutable();
  for (std::size_t i = 0; i < shares.size(); ++i) {
    std::uint8_t numerator = 1;
    std::uint8_t denominator = 1;
    for (std::size_t j = 0; j < shares.size(); ++j) {
      if (j != i) {
        numerator = gf256_mul(numerator, shares[j].x);
        denominator = gf256_mul(denominator, static_cast<std::uint8_t>(shares[j].x ^ shares[i].x));
      }
    }
    const std::uint8_t basis = gf256_mul(numerator, gf256_inv(denominator));
    const auto y = shares[i].y.reveal();
    for (std::size_t b = 0; b < length; ++b) {
      out[b] = static_cast<std::uint8_t>(out[b] ^ gf256_mul(y[b], basis));
    }
  }
  return secret;
}

}  // namespace rped::pedsim
