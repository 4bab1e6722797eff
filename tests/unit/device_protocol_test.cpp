// The PED device protocol codec: every body round-trips, and every parser
// refuses malformed input with invalid_encoding.
#include <gtest/gtest.h>

#include "rped/channel/key_schedule.h"
#include "rped/ped/device_protocol.h"
#include "support/result_assertions.h"

namespace rped::ped {
namespace {

using test::fails_with;
using test::is_ok;
using test::must;

template <typename T>
T round_trip(const T& value) {
  const Bytes wire = value.serialize();
  return must(T::parse(wire));
}

TEST(DeviceFrame, RoundTripsAndSizesItself) {
  const DeviceFrame f{FrameKind::command, Op::read_secret, 7, {1, 2, 3}};
  const Bytes wire = f.serialize();
  EXPECT_EQ(wire.size(), kDeviceFrameHeaderBytes + 3);
  EXPECT_EQ(must(device_frame_size(wire)), wire.size());
  const DeviceFrame back = must(DeviceFrame::parse(wire));
  EXPECT_EQ(back.kind, FrameKind::command);
  EXPECT_EQ(back.op, Op::read_secret);
  EXPECT_EQ(back.request_id, 7u);
  EXPECT_EQ(back.body, (Bytes{1, 2, 3}));
}

TEST(DeviceFrame, RefusesEveryMalformedHeader) {
  const Bytes good = DeviceFrame{FrameKind::command, Op::identify, 1, {}}.serialize();
  const auto mutated = [&](std::size_t offset, std::uint8_t value) {
    Bytes b = good;
    b[offset] = value;
    return b;
  };
  EXPECT_TRUE(fails_with(DeviceFrame::parse(Bytes(good.begin(), good.end() - 1)), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(DeviceFrame::parse(mutated(3, 0x07)), Errc::invalid_encoding));    // length below header
  EXPECT_TRUE(fails_with(DeviceFrame::parse(mutated(4, 0x02)), Errc::invalid_encoding));    // version 2
  EXPECT_TRUE(fails_with(DeviceFrame::parse(mutated(5, 0x04)), Errc::invalid_encoding));    // kind 4
  EXPECT_TRUE(fails_with(DeviceFrame::parse(mutated(7, 0x42)), Errc::invalid_encoding));    // unknown op
  EXPECT_TRUE(fails_with(DeviceFrame::parse(mutated(11, 0x00)), Errc::invalid_encoding));   // command with id 0
  // An event op in a command frame, and an event with a request id.
  EXPECT_TRUE(fails_with(DeviceFrame::parse(DeviceFrame{FrameKind::command, Op::display, 1, {}}.serialize()),
                         Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(DeviceFrame::parse(DeviceFrame{FrameKind::event, Op::display, 9, {}}.serialize()),
                         Errc::invalid_encoding));
  // A length beyond the maximum is refused from the first four bytes alone.
  EXPECT_TRUE(fails_with(device_frame_size(Bytes{0x00, 0x01, 0x00, 0x00}), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(device_frame_size(Bytes{0x00, 0x00}), Errc::invalid_encoding));
}

TEST(DeviceBodies, RoundTrip) {
  const IdentifyResponse id = round_trip(IdentifyResponse{1, "2.9.1", "PED0001", "PED2", Mode::remote});
  EXPECT_EQ(id.serial, "PED0001");
  EXPECT_EQ(id.mode, Mode::remote);
  const StatusResponse st = round_trip(StatusResponse{Mode::admin, true, KeyType::orange, true});
  EXPECT_EQ(st.inserted_key, KeyType::orange);
  EXPECT_TRUE(st.remote_session);
  EXPECT_EQ(round_trip(ReadSecretRequest{KeyType::black, "SLOT / CO LOGIN...", 5000}).context, "SLOT / CO LOGIN...");

  ReadSecretResponse rs{3, 5, Bytes(kKeysetIdBytes, 0xAB), SecretBytes::copy_of(Bytes(32, 0x11))};
  const ReadSecretResponse rs2 = round_trip(rs);
  EXPECT_EQ(rs2.m, 3);
  EXPECT_EQ(rs2.n, 5);
  EXPECT_TRUE(rs2.secret == rs.secret);

  CreateRpkKeysetRequest rpk;
  rpk.hsm_serial = 1234567;
  rpk.rpk_serial = 7001;
  rpk.rpv = SecretBytes::copy_of(Bytes(32, 0x22));
  rpk.rpk_private = SecretBytes::copy_of(Bytes(66, 0x01));
  rpk.rpk_certificate = {0x30, 0x00};
  const CreateRpkKeysetRequest rpk2 = round_trip(rpk);
  EXPECT_EQ(rpk2.rpk_serial, 7001u);
  EXPECT_TRUE(rpk2.rpv == rpk.rpv);

  DisplayEvent d;
  d.lines[0] = "SLOT / SO LOGIN...";
  d.lines[7] = "Press ENTER.";
  EXPECT_EQ(round_trip(d).lines[7], "Press ENTER.");
}

TEST(DeviceBodies, RefuseOutOfRangeValuesAndTrailingBytes) {
  Bytes st = StatusResponse{}.serialize();
  st[0] = 3;  // mode 3
  EXPECT_TRUE(fails_with(StatusResponse::parse(st), Errc::invalid_encoding));
  Bytes rs = ReadSecretResponse{2, 1, Bytes(kKeysetIdBytes, 0), SecretBytes::copy_of(Bytes(4, 1))}.serialize();
  EXPECT_TRUE(fails_with(ReadSecretResponse::parse(rs), Errc::invalid_encoding));  // M > N
  Bytes req = ReadSecretRequest{KeyType::blue, "x", 1000}.serialize();
  req.push_back(0);
  EXPECT_TRUE(fails_with(ReadSecretRequest::parse(req), Errc::invalid_encoding));  // trailing byte
  EXPECT_TRUE(fails_with(ReadSecretRequest::parse(ReadSecretRequest{KeyType::blank, "", 1000}.serialize()),
                         Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(ReadSecretRequest::parse(ReadSecretRequest{KeyType::blue, "", 0}.serialize()),
                         Errc::invalid_encoding));  // zero timeout
  CreateKeysetRequest orange;
  orange.key_type = KeyType::orange;
  orange.secret = SecretBytes::copy_of(Bytes(8, 1));
  EXPECT_TRUE(fails_with(CreateKeysetRequest::parse(orange.serialize()), Errc::invalid_encoding));
  CreateRpkKeysetRequest short_rpv;
  short_rpv.rpk_serial = 1;
  short_rpv.rpv = SecretBytes::copy_of(Bytes(31, 0));
  short_rpv.rpk_private = SecretBytes::copy_of(Bytes(66, 1));
  short_rpv.rpk_certificate = {1};
  EXPECT_TRUE(fails_with(CreateRpkKeysetRequest::parse(short_rpv.serialize()), Errc::invalid_encoding));
}

TEST(DeviceResponses, CarryStatusAndMessage) {
  const Bytes err = error_response(Status::pin_incorrect, "PIN incorrect");
  const auto parsed = must(parse_response(err));
  EXPECT_EQ(parsed.first.status, Status::pin_incorrect);
  EXPECT_EQ(parsed.first.message, "PIN incorrect");
  const Bytes ok = ok_response(Bytes{9, 9});
  const auto parsed_ok = must(parse_response(ok));
  EXPECT_EQ(parsed_ok.first.status, Status::ok);
  EXPECT_EQ(Bytes(parsed_ok.second.begin(), parsed_ok.second.end()), (Bytes{9, 9}));
  EXPECT_TRUE(fails_with(parse_response(Bytes{0x00, 0x63}), Errc::invalid_encoding));  // unknown status 99
  EXPECT_TRUE(fails_with(parse_response(Bytes{0x00}), Errc::invalid_encoding));
}

channel::KeyDerivationRequest sample_request() {
  const crypto::EcKeyPair peer = must(crypto::EcKeyPair::generate());
  channel::KeyDerivationRequest r;
  r.side = channel::Side::ped;
  r.transcript.scheme = channel::Scheme::full_unified;
  r.transcript.hsm_serial = 1234567;
  r.transcript.rpk_serial = 7001;
  r.transcript.ped_ephemeral_xy = must(crypto::EcKeyPair::generate()).public_key().xy();
  r.transcript.hsm_ephemeral_data = must(crypto::EcKeyPair::generate()).public_key().xy();
  r.transcript.hello_digest = Bytes(channel::kHelloDigestBytes, 0x5A);
  r.z_part = SecretBytes::copy_of(Bytes(66, 0x33));
  r.device_peer_key = peer.public_key();
  return r;
}

TEST(KeyRequestWire, RoundTripsAndChecksShape) {
  const channel::KeyDerivationRequest r = sample_request();
  const Bytes wire = serialize_key_request(r);
  const channel::KeyDerivationRequest back = must(parse_key_request(wire));
  EXPECT_EQ(back.transcript.fixed_info_public(), r.transcript.fixed_info_public());
  EXPECT_TRUE(back.z_part == r.z_part);
  ASSERT_TRUE(back.device_peer_key.has_value());
  EXPECT_TRUE(*back.device_peer_key == *r.device_peer_key);
  const DeriveSessionKeysRequest wrapped = round_trip(DeriveSessionKeysRequest{sample_request(), 1000});
  EXPECT_EQ(wrapped.timeout_ms, 1000u);

  // A PED-side request must not carry a tag; an off-curve peer key is refused.
  channel::KeyDerivationRequest bad = sample_request();
  bad.peer_tag = Bytes(64, 1);
  EXPECT_TRUE(fails_with(parse_key_request(serialize_key_request(bad)), Errc::invalid_encoding));
  Bytes off_curve = serialize_key_request(sample_request());
  // device_peer_key follows side(1) scheme(1) serials(16) QeU(2+132) EphemV(2+132) hello_digest(2+64)
  // z(2+66) and its length (2) and 0x04.
  off_curve[1 + 1 + 16 + 134 + 134 + 66 + 68 + 2 + 1 + 10] ^= 0x01;
  EXPECT_TRUE(fails_with(parse_key_request(off_curve), Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(parse_key_request(Bytes{0x55, 0x03}), Errc::invalid_encoding));
  // The HsmHello digest is exactly 64 bytes (SHA-512).
  channel::KeyDerivationRequest short_digest = sample_request();
  short_digest.transcript.hello_digest.pop_back();
  EXPECT_TRUE(fails_with(parse_key_request(serialize_key_request(short_digest)), Errc::invalid_encoding));
}

}  // namespace
}  // namespace rped::ped
