// Cuts a byte stream from the PED into device-protocol frames. Internal to
// usbdriver/: both transports read through it, so USB transfers that split or
// join frames and socket reads of any size reassemble the same way.
//
// Thread-safety: not thread-safe; each transport guards its assembler.
#pragma once

#include <cstddef>
#include <optional>

#include "rped/bytes.h"
#include "rped/result.h"

namespace rped::usb::detail {

class FrameAssembler final {
 public:
  FrameAssembler() = default;
  FrameAssembler(const FrameAssembler&) = delete;
  FrameAssembler& operator=(const FrameAssembler&) = delete;
  ~FrameAssembler() { clear(); }

  void append(ByteView bytes);

  // The next whole frame when one is buffered, nullopt when more bytes are
  // needed, or a bad_frame link error when the length prefix is out of range
  // (the stream cannot be resynchronized after that).
  Result<std::optional<Bytes>> next();

  std::size_t buffered() const noexcept { return buffer_.size(); }
  // Wipes everything buffered.
  void clear() noexcept;

 private:
  Bytes buffer_;
};

// Overwrites and empties a byte vector that may have held a frame.
void wipe(Bytes& bytes) noexcept;

// The frame's own length prefix must match its size (ped::device_frame_size).
Result<void> check_whole_frame(ByteView frame);

}  // namespace rped::usb::detail
