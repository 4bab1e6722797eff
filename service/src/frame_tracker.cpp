#include "frame_tracker.h"

#include <algorithm>
#include <span>

#include "rped/channel/messages.h"

namespace rped::service {

void FrameTracker::feed(ByteView bytes) noexcept {
  while (!bytes.empty()) {
    if (body_left_ > 0) {
      const std::size_t taken = std::min(body_left_, bytes.size());
      body_left_ -= taken;
      bytes = bytes.subspan(taken);
      continue;
    }
    const std::size_t taken = std::min(header_.size() - header_bytes_, bytes.size());
    std::copy_n(bytes.begin(), taken, header_.begin() + static_cast<std::ptrdiff_t>(header_bytes_));
    header_bytes_ += taken;
    bytes = bytes.subspan(taken);
    if (header_bytes_ == header_.size()) {
      const channel::FrameHeader header = channel::FrameHeader::parse(
          std::span<const std::uint8_t, channel::kFrameHeaderBytes>(header_));
      body_left_ = header.body_length;
      header_bytes_ = 0;
    }
  }
}

}  // namespace rped::service
