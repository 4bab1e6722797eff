// Negative tests of the channel (ENGINEERING.md convention 12). Every way a
// handshake or a record can be wrong ends the session with its own AlertCode on
// the side that detects it; the peer learns that code; neither side keeps key
// material afterwards; and nothing derived from a secret leaves a side that
// failed. The (state, message) table is walked in channel_state_table_test.cpp;
// the positive cases are in channel_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rped/channel/endpoint.h"
#include "rped/channel/messages.h"
#include "rped/channel/record.h"
#include "rped/crypto/symmetric.h"
#include "rped/wire.h"
#include "support/channel_harness.h"
#include "support/result_assertions.h"

namespace rped::channel {
namespace {

using test::bytes_of;
using test::ChannelLink;
using test::edit_frames;
using test::fails_with;
using test::is_ok;
using test::must;

// PKI generation is the slow part, so all tests share one world.
const test::ChannelWorld& world() {
  static const test::ChannelWorld w;
  return w;
}
// A second HSM with its own root, HOC and static key: the wrong issuer.
const test::HsmPki& other_hsm() {
  static const test::HsmPki pki = test::make_hsm_pki(7654321);
  return pki;
}

// Field offsets inside whole frames (header included); layouts in messages.h.
constexpr std::size_t kQeUOffset = kFrameHeaderBytes;                   // PedKeyShare.ped_ephemeral
constexpr std::size_t kRpkSerialOffset = kQeUOffset + kP521PointBytes;  // PedKeyShare.rpk_serial
constexpr std::size_t kQeVOffset =
    kFrameHeaderBytes + 1 + sizeof(std::uint64_t);        // HsmHello.ephemeral_data
constexpr std::size_t kSchemeOffset = kFrameHeaderBytes;  // HsmHello.scheme
constexpr std::size_t kCoordinateBytes = crypto::kP521FieldBytes;

Bytes alert_frame(AlertCode code) {
  return frame(MessageType::alert, Alert{code}.serialize());
}

Bytes alert_frame_with_raw_code(std::uint16_t value) {
  Writer w;
  w.u16(value);
  return frame(MessageType::alert, w.data());
}

// The detecting side closed with `code` (not by peer) and told the peer, which
// closed by_peer with the same code; neither side holds key material.
void expect_failed(const ChannelLink& link, Side detector, AlertCode code,
                   std::string_view detail_has = {}) {
  const bool hsm_detects = detector == Side::hsm;
  const auto own = ChannelLink::closed(hsm_detects ? link.hsm_events : link.ped_events);
  const auto peer = ChannelLink::closed(hsm_detects ? link.ped_events : link.hsm_events);
  ASSERT_TRUE(own.has_value()) << "the detecting side did not close";
  EXPECT_EQ(own->code, code) << own->detail;
  EXPECT_FALSE(own->by_peer) << own->detail;
  EXPECT_NE(own->detail.find(detail_has), std::string::npos) << own->detail;
  ASSERT_TRUE(peer.has_value()) << "the peer was not told";
  EXPECT_EQ(peer->code, code) << peer->detail;
  EXPECT_TRUE(peer->by_peer) << peer->detail;
  EXPECT_EQ(link.hsm.state(), State::closed);
  EXPECT_EQ(link.ped.state(), State::closed);
  EXPECT_FALSE(link.hsm.holds_key_material());
  EXPECT_FALSE(link.ped.holds_key_material());
}

// --- devices that misbehave --------------------------------------------------

ChannelLink::Device ped_device_with(SecretBytes supp_priv) {
  auto secret = std::make_shared<const SecretBytes>(std::move(supp_priv));
  return [secret](const KeyDerivationRequest& r) {
    return test::ped_device_answer(world(), r, secret->reveal());
  };
}

ChannelLink::Device failing_device(Errc code) {
  return [code](const KeyDerivationRequest&) -> Result<SecretBytes> {
    return make_error(code, "device refused");
  };
}

ChannelLink::Device dkm_of_length(std::size_t bytes) {
  return [bytes](const KeyDerivationRequest&) -> Result<SecretBytes> { return SecretBytes(bytes); };
}

SecretBytes wrong_password() {
  return SecretBytes::copy_of(bytes_of("27182818"));
}

// --- public-key defects ------------------------------------------------------

using PointEdit = std::function<void(std::span<std::uint8_t, kP521PointBytes>)>;
struct PointDefect {
  std::string name;
  PointEdit apply;
};

void set_to_p(std::span<std::uint8_t> coordinate) {  // p = 2^521 - 1
  coordinate[0] = 0x01;
  std::fill(coordinate.begin() + 1, coordinate.end(), std::uint8_t{0xFF});
}

// SP 800-56A r3 §5.6.2.3.3 failures, each kept at the fixed 133-byte field size.
const std::vector<PointDefect>& point_defects() {
  using Point = std::span<std::uint8_t, kP521PointBytes>;
  static const std::vector<PointDefect> defects = {
      {"OffCurve", [](Point p) { p.back() ^= 0x01; }},
      {"XEqualsP", [](Point p) { set_to_p(p.subspan(1, kCoordinateBytes)); }},
      {"YEqualsP", [](Point p) { set_to_p(p.subspan(1 + kCoordinateBytes)); }},
      {"XAllOnes",
       [](Point p) { std::fill_n(p.begin() + 1, kCoordinateBytes, std::uint8_t{0xFF}); }},
      {"AllZero", [](Point p) { std::fill(p.begin(), p.end(), std::uint8_t{0}); }},
      {"ZeroCoordinates", [](Point p) { std::fill(p.begin() + 1, p.end(), std::uint8_t{0}); }},
      {"Prefix00", [](Point p) { p[0] = 0x00; }},
      {"Compressed02",
       [](Point p) {  // 0x02 || X, zero-padded to the field size
         p[0] = 0x02;
         std::fill(p.begin() + 1 + kCoordinateBytes, p.end(), std::uint8_t{0});
       }},
      {"Compressed03", [](Point p) { p[0] = 0x03; }},
      {"Hybrid06", [](Point p) { p[0] = 0x06; }},
  };
  return defects;
}

std::function<void(Bytes&)> edit_point_at(std::size_t offset, PointEdit edit) {
  return [offset, edit = std::move(edit)](Bytes& f) {
    edit(std::span<std::uint8_t>(f).subspan(offset).first<kP521PointBytes>());
  };
}

void flip_last_byte(Bytes& f) {
  f.back() ^= 0x01;
}

// --- handshake failures, one table -------------------------------------------

struct HandshakeFailure {
  std::string name;
  Scheme scheme = Scheme::full_unified;
  Side detector = Side::hsm;
  AlertCode code = AlertCode::internal_error;
  std::function<void(HsmEndpointConfig&, PedEndpointConfig&)> configure = {};
  std::function<void(ChannelLink&)> arrange = {};
  std::string detail_has = {};
  bool ped_sent_key_share = false;  // PED-detected: it had already sent PedKeyShare
};
void PrintTo(const HandshakeFailure& c, std::ostream* os) {
  *os << c.name;
}

std::string scheme_suffix(Scheme scheme) {
  return scheme == Scheme::full_unified ? "FullUnified" : "OnePass";
}

crypto::Certificate rpk_certificate(const test::CertSpec& spec, const crypto::EcKeyPair& signer) {
  return test::issue(world().rpk_key.public_key(), world().pki.hoc, signer, spec);
}

crypto::Certificate hsm_certificate(test::CertSpec spec) {
  spec.subject_serial_number = std::to_string(world().hsm_serial);
  return test::issue(world().pki.ecdh_key.public_key(), world().pki.hoc, world().pki.hoc_key, spec);
}

std::vector<HandshakeFailure> handshake_failures() {
  using S = Scheme;
  using A = AlertCode;
  const std::int64_t now = test::unix_now();
  const std::int64_t day = test::kSecondsPerDay;
  const std::vector<Scheme> both = {S::full_unified, S::one_pass_password};
  std::vector<HandshakeFailure> cases;

  // Wrong long-term secret: the HSM's device refuses before releasing any key.
  cases.push_back({.name = "WrongRpv",
                   .scheme = S::full_unified,
                   .detector = Side::hsm,
                   .code = A::authentication_failed,
                   .arrange = [](ChannelLink& l) {
                     l.ped_device = ped_device_with(must(crypto::random_secret(kRpvBytes)));
                   }});
  cases.push_back(
      {.name = "WrongPassword",
       .scheme = S::one_pass_password,
       .detector = Side::hsm,
       .code = A::authentication_failed,
       .arrange = [](ChannelLink& l) { l.ped_device = ped_device_with(wrong_password()); }});
  cases.push_back({.name = "WrongRpkPrivateKey",
                   .scheme = S::full_unified,
                   .detector = Side::hsm,
                   .code = A::authentication_failed,
                   .arrange = [](ChannelLink& l) {
                     l.ped_device = [](const KeyDerivationRequest& r) {
                       return derive_dkm(r, &other_hsm().ecdh_key, world().rpv.reveal());
                     };
                   }});
  for (const Scheme s : both) {
    cases.push_back({.name = "TamperedTagU" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::hsm,
                     .code = A::authentication_failed,
                     .arrange = [](ChannelLink& l) {
                       l.ped_to_hsm = edit_frames(MessageType::ped_key_share, flip_last_byte);
                     }});
    cases.push_back({.name = "TamperedTagV" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::authentication_failed,
                     .arrange =
                         [](ChannelLink& l) {
                           l.hsm_to_ped = edit_frames(MessageType::hsm_confirm, flip_last_byte);
                         },
                     .ped_sent_key_share = true});
    cases.push_back({.name = "HsmConfirmOf63Bytes" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::decode_error,
                     .arrange =
                         [](ChannelLink& l) {
                           l.hsm_to_ped = edit_frames(MessageType::hsm_confirm, [](Bytes& f) {
                             f.pop_back();
                             f[3] = static_cast<std::uint8_t>(f[3] - 1);
                           });
                         },
                     .ped_sent_key_share = true});
  }

  // The RPK certificate (checked by the HSM against its own HOC).
  const auto with_rpk_cert = [](std::function<crypto::Certificate()> make) {
    return [make = std::move(make)](HsmEndpointConfig&, PedEndpointConfig& ped) {
      ped.rpk_certificate = make();
    };
  };
  const std::uint64_t rpk_serial = world().rpk_serial;
  cases.push_back({.name = "RpkCertificateFromAnotherHsmsHoc",
                   .detector = Side::hsm,
                   .code = A::certificate_untrusted,
                   .configure = with_rpk_cert([] {
                     return test::issue_rpk(other_hsm(), world().rpk_key.public_key(),
                                            world().rpk_serial);
                   })});
  cases.push_back({.name = "RpkCertificateSignedWithAnotherKey",
                   .detector = Side::hsm,
                   .code = A::certificate_untrusted,
                   .configure = with_rpk_cert([=] {
                     return rpk_certificate(test::rpk_spec(rpk_serial), other_hsm().hoc_key);
                   })});
  cases.push_back({.name = "RpkCertificateWithWrongSerialNumber",
                   .detector = Side::hsm,
                   .code = A::bad_certificate,
                   .configure = with_rpk_cert([=] {
                     return rpk_certificate(test::rpk_spec(rpk_serial + 1), world().pki.hoc_key);
                   }),
                   .detail_has = "serialNumber"});
  cases.push_back({.name = "RpkCertificateWithoutKeyAgreement",
                   .detector = Side::hsm,
                   .code = A::bad_certificate,
                   .configure = with_rpk_cert([=] {
                     test::CertSpec spec = test::rpk_spec(rpk_serial);
                     spec.key_usage = {.digital_signature = true};
                     return rpk_certificate(spec, world().pki.hoc_key);
                   }),
                   .detail_has = "key agreement"});
  cases.push_back({.name = "RpkCertificateExpired",
                   .detector = Side::hsm,
                   .code = A::certificate_untrusted,
                   .configure = with_rpk_cert([=] {
                     test::CertSpec spec = test::rpk_spec(rpk_serial);
                     spec.not_before = now - 30 * day;
                     spec.not_after = now - day;
                     return rpk_certificate(spec, world().pki.hoc_key);
                   }),
                   .detail_has = "expired"});
  cases.push_back({.name = "RpkSerialAlteredInFlight",
                   .detector = Side::hsm,
                   .code = A::bad_certificate,
                   .arrange = [](ChannelLink& l) {
                     l.ped_to_hsm = edit_frames(MessageType::ped_key_share,
                                                [](Bytes& f) { f[kRpkSerialOffset + 7] ^= 0x01; });
                   }});
  cases.push_back({.name = "RpkSerialInOnePass",
                   .scheme = S::one_pass_password,
                   .detector = Side::hsm,
                   .code = A::decode_error,
                   .arrange = [](ChannelLink& l) {
                     l.ped_to_hsm = edit_frames(MessageType::ped_key_share,
                                                [](Bytes& f) { f[kRpkSerialOffset + 7] = 0x01; });
                   }});

  // The HSM's chain (checked by the PED against the manufacturer root).
  const auto with_hsm_leaf = [](std::function<crypto::Certificate()> make) {
    return [make = std::move(make)](HsmEndpointConfig& hsm, PedEndpointConfig&) {
      hsm.certificate_chain = {make(), world().pki.hoc};
    };
  };
  for (const Scheme s : both) {
    cases.push_back({.name = "ChainFromAnotherRoot" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::certificate_untrusted,
                     .configure = [](HsmEndpointConfig&, PedEndpointConfig& ped) {
                       ped.manufacturer_roots =
                           must(crypto::TrustStore::from_anchors(std::span(&other_hsm().root, 1)));
                     }});
    cases.push_back(
        {.name = "ChainExpiredAtVerificationTime" + scheme_suffix(s),
         .scheme = s,
         .detector = Side::ped,
         .code = A::certificate_untrusted,
         .configure = [=](HsmEndpointConfig&,
                          PedEndpointConfig& ped) { ped.verification_time = now + 20 * 365 * day; },
         .detail_has = "expired"});
    cases.push_back({.name = "StaticKeyCertificateValidityInThePast" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::certificate_untrusted,
                     .configure = with_hsm_leaf([=] {
                       test::CertSpec spec = test::hsm_ecdh_spec();
                       spec.not_before = now - 30 * day;
                       spec.not_after = now - day;
                       return hsm_certificate(spec);
                     }),
                     .detail_has = "expired"});
    cases.push_back({.name = "StaticKeyCertificateNotYetValid" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::certificate_untrusted,
                     .configure = with_hsm_leaf([=] {
                       test::CertSpec spec = test::hsm_ecdh_spec();
                       spec.not_before = now + day;
                       return hsm_certificate(spec);
                     }),
                     .detail_has = "not yet valid"});
    cases.push_back({.name = "StaticKeyCertificateWithoutKeyAgreement" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::bad_certificate,
                     .configure = with_hsm_leaf([] {
                       test::CertSpec spec = test::hsm_ecdh_spec();
                       spec.key_usage = {.digital_signature = true};
                       return hsm_certificate(spec);
                     }),
                     .detail_has = "key agreement"});
    cases.push_back(
        {.name = "HsmSerialDiffersFromCertificate" + scheme_suffix(s),
         .scheme = s,
         .detector = Side::ped,
         .code = A::bad_certificate,
         .configure = [](HsmEndpointConfig& hsm, PedEndpointConfig&) { hsm.hsm_serial += 1; },
         .detail_has = "serialNumber"});
    cases.push_back({.name = "HocPresentedAsStaticKeyCertificate" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::bad_certificate,
                     .configure =
                         [](HsmEndpointConfig& hsm, PedEndpointConfig&) {
                           hsm.certificate_chain = {world().pki.hoc, world().pki.ecdh_cert};
                         },
                     .detail_has = "key agreement"});
    cases.push_back({.name = "HelloVersion2" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::unsupported_version,
                     .arrange = [](ChannelLink& l) {
                       l.hsm_to_ped =
                           edit_frames(MessageType::hsm_hello, [](Bytes& f) { f[0] = 2; });
                     }});
    cases.push_back({.name = "KeyShareVersion0" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::hsm,
                     .code = A::unsupported_version,
                     .arrange = [](ChannelLink& l) {
                       l.ped_to_hsm =
                           edit_frames(MessageType::ped_key_share, [](Bytes& f) { f[0] = 0; });
                     }});
    cases.push_back({.name = "HelloWithUnknownScheme" + scheme_suffix(s),
                     .scheme = s,
                     .detector = Side::ped,
                     .code = A::decode_error,
                     .arrange = [](ChannelLink& l) {
                       l.hsm_to_ped = edit_frames(MessageType::hsm_hello,
                                                  [](Bytes& f) { f[kSchemeOffset] = 9; });
                     }});
  }

  // Schemes the PED was not configured for.
  cases.push_back({.name = "OnePassHelloToPedWithoutPasswordMode",
                   .scheme = S::one_pass_password,
                   .detector = Side::ped,
                   .code = A::scheme_not_allowed,
                   .configure = [](HsmEndpointConfig&, PedEndpointConfig& ped) {
                     ped = world().ped_config(S::full_unified);
                   }});
  cases.push_back({.name = "FullUnifiedHelloToPedWithoutRpk",
                   .scheme = S::full_unified,
                   .detector = Side::ped,
                   .code = A::scheme_not_allowed,
                   .configure = [](HsmEndpointConfig&, PedEndpointConfig& ped) {
                     ped = world().ped_config(S::one_pass_password);
                   }});

  // Ephemeral public keys.
  for (const PointDefect& d : point_defects()) {
    for (const Scheme s : both) {
      cases.push_back({.name = "KeyShareQeU" + d.name + scheme_suffix(s),
                       .scheme = s,
                       .detector = Side::hsm,
                       .code = A::invalid_public_key,
                       .arrange = [apply = d.apply](ChannelLink& l) {
                         l.ped_to_hsm = edit_frames(MessageType::ped_key_share,
                                                    edit_point_at(kQeUOffset, apply));
                       }});
    }
    cases.push_back({.name = "HelloQeV" + d.name,
                     .detector = Side::ped,
                     .code = A::invalid_public_key,
                     .arrange = [apply = d.apply](ChannelLink& l) {
                       l.hsm_to_ped =
                           edit_frames(MessageType::hsm_hello, edit_point_at(kQeVOffset, apply));
                     }});
  }
  cases.push_back({.name = "KeyShareReflectsQeV",
                   .detector = Side::hsm,
                   .code = A::invalid_public_key,
                   .arrange =
                       [](ChannelLink& l) {
                         auto qe_v = std::make_shared<Bytes>();
                         l.hsm_to_ped = edit_frames(MessageType::hsm_hello, [qe_v](Bytes& f) {
                           qe_v->assign(f.begin() + kQeVOffset,
                                        f.begin() + kQeVOffset + kP521PointBytes);
                         });
                         l.ped_to_hsm = edit_frames(MessageType::ped_key_share, [qe_v](Bytes& f) {
                           std::copy(qe_v->begin(), qe_v->end(), f.begin() + kQeUOffset);
                         });
                       },
                   .detail_has = "equals"});
  cases.push_back({.name = "PedEphemeralEqualsHsmEphemeral",
                   .detector = Side::ped,
                   .code = A::invalid_public_key,
                   .configure =
                       [](HsmEndpointConfig& hsm, PedEndpointConfig& ped) {
                         // Broken randomness on both sides: one scalar for both ephemeral keys.
                         auto scalar = std::make_shared<const SecretBytes>(
                             must(must(crypto::EcKeyPair::generate()).export_private_scalar()));
                         const auto same_key = [scalar] {
                           return crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                                  scalar->reveal());
                         };
                         hsm.entropy.ephemeral_key = same_key;
                         ped.entropy.ephemeral_key = same_key;
                       },
                   .detail_has = "equals"});

