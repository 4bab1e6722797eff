// SP 800-56C Rev.1 §4.1 one-step key derivation with H = SHA-512 (OpenSSL SSKDF).
//
//   DKM = leftmost L bits of H(counter_1 || Z || FixedInfo) || H(counter_2 || Z || FixedInfo) || ...
//
// with a 32-bit big-endian counter starting at 1. Hash-based: no salt.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rped/bytes.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::crypto {

// Hash functions the KAS layer can be parameterised with. The product uses
// SHA-512 only; the others exist to run NIST's structural reference vectors.
enum class Hash : std::uint8_t { sha1, sha224, sha256, sha512 };

std::size_t digest_bytes(Hash hash) noexcept;
const char* hash_name(Hash hash) noexcept;  // OpenSSL digest name

// H(message): the channel hashes the HsmHello it sent or received into
// FixedInfo (docs/protocol.md §4.3).
Result<Bytes> digest(Hash hash, ByteView message);

// Largest DKM this API derives; far above any use (the channel needs 256 bytes)
// and below SP 800-56C's reps <= 2^32 - 1 bound.
inline constexpr std::size_t kMaxKdfOutputBytes = 64 * 1024;

// `z` is the shared secret (revealed from its container by the caller).
// Z must be non-empty; 1 <= out_bytes <= kMaxKdfOutputBytes.
Result<SecretBytes> one_step_kdf(Hash hash, ByteView z, ByteView fixed_info, std::size_t out_bytes);

inline Result<SecretBytes> one_step_kdf_sha512(ByteView z, ByteView fixed_info, std::size_t out_bytes) {
  return one_step_kdf(Hash::sha512, z, fixed_info, out_bytes);
}

}  // namespace rped::crypto
