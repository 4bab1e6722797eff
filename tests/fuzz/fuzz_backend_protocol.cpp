// The HSM backend protocol codec (rped/hsm/backend_protocol.h): what pedclient
// receives from the HSM, and the HSM (hsmsim) from pedclient, is untrusted
// like network bytes. The first byte selects the parser, the rest is the frame
// or body. Every refusal is invalid_encoding (or an invalid peer key inside a
// key request); a parsed frame has the size its prefix declares and
// re-encodes to the same bytes; bodies re-encode to the same bytes.
#include <cstddef>
#include <cstdint>

#include "fuzz/fixture.h"
#include "rped/hsm/backend_protocol.h"

namespace {

using rped::Bytes;
using rped::ByteView;
using rped::fuzz::require;
namespace hsm = rped::hsm;

enum class Parser : std::uint8_t {
  frame,
  response,
  identity,
  derive_request,
  derive_response,
  connection_state,
  connect_request,
  connect_response,
  ped_request,
  ped_response,
  audit_records,
  audit_records_response,
  audit_resume_request,
  audit_resume_response,
  count,
};

void check_refusal(const rped::Error& error) {
  require(
      error.code == rped::Errc::invalid_encoding || error.code == rped::Errc::invalid_public_key,
      "a refused backend message is invalid_encoding (or an invalid peer key)");
}

Bytes bytes_of(ByteView v) {
  return Bytes(v.begin(), v.end());
}

template <typename Body>
void round_trip(ByteView input) {
  const auto parsed = Body::parse(input);
  if (!parsed.ok()) {
    check_refusal(parsed.error());
    return;
  }
  const auto again = parsed.value().serialize();
  if constexpr (std::is_same_v<std::decay_t<decltype(again)>, rped::SecretBytes>) {
    require(bytes_of(again.reveal()) == bytes_of(input), "serialize(parse(body)) == body");
  } else {
    require(again == bytes_of(input), "serialize(parse(body)) == body");
  }
}

void frame(ByteView input) {
  const auto size = hsm::backend_frame_size(input);
  const auto parsed = hsm::BackendFrame::parse(input);
  if (!parsed.ok()) {
    check_refusal(parsed.error());
    return;
  }
  require(size.ok() && size.value() == input.size(),
          "a parsed frame has the size its prefix declares");
  require(bytes_of(parsed.value().serialize().reveal()) == bytes_of(input),
          "serialize(parse(frame)) == frame");
  // Exactly one party may send it.
  const bool from_pedclient = hsm::check_sender(parsed.value(), hsm::Party::pedclient).ok();
  const bool from_hsm = hsm::check_sender(parsed.value(), hsm::Party::hsm).ok();
  require(from_pedclient != from_hsm, "every frame has exactly one possible sender");
}

void response(ByteView input) {
  const auto parsed = hsm::parse_response(input);
  if (!parsed.ok()) {
    check_refusal(parsed.error());
    return;
  }
  const auto& [failure, payload] = parsed.value();
  const Bytes again =
      failure ? hsm::error_response(*failure) : bytes_of(hsm::ok_response(payload).reveal());
  require(again == bytes_of(input), "a response re-encodes to the same bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input = rped::fuzz::input_view(data, size);
  if (input.empty()) {
    return 0;
  }
  const ByteView rest = input.subspan(1);
  switch (static_cast<Parser>(input[0] % static_cast<std::uint8_t>(Parser::count))) {
    case Parser::frame:
      frame(rest);
      break;
    case Parser::response:
      response(rest);
      break;
    case Parser::identity:
      round_trip<hsm::IdentityResponse>(rest);
      break;
    case Parser::derive_request:
      round_trip<hsm::DeriveSessionKeysRequest>(rest);
      break;
    case Parser::derive_response:
      round_trip<hsm::DeriveSessionKeysResponse>(rest);
      break;
    case Parser::connection_state:
      round_trip<hsm::PedConnectionState>(rest);
      break;
    case Parser::connect_request:
      round_trip<hsm::ConnectPedRequest>(rest);
      break;
    case Parser::connect_response:
      round_trip<hsm::ConnectPedResponse>(rest);
      break;
    case Parser::ped_request:
      round_trip<hsm::PedRequest>(rest);
      break;
    case Parser::ped_response:
      round_trip<hsm::PedResponse>(rest);
      break;
    case Parser::audit_records:
      round_trip<hsm::AuditRecords>(rest);
      break;
    case Parser::audit_records_response:
      round_trip<hsm::AuditRecordsResponse>(rest);
      break;
    case Parser::audit_resume_request:
      round_trip<hsm::AuditResumeRequest>(rest);
      break;
    case Parser::audit_resume_response:
      round_trip<hsm::AuditResumeResponse>(rest);
      break;
    case Parser::count:
    default:
      break;
  }
  return 0;
}
