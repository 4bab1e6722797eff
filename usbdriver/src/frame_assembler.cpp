#include "frame_assembler.h"

#include <string>

#include "rped/ped/device_protocol.h"
#include "rped/secret.h"
#include "rped/usb/link_error.h"

namespace rped::usb::detail {

void wipe(Bytes& bytes) noexcept {
  // Wipe the whole allocation: bytes past size() may hold an earlier, longer frame.
  bytes.resize(bytes.capacity());
  secure_wipe(bytes.data(), bytes.size());
  bytes.clear();
}

void FrameAssembler::append(ByteView bytes) {
  if (bytes.empty()) {
    return;
  }
  if (buffer_.capacity() < buffer_.size() + bytes.size()) {
    // Grow by hand so the old allocation is wiped instead of freed with frame bytes in it.
    Bytes grown;
    grown.reserve(buffer_.size() + bytes.size() + 4096);
    grown.insert(grown.end(), buffer_.begin(), buffer_.end());
    wipe(buffer_);
    buffer_ = std::move(grown);
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<Bytes>> FrameAssembler::next() {
  if (buffer_.size() < 4) {
    return std::optional<Bytes>();
  }
  const auto size = ped::device_frame_size(ByteView(buffer_).first(4));
  if (!size.ok()) {
    return link_error(LinkFailure::bad_frame, size.error().message);
  }
  if (buffer_.size() < size.value()) {
    return std::optional<Bytes>();
  }
  const ByteView all(buffer_);
  Bytes frame(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(size.value()));
  Bytes rest(all.begin() + static_cast<std::ptrdiff_t>(size.value()), all.end());
  rest.reserve(buffer_.capacity());
  wipe(buffer_);
  buffer_ = std::move(rest);
  return std::optional<Bytes>(std::move(frame));
}

void FrameAssembler::clear() noexcept {
  wipe(buffer_);
}

Result<void> check_whole_frame(ByteView frame) {
  if (frame.size() < 4) {
    return make_error(Errc::invalid_argument,
                      "a device frame has at least a 4-byte length prefix; got " +
                          std::to_string(frame.size()) + " bytes");
  }
  const auto size = ped::device_frame_size(frame.first(4));
  if (!size.ok()) {
    return make_error(Errc::invalid_argument, size.error().message);
  }
  if (size.value() != frame.size()) {
    return make_error(Errc::invalid_argument,
                      "the frame's length prefix says " + std::to_string(size.value()) +
                          " bytes; the frame has " + std::to_string(frame.size()));
  }
  return {};
}

}  // namespace rped::usb::detail
