// PED emulator: Remote PED mode. RPV initialization onto orange keys, the RPK
// info, the PED side of the channel's key derivation (Full Unified with the
// RPV and RPK; one-pass with the typed password), set_remote_session, mode
// changes and the exit confirmation.
#include <gtest/gtest.h>

#include "pedsim_harness.h"
#include "rped/channel/key_schedule.h"
#include "rped/crypto/ec.h"
#include "support/pki.h"

namespace rped::pedsim::test {
namespace {

using ped::KeyType;
using ped::Op;
using ped::Status;

constexpr std::uint64_t kHsmSerial = 1234567;
constexpr std::uint64_t kRpkSerial = 42;

class PedRemote : public ::testing::Test {
 protected:
  PedRemote() {
    for (int i = 1; i <= 4; ++i) {
      folder.blank("blank" + std::to_string(i));
    }
  }

  KeyFolder folder;
  WrittenKeyset blue = folder.mint(KeyType::blue, "blue", 1, 1, {}, random_secret());
  std::unique_ptr<PedDevice> device = make_device(folder);
  TestHost host{*device};
  Custodian custodian{*device};

  // The HSM's world: its PKI, and the RPK it certifies under its HOC.
  rped::test::HsmPki pki = rped::test::make_hsm_pki(kHsmSerial);
  crypto::EcKeyPair rpk = must(crypto::EcKeyPair::generate());
  crypto::Certificate rpk_certificate = rped::test::issue_rpk(pki, rpk.public_key(), kRpkSerial);
  SecretBytes rpv = random_secret(channel::kRpvBytes);

  Reply reply_to(std::uint32_t id) {
    auto reply = host.reply(id);
    EXPECT_TRUE(reply.has_value()) << "no response to request " << id;
    return reply ? std::move(*reply) : Reply{};
  }

  Bytes rpk_keyset_body(const crypto::Certificate& certificate) {
    ped::CreateRpkKeysetRequest request;
    request.hsm_serial = kHsmSerial;
    request.rpk_serial = kRpkSerial;
    request.rpv = rpv.clone();
    request.rpk_private = must(rpk.export_private_scalar());
    request.rpk_certificate = certificate.der();
    return request.serialize();
  }

  // RPV initialization: 2 of 2 orange keys on blank1 (PIN 2580) and blank2 (no PIN).
  void initialize_rpv() {
    const auto id = host.send(Op::create_rpk_keyset, rpk_keyset_body(rpk_certificate));
    ASSERT_TRUE(custodian.expect("REMOTE PED VECTOR"));
    ASSERT_TRUE(custodian.expect("Enter M value:"));
    custodian.pin("2");
    ASSERT_TRUE(custodian.expect("Enter N value:"));
    custodian.pin("2");
    ASSERT_TRUE(
        custodian.expect("Insert a Remote PED Vector PED Key (ORANGE) Press ENTER. Key 1 of 2"));
    custodian.present("blank1");
    ASSERT_TRUE(custodian.expect("Overwrite?"));
    custodian.yes();
    ASSERT_TRUE(custodian.expect("Enter new PED PIN"));
    custodian.pin("2580");
    ASSERT_TRUE(custodian.expect("Confirm new PED PIN:"));
    custodian.pin("2580");
    ASSERT_TRUE(custodian.expect("Key 2 of 2"));
    custodian.present("blank2");
    ASSERT_TRUE(custodian.expect("Overwrite?"));
    custodian.yes();
    ASSERT_TRUE(custodian.expect("Enter new PED PIN"));
    custodian.enter();
    ASSERT_TRUE(custodian.expect("Create duplicate keysets?"));
    custodian.no();
    const Reply reply = reply_to(id);
    ASSERT_EQ(reply.status, Status::ok) << reply.message;
    const auto response = must(ped::CreateRpkKeysetResponse::parse(reply.payload));
    EXPECT_EQ(response.m, 2);
    EXPECT_EQ(response.n, 2);
  }

