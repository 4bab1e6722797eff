// Every size and count limit of the Remote PED channel, in one place
// (ENGINEERING.md convention 8). docs/protocol.md §2 and §6 explain each.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rped::channel {

inline constexpr std::uint8_t kProtocolVersion = 1;

// Frame: version(1) || type(1) || body length(2) || body.
inline constexpr std::size_t kFrameHeaderBytes = 4;
inline constexpr std::size_t kMaxRecordPlaintext = 16 * 1024;  // application bytes per record
inline constexpr std::size_t kRecordSequenceBytes = 8;
inline constexpr std::size_t kRecordTagBytes = 64;  // HMAC-SHA512, untruncated
// Largest body: a record carrying kMaxRecordPlaintext plus its content-type byte.
inline constexpr std::size_t kMaxFrameBody = kRecordSequenceBytes + 1 + kMaxRecordPlaintext + kRecordTagBytes;

// Handshake fields.
inline constexpr std::size_t kP521PointBytes = 133;   // 0x04 || X || Y
inline constexpr std::size_t kHsmNonceBytes = 32;     // N_V in C(1e,1s)
inline constexpr std::size_t kKcTagBytes = 64;        // MacTag, HMAC-SHA512 untruncated
inline constexpr std::size_t kMaxCertificateBytes = 4096;
inline constexpr std::size_t kMaxHsmChainCertificates = 3;  // static-key cert, HOC, one more intermediate
inline constexpr std::size_t kMaxIdentityTextBytes = 64;       // HsmHello label, model, firmware
inline constexpr std::size_t kMaxIdentityPkcBytes = 8 * 1024;  // HsmHello PKC (a bundle is ~3 KiB)
inline constexpr std::size_t kHelloDigestBytes = 64;           // SHA-512 of HsmHello, in SuppPubInfo

// Secrets mixed into the KDF as SuppPrivInfo.
inline constexpr std::size_t kRpvBytes = 32;
inline constexpr std::size_t kPasswordDigits = 8;

// Key schedule: L = 2304 bits (docs/protocol.md §4.3).
inline constexpr std::size_t kMacKeyBytes = 32;
inline constexpr std::size_t kDekBytes = 32;   // AES-256-CTR
inline constexpr std::size_t kDmkBytes = 64;   // HMAC-SHA512
inline constexpr std::size_t kCwkBytes = 32;   // AES-256-KWP
inline constexpr std::size_t kDirectionKeyBytes = kDekBytes + kDmkBytes + kCwkBytes;
inline constexpr std::size_t kDkmBytes = kMacKeyBytes + 2 * kDirectionKeyBytes;

// A direction's record sequence number never reaches this; the sender ends
// the session first (docs/protocol.md §5.4). Far below 2^64, so no counter wraps.
inline constexpr std::uint64_t kMaxRecordsPerDirection = std::uint64_t{1} << 48;

}  // namespace rped::channel