  // The PED reads its RPK from the orange key on demand, and that goes wrong.
  const auto rpk_on_demand = [](HsmEndpointConfig&, PedEndpointConfig& ped) {
    ped.rpk_certificate.reset();
    ped.request_rpk_from_device = true;
  };
  cases.push_back({.name = "OrangeKeyUnreadable",
                   .detector = Side::ped,
                   .code = A::device_failure,
                   .configure = rpk_on_demand,
                   .arrange = [](ChannelLink& l) {
                     l.rpk_source = []() -> Result<RpkInfo> {
                       return make_error(Errc::internal, "no orange key");
                     };
                   }});
  cases.push_back({.name = "OrangeKeyReportsSerial0",
                   .detector = Side::ped,
                   .code = A::device_failure,
                   .configure = rpk_on_demand,
                   .arrange = [](ChannelLink& l) {
                     l.rpk_source = []() -> Result<RpkInfo> {
                       return RpkInfo{world().rpk_cert, 0};
                     };
                   }});
  cases.push_back({.name = "OrangeKeyFromAnotherHsm",
                   .detector = Side::hsm,
                   .code = A::certificate_untrusted,
                   .configure = rpk_on_demand,
                   .arrange = [](ChannelLink& l) {
                     l.rpk_source = []() -> Result<RpkInfo> {
                       return RpkInfo{test::issue_rpk(other_hsm(), world().rpk_key.public_key(),
                                                      world().rpk_serial),
                                      world().rpk_serial};
                     };
                   }});

