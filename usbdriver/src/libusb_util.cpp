#include "libusb_util.h"

#include <array>
#include <memory>

#include "rped/usb/link_error.h"

namespace rped::usb::detail {

std::string libusb_text(int code) {
  std::string text = libusb_error_name(code);
  text += " (";
  text += libusb_strerror(code);
  text += ")";
  return text;
}

Result<BulkInterface> find_bulk_interface(libusb_device* device) {
  libusb_config_descriptor* raw = nullptr;
  const int r = libusb_get_active_config_descriptor(device, &raw);
  if (r != LIBUSB_SUCCESS) {
    return link_error(r == LIBUSB_ERROR_NO_DEVICE ? LinkFailure::unplugged : LinkFailure::io,
                      "cannot read the active configuration descriptor: " + libusb_text(r));
  }
  const std::unique_ptr<libusb_config_descriptor, decltype(&libusb_free_config_descriptor)> config(
      raw, &libusb_free_config_descriptor);
  for (int i = 0; i < config->bNumInterfaces; ++i) {
    const libusb_interface& interface = config->interface[i];
    for (int a = 0; a < interface.num_altsetting; ++a) {
      const libusb_interface_descriptor& alt = interface.altsetting[a];
      if (alt.bInterfaceClass != LIBUSB_CLASS_VENDOR_SPEC) {
        continue;
      }
      BulkInterface found;
      found.interface_number = alt.bInterfaceNumber;
      found.alt_setting = alt.bAlternateSetting;
      for (int e = 0; e < alt.bNumEndpoints; ++e) {
        const libusb_endpoint_descriptor& ep = alt.endpoint[e];
        if ((ep.bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) != LIBUSB_TRANSFER_TYPE_BULK) {
          continue;
        }
        // USB 2.0 §9.6.6: bits 10..0 of wMaxPacketSize are the packet size.
        const auto packet = static_cast<std::uint16_t>(ep.wMaxPacketSize & 0x07ff);
        if ((ep.bEndpointAddress & LIBUSB_ENDPOINT_DIR_MASK) == LIBUSB_ENDPOINT_IN) {
          if (found.endpoint_in == 0) {
            found.endpoint_in = ep.bEndpointAddress;
            found.in_packet_size = packet;
          }
        } else if (found.endpoint_out == 0) {
          found.endpoint_out = ep.bEndpointAddress;
          found.out_packet_size = packet;
        }
      }
      if (found.endpoint_in != 0 && found.endpoint_out != 0 && found.in_packet_size != 0 &&
          found.out_packet_size != 0) {
        return found;
      }
    }
  }
  return link_error(
      LinkFailure::not_found,
      "the device has no vendor-class interface with a bulk IN and a bulk OUT endpoint");
}

Result<std::string> read_serial(libusb_device_handle* handle,
                                const libusb_device_descriptor& descriptor) {
  if (descriptor.iSerialNumber == 0) {
    return std::string();
  }
  std::array<unsigned char, 256> text{};
  const int n = libusb_get_string_descriptor_ascii(handle, descriptor.iSerialNumber, text.data(),
                                                   static_cast<int>(text.size()));
  if (n < 0) {
    return link_error(n == LIBUSB_ERROR_NO_DEVICE ? LinkFailure::unplugged : LinkFailure::io,
                      "cannot read the serial number: " + libusb_text(n));
  }
  return std::string(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(n));
}

Result<std::string> probe_serial(libusb_device* device,
                                 const libusb_device_descriptor& descriptor) {
  if (descriptor.iSerialNumber == 0) {
    return std::string();
  }
  libusb_device_handle* handle = nullptr;
  const int r = libusb_open(device, &handle);
  if (r != LIBUSB_SUCCESS) {
    return link_error(
        r == LIBUSB_ERROR_NO_DEVICE ? LinkFailure::unplugged : LinkFailure::io,
        "cannot open " + usb_location(device) + " to read its serial: " + libusb_text(r));
  }
  auto serial = read_serial(handle, descriptor);
  libusb_close(handle);
  return serial;
}

std::string usb_location(libusb_device* device) {
  return "bus " + std::to_string(libusb_get_bus_number(device)) + " address " +
         std::to_string(libusb_get_device_address(device));
}

}  // namespace rped::usb::detail
