#include "rped/usb/link_error.h"

#include <array>
#include <string>

namespace rped::usb {

namespace {

Errc errc_of(LinkFailure failure) noexcept {
  switch (failure) {
    case LinkFailure::unplugged: return Errc::unplugged;
    case LinkFailure::timeout: return Errc::timeout;
    case LinkFailure::closed: return Errc::closed;
    case LinkFailure::io: return Errc::io_failed;
    case LinkFailure::bad_frame: return Errc::invalid_encoding;
    case LinkFailure::not_found: return Errc::not_found;
    case LinkFailure::busy: return Errc::busy;
    default: return Errc::internal;
  }
}

}  // namespace

std::string_view link_failure_prefix(LinkFailure failure) noexcept {
  switch (failure) {
    case LinkFailure::unplugged:
      return "PED unplugged";
    case LinkFailure::timeout:
      return "PED timeout";
    case LinkFailure::closed:
      return "PED link closed";
    case LinkFailure::io:
      return "PED I/O error";
    case LinkFailure::bad_frame:
      return "PED sent a malformed frame";
    case LinkFailure::not_found:
      return "PED not found";
    case LinkFailure::busy:
      return "PED busy";
    default:
      return "PED link failure";
  }
}

Error link_error(LinkFailure failure, std::string_view detail) {
  const Errc code = errc_of(failure);
  std::string message(link_failure_prefix(failure));
  message += ": ";
  message += detail;
  return make_error(code, std::move(message));
}

std::optional<LinkFailure> link_failure_of(const Error& error) noexcept {
  switch (error.code) {
    case Errc::unplugged: return LinkFailure::unplugged;
    case Errc::timeout: return LinkFailure::timeout;
    case Errc::closed: return LinkFailure::closed;
    case Errc::io_failed: return LinkFailure::io;
    case Errc::not_found: return LinkFailure::not_found;
    case Errc::busy: return LinkFailure::busy;
    case Errc::invalid_encoding: {
      // A codec parse error is invalid_encoding too; only the transport's own
      // bad-frame errors carry this prefix.
      const std::string_view prefix = link_failure_prefix(LinkFailure::bad_frame);
      const std::string_view message = error.message;
      if (message.size() > prefix.size() && message.substr(0, prefix.size()) == prefix) {
        return LinkFailure::bad_frame;
      }
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

}  // namespace rped::usb