  // The devices fail or answer garbage.
  for (const Scheme s : both) {
    const std::string sx = scheme_suffix(s);
    cases.push_back(
        {.name = "HsmDeviceFails" + sx,
         .scheme = s,
         .detector = Side::hsm,
         .code = A::device_failure,
         .arrange = [](ChannelLink& l) { l.hsm_device = failing_device(Errc::internal); }});
    cases.push_back(
        {.name = "PedDeviceFails" + sx,
         .scheme = s,
         .detector = Side::ped,
         .code = A::device_failure,
         .arrange = [](ChannelLink& l) { l.ped_device = failing_device(Errc::internal); }});
    // The PED side never blames the peer for its own device's answer.
    cases.push_back(
        {.name = "PedDeviceReportsMacMismatch" + sx,
         .scheme = s,
         .detector = Side::ped,
         .code = A::device_failure,
         .arrange = [](ChannelLink& l) { l.ped_device = failing_device(Errc::mac_mismatch); }});
    for (const std::size_t n : {std::size_t{0}, kDkmBytes - 1, kDkmBytes + 1}) {
      const std::string len = std::to_string(n);
      cases.push_back({.name = "HsmDeviceDkmOf" + len + "Bytes" + sx,
                       .scheme = s,
                       .detector = Side::hsm,
                       .code = A::device_failure,
                       .arrange = [n](ChannelLink& l) { l.hsm_device = dkm_of_length(n); }});
      cases.push_back({.name = "PedDeviceDkmOf" + len + "Bytes" + sx,
                       .scheme = s,
                       .detector = Side::ped,
                       .code = A::device_failure,
                       .arrange = [n](ChannelLink& l) { l.ped_device = dkm_of_length(n); }});
    }
  }
  return cases;
}

class ChannelHandshakeFailure : public ::testing::TestWithParam<HandshakeFailure> {};

TEST_P(ChannelHandshakeFailure, EndsWithItsAlertOnBothSidesAndWipesKeys) {
  const HandshakeFailure& c = GetParam();
  HsmEndpointConfig hsm_cfg = world().hsm_config(c.scheme);
  PedEndpointConfig ped_cfg = world().ped_config(c.scheme);
  if (c.configure) {
    c.configure(hsm_cfg, ped_cfg);
  }
  ChannelLink link(world(), std::move(hsm_cfg), std::move(ped_cfg));
  if (c.arrange) {
    c.arrange(link);
  }
  link.run();
  expect_failed(link, c.detector, c.code, c.detail_has);

  // The detecting side's last words are one clear Alert, nothing more.
  const std::vector<Bytes>& detector_sent = c.detector == Side::hsm ? link.hsm_sent : link.ped_sent;
  ASSERT_FALSE(detector_sent.empty());
  EXPECT_EQ(detector_sent.back(), alert_frame(c.code));
  EXPECT_EQ(test::count_frames(link.hsm_sent, MessageType::record), 0u);
  EXPECT_EQ(test::count_frames(link.ped_sent, MessageType::record), 0u);
  if (c.detector == Side::hsm) {
    // Nothing derived from the secrets leaves an HSM that refused.
    EXPECT_EQ(test::count_frames(link.hsm_sent, MessageType::hsm_confirm), 0u);
  } else {
    EXPECT_EQ(test::count_frames(link.ped_sent, MessageType::ped_key_share),
              c.ped_sent_key_share ? 1u : 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Channel, ChannelHandshakeFailure,
                         ::testing::ValuesIn(handshake_failures()),
                         [](const ::testing::TestParamInfo<HandshakeFailure>& param_info) {
                           return param_info.param.name;
                         });

// --- the one-time password guard ---------------------------------------------

ChannelLink::Device guarded_hsm_device(std::shared_ptr<OneTimePasswordGuard> guard) {
  return [guard](const KeyDerivationRequest& r) { return guard->derive(r, world().pki.ecdh_key); };
}

// One C(1e,1s) session in which the PED side types `typed`.
void run_password_session(const std::shared_ptr<OneTimePasswordGuard>& guard, SecretBytes typed,
                          std::optional<AlertCode> hsm_closes) {
  ChannelLink link(world(), Scheme::one_pass_password);
  link.hsm_device = guarded_hsm_device(guard);
  link.ped_device = ped_device_with(std::move(typed));
  link.run();
  if (hsm_closes) {
    expect_failed(link, Side::hsm, *hsm_closes);
    EXPECT_EQ(test::count_frames(link.hsm_sent, MessageType::hsm_confirm), 0u);
  } else {
    EXPECT_EQ(link.hsm.state(), State::established);
    EXPECT_EQ(link.ped.state(), State::established);
  }
}

TEST(ChannelPasswordGuard, RefusesEvenTheRightPasswordOnceAttemptsAreUsedUp) {
  constexpr unsigned kMaxAttempts = 3;
  auto guard = std::make_shared<OneTimePasswordGuard>(
      must(OneTimePasswordGuard::create(world().password.clone(), kMaxAttempts)));
  for (unsigned attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    SCOPED_TRACE("wrong password, attempt " + std::to_string(attempt));
    run_password_session(guard, wrong_password(), AlertCode::authentication_failed);
    EXPECT_EQ(guard->failed_attempts(), attempt);
  }
  EXPECT_TRUE(guard->exhausted());
  SCOPED_TRACE("the right password after the last attempt");
  run_password_session(guard, world().password.clone(), AlertCode::authentication_failed);
  EXPECT_TRUE(guard->exhausted());
}

TEST(ChannelPasswordGuard, AcceptsTheRightPasswordWhileAttemptsRemain) {
  constexpr unsigned kMaxAttempts = 3;
  auto guard = std::make_shared<OneTimePasswordGuard>(
      must(OneTimePasswordGuard::create(world().password.clone(), kMaxAttempts)));
  for (unsigned attempt = 1; attempt < kMaxAttempts; ++attempt) {
    run_password_session(guard, wrong_password(), AlertCode::authentication_failed);
  }
  run_password_session(guard, world().password.clone(), std::nullopt);
  EXPECT_EQ(guard->failed_attempts(), kMaxAttempts - 1);
  // One-time: having opened its session, the password opens no other.
  EXPECT_TRUE(guard->used());
  EXPECT_TRUE(guard->exhausted());
  run_password_session(guard, world().password.clone(), AlertCode::authentication_failed);
}

// A clear Alert after the peer proved its keys is not believed: the session
// ends, but as unexpected_message, not with the forged code.
TEST(ChannelAlerts, AClearAlertAfterThePeerProvedItsKeysIsNotBelieved) {
  for (const Side victim : {Side::ped, Side::hsm}) {
    ChannelLink link(world(), Scheme::full_unified);
    link.run();
    // The HSM has seen proof once a PED record opened.
    link.pump({}, must(link.ped.send(test::bytes_of("proof"))));
    Endpoint& target = victim == Side::ped ? link.ped : link.hsm;
    const Output out = target.receive(frame(MessageType::alert, Alert{AlertCode::authentication_failed}.serialize()));
    std::optional<ClosedEvent> closed;
    for (const Event& e : out.events) {
      if (const auto* c = std::get_if<ClosedEvent>(&e)) {
        closed = *c;
      }
    }
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->code, AlertCode::unexpected_message);
    EXPECT_FALSE(closed->by_peer);
    EXPECT_FALSE(target.holds_key_material());
  }
}

// The HOC certifies both the HSM's static key and every RPK; the HSM's own
// certificate never passes as an RPK.
TEST(ChannelRpk, TheHsmsOwnStaticCertificateIsNotAnRpk) {
  const test::ChannelWorld& w = world();
  PedEndpointConfig ped_cfg = w.ped_config(Scheme::full_unified);
  ped_cfg.rpk_certificate = w.pki.ecdh_cert;
  ped_cfg.rpk_serial = w.hsm_serial;  // its serialNumber
  ChannelLink link(w, w.hsm_config(Scheme::full_unified), std::move(ped_cfg));
  link.run();
  const auto closed = ChannelLink::closed(link.hsm_events);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code, AlertCode::bad_certificate);
  EXPECT_NE(closed->detail.find("own static key"), std::string::npos) << closed->detail;
}

// --- clear Alerts injected before establishment ------------------------------

struct InjectedAlert {
  Side victim;          // the side that receives the forged Alert instead of the expected message
  std::uint16_t value;  // wire code, possibly unknown
};
void PrintTo(const InjectedAlert& c, std::ostream* os) {
  *os << (c.victim == Side::ped ? "to PED" : "to HSM") << ", code " << c.value;
}

std::vector<InjectedAlert> injected_alerts() {
  std::vector<InjectedAlert> cases;
  for (const Side victim : {Side::ped, Side::hsm}) {
    for (std::uint16_t v = 0; v <= static_cast<std::uint16_t>(AlertCode::internal_error) + 1; ++v) {
      cases.push_back({victim, v});
    }
    cases.push_back({victim, 0xFFFF});
  }
  return cases;
}

class ChannelInjectedAlert : public ::testing::TestWithParam<InjectedAlert> {};

TEST_P(ChannelInjectedAlert, EndsTheVictimsSessionWithThatCodeByPeer) {
  const InjectedAlert& c = GetParam();
  const bool victim_is_ped = c.victim == Side::ped;
  ChannelLink link(world(), Scheme::full_unified);
  // Replace the victim's next handshake message by the forged Alert.
  const auto replace = [value = c.value](Bytes& f) { f = alert_frame_with_raw_code(value); };
  if (victim_is_ped) {
    link.hsm_to_ped = edit_frames(MessageType::hsm_hello, replace);
  } else {
    link.ped_to_hsm = edit_frames(MessageType::ped_key_share, replace);
  }
  link.run();

  const std::optional<AlertCode> known = alert_from_wire(c.value);
  if (!known) {
    // An unknown code is a malformed Alert: a local decode_error, reported to the (real) peer.
    expect_failed(link, c.victim, AlertCode::decode_error);
    return;
  }
  Endpoint& victim = victim_is_ped ? link.ped : link.hsm;
  Endpoint& other = victim_is_ped ? link.hsm : link.ped;
  const auto closed = ChannelLink::closed(victim_is_ped ? link.ped_events : link.hsm_events);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code, *known);
  EXPECT_TRUE(closed->by_peer);
  EXPECT_EQ(victim.state(), State::closed);
  EXPECT_FALSE(victim.holds_key_material());
  // The victim answers an Alert with nothing.
  EXPECT_EQ((victim_is_ped ? link.ped_sent : link.hsm_sent).size(), victim_is_ped ? 0u : 1u);
  EXPECT_EQ(test::count_frames(link.hsm_sent, MessageType::hsm_confirm), 0u);
  // The real peer heard nothing and waits; its daemon's deadline ends it, wiping its keys too.
  EXPECT_FALSE(ChannelLink::closed(victim_is_ped ? link.hsm_events : link.ped_events).has_value());
  EXPECT_EQ(other.state(), victim_is_ped ? State::hsm_await_key_share : State::ped_await_confirm);
  EXPECT_TRUE(other.holds_key_material());
  const Output timed_out = other.close(AlertCode::timeout);
  EXPECT_EQ(timed_out.send, alert_frame(AlertCode::timeout));
  EXPECT_FALSE(other.holds_key_material());
}

