// libusb helpers shared by LibusbTransport and PedMonitor. Internal to usbdriver/.
//
// Thread-safety: functions on their arguments only.
#pragma once

#include <libusb.h>

#include <cstdint>
#include <string>

#include "rped/result.h"
#include "rped/usb/device_id.h"

namespace rped::usb::detail {

// "LIBUSB_ERROR_NO_DEVICE (No such device (it may have been disconnected))".
std::string libusb_text(int code);

// The vendor-class (0xFF) interface with one bulk IN and one bulk OUT endpoint,
// found in the active configuration descriptor.
struct BulkInterface final {
  std::uint8_t interface_number = 0;
  std::uint8_t alt_setting = 0;
  std::uint8_t endpoint_in = 0;   // e.g. 0x81
  std::uint8_t endpoint_out = 0;  // e.g. 0x01
  std::uint16_t in_packet_size = 0;
  std::uint16_t out_packet_size = 0;
};
Result<BulkInterface> find_bulk_interface(libusb_device* device);

// The iSerialNumber string of an open device ("" when the device has none).
Result<std::string> read_serial(libusb_device_handle* handle,
                                const libusb_device_descriptor& descriptor);

// Opens the device just long enough to read its serial.
Result<std::string> probe_serial(libusb_device* device, const libusb_device_descriptor& descriptor);

// "bus 1 address 2".
std::string usb_location(libusb_device* device);

}  // namespace rped::usb::detail
