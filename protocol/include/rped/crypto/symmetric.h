// AES-256-CTR, HMAC-SHA-512 and AES key wrap with padding (KWP).
//
// Thread-safety: Aes256Ctr and HmacSha512 are used by one thread at a time
// (each keeps one OpenSSL context and re-initialises it per message); the free
// functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>

#include "rped/bytes.h"
#include "rped/crypto/kdf.h"
#include "rped/result.h"
#include "rped/secret.h"

using EVP_MAC_CTX = struct evp_mac_ctx_st;
using EVP_CIPHER_CTX = struct evp_cipher_ctx_st;

namespace rped::crypto {

inline constexpr std::size_t kAes256KeyBytes = 32;
inline constexpr std::size_t kAesBlockBytes = 16;
inline constexpr std::size_t kHmacSha512Bytes = 64;
// FIPS 198-1 / SP 800-107 r1 §5.3.3: a truncated MAC keeps at least 32 bits.
inline constexpr std::size_t kMinTruncatedTagBytes = 4;

using HmacSha512Tag = std::array<std::uint8_t, kHmacSha512Bytes>;

// AES-256 in CTR mode (SP 800-38A §6.5) starting from `counter_block`, whose
// whole 128 bits are incremented as one big-endian integer per block. `out`
// must be exactly as long as `in`; they may be the same buffer.
// The caller owns counter-block uniqueness; the channel derives it (docs/protocol.md).
Result<void> aes256_ctr_xor(ByteView key, ByteView counter_block, ByteView in, std::span<std::uint8_t> out);

struct EvpCipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept;
};

// AES-256-CTR under a fixed key, for many messages: the key schedule is
// computed once and each call supplies its counter block. Not thread-safe.
class Aes256Ctr final {
 public:
  struct Part {
    ByteView in;
    std::span<std::uint8_t> out;  // as long as `in`; may alias it
  };
  static Result<Aes256Ctr> create(ByteView key);
  Result<void> apply(ByteView counter_block, ByteView in, std::span<std::uint8_t> out) {
    return apply(counter_block, {Part{in, out}});
  }
  // One keystream from `counter_block` over several buffers in turn, so a
  // message in pieces needs no copy into one buffer.
  Result<void> apply(ByteView counter_block, std::initializer_list<Part> parts);

 private:
  explicit Aes256Ctr(std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxDeleter> ctx) : ctx_(std::move(ctx)) {}
  std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxDeleter> ctx_;
};

struct EvpMacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const noexcept;
};

// HMAC-SHA-512 (FIPS 198-1) under a fixed key. The key is copied into OpenSSL,
// which cleanses it on destruction.
class HmacSha512 final {
 public:
  static Result<HmacSha512> create(ByteView key);

  HmacSha512(HmacSha512&&) noexcept = default;
  HmacSha512& operator=(HmacSha512&&) noexcept = default;
  HmacSha512(const HmacSha512&) = delete;
  HmacSha512& operator=(const HmacSha512&) = delete;
  ~HmacSha512() = default;

  // MAC over the concatenation of `parts` (avoids building the message in one buffer).
  Result<HmacSha512Tag> compute(std::initializer_list<ByteView> parts) const;
  Result<HmacSha512Tag> compute(ByteView message) const { return compute({message}); }

  // Constant-time check of a full 64-byte tag.
  Result<void> verify(std::initializer_list<ByteView> parts, ByteView tag) const;
  Result<void> verify(ByteView message, ByteView tag) const { return verify({message}, tag); }
  // Constant-time check of the leftmost tag.size() bytes, for interoperation
  // with truncated tags (kMinTruncatedTagBytes <= size <= 64).
  Result<void> verify_truncated(std::initializer_list<ByteView> parts, ByteView tag) const;
  Result<void> verify_truncated(ByteView message, ByteView tag) const { return verify_truncated({message}, tag); }

 private:
  explicit HmacSha512(std::unique_ptr<EVP_MAC_CTX, EvpMacCtxDeleter> ctx) : keyed_(std::move(ctx)) {}
  // Re-initialised (same key, EVP_MAC_init with no key) for every message: a
  // per-message EVP_MAC_CTX_dup cost more than the MAC of a small record.
  mutable std::unique_ptr<EVP_MAC_CTX, EvpMacCtxDeleter> keyed_;
};

// HMAC with any supported hash, over the concatenation of `parts`; for the
// KAS layer's key confirmation with parameterised hashes.
Result<Bytes> hmac(Hash hash, ByteView key, std::initializer_list<ByteView> parts);

// AES key wrap with padding, SP 800-38F §6.3 / RFC 5649, with the default
// ICV2 0xA65959A6. The KEK is 32 bytes in the product (AES-256-KWP); 16 and 24
// are accepted so the full public vector sets can be run.
// Plaintext: 1 .. kMaxKwpPlaintextBytes bytes.
inline constexpr std::size_t kMaxKwpPlaintextBytes = 1 << 20;
Result<Bytes> aes_kwp_wrap(ByteView kek, ByteView plaintext);
// Any integrity or padding failure is unwrap_failed with no partial output.
Result<SecretBytes> aes_kwp_unwrap(ByteView kek, ByteView wrapped);

// Fresh random bytes from the OpenSSL DRBG (private instance for secrets).
Result<void> random_bytes(std::span<std::uint8_t> out);
Result<SecretBytes> random_secret(std::size_t size);

}  // namespace rped::crypto