INSTANTIATE_TEST_SUITE_P(Channel, ChannelInjectedAlert, ::testing::ValuesIn(injected_alerts()),
                         [](const ::testing::TestParamInfo<InjectedAlert>& param_info) {
                           const std::optional<AlertCode> code =
                               alert_from_wire(param_info.param.value);
                           return std::string(param_info.param.victim == Side::ped ? "ToPed_"
                                                                                   : "ToHsm_") +
                                  (code ? std::string(alert_name(*code))
                                        : "unknown_" + std::to_string(param_info.param.value));
                         });

// --- records -----------------------------------------------------------------

// An established Full Unified link; the PED device's DKM is kept so tests can
// forge records under the genuine keys.
class ChannelRecordNegative : public ::testing::Test {
 protected:
  void SetUp() override {
    link_.ped_device = [dkm = dkm_, device = link_.ped_device](const KeyDerivationRequest& r) {
      Result<SecretBytes> answer = device(r);
      if (answer.ok()) {
        *dkm = answer.value().clone();
      }
      return answer;
    };
    link_.run();
    ASSERT_EQ(link_.hsm.state(), State::established);
    ASSERT_EQ(link_.ped.state(), State::established);
  }

  Bytes ped_record(std::string_view text) { return must(link_.ped.send(bytes_of(text))).send; }
  Bytes hsm_record(std::string_view text) { return must(link_.hsm.send(bytes_of(text))).send; }
  // Delivers bytes to the HSM and carries whatever it answers to the PED.
  void to_hsm(ByteView bytes) { link_.pump(link_.hsm.receive(bytes), {}); }
  // A sealer for the PED -> HSM direction under the session's keys, at sequence 0.
  RecordSealer forged_ped_sealer() const {
    const SessionKeys keys = must(SessionKeys::from_dkm(*dkm_));
    return must(RecordSealer::create(Side::ped, keys.ped_to_hsm));
  }
  // The HSM detected the failure and sent an authenticated (sealed) close.
  void expect_hsm_failed(AlertCode code) {
    expect_failed(link_, Side::hsm, code);
    ASSERT_FALSE(link_.hsm_sent.empty());
    EXPECT_EQ(link_.hsm_sent.back().at(1), static_cast<std::uint8_t>(MessageType::record));
  }

