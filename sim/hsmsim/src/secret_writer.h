// Writer for bytes that hold secrets: they grow inside SecretBytes, whose
// allocator wipes every buffer it releases (a std::vector would leave copies
// behind when it reallocates). Same encodings as rped::Writer.
//
// Thread-safety: one writer per message.
#pragma once

#include <cstdint>
#include <string_view>

#include "rped/bytes.h"
#include "rped/secret.h"

namespace rped::hsmsim {

class SecretWriter final {
 public:
  void u8(std::uint8_t v) { out_.append(ByteView(&v, 1)); }
  void u16(std::uint16_t v) {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    out_.append(b);
  }
  void u32(std::uint32_t v) {
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24),
                               static_cast<std::uint8_t>(v >> 16),
                               static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    out_.append(b);
  }
  void u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void bytes(ByteView v) { out_.append(v); }
  // u16 length prefix; the caller has checked the length against its limit.
  void vector16(ByteView v) {
    u16(static_cast<std::uint16_t>(v.size()));
    out_.append(v);
  }
  void text(std::string_view v, std::size_t max) {
    const std::string_view clipped = v.substr(0, max);
    vector16(ByteView(reinterpret_cast<const std::uint8_t*>(clipped.data()), clipped.size()));
  }
  std::size_t size() const noexcept { return out_.size(); }
  SecretBytes take() noexcept { return std::move(out_); }

 private:
  SecretBytes out_;
};

}  // namespace rped::hsmsim
