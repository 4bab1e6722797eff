// RecordOpener::open with the session keys of the fixture's Full Unified
// handshake, one fresh opener per direction (so a recorded record with
// sequence 0 authenticates). The input is a record body; its frame header is
// the one a sender would have written for that length. Oracles:
//   - an accepted record is not accepted again (replay -> out of order);
//   - sealing the input as payload and opening it round-trips for every
//     content type.
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "fuzz/fixture.h"
#include "rped/channel/record.h"

namespace {

using rped::Bytes;
using rped::ByteView;
using rped::fuzz::require;
namespace channel = rped::channel;

const channel::SessionKeys& session_keys() {
  static const channel::SessionKeys keys = rped::test::must(channel::SessionKeys::from_dkm(
      rped::fuzz::fixture().handshake(channel::Scheme::full_unified).dkm));
  return keys;
}

Bytes header_for(std::size_t body_size) {
  Bytes header;
  channel::FrameHeader{channel::kProtocolVersion,
                       static_cast<std::uint8_t>(channel::MessageType::record),
                       static_cast<std::uint16_t>(body_size)}
      .serialize(header);
  return header;
}

void open_as_body(channel::Side sender, const channel::DirectionKeys& keys, ByteView body) {
  auto opener = channel::RecordOpener::create(sender, keys);
  require(opener.ok(), "record opener setup");
  const Bytes header = header_for(body.size());
  const auto opened = opener.value().open(header, body);
  if (!opened.ok()) {
    const rped::Errc code = opened.error().code;
    require(code == rped::Errc::invalid_encoding || code == rped::Errc::mac_mismatch ||
                code == rped::Errc::invalid_argument,
            "a refused record is invalid_encoding, mac_mismatch or out of order");
    require(opener.value().next_sequence() == 0 || code == rped::Errc::invalid_encoding,
            "only an authentic record advances the sequence");
    return;
  }
  require(opened.value().payload.size() <= channel::kMaxRecordPlaintext,
          "opened payload within the limit");
  require(opener.value().next_sequence() == 1, "an opened record advances the sequence by one");
  const auto replayed = opener.value().open(header, body);
  require(!replayed.ok() && replayed.error().code == rped::Errc::invalid_argument,
          "a replayed record is refused as out of order");
}

void seal_and_open(channel::Side sender, const channel::DirectionKeys& keys, ByteView payload) {
  auto sealer = channel::RecordSealer::create(sender, keys);
  auto opener = channel::RecordOpener::create(sender, keys);
  require(sealer.ok() && opener.ok(), "record layer setup");
  for (const channel::ContentType type : {channel::ContentType::data, channel::ContentType::close,
                                          channel::ContentType::ping, channel::ContentType::pong}) {
    const auto sealed = sealer.value().seal(type, payload);
    require(sealed.ok() == (payload.size() <= channel::kMaxRecordPlaintext),
            "seal accepts payloads up to the limit");
    if (!sealed.ok()) {
      return;
    }
    const ByteView frame = sealed.value();
    const auto opened = opener.value().open(frame.first(channel::kFrameHeaderBytes),
                                            frame.subspan(channel::kFrameHeaderBytes));
    require(opened.ok(), "a sealed record opens");
    require(opened.value().type == type &&
                opened.value().payload == Bytes(payload.begin(), payload.end()),
            "open(seal(type, payload)) gives back type and payload");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input = rped::fuzz::input_view(data, size);
  const channel::SessionKeys& keys = session_keys();
  const ByteView body =
      input.first(input.size() < channel::kMaxFrameBody ? input.size() : channel::kMaxFrameBody);
  open_as_body(channel::Side::ped, keys.ped_to_hsm, body);
  open_as_body(channel::Side::hsm, keys.hsm_to_ped, body);
  seal_and_open(channel::Side::ped, keys.ped_to_hsm, input);
  return 0;
}
