#include "rped/wire.h"

#include <string>

namespace rped {

namespace {
Error truncated(std::string_view field, std::size_t need, std::size_t have) {
  return make_error(Errc::invalid_encoding, "truncated input: " + std::string(field) + " needs " +
                                                std::to_string(need) + " bytes, " + std::to_string(have) +
                                                " remain");
}
}  // namespace

Result<ByteView> Reader::bytes(std::size_t n, std::string_view field) {
  if (remaining() < n) {
    return truncated(field, n, remaining());
  }
  const ByteView out = input_.subspan(offset_, n);
  offset_ += n;
  return out;
}

Result<std::uint8_t> Reader::u8(std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, bytes(1, field));
  return b[0];
}

Result<std::uint16_t> Reader::u16(std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, bytes(2, field));
  return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

Result<std::uint32_t> Reader::u32(std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, bytes(4, field));
  std::uint32_t v = 0;
  for (const std::uint8_t byte : b) {
    v = (v << 8) | byte;
  }
  return v;
}

Result<std::uint64_t> Reader::u64(std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, bytes(8, field));
  std::uint64_t v = 0;
  for (const std::uint8_t byte : b) {
    v = (v << 8) | byte;
  }
  return v;
}

Result<ByteView> Reader::vector16(std::size_t min, std::size_t max, std::string_view field) {
  RPED_TRY_ASSIGN(const std::uint16_t len, u16(field));
  if (len < min || len > max) {
    return make_error(Errc::invalid_encoding, std::string(field) + " has length " + std::to_string(len) +
                                                  "; allowed is " + std::to_string(min) + " to " +
                                                  std::to_string(max));
  }
  return bytes(len, field);
}

Result<std::string> Reader::text16(std::size_t min, std::size_t max, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, vector16(min, max, field));
  return std::string(b.begin(), b.end());
}

Result<Bytes> Reader::blob16(std::size_t min, std::size_t max, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, vector16(min, max, field));
  return Bytes(b.begin(), b.end());
}

Result<SecretBytes> Reader::secret16(std::size_t min, std::size_t max, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, vector16(min, max, field));
  return SecretBytes::copy_of(b);
}

Result<bool> Reader::boolean(std::string_view field) {
  RPED_TRY_ASSIGN(const std::uint8_t v, u8(field));
  if (v > 1) {
    return make_error(Errc::invalid_encoding, std::string(field) + " must be 0 or 1");
  }
  return v == 1;
}

ByteView Reader::rest() noexcept {
  const ByteView out = input_.subspan(offset_);
  offset_ = input_.size();
  return out;
}

Result<void> Reader::expect_end(std::string_view message) {
  if (remaining() != 0) {
    return make_error(Errc::invalid_encoding, std::string(message) + " has " + std::to_string(remaining()) +
                                                  " unexpected trailing bytes");
  }
  return {};
}

// Out of line: inlined into callers, vector::insert trips GCC 12's
// -Wstringop-overflow false positive (GCC PR 106199).
void Writer::bytes(ByteView v) { out_.insert(out_.end(), v.begin(), v.end()); }

void Writer::u16(std::uint16_t v) {
  out_.push_back(static_cast<std::uint8_t>(v >> 8));
  out_.push_back(static_cast<std::uint8_t>(v));
}

void Writer::u32(std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
}
void Writer::u64(std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
}

void Writer::vector16(ByteView v) {
  u16(static_cast<std::uint16_t>(v.size()));
  bytes(v);
}

void Writer::text16(std::string_view text, std::size_t max) {
  const std::string_view clipped = text.substr(0, max);
  vector16(ByteView(reinterpret_cast<const std::uint8_t*>(clipped.data()), clipped.size()));
}

}  // namespace rped
