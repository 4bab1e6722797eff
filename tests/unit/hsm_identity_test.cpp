// docs/attestation.md §6: the HSM's identity on the PED before any key is
// read -- the identity block of HsmHello and the IdentityEvent that holds the
// handshake until the custodian answers, the confirm_identity PED command, the
// pinned-HOC chain rule, and the check of the PKC offered in HsmHello.
#include <gtest/gtest.h>

#include <algorithm>
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

// Where in a side's event log the first event of type E is (or npos).
template <typename E>
std::size_t first_index(const std::vector<channel::Event>& events) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (std::holds_alternative<E>(events[i])) {
      return i;
    }
  }
  return std::string::npos;
}

std::optional<channel::IdentityEvent> identity_event(const std::vector<channel::Event>& events) {
  const std::size_t at = first_index<channel::IdentityEvent>(events);
  return at == std::string::npos ? std::nullopt : std::optional(std::get<channel::IdentityEvent>(events[at]));
}

std::optional<channel::EstablishedEvent> established_event(const std::vector<channel::Event>& events) {
  const std::size_t at = first_index<channel::EstablishedEvent>(events);
  return at == std::string::npos ? std::nullopt : std::optional(std::get<channel::EstablishedEvent>(events[at]));
}

// Nothing was asked of the PED's keys: no orange-key read, no key derivation.
bool no_key_read(const std::vector<channel::Event>& ped_events) {
  return first_index<channel::RpkRequestEvent>(ped_events) == std::string::npos &&
         first_index<channel::KeyRequestEvent>(ped_events) == std::string::npos;
}

// --- the identity block of HsmHello -------------------------------------------

TEST(HsmHelloIdentity, RoundTripsInHsmHello) {
  ChannelWorld world;
  channel::HsmHello hello;
  hello.hsm_serial = world.hsm_serial;
  hello.ephemeral_data = Bytes(channel::kP521PointBytes, 0x04);
  hello.certificate_chain = {world.pki.ecdh_cert.der(), world.pki.hoc.der()};
  hello.identity = HsmIdentity{"prod-ca", "Luna PCIe HSM 7", "7.8.4", Bytes{0x30, 0x03, 0x02, 0x01, 0x01}};
  const channel::HsmHello got = must(channel::HsmHello::parse(must(hello.serialize())));
  EXPECT_EQ(got.identity.label, "prod-ca");
  EXPECT_EQ(got.identity.model, "Luna PCIe HSM 7");
  EXPECT_EQ(got.identity.firmware, "7.8.4");
  EXPECT_EQ(got.identity.pkc, hello.identity.pkc);
  // serialize() refuses what parse() refuses (channel_negative_test has the parse side).
  hello.identity.label = std::string(channel::kMaxIdentityTextBytes + 1, 'a');
  EXPECT_TRUE(fails_with(hello.serialize(), Errc::invalid_argument));
  hello.identity.label = "a\nb";
  EXPECT_TRUE(fails_with(hello.serialize(), Errc::invalid_argument));
  hello.identity.label = "ok";
  hello.identity.pkc = Bytes(channel::kMaxIdentityPkcBytes + 1, 0x30);
  EXPECT_TRUE(fails_with(hello.serialize(), Errc::invalid_argument));
}

// --- the confirmation in the endpoints: before any key is read -----------------

// Full Unified with the RPK read from the orange key on request: the custodian
// is asked after the chain is verified and before the orange key is read.
TEST(HsmIdentityChannel, TheCustodianIsAskedBeforeTheOrangeKeyIsRead) {
  ChannelWorld world;
  channel::PedEndpointConfig ped_cfg = world.ped_config(Scheme::full_unified);
  ped_cfg.rpk_certificate.reset();
  ped_cfg.request_rpk_from_device = true;
  ChannelLink link(world, world.hsm_config(Scheme::full_unified), ped_cfg);
  std::size_t events_before_answer = 0;
  channel::State state_when_asked = channel::State::closed;
  link.custodian = [&](const channel::IdentityEvent&) {
    events_before_answer = link.ped_events.size();
    state_when_asked = link.ped.state();
    return Result<void>{};
  };
  link.run();
  ASSERT_EQ(link.ped.state(), channel::State::established);
  EXPECT_EQ(state_when_asked, channel::State::ped_await_identity);
  EXPECT_EQ(events_before_answer, 0U) << "the PED side asked for nothing before the custodian answered";
  const std::size_t asked = first_index<channel::IdentityEvent>(link.ped_events);
  ASSERT_NE(asked, std::string::npos);
  EXPECT_LT(asked, first_index<channel::RpkRequestEvent>(link.ped_events));
  EXPECT_LT(asked, first_index<channel::KeyRequestEvent>(link.ped_events));
  const auto identity = identity_event(link.ped_events);
  EXPECT_EQ(identity->hsm_serial, world.hsm_serial);
  EXPECT_EQ(identity->scheme, Scheme::full_unified);
  EXPECT_EQ(identity->identity.label, "prod-ca");
  EXPECT_EQ(identity->identity.model, "Luna PCIe HSM 7");
  EXPECT_EQ(identity->verified_by, world.pki.root.common_name());
  EXPECT_EQ(identity->hoc_sha256, world.pki.hoc.sha256_fingerprint());
  ASSERT_TRUE(identity->hsm_certificate.has_value());
  EXPECT_EQ(identity->hsm_certificate->der(), world.pki.ecdh_cert.der());
  const auto established = established_event(link.ped_events);
  ASSERT_TRUE(established.has_value());
  EXPECT_EQ(established->verified_by, world.pki.root.common_name());
}

