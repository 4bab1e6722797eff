// PED operations over the channel: CSP fields travel wrapped under the
// sender's CWK, everything else unchanged, and the PED sees the device form.
#include <gtest/gtest.h>

#include "rped/crypto/symmetric.h"
#include "rped/ped/remote_ops.h"
#include "support/result_assertions.h"

namespace rped::ped {
namespace {

using test::fails_with;
using test::must;

const Bytes kCwk(32, 0x42);
const CspWrap kWrap = [](ByteView csp) { return crypto::aes_kwp_wrap(kCwk, csp); };
const CspUnwrap kUnwrap = [](ByteView wrapped) { return crypto::aes_kwp_unwrap(kCwk, wrapped); };

bool contains(ByteView haystack, ByteView needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

TEST(RemoteOps, CreateRpkKeysetCarriesRpvAndRpkKeyWrapped) {
  CreateRpkKeysetRequest req;
  req.hsm_serial = 1234567;
  req.rpk_serial = 7001;
  const Bytes rpv(32, 0xA1);
  const Bytes rpk_private(66, 0xB2);
  req.rpv = SecretBytes::copy_of(rpv);
  req.rpk_private = SecretBytes::copy_of(rpk_private);
  req.rpk_certificate = {0x30, 0x03, 0x01, 0x02, 0x03};
  const DeviceFrame device{FrameKind::command, Op::create_rpk_keyset, 5, req.serialize()};

  const Bytes channel_form = must(to_channel_form(device, kWrap));
  EXPECT_FALSE(contains(channel_form, rpv)) << "the RPV must not appear in clear";
  EXPECT_FALSE(contains(channel_form, rpk_private)) << "the RPK private key must not appear in clear";
  // KWP adds an 8-byte ICV block and pads to 8 bytes: 32 -> 40, 66 -> 80.
  EXPECT_EQ(channel_form.size(), device.serialize().size() + (40 - 32) + (80 - 66));

  const DeviceFrame back = must(from_channel_form(channel_form, kUnwrap));
  EXPECT_EQ(back.request_id, 5u);
  const CreateRpkKeysetRequest parsed = must(CreateRpkKeysetRequest::parse(back.body));
  EXPECT_TRUE(parsed.rpv == req.rpv);
  EXPECT_TRUE(parsed.rpk_private == req.rpk_private);
  EXPECT_EQ(parsed.rpk_certificate, req.rpk_certificate);
}

TEST(RemoteOps, ReadSecretResponseIsWrappedAndErrorsPassThrough) {
  const Bytes secret(48, 0xC3);
  const ReadSecretResponse resp{3, 5, Bytes(kKeysetIdBytes, 0x01), SecretBytes::copy_of(secret)};
  const DeviceFrame device{FrameKind::response, Op::read_secret, 9, ok_response(resp.serialize())};
  const Bytes channel_form = must(to_channel_form(device, kWrap));
  EXPECT_FALSE(contains(channel_form, secret));
  const DeviceFrame back = must(from_channel_form(channel_form, kUnwrap));
  const auto [header, payload] = must(parse_response(back.body));
  EXPECT_EQ(header.status, Status::ok);
  EXPECT_TRUE(must(ReadSecretResponse::parse(payload)).secret == resp.secret);

  const DeviceFrame error{FrameKind::response, Op::read_secret, 9, error_response(Status::pin_incorrect, "PIN")};
  EXPECT_EQ(must(to_channel_form(error, kWrap)), error.serialize());
}

TEST(RemoteOps, BodiesWithoutCspsAreUnchanged) {
  const DeviceFrame login{FrameKind::command, Op::read_secret, 2,
                          ReadSecretRequest{KeyType::blue, "SLOT / SO LOGIN...", 1000}.serialize()};
  EXPECT_EQ(must(to_channel_form(login, kWrap)), login.serialize());
}

TEST(RemoteOps, TamperedOrForeignWrapsAreRefused) {
  CreateKeysetRequest req;
  req.key_type = KeyType::blue;
  req.secret = SecretBytes::copy_of(Bytes(32, 0x77));
  Bytes channel_form = must(to_channel_form(DeviceFrame{FrameKind::command, Op::create_keyset, 3, req.serialize()}, kWrap));
  channel_form[channel_form.size() - 10] ^= 0x01;  // inside the wrapped secret
  EXPECT_TRUE(fails_with(from_channel_form(channel_form, kUnwrap), Errc::unwrap_failed));
  // A device-form frame (secret in clear) is not a valid channel form.
  EXPECT_FALSE(from_channel_form(DeviceFrame{FrameKind::command, Op::create_keyset, 3, req.serialize()}.serialize(),
                                 kUnwrap)
                   .ok());
  EXPECT_TRUE(fails_with(from_channel_form(Bytes{0, 0, 0, 1}, kUnwrap), Errc::invalid_encoding));
}

TEST(RemoteOps, OnlyHsmFacingCommandsCrossTheChannel) {
  EXPECT_TRUE(allowed_over_channel(Op::read_secret));
  EXPECT_TRUE(allowed_over_channel(Op::create_rpk_keyset));
  EXPECT_FALSE(allowed_over_channel(Op::derive_session_keys));
  EXPECT_FALSE(allowed_over_channel(Op::read_rpk_info));
  EXPECT_FALSE(allowed_over_channel(Op::set_remote_session));
  EXPECT_FALSE(allowed_over_channel(Op::display));
}

}  // namespace
}  // namespace rped::ped
