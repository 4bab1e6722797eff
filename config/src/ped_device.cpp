#include "rped/config/ped_device.h"

#include <charconv>
#include <system_error>

namespace rped::config {
namespace {

constexpr std::string_view kUsbPrefix = "usb";
constexpr std::string_view kSimulatorPrefix = "sim:";
constexpr std::size_t kUsbIdDigits = 4;

Error bad_device(std::string_view why) {
  return make_error(Errc::invalid_argument, std::string(why));
}

std::optional<std::uint16_t> parse_usb_id(std::string_view text) noexcept {
  if (text.size() != kUsbIdDigits) {
    return std::nullopt;
  }
  std::uint16_t value = 0;
  const char* const end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value, 16);
  if (error != std::errc{} || stop != end) {
    return std::nullopt;
  }
  return value;
}

bool is_serial_character(char c) noexcept {
  // Printable ASCII without space (ends the argument in runbooks) and ':' (our separator).
  return c > ' ' && c < 0x7f && c != ':';
}

}  // namespace

Result<PedDevice> parse_ped_device(std::string_view text) {
  if (text.starts_with(kSimulatorPrefix)) {
    const std::string_view socket = text.substr(kSimulatorPrefix.size());
    if (socket.empty() || socket.size() > kMaxUnixSocketPathLength) {
      return bad_device("sim:SOCKET needs a socket path of 1 to 107 bytes");
    }
    for (const char c : socket) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) {
        return bad_device("sim:SOCKET must not contain control characters");
      }
    }
    PedDevice device;
    device.transport = PedDevice::Transport::simulator;
    device.socket_path = std::string(socket);
    return device;
  }
  if (!text.starts_with(kUsbPrefix)) {
    return bad_device("the PED is usb[:VID:PID[:SERIAL]] or sim:SOCKET");
  }
  std::string_view rest = text.substr(kUsbPrefix.size());
  if (rest.empty()) {
    return PedDevice{};
  }
  if (rest.front() != ':') {
    return bad_device("the PED is usb[:VID:PID[:SERIAL]] or sim:SOCKET");
  }
  rest.remove_prefix(1);
  const std::size_t vid_end = rest.find(':');
  if (vid_end == std::string_view::npos) {
    return bad_device("usb: needs both VID and PID (usb:VID:PID)");
  }
  const std::optional<std::uint16_t> vendor = parse_usb_id(rest.substr(0, vid_end));
  rest.remove_prefix(vid_end + 1);
  const std::size_t pid_end = rest.find(':');
  const std::optional<std::uint16_t> product = parse_usb_id(rest.substr(0, pid_end));
  if (!vendor || !product) {
    return bad_device("VID and PID are 4 hex digits each");
  }
  PedDevice device;
  device.vendor_id = vendor;
  device.product_id = product;
  if (pid_end == std::string_view::npos) {
    return device;
  }
  const std::string_view serial = rest.substr(pid_end + 1);
  if (serial.empty() || serial.size() > kMaxUsbSerialLength) {
    return bad_device("the USB serial number has 1 to 126 characters");
  }
  for (const char c : serial) {
    if (!is_serial_character(c)) {
      return bad_device("the USB serial number is printable ASCII without spaces or ':'");
    }
  }
  device.serial_number = std::string(serial);
  return device;
}

}  // namespace rped::config
