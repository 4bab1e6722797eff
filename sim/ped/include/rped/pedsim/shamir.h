// M-of-N splitting of a PED key secret: Shamir secret sharing over GF(2^8),
// byte by byte (A. Shamir, "How to share a secret", CACM 22(11), 1979).
//
// For each secret byte s a polynomial f(x) = s + a1*x + ... + a(M-1)*x^(M-1)
// with random coefficients is evaluated at x = 1..N; split i holds f(i) for
// every byte. Any M splits give s back by Lagrange interpolation at 0; fewer
// than M give no information about s. The field is GF(2^8) with the AES
// polynomial x^8 + x^4 + x^3 + x + 1 (FIPS 197 §4); multiplication and
// inversion run in constant time (no log tables indexed by secret bytes).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "rped/result.h"
#include "rped/secret.h"

namespace rped::pedsim {

struct ShamirShare {
  std::uint8_t x = 0;  // the split index, 1..N (never 0: f(0) is the secret)
  SecretBytes y;       // f(x), one byte per secret byte
};

// Fills a buffer with coefficient bytes. The product uses the OpenSSL DRBG;
// known-answer tests inject fixed coefficients.
using CoefficientSource = std::function<Result<void>(std::span<std::uint8_t>)>;

// GF(2^8) arithmetic, exposed for known-answer tests.
std::uint8_t gf256_mul(std::uint8_t a, std::uint8_t b) noexcept;
std::uint8_t gf256_inv(std::uint8_t a) noexcept;  // gf256_inv(0) == 0

// Splits `secret` (1..ped::kMaxSecretBytes bytes) into N shares, any M of
// which recombine; 1 <= M <= N <= 16 (ped::kMaxQuorum).
Result<std::vector<ShamirShare>> shamir_split(const SecretBytes& secret, std::uint8_t m,
                                              std::uint8_t n);
Result<std::vector<ShamirShare>> shamir_split(const SecretBytes& secret, std::uint8_t m,
                                              std::uint8_t n,
                                              const CoefficientSource& coefficients);

// Recombines a secret from shares with distinct non-zero x and equal lengths.
// Given exactly the threshold M (or more) shares of one split, the result is
// the secret; given fewer, it is a value unrelated to it.
Result<SecretBytes> shamir_combine(std::span<const ShamirShare> shares);

}  // namespace rped::pedsim