  std::shared_ptr<SecretBytes> dkm_ = std::make_shared<SecretBytes>(0);
  ChannelLink link_{world(), Scheme::full_unified};
};

// Flip one byte (or one bit) of a sealed record.
struct ByteFlip {
  std::size_t offset;
  std::uint8_t mask;
};
void PrintTo(const ByteFlip& f, std::ostream* os) {
  *os << "byte " << f.offset << " xor " << int{f.mask};
}
constexpr std::string_view kFlipPayload = "sixteen bytes!!!";
constexpr std::size_t kFlipBody = kRecordSequenceBytes + 1 + kFlipPayload.size() + kRecordTagBytes;
constexpr std::size_t kFlipFrame = kFrameHeaderBytes + kFlipBody;
constexpr std::size_t kMinRecordBody = kRecordSequenceBytes + 1 + kRecordTagBytes;

struct FlipOutcome {
  AlertCode code;
  std::size_t waits_for = 0;  // the frame stays incomplete until this many more bytes arrive
};

// What endpoint.cpp / record.cpp do with each region of a damaged record.
FlipOutcome flip_outcome(const ByteFlip& f) {
  if (f.offset == 0) {
    return {AlertCode::unsupported_version};
  }
  if (f.offset == 1) {
    // A record retyped as an Alert fails Alert parsing; any other type is out of state.
    const auto type =
        static_cast<std::uint8_t>(static_cast<std::uint8_t>(MessageType::record) ^ f.mask);
    return {type == static_cast<std::uint8_t>(MessageType::alert) ? AlertCode::decode_error
                                                                  : AlertCode::unexpected_message};
  }
  if (f.offset < kFrameHeaderBytes) {
    const std::size_t shift = f.offset == 2 ? 8 : 0;
    const std::size_t length = kFlipBody ^ (std::size_t{f.mask} << shift);
    if (length > kMaxFrameBody) {
      return {AlertCode::frame_too_large};  // from the header alone
    }
    if (length > kFlipBody) {
      return {AlertCode::bad_record_mac, length - kFlipBody};  // the tag covers the header
    }
    return {length < kMinRecordBody ? AlertCode::decode_error : AlertCode::bad_record_mac};
  }
  return {AlertCode::bad_record_mac};  // sequence number, ciphertext, tag
}

