#include "rped/config/option_value.h"

#include "concat.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <system_error>

#include "rped/config/ped_device.h"

namespace rped::config {
namespace {

constexpr std::int64_t kMinPort = 1;
constexpr std::int64_t kMaxPort = 65535;
constexpr std::size_t kMaxHostNameLength = 253;      // RFC 1035 §2.3.4, without the trailing dot
constexpr std::size_t kMaxLabelLength = 63;          // RFC 1035 §2.3.4
constexpr std::size_t kMaxInterfaceNameLength = 15;  // IFNAMSIZ - 1

bool is_control(char c) noexcept {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

bool has_control_characters(std::string_view text) noexcept {
  for (const char c : text) {
    if (is_control(c)) {
      return true;
    }
  }
  return false;
}

bool is_ascii_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_ascii_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

Error not_allowed(const OptionSpec& spec) {
  return make_error(Errc::invalid_argument, describe_allowed(spec));
}

// Strict decimal: optional '-', digits only (no '+', spaces, hex or trailing junk).
std::optional<std::int64_t> parse_decimal(std::string_view text) noexcept {
  if (text.empty()) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  const char* const end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value, 10);
  if (error != std::errc{} || stop != end) {
    return std::nullopt;
  }
  return value;
}

bool is_ip_literal(std::string_view text) {
  const std::string terminated(text);
  std::array<unsigned char, sizeof(in6_addr)> scratch{};
  if (inet_pton(AF_INET, terminated.c_str(), scratch.data()) == 1) {
    return true;
  }
  // IPv6, optionally scoped to an interface (RFC 4007 §11: fe80::1%eth0).
  const std::size_t percent = terminated.find('%');
  const std::string address = terminated.substr(0, percent);
  if (inet_pton(AF_INET6, address.c_str(), scratch.data()) != 1) {
    return false;
  }
  if (percent == std::string::npos) {
    return true;
  }
  const std::string_view zone = std::string_view(terminated).substr(percent + 1);
  if (zone.empty() || zone.size() > kMaxInterfaceNameLength) {
    return false;
  }
  for (const char c : zone) {
    if (!is_ascii_alnum(c) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

// RFC 1123 §2.1 host name: dot-separated labels of letters, digits and hyphens,
// not starting or ending with a hyphen. A name whose last label is all digits is
// an attempted IPv4 address (RFC 1123 §2.1 / RFC 3696 §2), so it is not a name.
bool is_host_name(std::string_view text) noexcept {
  if (text.empty() || text.size() > kMaxHostNameLength) {
    return false;
  }
  std::size_t start = 0;
  bool last_label_numeric = false;
  while (start <= text.size()) {
    const std::size_t dot = text.find('.', start);
    const std::size_t stop = dot == std::string_view::npos ? text.size() : dot;
    const std::string_view label = text.substr(start, stop - start);
    if (label.empty() || label.size() > kMaxLabelLength || label.front() == '-' ||
        label.back() == '-') {
      return false;
    }
    last_label_numeric = true;
    for (const char c : label) {
      if (!is_ascii_alnum(c) && c != '-') {
        return false;
      }
      if (!is_ascii_digit(c)) {
        last_label_numeric = false;
      }
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return !last_label_numeric;
}

std::string join(std::span<const std::string_view> words, std::string_view separator) {
  std::string out;
  for (const std::string_view word : words) {
    if (!out.empty()) {
      out += separator;
    }
    out += word;
  }
  return out;
}

}  // namespace

std::string describe_allowed(const OptionSpec& spec) {
  switch (spec.kind) {
    case OptionKind::integer: {
      return concat({"must be an integer from ", std::to_string(spec.min), " to ",
                     std::to_string(spec.max), spec.unit.empty() ? "" : " (", spec.unit,
                     spec.unit.empty() ? "" : ")"});
    }
    case OptionKind::port:
      return concat(
          {"must be an integer from ", std::to_string(kMinPort), " to ", std::to_string(kMaxPort)});
    case OptionKind::boolean:
      return "must be 0 or 1";
    case OptionKind::enumeration:
      return concat({"allowed values are ", join(spec.allowed, ", ")});
    case OptionKind::string:
      return concat({"must be 1 to ", std::to_string(kMaxStringLength),
                     " characters without control characters"});
    case OptionKind::path:
      return concat({"must be a path of 1 to ", std::to_string(kMaxPathLength),
                     " characters without control characters"});
    case OptionKind::host:
      return "must be an IPv4 address, an IPv6 address or a host name";
    case OptionKind::ped_device:
      return "must be usb, usb:VID:PID or usb:VID:PID:SERIAL (VID and PID: 4 hex digits), or "
             "sim:SOCKET";
    case OptionKind::flag:
      return "takes no value";
    default:
      return "has an unknown kind";
  }
}

bool integer_is_allowed(const OptionSpec& spec, std::int64_t value) noexcept {
  switch (spec.kind) {
    case OptionKind::integer:
      return value >= spec.min && value <= spec.max;
    case OptionKind::port:
      return value >= kMinPort && value <= kMaxPort;
    case OptionKind::boolean:
      return value == 0 || value == 1;
    default:
      return false;
  }
}

Result<OptionValue> parse_option_integer(const OptionSpec& spec, std::int64_t value) {
  if (!integer_is_allowed(spec, value)) {
    return not_allowed(spec);
  }
  if (spec.kind == OptionKind::boolean) {
    return OptionValue(value == 1);
  }
  return OptionValue(value);
}

Result<OptionValue> parse_option_text(const OptionSpec& spec, std::string_view text) {
  switch (spec.kind) {
    case OptionKind::integer:
    case OptionKind::port:
    case OptionKind::boolean: {
      const std::optional<std::int64_t> number = parse_decimal(text);
      if (!number) {
        return not_allowed(spec);
      }
      return parse_option_integer(spec, *number);
    }
    case OptionKind::enumeration:
      if (!contains_word(spec.allowed, text)) {
        return not_allowed(spec);
      }
      return OptionValue(std::string(text));
    case OptionKind::string:
      if (text.empty() || text.size() > kMaxStringLength || has_control_characters(text)) {
        return not_allowed(spec);
      }
      return OptionValue(std::string(text));
    case OptionKind::path:
      if (text.empty() || text.size() > kMaxPathLength || has_control_characters(text)) {
        return not_allowed(spec);
      }
      return OptionValue(std::string(text));
    case OptionKind::host:
      if (!is_ip_literal(text) && !is_host_name(text)) {
        return not_allowed(spec);
      }
      return OptionValue(std::string(text));
    case OptionKind::ped_device:
      if (!parse_ped_device(text).ok()) {
        return not_allowed(spec);
      }
      return OptionValue(std::string(text));
    case OptionKind::flag:
    default:
      return not_allowed(spec);
  }
}

std::string option_value_text(const OptionValue& value) {
  if (const auto* const number = std::get_if<std::int64_t>(&value)) {
    return std::to_string(*number);
  }
  if (const auto* const on = std::get_if<bool>(&value)) {
    return *on ? "1" : "0";
  }
  return std::get<std::string>(value);
}

std::string escape_for_message(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_control(c) || byte >= 0x80) {
      std::array<char, 5> hex{};
      std::snprintf(hex.data(), hex.size(), "\\x%02x", static_cast<unsigned>(byte));
      escaped += hex.data();
      continue;
    }
    escaped += c;
  }
  return escaped;
}

std::string quote_for_message(std::string_view text) {
  bool needs_quotes = text.empty();
  std::string escaped;
  for (const char c : escape_for_message(text)) {
    if (c == ' ' || c == '\'' || c == '"') {
      needs_quotes = true;
    }
    if (c == '\'') {
      escaped += "\\'";
      continue;
    }
    escaped += c;
  }
  return needs_quotes ? concat({"'", escaped, "'"}) : escaped;
}

}  // namespace rped::config
