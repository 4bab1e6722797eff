// Where the channel's byte stream is relative to its frames (docs/protocol.md
// §2): inside a frame or between frames. A ChannelConnection uses it only to enforce
// -socketreadtimeout on a frame that stalls half-way; the endpoint does every
// check on the frames themselves.
//
// Thread-safety: a value used by one session's strand.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "rped/bytes.h"
#include "rped/channel/limits.h"

namespace rped::service {

class FrameTracker final {
 public:
  // The next bytes of the stream, in order.
  void feed(ByteView bytes) noexcept;
  // True when part of a frame has arrived and the rest has not.
  bool mid_frame() const noexcept { return header_bytes_ > 0 || body_left_ > 0; }

 private:
  std::array<std::uint8_t, channel::kFrameHeaderBytes> header_{};
  std::size_t header_bytes_ = 0;
  std::size_t body_left_ = 0;
};

}  // namespace rped::service
