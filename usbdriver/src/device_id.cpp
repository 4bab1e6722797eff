#include "rped/usb/device_id.h"

#include <charconv>
#include <cstdio>

namespace rped::usb {

namespace {

Result<std::uint16_t> parse_hex_id(std::string_view text, std::string_view field) {
  std::uint16_t value = 0;
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, 16);
  if (text.empty() || text.size() > 4 || ec != std::errc() || ptr != end) {
    return make_error(Errc::invalid_argument, std::string(field) + " \"" + std::string(text) +
                                                  "\" is not 1 to 4 hex digits");
  }
  return value;
}

}  // namespace

Result<PedUsbId> PedUsbId::parse(std::string_view text) {
  const std::size_t first = text.find(':');
  if (first == std::string_view::npos) {
    return make_error(Errc::invalid_argument, "PED USB id \"" + std::string(text) +
                                                  "\" is not VVVV:PPPP or VVVV:PPPP:serial");
  }
  const std::size_t second = text.find(':', first + 1);
  PedUsbId id;
  RPED_TRY_ASSIGN(id.vendor_id, parse_hex_id(text.substr(0, first), "vendor id"));
  RPED_TRY_ASSIGN(
      id.product_id,
      parse_hex_id(text.substr(first + 1, second == std::string_view::npos ? std::string_view::npos
                                                                           : second - first - 1),
                   "product id"));
  if (second != std::string_view::npos) {
    const std::string_view serial = text.substr(second + 1);
    if (serial.empty() || serial.size() > kMaxSerialChars) {
      return make_error(
          Errc::invalid_argument,
          "PED serial must be 1 to " + std::to_string(kMaxSerialChars) + " characters");
    }
    for (const char c : serial) {
      if (c < 0x21 || c > 0x7e) {
        return make_error(Errc::invalid_argument,
                          "PED serial must be printable ASCII without spaces");
      }
    }
    id.serial = std::string(serial);
  }
  return id;
}

std::string PedUsbId::to_string() const {
  char ids[16];
  std::snprintf(ids, sizeof ids, "%04x:%04x", vendor_id, product_id);
  std::string out(ids);
  if (!serial.empty()) {
    out += ':';
    out += serial;
  }
  return out;
}

}  // namespace rped::usb
