// The one way untrusted bytes are read (Reader) and wire bytes written (Writer)
// (ENGINEERING.md convention 2). Every read is bounds-checked; a short or
// over-long input is a decode error naming the field.
//
// After a Reader returns an error its position is unspecified: the message is
// rejected as a whole and the Reader is discarded.
//
// Thread-safety: not thread-safe; one Reader/Writer per message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "rped/bytes.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped {

class Reader final {
 public:
  explicit Reader(ByteView input) noexcept : input_(input) {}

  std::size_t remaining() const noexcept { return input_.size() - offset_; }

  Result<std::uint8_t> u8(std::string_view field);
  Result<std::uint16_t> u16(std::string_view field);
  Result<std::uint32_t> u32(std::string_view field);
  Result<std::uint64_t> u64(std::string_view field);
  // Exactly n bytes; the view aliases the input.
  Result<ByteView> bytes(std::size_t n, std::string_view field);
  // A u16 length prefix, then that many bytes, which must be in [min, max].
  Result<ByteView> vector16(std::size_t min, std::size_t max, std::string_view field);
  // vector16, copied: as text (the bytes as they are; a caller that shows them
  // checks the character set), as an owned buffer, or into a wiping container.
  Result<std::string> text16(std::size_t min, std::size_t max, std::string_view field);
  Result<Bytes> blob16(std::size_t min, std::size_t max, std::string_view field);
  Result<SecretBytes> secret16(std::size_t min, std::size_t max, std::string_view field);
  // One byte that must be 0 or 1.
  Result<bool> boolean(std::string_view field);
  // Everything left.
  ByteView rest() noexcept;
  // The message must be fully consumed: trailing bytes are a decode error.
  Result<void> expect_end(std::string_view message);

 private:
  ByteView input_;
  std::size_t offset_ = 0;
};

class Writer final {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  void bytes(ByteView v);
  // u16 length prefix; the caller has checked the length against its limit.
  void vector16(ByteView v);
  // vector16 of at most `max` bytes of `text`: longer text is clipped (for our
  // own labels and messages, never for data that must arrive whole).
  void text16(std::string_view text, std::size_t max);

  ByteView data() const noexcept { return out_; }
  // The bytes, as a plain vector the caller owns (and wipes, if it carries a secret).
  Bytes take() { return Bytes(out_.begin(), out_.end()); }

 private:
  // Messages may carry secrets (PED key secrets, the RPV, the DKM): every
  // buffer the Writer grows through is cleansed when it is released.
  std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>> out_;
};

}  // namespace rped