std::vector<ByteFlip> byte_flips() {
  std::vector<ByteFlip> flips;
  for (std::size_t at = 0; at < kFlipFrame; ++at) {
    flips.push_back({at, 0xFF});
  }
  // Header bytes decide the outcome bit by bit, so flip every bit of them too.
  for (std::size_t at = 0; at < kFrameHeaderBytes; ++at) {
    for (unsigned bit = 0; bit < 8; ++bit) {
      flips.push_back({at, static_cast<std::uint8_t>(1u << bit)});
    }
  }
  return flips;
}

class ChannelRecordByteFlip : public ChannelRecordNegative,
                              public ::testing::WithParamInterface<ByteFlip> {};

TEST_P(ChannelRecordByteFlip, ClosesWithTheCodeOfTheDamagedRegion) {
  const ByteFlip& flip = GetParam();
  const FlipOutcome want = flip_outcome(flip);
  Bytes record = ped_record(kFlipPayload);
  ASSERT_EQ(record.size(), kFlipFrame);
  record[flip.offset] ^= flip.mask;

  Output out = link_.hsm.receive(record);
  if (want.waits_for > 0) {
    // A longer length field: the HSM waits for the rest of the frame, then the tag fails.
    EXPECT_TRUE(out.events.empty());
    EXPECT_TRUE(out.send.empty());
    out = link_.hsm.receive(Bytes(want.waits_for - 1, 0));
    EXPECT_TRUE(out.events.empty());
    EXPECT_EQ(link_.hsm.state(), State::established);
    out = link_.hsm.receive(Bytes(1, 0));
  }
  link_.pump(std::move(out), {});
  expect_hsm_failed(want.code);
  EXPECT_TRUE(ChannelLink::data(link_.hsm_events).empty());
}

INSTANTIATE_TEST_SUITE_P(Channel, ChannelRecordByteFlip, ::testing::ValuesIn(byte_flips()),
                         [](const ::testing::TestParamInfo<ByteFlip>& param_info) {
                           return "byte" + std::to_string(param_info.param.offset) + "_xor" +
                                  std::to_string(param_info.param.mask);
                         });

class ChannelRecordShortBody : public ChannelRecordNegative,
                               public ::testing::WithParamInterface<std::size_t> {};

TEST_P(ChannelRecordShortBody, IsADecodeError) {
  to_hsm(frame(MessageType::record, Bytes(GetParam(), 0x5A)));
  expect_hsm_failed(AlertCode::decode_error);
}

INSTANTIATE_TEST_SUITE_P(Channel, ChannelRecordShortBody,
                         ::testing::Values(std::size_t{0}, std::size_t{1}, kRecordSequenceBytes,
                                           kRecordSequenceBytes + kRecordTagBytes,
                                           kMinRecordBody - 1));

