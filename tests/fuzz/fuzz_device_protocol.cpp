// The PED device protocol codec (rped/ped/device_protocol.h): the bytes a PED
// sends over USB, or pedserver sends to the PED, are untrusted like network
// bytes. The first byte selects the parser (% kDeviceParsers, fixture.h), the
// rest is the frame or body. Every input that parses must serialize back to
// exactly the same bytes (all fields are fixed-width or length-prefixed with
// the same limits on both sides), and a frame's declared size must agree with
// device_frame_size().
#include <cstddef>
#include <cstdint>
#include <utility>

#include "fuzz/fixture.h"
#include "rped/ped/device_protocol.h"

namespace {

using rped::Bytes;
using rped::ByteView;
using rped::fuzz::DeviceParser;
using rped::fuzz::require;
namespace ped = rped::ped;

void check_refusal(const rped::Error& error) {
  require(
      error.code == rped::Errc::invalid_encoding || error.code == rped::Errc::invalid_public_key,
      "a refused device message is invalid_encoding (or an invalid peer key)");
}

template <typename Body>
void round_trip(ByteView input) {
  const auto parsed = Body::parse(input);
  if (!parsed.ok()) {
    check_refusal(parsed.error());
    return;
  }
  require(parsed.value().serialize() == Bytes(input.begin(), input.end()),
          "serialize(parse(body)) == body");
}

void frame(ByteView input) {
  const auto size = ped::device_frame_size(input);
  const auto parsed = ped::DeviceFrame::parse(input);
  if (!parsed.ok()) {
    check_refusal(parsed.error());
    return;
  }
  require(size.ok() && size.value() == input.size(),
          "a parsed frame has the size its prefix declares");
  require(parsed.value().serialize() == Bytes(input.begin(), input.end()),
          "serialize(parse(frame)) == frame");
}

void response(ByteView input) {
  const auto parsed = ped::parse_response(input);
  if (!parsed.ok()) {
    check_refusal(parsed.error());
    return;
  }
  const auto& [header, payload] = parsed.value();
  const Bytes again = header.status == ped::Status::ok
                          ? ped::ok_response(payload)
                          : ped::error_response(header.status, header.message);
  require(again == Bytes(input.begin(), input.end()), "a response re-encodes to the same bytes");
}

void key_request(ByteView input) {
  const auto parsed = ped::parse_key_request(input);
  if (!parsed.ok()) {
    check_refusal(parsed.error());
    return;
  }
  require(parsed.value().check().ok(), "a parsed key request has the shape of its scheme and side");
  require(ped::serialize_key_request(parsed.value()) == Bytes(input.begin(), input.end()),
          "serialize_key_request(parse_key_request(b)) == b");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input = rped::fuzz::input_view(data, size);
  if (input.empty()) {
    return 0;
  }
  const ByteView rest = input.subspan(1);
  switch (static_cast<DeviceParser>(input[0] % rped::fuzz::kDeviceParsers)) {
    case DeviceParser::frame:
      frame(rest);
      break;
    case DeviceParser::response:
      response(rest);
      break;
    case DeviceParser::key_request:
      key_request(rest);
      break;
    case DeviceParser::identify_response:
      round_trip<ped::IdentifyResponse>(rest);
      break;
    case DeviceParser::status_response:
      round_trip<ped::StatusResponse>(rest);
      break;
    case DeviceParser::set_remote_session_request:
      round_trip<ped::SetRemoteSessionRequest>(rest);
      break;
    case DeviceParser::read_secret_request:
      round_trip<ped::ReadSecretRequest>(rest);
      break;
    case DeviceParser::read_secret_response:
      round_trip<ped::ReadSecretResponse>(rest);
      break;
    case DeviceParser::create_keyset_request:
      round_trip<ped::CreateKeysetRequest>(rest);
      break;
    case DeviceParser::create_keyset_response:
      round_trip<ped::CreateKeysetResponse>(rest);
      break;
    case DeviceParser::create_rpk_keyset_request:
      round_trip<ped::CreateRpkKeysetRequest>(rest);
      break;
    case DeviceParser::create_rpk_keyset_response:
      round_trip<ped::CreateRpkKeysetResponse>(rest);
      break;
    case DeviceParser::read_rpk_info_request:
      round_trip<ped::ReadRpkInfoRequest>(rest);
      break;
    case DeviceParser::read_rpk_info_response:
      round_trip<ped::ReadRpkInfoResponse>(rest);
      break;
    case DeviceParser::derive_session_keys_request:
      round_trip<ped::DeriveSessionKeysRequest>(rest);
      break;
    case DeviceParser::derive_session_keys_response:
      round_trip<ped::DeriveSessionKeysResponse>(rest);
      break;
    case DeviceParser::self_test_response:
      round_trip<ped::SelfTestResponse>(rest);
      break;
    case DeviceParser::mode_changed_event:
      round_trip<ped::ModeChangedEvent>(rest);
      break;
    case DeviceParser::display_event:
      round_trip<ped::DisplayEvent>(rest);
      break;
    case DeviceParser::confirm_identity_request:
      round_trip<ped::ConfirmIdentityRequest>(rest);
      break;
    case DeviceParser::confirm_identity_response:
      round_trip<ped::ConfirmIdentityResponse>(rest);
      break;
    default:
      rped::fuzz::violated("unreachable device parser selector");
  }
  return 0;
}