  // A PED-side C(2e,2s) key request as pedserver builds it.
  channel::KeyDerivationRequest full_unified_request(std::uint64_t rpk_serial = kRpkSerial) {
    const auto ped_ephemeral = must(crypto::EcKeyPair::generate());
    const auto hsm_ephemeral = must(crypto::EcKeyPair::generate());
    channel::KeyDerivationRequest request;
    request.side = channel::Side::ped;
    request.transcript.scheme = channel::Scheme::full_unified;
    request.transcript.hsm_serial = kHsmSerial;
    request.transcript.rpk_serial = rpk_serial;
    request.transcript.ped_ephemeral_xy = ped_ephemeral.public_key().xy();
    request.transcript.hsm_ephemeral_data = hsm_ephemeral.public_key().xy();
    request.transcript.hello_digest = Bytes(channel::kHelloDigestBytes, 0x11);
    request.z_part = must(ped_ephemeral.ecdh(hsm_ephemeral.public_key()));  // Ze
    request.device_peer_key = pki.ecdh_key.public_key();                    // the HSM's static key
    return request;
  }

  Bytes derive_body(const channel::KeyDerivationRequest& request) {
    ped::DeriveSessionKeysRequest body;
    body.request.side = request.side;
    body.request.transcript = request.transcript;
    body.request.z_part = request.z_part.clone();
    body.request.device_peer_key = request.device_peer_key;
    return body.serialize();
  }
};

TEST_F(PedRemote, RpvInitializationThenRpkInfoThenFullUnifiedDerivation) {
  initialize_rpv();
  const PedKeyRecord orange = folder.load("blank1");
  EXPECT_EQ(orange.type, KeyType::orange);
  EXPECT_EQ(orange.rpk_serial, kRpkSerial);
  EXPECT_EQ(orange.hsm_serial, kHsmSerial);

  // read_rpk_info: the public half, no PIN.
  const auto info_id = host.send(Op::read_rpk_info, ped::ReadRpkInfoRequest{}.serialize());
  ASSERT_TRUE(custodian.expect("Insert a Remote PED Vector PED Key (ORANGE)"));
  custodian.present("blank2");
  const Reply info_reply = reply_to(info_id);
  ASSERT_EQ(info_reply.status, Status::ok) << info_reply.message;
  const auto info = must(ped::ReadRpkInfoResponse::parse(info_reply.payload));
  EXPECT_EQ(info.hsm_serial, kHsmSerial);
  EXPECT_EQ(info.rpk_serial, kRpkSerial);
  EXPECT_EQ(info.rpk_certificate, rpk_certificate.der());

  // derive_session_keys, Full Unified: M orange splits with PINs, the RPV recombined.
  const auto request = full_unified_request();
  const auto id = host.send(Op::derive_session_keys, derive_body(request));
  ASSERT_TRUE(custodian.expect("REMOTE PED LOGIN..."));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("2580");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 02"));
  custodian.present("blank2");
  const Reply reply = reply_to(id);
  ASSERT_EQ(reply.status, Status::ok) << reply.message;
  const auto response = must(ped::DeriveSessionKeysResponse::parse(reply.payload));
  const SecretBytes expected = must(channel::derive_dkm(request, &rpk, rpv.reveal()));
  EXPECT_EQ(response.dkm.size(), channel::kDkmBytes);
  EXPECT_TRUE(response.dkm == expected);
}

TEST_F(PedRemote, FullUnifiedShowsComputeSessionKeyWithThePeer) {
  initialize_rpv();
  const auto set = host.send(Op::set_remote_session,
                             ped::SetRemoteSessionRequest{true, "HSM 1234567"}.serialize());
  EXPECT_EQ(reply_to(set).status, Status::ok);
  ASSERT_TRUE(custodian.expect("HSM 1234567"));
  (void)host.displays();  // only what the derivation shows below
  const auto id = host.send(Op::derive_session_keys, derive_body(full_unified_request()));
  ASSERT_TRUE(custodian.expect("HSM 1234567 REMOTE PED LOGIN..."));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("2580");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 02"));
  custodian.present("blank2");
  EXPECT_EQ(reply_to(id).status, Status::ok);
  // The transient "COMPUTE SESSION KEY." screen reached the host as a display event.
  bool computed = false;
  for (const auto& display : host.displays()) {
    Screen screen = display.lines;
    computed =
        computed || (lcd_shows(screen, "COMPUTE SESSION KEY.") && lcd_shows(screen, "HSM 1234567"));
  }
  EXPECT_TRUE(computed);
}

TEST_F(PedRemote, OnePassPasswordIsTypedOnTheKeypad) {
  const auto ped_ephemeral = must(crypto::EcKeyPair::generate());
  channel::KeyDerivationRequest request;
  request.side = channel::Side::ped;
  request.transcript.scheme = channel::Scheme::one_pass_password;
  request.transcript.hsm_serial = kHsmSerial;
  request.transcript.rpk_serial = 0;
  request.transcript.ped_ephemeral_xy = ped_ephemeral.public_key().xy();
  Bytes nonce(channel::kHsmNonceBytes);
  ASSERT_TRUE(rped::test::is_ok(crypto::random_bytes(nonce)));
  request.transcript.hsm_ephemeral_data = nonce;
  request.transcript.hello_digest = Bytes(channel::kHelloDigestBytes, 0x11);
  request.z_part = must(ped_ephemeral.ecdh(pki.ecdh_key.public_key()));  // Z = CDH(QeU, QsV)
  const auto id = host.send(Op::derive_session_keys, derive_body(request));
  ASSERT_TRUE(custodian.expect("Enter PED Password."));
  custodian.pin("1234");  // too short
  ASSERT_TRUE(custodian.expect("8 digits, then ENTER."));
  custodian.pin("20240517");
  const Reply reply = reply_to(id);
  ASSERT_EQ(reply.status, Status::ok) << reply.message;
  const auto response = must(ped::DeriveSessionKeysResponse::parse(reply.payload));
  const std::string password = "20240517";
  const SecretBytes expected = must(channel::derive_dkm(
      request, nullptr,
      ByteView(reinterpret_cast<const std::uint8_t*>(password.data()), password.size())));
  EXPECT_TRUE(response.dkm == expected);
}

TEST_F(PedRemote, OrangeKeysOfAnotherRpkAreAMismatch) {
  initialize_rpv();
  const auto id =
      host.send(Op::derive_session_keys, derive_body(full_unified_request(kRpkSerial + 1)));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blank2");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 02"));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("2580");
  EXPECT_EQ(reply_to(id).status, Status::keyset_mismatch);
}