TEST_F(ChannelRecordNegative, TruncatedRecordFollowedByMoreBytesFailsTheTag) {
  const Bytes first = ped_record("first");
  const Bytes second = ped_record("second");
  constexpr std::size_t kCut = 10;
  const Output partial = link_.hsm.receive(ByteView(first).first(first.size() - kCut));
  EXPECT_TRUE(partial.events.empty());
  EXPECT_TRUE(partial.send.empty());
  EXPECT_EQ(link_.hsm.state(), State::established);
  // The first frame completes with the second record's leading bytes.
  to_hsm(second);
  expect_hsm_failed(AlertCode::bad_record_mac);
  EXPECT_TRUE(ChannelLink::data(link_.hsm_events).empty());
}

TEST_F(ChannelRecordNegative, ReplayedRecordIsOutOfOrder) {
  const Bytes record = ped_record("SO login");
  to_hsm(record);
  ASSERT_EQ(ChannelLink::data(link_.hsm_events).size(), 1u);
  to_hsm(record);
  expect_hsm_failed(AlertCode::record_out_of_order);
  EXPECT_EQ(ChannelLink::data(link_.hsm_events).size(), 1u);
}

TEST_F(ChannelRecordNegative, ReorderedRecordsAreOutOfOrder) {
  const Bytes first = ped_record("first");
  const Bytes second = ped_record("second");
  to_hsm(second);
  expect_hsm_failed(AlertCode::record_out_of_order);
  EXPECT_TRUE(ChannelLink::data(link_.hsm_events).empty());
}

TEST_F(ChannelRecordNegative, ReflectedRecordFailsTheTag) {
  const Bytes record = hsm_record("Insert the blue PED key");
  link_.pump({}, link_.ped.receive(record));  // the genuine delivery
  ASSERT_EQ(ChannelLink::data(link_.ped_events).size(), 1u);
  to_hsm(record);  // and a copy sent back to its author
  expect_hsm_failed(AlertCode::bad_record_mac);
}

TEST_F(ChannelRecordNegative, OversizedLengthIsRefusedFromTheHeaderAlone) {
  Bytes header;
  FrameHeader{kProtocolVersion, static_cast<std::uint8_t>(MessageType::record),
              static_cast<std::uint16_t>(kMaxFrameBody + 1)}
      .serialize(header);
  to_hsm(header);
  expect_hsm_failed(AlertCode::frame_too_large);
}

TEST_F(ChannelRecordNegative, MaximalLengthWaitsForTheBody) {
  Bytes header;
  FrameHeader{kProtocolVersion, static_cast<std::uint8_t>(MessageType::record),
              static_cast<std::uint16_t>(kMaxFrameBody)}
      .serialize(header);
  const Output out = link_.hsm.receive(header);
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(link_.hsm.state(), State::established);
  to_hsm(Bytes(kMaxFrameBody, 0));
  expect_hsm_failed(AlertCode::bad_record_mac);
}

TEST(ChannelFrameNegative, OversizedLengthBeforeEstablishmentIsRefusedFromTheHeaderAlone) {
  ChannelLink link(world(), Scheme::full_unified);
  Bytes header;
  FrameHeader{kProtocolVersion, static_cast<std::uint8_t>(MessageType::hsm_hello),
              static_cast<std::uint16_t>(kMaxFrameBody + 1)}
      .serialize(header);
  const Output out = link.ped.receive(header);
  ASSERT_EQ(out.events.size(), 1u);
  const auto* closed = std::get_if<ClosedEvent>(&out.events.front());
  ASSERT_NE(closed, nullptr);
  EXPECT_EQ(closed->code, AlertCode::frame_too_large);
  EXPECT_EQ(out.send, alert_frame(AlertCode::frame_too_large));
  EXPECT_FALSE(link.ped.holds_key_material());
}

// Records forged under the genuine keys: the tag verifies, the content does not parse.
struct ForgedRecord {
  std::string name;
  std::uint8_t content_type;
  Bytes payload;
  std::optional<AlertCode> peer_close;  // a well-formed close: the HSM ends by_peer with this code
};
void PrintTo(const ForgedRecord& c, std::ostream* os) {
  *os << c.name;
}

std::vector<ForgedRecord> forged_records() {
  const auto close = static_cast<std::uint8_t>(ContentType::close);
  return {
      {"ContentType0", 0, {}, std::nullopt},
      {"ContentType5", 5, {}, std::nullopt},  // the identity moved into HsmHello (docs/attestation.md §6)
      {"ContentType6", 6, {}, std::nullopt},
      {"ContentType255", 0xFF, Bytes{1, 2, 3}, std::nullopt},
      {"CloseWithoutCode", close, {}, std::nullopt},
      {"CloseWithOneByte", close, Bytes{0x00}, std::nullopt},
      {"CloseWithTrailingByte", close, Bytes{0x00, 0x11, 0x00}, std::nullopt},
      {"CloseWithUnknownCode", close, Bytes{0x00, 0x14}, std::nullopt},
      {"CloseRemoteModeExited", close, Bytes{0x00, 0x11},
       AlertCode::remote_mode_exited},  // control
  };
}

class ChannelForgedRecord : public ChannelRecordNegative,
                            public ::testing::WithParamInterface<ForgedRecord> {};

TEST_P(ChannelForgedRecord, WithMalformedContentIsADecodeError) {
  const ForgedRecord& c = GetParam();
  RecordSealer sealer = forged_ped_sealer();
  to_hsm(must(sealer.seal(static_cast<ContentType>(c.content_type), c.payload)));
  if (c.peer_close) {
    const auto closed = ChannelLink::closed(link_.hsm_events);
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->code, *c.peer_close);
    EXPECT_TRUE(closed->by_peer);
    EXPECT_FALSE(link_.hsm.holds_key_material());
    return;
  }
  expect_hsm_failed(AlertCode::decode_error);
}

INSTANTIATE_TEST_SUITE_P(Channel, ChannelForgedRecord, ::testing::ValuesIn(forged_records()),
                         [](const ::testing::TestParamInfo<ForgedRecord>& param_info) {
                           return param_info.param.name;
                         });

// --- message parsers ---------------------------------------------------------

template <typename Message>
Result<void> parse_only(ByteView body) {
  auto parsed = Message::parse(body);
  if (!parsed.ok()) {
    return std::move(parsed).error();
  }
  return {};
}
using Parser = Result<void> (*)(ByteView);

const Bytes kDummyDer = {0x30, 0x03, 0x02, 0x01, 0x01};  // parse() does not decode certificates

// The identity block that ends HsmHello: label, model, firmware, PKC.
Bytes identity_block(const Bytes& label = bytes_of("prod-ca"), const Bytes& pkc = {}) {
  Writer w;
  w.vector16(label);
  w.vector16(bytes_of("Luna PCIe HSM 7"));
  w.vector16(bytes_of("7.8.4"));
  w.vector16(pkc);
  return w.take();
}

