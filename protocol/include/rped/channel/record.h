// The record layer (docs/protocol.md §5): encrypt-then-MAC with AES-256-CTR
// and HMAC-SHA512 under per-direction keys. The layer owns its sequence
// numbers and counter blocks; callers never supply a nonce.
//
// Thread-safety: a RecordSealer / RecordOpener is used by one thread at a time.
#pragma once

#include <array>
#include <cstdint>

#include "rped/bytes.h"
#include "rped/channel/key_schedule.h"
#include "rped/crypto/symmetric.h"
#include "rped/result.h"

namespace rped::channel {

// The first plaintext byte of every record.
enum class ContentType : std::uint8_t {
  data = 1,   // application bytes (PED operations)
  close = 2,  // u16 AlertCode: the authenticated end of a session
  ping = 3,   // liveness probe; answered by pong with the same payload
  pong = 4,
};

struct OpenedRecord {
  ContentType type = ContentType::data;
  Bytes payload;
};

// Sealing side of one direction.
class RecordSealer final {
 public:
  static Result<RecordSealer> create(Side sender, const DirectionKeys& keys);
  // A whole frame (header || seq || ciphertext || tag) ready to send.
  // payload is at most kMaxRecordPlaintext bytes.
  Result<Bytes> seal(ContentType type, ByteView payload);
  std::uint64_t next_sequence() const noexcept { return next_seq_; }

 private:
  RecordSealer(Side sender, crypto::Aes256Ctr dek, crypto::HmacSha512 dmk)
      : sender_(sender), dek_(std::move(dek)), dmk_(std::move(dmk)) {}
  Side sender_;
  crypto::Aes256Ctr dek_;
  crypto::HmacSha512 dmk_;
  std::uint64_t next_seq_ = 0;
};

// Opening side of one direction.
class RecordOpener final {
 public:
  static Result<RecordOpener> create(Side sender, const DirectionKeys& keys);
  // `header` is the frame header as received; `body` its body. Errors:
  // invalid_encoding (layout), mac_mismatch (tag), invalid_argument with
  // "out of order" (a genuine record with an unexpected sequence number).
  Result<OpenedRecord> open(ByteView header, ByteView body);
  std::uint64_t next_sequence() const noexcept { return next_seq_; }

 private:
  RecordOpener(Side sender, crypto::Aes256Ctr dek, crypto::HmacSha512 dmk)
      : sender_(sender), dek_(std::move(dek)), dmk_(std::move(dmk)) {}
  Side sender_;
  crypto::Aes256Ctr dek_;
  crypto::HmacSha512 dmk_;
  std::uint64_t next_seq_ = 0;
};

// Counter block of a record: seq (8 bytes, big-endian) || 0^64. A record has
// at most 1026 blocks, so the low half never carries into the sequence half and
// no counter block repeats under one DEK (docs/protocol.md §5.2).
std::array<std::uint8_t, 16> record_counter_block(std::uint64_t seq) noexcept;

}  // namespace rped::channel