TEST_F(PedRemote, AWrongOrangePinYieldsNoKeys) {
  initialize_rpv();
  const auto id = host.send(Op::derive_session_keys, derive_body(full_unified_request()));
  ASSERT_TRUE(custodian.expect("Press ENTER."));
  custodian.present("blank1");
  ASSERT_TRUE(custodian.expect("Enter PED PIN:"));
  custodian.pin("2581");
  ASSERT_TRUE(custodian.expect("Keys read: 01 of 02"));
  custodian.present("blank2");
  EXPECT_EQ(reply_to(id).status, Status::pin_incorrect);
}

TEST_F(PedRemote, RpkInfoNeedsAnOrangeKey) {
  const auto id = host.send(Op::read_rpk_info, ped::ReadRpkInfoRequest{}.serialize());
  ASSERT_TRUE(custodian.expect("PED Key (ORANGE)"));
  custodian.present("blue1");
  EXPECT_EQ(reply_to(id).status, Status::wrong_key_type);
}

TEST_F(PedRemote, ACertificateForAnotherKeyIsRefused) {
  const auto other = must(crypto::EcKeyPair::generate());
  const auto wrong = rped::test::issue_rpk(pki, other.public_key(), kRpkSerial);
  const Reply reply = reply_to(host.send(Op::create_rpk_keyset, rpk_keyset_body(wrong)));
  EXPECT_EQ(reply.status, Status::bad_request);
  EXPECT_NE(reply.message.find("does not certify"), std::string::npos) << reply.message;
}

