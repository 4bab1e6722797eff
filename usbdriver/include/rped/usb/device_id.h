// Which PED to use: USB vendor and product id and, optionally, its serial
// number (iSerialNumber string descriptor). Written "1209:0001" or
// "1209:0001:PED0000001" in configuration.
//
// Thread-safety: value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rped/result.h"

namespace rped::usb {

// pid.codes test VID:PID, the emulated PED's default; real deployments configure theirs.
inline constexpr std::uint16_t kDefaultPedVendorId = 0x1209;
inline constexpr std::uint16_t kDefaultPedProductId = 0x0001;
inline constexpr std::size_t kMaxSerialChars =
    126;  // a USB string descriptor holds at most 126 UTF-16 units

struct PedUsbId final {
  std::uint16_t vendor_id = kDefaultPedVendorId;
  std::uint16_t product_id = kDefaultPedProductId;
  std::string serial;  // empty: any serial

  // "VVVV:PPPP" or "VVVV:PPPP:serial" (hex ids, 1-4 digits each; printable ASCII serial).
  static Result<PedUsbId> parse(std::string_view text);
  std::string to_string() const;

  bool matches(std::uint16_t vendor, std::uint16_t product) const noexcept {
    return vendor == vendor_id && product == product_id;
  }
  bool matches(std::uint16_t vendor, std::uint16_t product,
               std::string_view device_serial) const noexcept {
    return matches(vendor, product) && (serial.empty() || serial == device_serial);
  }
};

}  // namespace rped::usb