Bytes hello_body(std::uint8_t scheme, std::size_t ephemeral_bytes, std::size_t certificates,
                 const Bytes& der = kDummyDer, const Bytes& identity = identity_block()) {
  Writer w;
  w.u8(scheme);
  w.u64(1234567);
  w.bytes(Bytes(ephemeral_bytes, 0x04));
  w.u8(static_cast<std::uint8_t>(certificates));
  for (std::size_t i = 0; i < certificates; ++i) {
    w.vector16(der);
  }
  w.bytes(identity);
  return w.take();
}
Bytes full_unified_hello(std::size_t certificates) {
  return hello_body(static_cast<std::uint8_t>(Scheme::full_unified), kP521PointBytes, certificates);
}

Bytes key_share_body(const Bytes& rpk_certificate = kDummyDer) {
  Writer w;
  w.bytes(Bytes(kP521PointBytes, 0x04));
  w.u64(7001);
  w.vector16(rpk_certificate);
  w.bytes(Bytes(kKcTagBytes, 0xAB));
  return w.take();
}

Bytes with_trailing_byte(Bytes body) {
  body.push_back(0x00);
  return body;
}
Bytes without_last_byte(Bytes body) {
  body.pop_back();
  return body;
}

struct MalformedMessage {
  std::string name;
  Parser parse;
  Bytes body;
};
void PrintTo(const MalformedMessage& c, std::ostream* os) {
  *os << c.name;
}

std::vector<MalformedMessage> malformed_messages() {
  const Parser hello = &parse_only<HsmHello>;
  const Parser share = &parse_only<PedKeyShare>;
  const Parser confirm = &parse_only<HsmConfirm>;
  const Parser alert = &parse_only<Alert>;
  const Bytes oversized_der(kMaxCertificateBytes + 1, 0x30);
  return {
      {"HsmHelloWithoutCertificates", hello, full_unified_hello(0)},
      {"HsmHelloWithOneCertificate", hello, full_unified_hello(1)},
      {"HsmHelloWithFourCertificates", hello, full_unified_hello(4)},
      {"HsmHelloWithScheme0", hello, hello_body(0, kP521PointBytes, 2)},
      {"HsmHelloWithScheme3", hello, hello_body(3, kP521PointBytes, 2)},
      {"HsmHelloWithScheme255", hello, hello_body(0xFF, kP521PointBytes, 2)},
      {"HsmHelloOnePassWithPointSizedEphemeral", hello, hello_body(1, kP521PointBytes, 2)},
      {"HsmHelloWithTrailingByte", hello, with_trailing_byte(full_unified_hello(2))},
      {"HsmHelloWithEmptyCertificate", hello, hello_body(2, kP521PointBytes, 2, Bytes{})},
      {"HsmHelloWithOversizedCertificate", hello, hello_body(2, kP521PointBytes, 2, oversized_der)},
      {"HsmHelloEmpty", hello, Bytes{}},
      {"HsmHelloWithoutIdentity", hello, hello_body(2, kP521PointBytes, 2, kDummyDer, Bytes{})},
      {"HsmHelloWithControlCharInLabel", hello,
       hello_body(2, kP521PointBytes, 2, kDummyDer, identity_block(bytes_of("prod\nca")))},
      {"HsmHelloWithLabelOf65Bytes", hello,
       hello_body(2, kP521PointBytes, 2, kDummyDer, identity_block(Bytes(kMaxIdentityTextBytes + 1, 'a')))},
      {"HsmHelloWithOversizedPkc", hello,
       hello_body(2, kP521PointBytes, 2, kDummyDer,
                  identity_block(bytes_of("ca"), Bytes(kMaxIdentityPkcBytes + 1, 0x30)))},
      {"PedKeyShareTruncated", share, without_last_byte(key_share_body())},
      {"PedKeyShareWithTrailingByte", share, with_trailing_byte(key_share_body())},
      {"PedKeyShareWithOversizedCertificate", share, key_share_body(oversized_der)},
      {"PedKeyShareEmpty", share, Bytes{}},
      {"HsmConfirmOf63Bytes", confirm, Bytes(kKcTagBytes - 1, 0xAB)},
      {"HsmConfirmOf65Bytes", confirm, Bytes(kKcTagBytes + 1, 0xAB)},
      {"HsmConfirmEmpty", confirm, Bytes{}},
      {"AlertWithCode20", alert, Bytes{0x00, 0x14}},
      {"AlertWithCode65535", alert, Bytes{0xFF, 0xFF}},
      {"AlertOfOneByte", alert, Bytes{0x00}},
      {"AlertOfThreeBytes", alert, Bytes{0x00, 0x00, 0x00}},
      {"AlertEmpty", alert, Bytes{}},
  };
}

class ChannelMessageParse : public ::testing::TestWithParam<MalformedMessage> {};

TEST_P(ChannelMessageParse, RefusesMalformedBodyAsInvalidEncoding) {
  EXPECT_TRUE(fails_with(GetParam().parse(GetParam().body), Errc::invalid_encoding));
}

INSTANTIATE_TEST_SUITE_P(Channel, ChannelMessageParse, ::testing::ValuesIn(malformed_messages()),
                         [](const ::testing::TestParamInfo<MalformedMessage>& param_info) {
                           return param_info.param.name;
                         });

// The well-formed bodies the malformed ones derive from, and every proper prefix of them.
TEST(ChannelMessageParsePrefixes, WellFormedBodiesParseAndEveryProperPrefixIsInvalidEncoding) {
  const std::vector<std::pair<Parser, Bytes>> well_formed = {
      {&parse_only<HsmHello>, full_unified_hello(2)},
      {&parse_only<HsmHello>, full_unified_hello(3)},
      {&parse_only<HsmHello>, hello_body(1, kHsmNonceBytes, 2)},
      {&parse_only<PedKeyShare>, key_share_body()},
      {&parse_only<PedKeyShare>, key_share_body(Bytes{})},  // C(1e,1s): no RPK certificate
      {&parse_only<HsmConfirm>, Bytes(kKcTagBytes, 0xAB)},
      {&parse_only<Alert>, Bytes{0x00, 0x12}},
  };
  std::size_t prefixes = 0;
  for (const auto& [parse, body] : well_formed) {
    ASSERT_TRUE(is_ok(parse(body)));
    for (std::size_t n = 0; n < body.size(); ++n) {
      EXPECT_TRUE(fails_with(parse(ByteView(body).first(n)), Errc::invalid_encoding))
          << "prefix of " << n << " bytes";
      ++prefixes;
    }
  }
  EXPECT_GT(prefixes, 0u);
}

}  // namespace
}  // namespace rped::channel
