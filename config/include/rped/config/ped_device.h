// The -ped option: which PED the server drives.
//
//   usb                       the first Luna PED found on USB
//   usb:VID:PID               the first USB device with this vendor and product id (4 hex digits
//   each) usb:VID:PID:SERIAL        ... and this serial number (printable ASCII, no ':' or spaces,
//   1-126 chars) sim:SOCKET                the PED simulator listening on the Unix socket SOCKET
//   (1-107 bytes)
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rped/result.h"

namespace rped::config {

inline constexpr std::size_t kMaxUsbSerialLength =
    126;  // USB 2.0 §9.6.7: 253-byte string descriptor, UTF-16
inline constexpr std::size_t kMaxUnixSocketPathLength =
    107;  // sizeof(sockaddr_un::sun_path) - 1 on Linux

struct PedDevice final {
  enum class Transport : std::uint8_t { usb, simulator };

  Transport transport = Transport::usb;
  std::optional<std::uint16_t> vendor_id{};   // usb: absent means "a Luna PED"
  std::optional<std::uint16_t> product_id{};  // present exactly when vendor_id is
  std::string serial_number{};                // usb: empty means "any"
  std::string socket_path{};                  // simulator only

  friend bool operator==(const PedDevice&, const PedDevice&) = default;
};

// Fails with Errc::invalid_argument and a message saying which part is wrong.
Result<PedDevice> parse_ped_device(std::string_view text);

}  // namespace rped::config