// One-pass (remote RPV initialization): asked before the password is used.
TEST(HsmIdentityChannel, TheCustodianIsAskedBeforeThePasswordIsUsed) {
  ChannelWorld world;
  ChannelLink link(world, Scheme::one_pass_password);
  link.run();
  ASSERT_EQ(link.ped.state(), channel::State::established);
  const std::size_t asked = first_index<channel::IdentityEvent>(link.ped_events);
  ASSERT_NE(asked, std::string::npos);
  EXPECT_LT(asked, first_index<channel::KeyRequestEvent>(link.ped_events));
}

// NO (or a PKC that fails): the handshake ends with identity_refused, no key
// was read, and the HSM side learns why at once (not at its next PED command).
TEST(HsmIdentityChannel, ARefusalEndsTheHandshakeBeforeAnyKeyIsRead) {
  for (const Scheme scheme : {Scheme::full_unified, Scheme::one_pass_password}) {
    ChannelWorld world;
    ChannelLink link(world, scheme);
    link.custodian = [](const channel::IdentityEvent&) -> Result<void> {
      return make_error(Errc::invalid_argument, "HSM 1234567 refused by the custodian at the PED");
    };
    link.run();
    const auto closed = ChannelLink::closed(link.ped_events);
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->code, AlertCode::identity_refused);
    EXPECT_NE(closed->detail.find("refused by the custodian"), std::string::npos) << closed->detail;
    EXPECT_TRUE(no_key_read(link.ped_events));
    EXPECT_FALSE(link.ped.holds_key_material());
    const auto hsm_closed = ChannelLink::closed(link.hsm_events);
    ASSERT_TRUE(hsm_closed.has_value());
    EXPECT_EQ(hsm_closed->code, AlertCode::identity_refused);
    EXPECT_TRUE(hsm_closed->by_peer);
    EXPECT_EQ(first_index<channel::KeyRequestEvent>(link.hsm_events), std::string::npos);
  }
}

// What the custodian saw is bound to the keys: a label changed on the way
// (the chain is untouched, so it still verifies) fails key confirmation.
TEST(HsmIdentityChannel, ALabelChangedOnTheWayFailsKeyConfirmation) {
  ChannelWorld world;
  ChannelLink link(world, Scheme::full_unified);
  const Bytes genuine = bytes_of("prod-ca");
  link.hsm_to_ped = [&](Bytes& b) {
    const auto at = std::search(b.begin(), b.end(), genuine.begin(), genuine.end());
    if (at != b.end()) {
      *(at + 6) = 'x';  // "prod-cx"
    }
  };
  std::string shown;
  link.custodian = [&](const channel::IdentityEvent& e) {
    shown = e.identity.label;
    return Result<void>{};
  };
  link.run();
  EXPECT_EQ(shown, "prod-cx");
  EXPECT_NE(link.ped.state(), channel::State::established);
  EXPECT_NE(link.hsm.state(), channel::State::established);
  const auto hsm_closed = ChannelLink::closed(link.hsm_events);
  ASSERT_TRUE(hsm_closed.has_value());
  EXPECT_EQ(hsm_closed->code, AlertCode::authentication_failed);
}

// An answer that comes after the handshake moved on (or closed) changes nothing.
TEST(HsmIdentityChannel, ALateAnswerIsIgnored) {
  ChannelWorld world;
  ChannelLink link(world, Scheme::one_pass_password);
  link.run();
  ASSERT_EQ(link.ped.state(), channel::State::established);
  const channel::Output late = link.ped.complete_identity(make_error(Errc::invalid_argument, "late NO"));
  EXPECT_TRUE(late.send.empty());
  EXPECT_TRUE(late.events.empty());
  EXPECT_EQ(link.ped.state(), channel::State::established);
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

// --- the PKC offered in HsmHello ---------------------------------------------

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
