// The handshake messages and Alert. The first byte selects the parser
// (% 4: HsmHello with its identity block, PedKeyShare, HsmConfirm, Alert), the rest is the body.
// Every body that parses must serialize back to exactly the same bytes (the
// encodings are canonical: fixed widths, exact lengths, no trailing bytes),
// and parsing that again must give the same fields.
#include <cstddef>
#include <cstdint>
#include <utility>

#include "fuzz/fixture.h"
#include "rped/channel/messages.h"

namespace {

using rped::Bytes;
using rped::ByteView;
using rped::fuzz::require;
namespace channel = rped::channel;

bool same(const channel::HsmHello& a, const channel::HsmHello& b) {
  return a.scheme == b.scheme && a.hsm_serial == b.hsm_serial &&
         a.ephemeral_data == b.ephemeral_data && a.certificate_chain == b.certificate_chain &&
         a.identity.label == b.identity.label && a.identity.model == b.identity.model &&
         a.identity.firmware == b.identity.firmware && a.identity.pkc == b.identity.pkc;
}
bool same(const channel::PedKeyShare& a, const channel::PedKeyShare& b) {
  return a.ped_ephemeral == b.ped_ephemeral && a.rpk_serial == b.rpk_serial &&
         a.rpk_certificate == b.rpk_certificate && a.tag_u == b.tag_u;
}
bool same(const channel::HsmConfirm& a, const channel::HsmConfirm& b) {
  return a.tag_v == b.tag_v;
}
bool same(const channel::Alert& a, const channel::Alert& b) {
  return a.code == b.code;
}

// serialize() returns Result<Bytes> for the handshake messages and Bytes for Alert.
Bytes serialized(const channel::Alert& m) {
  return m.serialize();
}
template <typename Message>
Bytes serialized(const Message& m) {
  auto out = m.serialize();
  require(out.ok(), "a parsed message serializes");
  return std::move(out).value();
}

template <typename Message>
void round_trip(ByteView body) {
  const auto parsed = Message::parse(body);
  if (!parsed.ok()) {
    require(parsed.error().code == rped::Errc::invalid_encoding,
            "a refused message is invalid_encoding");
    return;
  }
  const Bytes again = serialized(parsed.value());
  require(again == Bytes(body.begin(), body.end()), "serialize(parse(body)) == body");
  const auto reparsed = Message::parse(again);
  require(reparsed.ok() && same(reparsed.value(), parsed.value()), "parse(serialize(m)) == m");
  require(again.size() <= channel::kMaxFrameBody, "a parsed message fits in one frame");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input = rped::fuzz::input_view(data, size);
  if (input.empty()) {
    return 0;
  }
  const ByteView body = input.subspan(1);
  switch (input[0] % 4) {
    case 0:
      round_trip<channel::HsmHello>(body);
      break;
    case 1:
      round_trip<channel::PedKeyShare>(body);
      break;
    case 2:
      round_trip<channel::HsmConfirm>(body);
      break;
    case 3:
      round_trip<channel::Alert>(body);
      break;
    default:
      rped::fuzz::violated("unreachable selector");
  }
  return 0;
}