TEST_F(PedRemote, HsmSideKeyRequestsAreRefused) {
  auto request = full_unified_request();
  request.side = channel::Side::hsm;
  request.peer_tag = Bytes(channel::kKcTagBytes, 0x11);
  ped::DeriveSessionKeysRequest body;
  body.request.side = request.side;
  body.request.transcript = request.transcript;
  body.request.z_part = request.z_part.clone();
  body.request.device_peer_key = request.device_peer_key;
  body.request.peer_tag = request.peer_tag;
  EXPECT_EQ(reply_to(host.send(Op::derive_session_keys, body.serialize())).status,
            Status::bad_request);
}

TEST_F(PedRemote, LeavingRemotePedModeAsksAndThenDropsTheSession) {
  const auto set = host.send(Op::set_remote_session,
                             ped::SetRemoteSessionRequest{true, "HSM 1234567"}.serialize());
  EXPECT_EQ(reply_to(set).status, Status::ok);
  ASSERT_TRUE(custodian.expect("Remote PED mode HSM 1234567"));

  device->select_mode(ped::Mode::local);
  ASSERT_TRUE(custodian.expect("Exiting now will invalidate the RPK. Confirm? YES/NO"));
  custodian.no();
  ASSERT_TRUE(custodian.expect("Remote PED mode HSM 1234567"));
  EXPECT_EQ(device->mode(), ped::Mode::remote);
  EXPECT_FALSE(host.event(Op::remote_mode_exited, std::chrono::milliseconds(50)).has_value());

  custodian.press(Keypad::back);  // '<' on the idle screen asks the same
  ASSERT_TRUE(custodian.expect("Exiting now will invalidate the RPK."));
  custodian.yes();
  ASSERT_TRUE(host.event(Op::remote_mode_exited).has_value());
  const auto changed = host.event(Op::mode_changed);
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(must(ped::ModeChangedEvent::parse(changed->body)).mode, ped::Mode::local);
  ASSERT_TRUE(custodian.expect("Local PED-USB mode"));
  EXPECT_EQ(device->mode(), ped::Mode::local);

  const Reply status = reply_to(host.send(Op::get_status));
  ASSERT_EQ(status.status, Status::ok);
  const auto parsed = must(ped::StatusResponse::parse(status.payload));
  EXPECT_EQ(parsed.mode, ped::Mode::local);
  EXPECT_FALSE(parsed.remote_session);
  EXPECT_EQ(reply_to(host.send(Op::read_secret, read_secret_body(KeyType::blue))).status,
            Status::not_in_remote_mode);

  // Back to Remote PED through the menu (7) and the host may run flows again.
  custodian.press(Keypad::d7);
  ASSERT_TRUE(custodian.expect("Remote PED mode"));
  const auto back = host.event(Op::mode_changed);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(must(ped::ModeChangedEvent::parse(back->body)).mode, ped::Mode::remote);
  EXPECT_FALSE(lcd_shows(device->lcd(), "HSM 1234567"));  // the session did not survive the exit
}

