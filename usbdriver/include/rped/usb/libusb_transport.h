// LibusbTransport: the PED over USB with libusb-1.0.
//
// open() finds the PED by VID:PID and, when given, serial number; discovers the
// vendor-class (0xFF) interface and its bulk IN / bulk OUT endpoints from the
// active configuration descriptor (the PED has 0x81 and 0x01); detaches a
// kernel driver bound to that interface (and reattaches it on close); claims
// the interface. Frames go out as bulk OUT transfers and come back as bulk IN
// transfers of up to 16 KiB, reassembled into frames by their length prefix
// whatever the transfer boundaries.
//
// pedwritedelay (write_delay, 0-10000 µs): throttles bulk OUT for PEDs that
// drop data arriving too fast. With a delay of 0 a frame is one bulk OUT
// transfer. With a delay d > 0 the frame is sent one max-packet-size chunk per
// transfer (64 bytes on a full-speed PED; a final short chunk), and the
// transport waits d after each chunk's transfer has completed before
// submitting the next: a frame of n bytes takes at least
// (ceil(n / wMaxPacketSize) - 1) * d longer. Nothing is delayed before the
// first chunk, after the last, or on bulk IN.
//
// A vanished PED: transfers in flight complete with LinkFailure::unplugged as
// soon as libusb reports the disconnect (a NO_DEVICE transfer status, or the
// hot-plug "left" event for this device when libusb has hot-plug support,
// which cancels the transfers), and every later call fails the same way.
//
// Thread-safety: as PedTransport. Transfers run on the UsbContext's event thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "rped/usb/device_id.h"
#include "rped/usb/transport.h"
#include "rped/usb/usb_context.h"

namespace rped::usb {

inline constexpr std::chrono::microseconds kMaxPedWriteDelay{10'000};
inline constexpr std::size_t kBulkInTransferBytes = 16 * 1024;

struct LibusbTransportOptions final {
  PedUsbId device;                           // default 1209:0001, any serial
  std::chrono::microseconds write_delay{0};  // pedwritedelay, 0 to kMaxPedWriteDelay
  std::shared_ptr<UsbContext> context;       // null: the transport makes its own
};

// What open() found, for logs and tests.
struct UsbPedInfo final {
  std::uint8_t bus = 0;
  std::uint8_t address = 0;
  std::string serial;
  std::uint8_t interface_number = 0;
  std::uint8_t endpoint_in = 0;
  std::uint8_t endpoint_out = 0;
  std::uint16_t in_packet_size = 0;
  std::uint16_t out_packet_size = 0;
  bool kernel_driver_detached = false;
};

class LibusbTransport final : public PedTransport {
 public:
  // not_found when no PED matches; busy when another program holds the
  // interface; io for permissions and other libusb failures.
  static Result<std::unique_ptr<LibusbTransport>> open(LibusbTransportOptions options);
  ~LibusbTransport() override;

  [[nodiscard]] Result<void> send(ByteView frame, std::chrono::milliseconds timeout) override;
  [[nodiscard]] Result<Bytes> receive(std::chrono::milliseconds timeout) override;
  void close() override;
  std::string description() const override;

  const UsbPedInfo& info() const noexcept;

  struct Impl;

 private:
  explicit LibusbTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rped::usb
