// PedTransport: one whole device-protocol frame at a time between pedserver
// (the host) and a PED, over USB bulk endpoints (LibusbTransport) or the PED
// emulator's Unix-domain socket (UnixSocketTransport).
//
// A frame is length(4) || version(1) || kind(1) || op(2) || request_id(4) || body
// (protocol/include/rped/ped/device_protocol.h). Transports cut the byte stream
// into frames with ped::device_frame_size and never look past the length prefix;
// PedLink parses them with the codec.
//
// Frames may carry secrets (PED key secrets, an RPV, a DKM): the transport wipes
// its own buffers, and whoever receives a frame wipes it when done.
//
// Errors are link errors (rped/usb/link_error.h): a vanished PED is
// LinkFailure::unplugged, never a hang or a crash; an expired deadline is
// LinkFailure::timeout and leaves the transport usable.
//
// Thread-safety: one thread may be in send() while another is in receive();
// concurrent send()s (or receive()s) are serialized. close() may be called from
// any thread (never from a libusb callback) and makes a blocked send()/receive()
// return LinkFailure::closed promptly.
#pragma once

#include <chrono>
#include <string>

#include "rped/bytes.h"
#include "rped/result.h"

namespace rped::usb {

// USB reads (and the PedLink reader's idle wait) time out after 10 s unless configured.
inline constexpr std::chrono::milliseconds kDefaultReadTimeout{10'000};
inline constexpr std::chrono::milliseconds kDefaultWriteTimeout{10'000};

class PedTransport {
 public:
  virtual ~PedTransport() = default;
  PedTransport() = default;
  PedTransport(const PedTransport&) = delete;
  PedTransport& operator=(const PedTransport&) = delete;

  // Sends one whole frame (as produced by ped::DeviceFrame::serialize). A frame
  // whose length prefix does not match its size is refused with invalid_argument.
  // A timeout after part of the frame left makes the transport unusable (io):
  // the PED's framing is out of step.
  [[nodiscard]] virtual Result<void> send(ByteView frame, std::chrono::milliseconds timeout) = 0;

  // The next whole frame from the PED, length prefix included. On timeout any
  // partial frame stays buffered for the next call.
  [[nodiscard]] virtual Result<Bytes> receive(std::chrono::milliseconds timeout) = 0;

  // Idempotent. Releases the device (or socket); later calls fail with closed.
  virtual void close() = 0;

  // For logs: "USB PED 1209:0001 serial PED0000001 (bus 1 address 2)", "PED emulator
  // /run/pedsim.sock".
  virtual std::string description() const = 0;
};

}  // namespace rped::usb
