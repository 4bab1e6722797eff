#include "rped/channel/record.h"

#include "rped/channel/messages.h"
#include "rped/wire.h"

namespace rped::channel {

std::array<std::uint8_t, 16> record_counter_block(std::uint64_t seq) noexcept {
  std::array<std::uint8_t, 16> block{};
  for (int i = 0; i < 8; ++i) {
    block[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(seq >> (56 - 8 * i));
  }
  return block;
}

namespace {

struct DirectionCiphers {
  crypto::Aes256Ctr dek;
  crypto::HmacSha512 dmk;
};

Result<DirectionCiphers> ciphers(const DirectionKeys& keys) {
  RPED_TRY_ASSIGN(crypto::Aes256Ctr dek, crypto::Aes256Ctr::create(keys.dek.reveal()));
  RPED_TRY_ASSIGN(crypto::HmacSha512 dmk, crypto::HmacSha512::create(keys.dmk.reveal()));
  return DirectionCiphers{std::move(dek), std::move(dmk)};
}

}  // namespace

Result<RecordSealer> RecordSealer::create(Side sender, const DirectionKeys& keys) {
  RPED_TRY_ASSIGN(DirectionCiphers c, ciphers(keys));
  return RecordSealer(sender, std::move(c.dek), std::move(c.dmk));
}

Result<RecordOpener> RecordOpener::create(Side sender, const DirectionKeys& keys) {
  RPED_TRY_ASSIGN(DirectionCiphers c, ciphers(keys));
  return RecordOpener(sender, std::move(c.dek), std::move(c.dmk));
}

Result<Bytes> RecordSealer::seal(ContentType type, ByteView payload) {
  if (payload.size() > kMaxRecordPlaintext) {
    return make_error(Errc::invalid_length, "record payload of " + std::to_string(payload.size()) +
                                                " bytes exceeds the maximum of " + std::to_string(kMaxRecordPlaintext));
  }
  if (next_seq_ >= kMaxRecordsPerDirection) {
    return make_error(Errc::invalid_argument, "record sequence numbers are exhausted; the session must end");
  }
  const std::size_t ciphertext_len = 1 + payload.size();
  const std::size_t body_len = kRecordSequenceBytes + ciphertext_len + kRecordTagBytes;
  Bytes out;
  out.reserve(kFrameHeaderBytes + body_len);
  FrameHeader{kProtocolVersion, static_cast<std::uint8_t>(MessageType::record), static_cast<std::uint16_t>(body_len)}
      .serialize(out);
  append_u64_be(out, next_seq_);
  const std::size_t ct_offset = out.size();
  out.resize(kFrameHeaderBytes + body_len);
  // Encrypt content type || payload straight into the frame.
  const std::uint8_t content_type = static_cast<std::uint8_t>(type);
  const std::span<std::uint8_t> ct(out.data() + ct_offset, ciphertext_len);
  RPED_TRY(dek_.apply(record_counter_block(next_seq_),
                      {{ByteView(&content_type, 1), ct.first(1)}, {payload, ct.subspan(1)}}));
  // Encrypt-then-MAC over direction || header || seq || ciphertext.
  const std::uint8_t direction = static_cast<std::uint8_t>(sender_);
  RPED_TRY_ASSIGN(const crypto::HmacSha512Tag tag,
                  dmk_.compute({ByteView(&direction, 1), ByteView(out.data(), ct_offset), ByteView(ct)}));
  std::copy(tag.begin(), tag.end(), out.begin() + static_cast<std::ptrdiff_t>(ct_offset + ciphertext_len));
  ++next_seq_;
  return out;
}

Result<OpenedRecord> RecordOpener::open(ByteView header, ByteView body) {
  if (header.size() != kFrameHeaderBytes || body.size() < kRecordSequenceBytes + 1 + kRecordTagBytes) {
    return make_error(Errc::invalid_encoding, "record of " + std::to_string(body.size()) +
                                                  " bytes is shorter than sequence, content type and tag");
  }
  Reader r(body);
  RPED_TRY_ASSIGN(const std::uint64_t seq, r.u64("Record.sequence"));
  RPED_TRY_ASSIGN(const ByteView ciphertext, r.bytes(r.remaining() - kRecordTagBytes, "Record.ciphertext"));
  RPED_TRY_ASSIGN(const ByteView tag, r.bytes(kRecordTagBytes, "Record.tag"));
  // Authenticate before anything else is acted on; the tag covers the
  // received sequence number, so a genuine but replayed or reordered record
  // is told apart from a forged one.
  const std::uint8_t direction = static_cast<std::uint8_t>(sender_);
  const ByteView seq_bytes = body.first(kRecordSequenceBytes);
  const auto verified = dmk_.verify({ByteView(&direction, 1), header, seq_bytes, ciphertext}, tag);
  if (!verified.ok()) {
    return make_error(Errc::mac_mismatch, "record tag does not verify");
  }
  if (seq != next_seq_) {
    return make_error(Errc::invalid_argument, "record out of order: sequence " + std::to_string(seq) +
                                                  ", expected " + std::to_string(next_seq_));
  }
  if (next_seq_ >= kMaxRecordsPerDirection) {
    return make_error(Errc::invalid_argument, "record sequence numbers are exhausted; the session must end");
  }
  // Decrypt the content type into a local and the payload straight into the result.
  std::uint8_t type = 0;
  OpenedRecord record;
  record.payload.resize(ciphertext.size() - 1);
  RPED_TRY(dek_.apply(record_counter_block(seq),
                      {{ciphertext.first(1), std::span<std::uint8_t>(&type, 1)}, {ciphertext.subspan(1), record.payload}}));
  if (type < static_cast<std::uint8_t>(ContentType::data) || type > static_cast<std::uint8_t>(ContentType::pong)) {
    return make_error(Errc::invalid_encoding, "record content type " + std::to_string(type) + " is unknown");
  }
  ++next_seq_;  // only a record that is accepted whole advances the sequence
  record.type = static_cast<ContentType>(type);
  return record;
}

}  // namespace rped::channel