TEST_F(PedRemote, IdentifyGetStatusAndSelfTestWorkInEveryMode) {
  auto local = make_device(folder, ped::Mode::local);
  TestHost local_host(*local);
  const auto identify = local_host.reply(local_host.send(Op::identify));
  ASSERT_TRUE(identify.has_value());
  ASSERT_EQ(identify->status, Status::ok);
  const auto parsed = must(ped::IdentifyResponse::parse(identify->payload));
  EXPECT_EQ(parsed.serial, "PED-TEST-1");
  EXPECT_EQ(parsed.mode, ped::Mode::local);

  ASSERT_TRUE(rped::test::is_ok(local->insert_key("blue1")));
  const auto status = local_host.reply(local_host.send(Op::get_status));
  ASSERT_TRUE(status.has_value());
  const auto state = must(ped::StatusResponse::parse(status->payload));
  EXPECT_TRUE(state.key_inserted);
  EXPECT_EQ(state.inserted_key, KeyType::blue);

  const auto self_test = local_host.reply(local_host.send(Op::self_test));
  ASSERT_TRUE(self_test.has_value());
  ASSERT_EQ(self_test->status, Status::ok);
  const auto outcome = must(ped::SelfTestResponse::parse(self_test->payload));
  EXPECT_TRUE(outcome.passed) << outcome.report;

  const auto session = local_host.reply(local_host.send(
      Op::set_remote_session, ped::SetRemoteSessionRequest{true, "HSM 1"}.serialize()));
  ASSERT_TRUE(session.has_value());
  EXPECT_EQ(session->status, Status::not_in_remote_mode);
}

}  // namespace
}  // namespace rped::pedsim::test

namespace rped::pedsim::test {
namespace {

// docs/attestation.md §6: confirm_identity shows which HSM asks; YES and NO
// are answers, `<` cancels, a notice needs no answer.
class PedConfirmIdentity : public ::testing::Test {
 protected:
  KeyFolder folder;
  std::unique_ptr<PedDevice> device = make_device(folder);
  TestHost host{*device};
  Custodian custodian{*device};

  std::uint32_t ask(bool ask_yes_no = true, std::uint32_t timeout_ms = 20'000) {
    ped::ConfirmIdentityRequest request;
    request.ask = ask_yes_no;
    request.lines = {"HSM 1234567", "\"prod-ca\"", "verified:", "RPED Demo Root"};
    request.timeout_ms = timeout_ms;
    return host.send(Op::confirm_identity, request.serialize());
  }
  std::optional<ped::ConfirmIdentityResponse> answer(std::uint32_t id, Status expected = Status::ok) {
    auto reply = host.reply(id);
    EXPECT_TRUE(reply.has_value());
    if (!reply) {
      return std::nullopt;
    }
    EXPECT_EQ(reply->status, expected) << reply->message;
    if (reply->status != Status::ok) {
      return std::nullopt;
    }
    return must(ped::ConfirmIdentityResponse::parse(reply->payload));
  }
};

TEST_F(PedConfirmIdentity, YesConfirms) {
  const auto id = ask();
  ASSERT_TRUE(custodian.expect("RPED Demo Root"));
  ASSERT_TRUE(custodian.expect("Proceed? YES/NO"));
  custodian.yes();
  const auto response = answer(id);
  ASSERT_TRUE(response.has_value());
  EXPECT_TRUE(response->confirmed);
}

TEST_F(PedConfirmIdentity, NoRefusesAndSaysSo) {
  const auto id = ask();
  ASSERT_TRUE(custodian.expect("Proceed? YES/NO"));
  custodian.no();
  const auto response = answer(id);
  ASSERT_TRUE(response.has_value());
  EXPECT_FALSE(response->confirmed);
  // "Refused by custodian" flashes before the idle screen: E2eTest.NoAtThePedRefusesTheHsm
  // finds it in pedsim's screen transcript.
}

TEST_F(PedConfirmIdentity, BackCancels) {
  const auto id = ask();
  ASSERT_TRUE(custodian.expect("Proceed? YES/NO"));
  custodian.press(Keypad::back);
  EXPECT_FALSE(answer(id, Status::cancelled).has_value());
}

TEST_F(PedConfirmIdentity, ANoticeEndsByItselfUnconfirmed) {
  const auto id = ask(false, 200);
  ASSERT_TRUE(custodian.expect("HSM 1234567"));
  const auto response = answer(id);
  ASSERT_TRUE(response.has_value());
  EXPECT_FALSE(response->confirmed);
}

}  // namespace
}  // namespace rped::pedsim::test
