// How a PED link fails, as a value.
//
// A link failure is an rped::Error whose code names its kind (Errc::unplugged,
// timeout, closed, io_failed, not_found, busy; a malformed frame from the PED
// is Errc::invalid_encoding) and whose message starts with a readable prefix
// ("PED unplugged: ..."). link_failure_of() maps the code back. Messages never
// contain frame bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "rped/result.h"

namespace rped::usb {

enum class LinkFailure : std::uint8_t {
  unplugged,  // the PED went away: USB disconnect, or the emulator closed its socket
  timeout,    // nothing arrived / the PED did not take the bytes before the deadline
  closed,     // this side closed the transport or the link
  io,         // any other transport failure (libusb or socket error, half-sent frame)
  bad_frame,  // the PED sent bytes that are not a device-protocol frame
  not_found,  // no attached PED matches the requested VID:PID[:serial]
  busy,       // the PED's interface is claimed by another program, or too many calls in flight
};

// The stable message prefix of each kind, e.g. "PED unplugged".
std::string_view link_failure_prefix(LinkFailure failure) noexcept;

// An Error of this kind: "<prefix>: <detail>".
Error link_error(LinkFailure failure, std::string_view detail);

// The kind of a link error, or nullopt for any other error (a parse error
// from the codec, a bad argument).
std::optional<LinkFailure> link_failure_of(const Error& error) noexcept;

inline bool is_link_failure(const Error& error, LinkFailure failure) noexcept {
  return link_failure_of(error) == failure;
}
inline bool is_unplugged(const Error& error) noexcept {
  return is_link_failure(error, LinkFailure::unplugged);
}
inline bool is_timeout(const Error& error) noexcept {
  return is_link_failure(error, LinkFailure::timeout);
}

}  // namespace rped::usb
