// docs/attestation.md §6: the HSM's identity on the PED before any key is
// read -- the HsmIdentity sealed record, the confirm_identity PED command, the
// pinned-HOC chain rule, and the check of the PKC offered in HsmIdentity.
#include <gtest/gtest.h>

#include <string>

#include "rped/attestation/pkc.h"
#include "rped/channel/endpoint.h"
#include "rped/ped/device_protocol.h"
#include "rped/ped/remote_ops.h"
#include "rped/wire.h"
#include "support/channel_harness.h"
#include "support/pkc_fixture.h"
#include "support/result_assertions.h"

namespace rped::test {
namespace {

using channel::AlertCode;
using channel::HsmIdentity;
using channel::Scheme;

Bytes identity_body(const HsmIdentity& identity) { return must(identity.serialize()); }

std::optional<HsmIdentity> identity_event(const std::vector<channel::Event>& events) {
  for (const channel::Event& e : events) {
    if (const auto* i = std::get_if<channel::IdentityEvent>(&e)) {
      return i->identity;
    }
  }
  return std::nullopt;
}

std::optional<channel::EstablishedEvent> established_event(const std::vector<channel::Event>& events) {
  for (const channel::Event& e : events) {
    if (const auto* i = std::get_if<channel::EstablishedEvent>(&e)) {
      return *i;
    }
  }
  return std::nullopt;
}

// --- HsmIdentity codec ------------------------------------------------------

TEST(HsmIdentityCodec, RoundTrips) {
  const HsmIdentity sent{"prod-ca", "Luna PCIe HSM 7", "7.8.4", Bytes{0x30, 0x03, 0x02, 0x01, 0x01}};
  const HsmIdentity got = must(HsmIdentity::parse(identity_body(sent)));
  EXPECT_EQ(got.label, "prod-ca");
  EXPECT_EQ(got.model, "Luna PCIe HSM 7");
  EXPECT_EQ(got.firmware, "7.8.4");
  EXPECT_EQ(got.pkc, sent.pkc);
}

TEST(HsmIdentityCodec, RefusesMalformedBodies) {
  const Bytes good = identity_body(HsmIdentity{"ca", "m", "f", {}});
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_TRUE(fails_with(HsmIdentity::parse(trailing), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(HsmIdentity::parse(ByteView(good).first(good.size() - 1)), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(HsmIdentity::parse(Bytes{}), Errc::invalid_encoding));
  // A label with a control character (it would reach the custodian's LCD).
  Bytes control = good;
  control[2] = 0x07;
  EXPECT_TRUE(fails_with(HsmIdentity::parse(control), Errc::invalid_encoding));
  // A label longer than kMaxIdentityTextBytes.
  Writer w;
  const std::string long_label(channel::kMaxIdentityTextBytes + 1, 'a');
  w.vector16(bytes_of(long_label));
  EXPECT_TRUE(fails_with(HsmIdentity::parse(w.data()), Errc::invalid_encoding));
  // A PKC above kMaxIdentityPkcBytes.
  Writer big;
  big.vector16({});
  big.vector16({});
  big.vector16({});
  big.vector16(Bytes(channel::kMaxIdentityPkcBytes + 1, 0x30));
  EXPECT_TRUE(fails_with(HsmIdentity::parse(big.data()), Errc::invalid_encoding));
  // serialize() refuses what parse() would refuse.
  EXPECT_TRUE(fails_with(HsmIdentity{long_label, "", "", {}}.serialize(), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(HsmIdentity{"a\nb", "", "", {}}.serialize(), Errc::invalid_argument));
}

// --- the sealed record in the endpoints ---------------------------------------

TEST(HsmIdentityChannel, TheFirstRecordReachesThePedSideWithTheRootName) {
  ChannelWorld world;
  ChannelLink link(world, Scheme::full_unified);
  link.run();
  ASSERT_EQ(link.ped.state(), channel::State::established);
  const auto established = established_event(link.ped_events);
  ASSERT_TRUE(established.has_value());
  EXPECT_EQ(established->verified_by, world.pki.root.common_name());
  EXPECT_EQ(established->hoc_sha256, world.pki.hoc.sha256_fingerprint());
  ASSERT_TRUE(established->hsm_certificate.has_value());
  EXPECT_EQ(established->hsm_certificate->der(), world.pki.ecdh_cert.der());

  link.pump(must(link.hsm.send_identity(HsmIdentity{"prod-ca", "model", "7.8.4", {}})), {});
  const auto identity = identity_event(link.ped_events);
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity->label, "prod-ca");
  // At most once, and only from the HSM side.
  EXPECT_TRUE(fails_with(link.hsm.send_identity(HsmIdentity{"again", "", "", {}}), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(link.ped.send_identity(HsmIdentity{"ped", "", "", {}}), Errc::invalid_argument));
}

TEST(HsmIdentityChannel, NotAfterDataAndNotBeforeEstablishment) {
  ChannelWorld world;
  ChannelLink before(world, Scheme::full_unified);
  EXPECT_TRUE(fails_with(before.hsm.send_identity(HsmIdentity{"early", "", "", {}}), Errc::invalid_argument));

  ChannelLink link(world, Scheme::full_unified);
  link.run();
  link.pump(must(link.hsm.send(bytes_of("hello"))), {});
  EXPECT_TRUE(fails_with(link.hsm.send_identity(HsmIdentity{"late", "", "", {}}), Errc::invalid_argument));
}

// "Only as the HSM side's first record": not after a ping either.
TEST(HsmIdentityChannel, NotAfterAPing) {
  ChannelWorld world;
  ChannelLink link(world, Scheme::one_pass_password);
  link.run();
  link.pump(must(link.hsm.ping(bytes_of("p"))), {});
  EXPECT_TRUE(fails_with(link.hsm.send_identity(HsmIdentity{"x", "", "", {}}), Errc::invalid_argument));
}

// --- pinned-fingerprint mode --------------------------------------------------

TEST(HsmIdentityPinned, APinnedHocFromAnUnknownRootIsAccepted) {
  ChannelWorld world;        // the HSM's PKI
  const HsmPki other = make_hsm_pki(world.hsm_serial);  // the custodian holds only this root
  channel::PedEndpointConfig ped_cfg = world.ped_config(Scheme::one_pass_password);
  ped_cfg.manufacturer_roots = must(crypto::TrustStore::from_anchors(std::span(&other.root, 1)));
  ped_cfg.pinned_hoc_sha256[world.hsm_serial] = world.pki.hoc.sha256_fingerprint();
  ChannelLink link(world, world.hsm_config(Scheme::one_pass_password), ped_cfg);
  link.run();
  ASSERT_EQ(link.ped.state(), channel::State::established);
  const auto established = established_event(link.ped_events);
  ASSERT_TRUE(established.has_value());
  EXPECT_EQ(established->verified_by.rfind("pinned HOC ", 0), 0U) << established->verified_by;
  EXPECT_EQ(established->verified_by.size(), std::string("pinned HOC FE57..E9BC").size());
}

TEST(HsmIdentityPinned, AWrongPinRefusesEvenAChainFromAHeldRoot) {
  ChannelWorld world;
  channel::PedEndpointConfig ped_cfg = world.ped_config(Scheme::one_pass_password);
  ped_cfg.pinned_hoc_sha256[world.hsm_serial] = Bytes(32, 0xAB);
  ChannelLink link(world, world.hsm_config(Scheme::one_pass_password), ped_cfg);
  link.run();
  const auto closed = ChannelLink::closed(link.ped_events);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code, AlertCode::certificate_untrusted);
  EXPECT_NE(closed->detail.find("pinned"), std::string::npos) << closed->detail;
}

TEST(HsmIdentityPinned, WithoutAPinAnUnknownRootIsStillRefused) {
  ChannelWorld world;
  const HsmPki other = make_hsm_pki(world.hsm_serial);
  channel::PedEndpointConfig ped_cfg = world.ped_config(Scheme::one_pass_password);
  ped_cfg.manufacturer_roots = must(crypto::TrustStore::from_anchors(std::span(&other.root, 1)));
  ped_cfg.pinned_hoc_sha256[world.hsm_serial + 1] = world.pki.hoc.sha256_fingerprint();  // another HSM's pin
  ChannelLink link(world, world.hsm_config(Scheme::one_pass_password), ped_cfg);
  link.run();
  const auto closed = ChannelLink::closed(link.ped_events);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code, AlertCode::certificate_untrusted);
}

// --- the PKC offered in HsmIdentity ---------------------------------------------

struct StaticKeyPkc {
  PkcPki pki = make_pkc_pki("1234567");
  crypto::EcKeyPair static_key = must(crypto::EcKeyPair::generate());
  crypto::Certificate static_cert = must(hsmsim::issue_certificate(
      static_key.public_key(), pki.hoc, pki.hoc_key,
      hsmsim::demo_profile(hsmsim::CertificateRole::key_agreement, "HSM 1234567 static", "1234567")));
  Bytes good = pki.bundle(pki.statement_for(static_key.public_key()));
  std::vector<crypto::Certificate> roots{pki.root};
};

TEST(HsmIdentityPkc, AGoodPkcOfTheStaticKeyIsAccepted) {
  const StaticKeyPkc f;
  const auto verdict = attestation::verify_hsm_static_key_pkc(f.good, f.static_cert, 1234567, f.roots);
  EXPECT_TRUE(verdict.ok()) << verdict.reason;
}

TEST(HsmIdentityPkc, ATamperedPkcIsRefused) {
  const StaticKeyPkc f;
  Bytes tampered = f.good;
  tampered[tampered.size() / 2] ^= 0x01;
  const auto verdict = attestation::verify_hsm_static_key_pkc(tampered, f.static_cert, 1234567, f.roots);
  EXPECT_FALSE(verdict.ok());
}

TEST(HsmIdentityPkc, APkcOfAnotherKeyOrHsmOrRootIsRefused) {
  const StaticKeyPkc f;
  const crypto::EcKeyPair other = must(crypto::EcKeyPair::generate());
  const Bytes other_key = f.pki.bundle(f.pki.statement_for(other.public_key()));
  auto verdict = attestation::verify_hsm_static_key_pkc(other_key, f.static_cert, 1234567, f.roots);
  EXPECT_FALSE(verdict.ok());
  EXPECT_NE(verdict.reason.find("static key"), std::string::npos) << verdict.reason;

  verdict = attestation::verify_hsm_static_key_pkc(f.good, f.static_cert, 7654321, f.roots);
  EXPECT_FALSE(verdict.ok());
  EXPECT_NE(verdict.reason.find("HSM 1234567"), std::string::npos) << verdict.reason;

  const PkcPki stranger = make_pkc_pki("1234567", "another root");
  const std::vector<crypto::Certificate> wrong_roots{stranger.root};
  verdict = attestation::verify_hsm_static_key_pkc(f.good, f.static_cert, 1234567, wrong_roots);
  EXPECT_FALSE(verdict.ok());
  // ... but the pinned HOC accepts it without the root.
  attestation::VerifyOptions pinned;
  pinned.pinned_hoc_sha256 = f.pki.hoc.sha256_fingerprint();
  verdict = attestation::verify_hsm_static_key_pkc(f.good, f.static_cert, 1234567, {}, pinned);
  EXPECT_TRUE(verdict.ok()) << verdict.reason;
}

// --- confirm_identity on the device protocol -------------------------------------

TEST(ConfirmIdentityCodec, RoundTripsAndClipsToTheLcd) {
  ped::ConfirmIdentityRequest request;
  request.lines = {"HSM 1234567", "\"prod-ca\"", "verified:", std::string(40, 'R'), "x", "dropped"};
  request.timeout_ms = 5000;
  const auto got = must(ped::ConfirmIdentityRequest::parse(request.serialize()));
  EXPECT_TRUE(got.ask);
  ASSERT_EQ(got.lines.size(), ped::kMaxIdentityLines);
  EXPECT_EQ(got.lines[0], "HSM 1234567");
  EXPECT_EQ(got.lines[3].size(), ped::kLcdColumns);
  EXPECT_EQ(got.timeout_ms, 5000U);
  EXPECT_TRUE(must(ped::ConfirmIdentityResponse::parse(ped::ConfirmIdentityResponse{true}.serialize()))
                  .confirmed);
  // Not a command the HSM side may send through the channel.
  EXPECT_FALSE(ped::allowed_over_channel(ped::Op::confirm_identity));
  EXPECT_TRUE(ped::is_command(ped::Op::confirm_identity));
}

TEST(ConfirmIdentityCodec, RefusesMalformedBodies) {
  const Bytes good = ped::ConfirmIdentityRequest{true, {"HSM 1"}, 1000}.serialize();
  Bytes no_lines = good;
  no_lines[1] = 0;
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityRequest::parse(no_lines), Errc::invalid_encoding));
  Bytes too_many = good;
  too_many[1] = static_cast<std::uint8_t>(ped::kMaxIdentityLines + 1);
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityRequest::parse(too_many), Errc::invalid_encoding));
  Bytes bad_bool = good;
  bad_bool[0] = 2;
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityRequest::parse(bad_bool), Errc::invalid_encoding));
  Bytes control = good;
  control[4] = 0x1B;  // ESC inside the line
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityRequest::parse(control), Errc::invalid_encoding));
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityRequest::parse(trailing), Errc::invalid_encoding));
  Bytes zero_timeout = good;
  std::fill(zero_timeout.end() - 4, zero_timeout.end(), 0);
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityRequest::parse(zero_timeout), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityResponse::parse(Bytes{}), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(ped::ConfirmIdentityResponse::parse(Bytes{1, 0}), Errc::invalid_encoding));
}

}  // namespace
}  // namespace rped::test
