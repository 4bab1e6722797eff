// hsmsim's firmware through its backend socket, with pedclient played by
// FakePedclient (the real rped_hsm_backend client, the real channel endpoints)
// and the PED by FakePed: identity, key derivation in both schemes (the HSM
// computes the static CDH and checks tag_U itself), the one-time password's
// attempt limit, RPV initialization, hsm init, role login with the failed-login
// policy, and the result codes of every documented failure.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <cstring>

#include "hsmsim/hsmsim_fixture.h"

namespace rped::hsmsim::test {
namespace {

using rped::test::fails_with;
using rped::test::is_ok;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(HsmIdentity, ChainsToTheManufacturerRootAndNamesTheSerial) {
  HsmBench bench(7654321);
  const pedclient::HsmIdentity id = must(bench.pedclient->backend().identity());
  EXPECT_EQ(id.serial, 7654321u);
  EXPECT_EQ(id.firmware_version, std::string(kDefaultFirmwareVersion));
  EXPECT_FALSE(id.rpv_initialized);
  ASSERT_EQ(id.certificate_chain.size(), 2u);
  const crypto::Certificate& static_cert = id.certificate_chain[0];
  // docs/protocol.md §8: keyAgreement, serialNumber = HSM serial, chain HOC -> root.
  EXPECT_TRUE(static_cert.allows_key_agreement());
  EXPECT_EQ(static_cert.subject_serial_number(), "7654321");
  const auto trust = must(crypto::TrustStore::from_anchors(std::span(&bench.root, 1)));
  const std::array hoc{id.certificate_chain[1]};
  EXPECT_TRUE(is_ok(trust.verify(static_cert, hoc)));
  // The HOC issues RPK certificates and nothing above end entities.
  EXPECT_TRUE(is_ok(
      must(crypto::TrustStore::from_issuer(id.certificate_chain[1])).verify(static_cert, {})));
}

TEST(HsmRemoteRpv, OneTimePasswordThenRpvInitThenFullUnified) {
  HsmBench bench;
  // ped connect -password: the HSM shows the password; the custodian types it.
  const CommandResult opened = bench.connect_with_password();
  ASSERT_TRUE(opened.ok()) << opened.message << "\n" << bench.console.text();
  EXPECT_TRUE(contains(bench.console.text(), "One-time password for the PED: <secret>"));
  const SecretBytes shown = bench.console.shown_secret();
  ASSERT_EQ(shown.size(), 8u);
  EXPECT_TRUE(std::all_of(shown.reveal().begin(), shown.reveal().end(),
                          [](std::uint8_t c) { return c >= '0' && c <= '9'; }));
  EXPECT_TRUE(bench.hsm->ped_connected());

  // A one-time-password session serves only ped vector init.
  EXPECT_EQ(bench.run("hsm init -label L").code, ResultCode::operation_not_allowed);

  const CommandResult init = bench.run("ped vector init");
  ASSERT_TRUE(init.ok()) << init.message << "\n" << bench.console.text();
  ASSERT_TRUE(bench.ped.has_orange_key());
  EXPECT_FALSE(bench.hsm->ped_connected()) << "the one-pass session ends after RPV initialization";
  const HsmState state = bench.hsm->snapshot();
  ASSERT_TRUE(state.rpv.initialized);
  EXPECT_EQ(state.rpv.rpk_serial, bench.ped.orange_rpk_serial());
  EXPECT_TRUE(must(bench.pedclient->backend().identity()).rpv_initialized);

  // The RPK certificate: issued by the HSM's HOC, keyAgreement, serialNumber = RPK serial.
  const crypto::Certificate rpk = *bench.ped.orange_certificate();
  const crypto::Certificate hoc =
      must(crypto::Certificate::from_der(state.manufacturing.hoc_certificate));
  EXPECT_TRUE(is_ok(must(crypto::TrustStore::from_issuer(hoc)).verify(rpk, {})));
  EXPECT_TRUE(rpk.allows_key_agreement());
  EXPECT_EQ(rpk.subject_serial_number(), std::to_string(state.rpv.rpk_serial));

  // The password was one-time: a second one-pass derivation has nothing to use.
  const CommandResult fu = bench.run("ped connect -ip 127.0.0.1 -port 1503");
  ASSERT_TRUE(fu.ok()) << fu.message << "\n" << bench.console.text();
  EXPECT_TRUE(bench.hsm->ped_connected());
  EXPECT_TRUE(contains(bench.console.text(), "RPK serial " + std::to_string(state.rpv.rpk_serial)));
  EXPECT_TRUE(bench.run("ped show").ok());
  EXPECT_TRUE(contains(bench.console.text(), "Full Unified"));
}

TEST(HsmRemoteRpv, VectorInitOpensItsOwnOneTimePasswordConnection) {
  HsmBench bench;
  bench.console.on_secret = [&](const SecretBytes& s) { bench.ped.type_password(s); };
  const CommandResult init = bench.run("ped vector init -ip 127.0.0.1 -port 1503");
  ASSERT_TRUE(init.ok()) << init.message << "\n" << bench.console.text();
  EXPECT_TRUE(bench.hsm->snapshot().rpv.initialized);
  EXPECT_FALSE(bench.hsm->ped_connected());
}

TEST(HsmRemoteRpv, WithoutAddressOrPedThereIsNoLocalPed) {
  HsmBench bench;
  const CommandResult r = bench.run("ped vector init");
  EXPECT_EQ(r.code, ResultCode::ped_unplugged);
  EXPECT_TRUE(contains(r.message, "local PED")) << r.message;
}

TEST(HsmOneTimePassword, WrongPasswordsExhaustTheGuard) {
  HsmBench bench;
  // A host that keeps trying (or a custodian who keeps mistyping): four handshakes
  // against one password. The PED types a wrong password every time.
  bench.pedclient->handshake_attempts = 4;
  bench.ped.type_password(SecretBytes::copy_of(rped::test::bytes_of("99999999")));
  const CommandResult r = bench.run("ped connect -ip 127.0.0.1 -port 1503 -password 12345678");
  EXPECT_EQ(r.code, ResultCode::pin_incorrect) << r.message;
  EXPECT_TRUE(contains(r.message, "wrong one-time password")) << r.message;
  EXPECT_TRUE(contains(r.message, "used up")) << r.message;
  // Three tags failed; the fourth request was refused without a derivation.
  const auto failures = bench.pedclient->derive_failures();
  ASSERT_EQ(failures.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(contains(failures[i].message, "authentication_failed")) << failures[i].message;
  }
  EXPECT_TRUE(contains(failures[3].message, "used up")) << failures[3].message;
  EXPECT_FALSE(bench.hsm->ped_connected());
}

TEST(HsmOneTimePassword, TheRightPasswordAfterExhaustionIsStillRefused) {
  HsmBench bench;
  bench.pedclient->handshake_attempts = 4;
  // Three wrong attempts, then the right one: too late.
  std::atomic<int> attempt{0};
  bench.console.on_secret = nullptr;
  bench.ped.type_password(SecretBytes::copy_of(rped::test::bytes_of("11111111")));
  std::thread typist([&] {
    // The custodian finds the right password only after the guard is spent.
    while (bench.pedclient->derive_failures().size() < 3 && attempt++ < 2000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    bench.ped.type_password(SecretBytes::copy_of(rped::test::bytes_of("12345678")));
  });
  const CommandResult r = bench.run("ped connect -ip 127.0.0.1 -port 1503 -password 12345678");
  typist.join();
  EXPECT_EQ(r.code, ResultCode::pin_incorrect) << r.message;
  EXPECT_FALSE(bench.hsm->ped_connected());
  // And nothing is left to guess against: a derivation now is refused outright.
  EXPECT_FALSE(bench.hsm->snapshot().rpv.initialized);
}

TEST(HsmOneTimePassword, OneTimePasswordOnlyOnAZeroizedHsm) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label first").ok()) << bench.console.text();
  ASSERT_TRUE(bench.run("ped disconnect").ok());
  const CommandResult r = bench.connect_with_password();
  EXPECT_EQ(r.code, ResultCode::operation_not_allowed);
  EXPECT_TRUE(contains(r.message, "zeroized"));
}

TEST(HsmKeyDerivation, RefusesWithoutAnActivePasswordOrRpv) {
  HsmBench bench;
  // No `ped connect -password` is running: the HSM has no password to derive with.
  const CommandResult r = bench.run("ped connect -ip 127.0.0.1 -port 1503");
  EXPECT_EQ(r.code, ResultCode::operation_not_allowed) << "no RPV yet";
  const rped::test::ChannelWorld world;  // a key request for another HSM's serial
  rped::test::ChannelLink link(world, channel::Scheme::one_pass_password);
  std::optional<Error> refused;
  link.hsm_device = [&](const channel::KeyDerivationRequest& request) {
    auto dkm = bench.pedclient->backend().derive_session_keys(request, nullptr);
    refused = dkm.ok() ? std::nullopt : std::optional(dkm.error());
    return dkm;
  };
  link.run();
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->code, Errc::mac_mismatch);
  EXPECT_TRUE(contains(refused->message, "not_allowed")) << refused->message;
  EXPECT_TRUE(contains(refused->message, "names HSM 1234567; this is HSM") ||
              contains(refused->message, "no one-time password"))
      << refused->message;
}

TEST(HsmKeyDerivation, WrongOrangeKeyFailsTheConnectClearly) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("ped disconnect").ok());
  bench.ped.corrupt_orange_rpv();
  const CommandResult r = bench.run("ped connect -ip 127.0.0.1 -port 1503");
  EXPECT_EQ(r.code, ResultCode::pin_incorrect);
  EXPECT_TRUE(contains(r.message, "orange key")) << r.message;
  EXPECT_TRUE(contains(r.message, "127.0.0.1:1503")) << r.message;
  EXPECT_FALSE(bench.hsm->ped_connected());
}

TEST(HsmKeyDerivation, TheHsmChecksTheRpkCertificateItself) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("ped disconnect").ok());
  // A certificate for the right key and serial, but issued by another HOC.
  const rped::test::HsmPki other = rped::test::make_hsm_pki(1234567);
  const crypto::Certificate real = *bench.ped.orange_certificate();
  bench.pedclient->substitute_rpk_certificate =
      rped::test::issue(must(real.ec_public_key()), other.hoc, other.hoc_key,
                        rped::test::rpk_spec(bench.ped.orange_rpk_serial()));
  const CommandResult r = bench.run("ped connect -ip 127.0.0.1 -port 1503");
  EXPECT_NE(r.code, ResultCode::ok);
  const auto failures = bench.pedclient->derive_failures();
  ASSERT_FALSE(failures.empty());
  EXPECT_TRUE(contains(failures.back().message, "not issued by this HSM's HOC"))
      << failures.back().message;

  // Without a certificate the HSM relies on pedclient's check; the RPV still decides.
  bench.pedclient->substitute_rpk_certificate.reset();
  bench.pedclient->pass_rpk_certificate = false;
  EXPECT_TRUE(bench.run("ped connect -ip 127.0.0.1 -port 1503").ok()) << bench.console.text();
}

TEST(HsmPedConnect, ReportsPedclientAndServerFailures) {
  HsmBench bench;
  EXPECT_EQ(bench.run("ped connect").code, ResultCode::arguments_bad) << "no address given or set";
  bench.pedclient->refuse_connect =
      hsm::Failure{hsm::Status::connect_failed, std::nullopt, "127.0.0.1:1: Connection refused"};
  const CommandResult refused = bench.connect_with_password("-ip 127.0.0.1 -port 1");
  EXPECT_EQ(refused.code, ResultCode::unable_to_connect);
  EXPECT_TRUE(contains(refused.message, "127.0.0.1:1")) << refused.message;

  bench.pedclient->refuse_connect =
      hsm::Failure{hsm::Status::handshake_failed, channel::AlertCode::ped_busy, "PED busy"};
  const CommandResult busy = bench.connect_with_password();
  EXPECT_EQ(busy.code, ResultCode::unable_to_connect);
  EXPECT_TRUE(contains(busy.message, "serving another HSM")) << busy.message;

  bench.pedclient->refuse_connect.reset();
  bench.pedclient->detach();
  for (int i = 0; i < 500 && bench.backend->attached(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(bench.connect_with_password().code, ResultCode::ped_client_not_running);
  EXPECT_EQ(bench.run("ped disconnect").code, ResultCode::ped_client_not_running);
}

TEST(HsmPedConnect, SettingsAreStoredAndOnlyOneConnectionAtATime) {
  HsmBench bench;
  ASSERT_TRUE(bench.run("ped set -ip 127.0.0.1 -port 1503").ok());
  EXPECT_EQ(bench.hsm->snapshot().ped.host, "127.0.0.1");
  ASSERT_TRUE(bench.connect_with_password("").ok()) << bench.console.text();  // the stored server
  const CommandResult second = bench.connect_with_password("");
  EXPECT_EQ(second.code, ResultCode::operation_not_allowed);
  EXPECT_TRUE(contains(second.message, "already open"));
  ASSERT_TRUE(bench.run("ped disconnect").ok());
  EXPECT_FALSE(bench.hsm->ped_connected());
  EXPECT_TRUE(bench.run("ped disconnect").ok()) << "nothing open: still fine";
}

TEST(HsmCommands, PedOperationsNeedAConnection) {
  HsmBench bench;
  EXPECT_EQ(bench.run("hsm init -label L").code, ResultCode::ped_unplugged);
}

TEST(HsmInit, CreatesSoAndDomainKeysThenSoLogsIn) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  const CommandResult init = bench.run("hsm init -label myLuna");
  ASSERT_TRUE(init.ok()) << init.message << "\n" << bench.console.text();
  EXPECT_EQ(bench.ped.created(),
            (std::vector<ped::KeyType>{ped::KeyType::blue, ped::KeyType::red}));
  const HsmState state = bench.hsm->snapshot();
  EXPECT_TRUE(state.initialized);
  EXPECT_EQ(state.label, "myLuna");
  EXPECT_TRUE(state.so.initialized);
  EXPECT_EQ(must(bench.pedclient->backend().identity()).label, "myLuna");

  const CommandResult login = bench.run("role login -name so");
  ASSERT_TRUE(login.ok()) << login.message << "\n" << bench.console.text();
  EXPECT_EQ(bench.hsm->logged_in(), Role::so);
  EXPECT_TRUE(contains(bench.console.text(), "Please attend to the PED."));
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::user_already_logged_in);
  EXPECT_TRUE(bench.run("role logout").ok());
  EXPECT_EQ(bench.run("role logout").code, ResultCode::user_not_logged_in);

  // Re-initialization needs the SO and a confirmation.
  EXPECT_EQ(bench.run("hsm init -label again").code, ResultCode::user_not_logged_in);
  ASSERT_TRUE(bench.run("role login -name so").ok());
  EXPECT_EQ(bench.run("hsm init -label again").code, ResultCode::function_canceled)
      << "nobody said proceed";
  bench.console.answer("proceed");
  EXPECT_TRUE(bench.run("hsm init -label again").ok()) << bench.console.text();
  EXPECT_FALSE(bench.hsm->logged_in().has_value());
}

TEST(HsmLogin, ThreeFailedSoLoginsZeroizeTheHsm) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label L").ok());
  bench.ped.present_wrong_secret(true);
  const CommandResult first = bench.run("role login -name so");
  EXPECT_EQ(first.code, ResultCode::pin_incorrect);
  EXPECT_TRUE(contains(bench.console.text(), "You have only 2 so login attempts left"))
      << bench.console.text();
  EXPECT_EQ(bench.hsm->snapshot().so.failed_logins, 1u);

  // A PIN typed wrong on the PED counts too (the PED says so after all M keys).
  bench.ped.present_wrong_secret(false);
  bench.ped.fail_next(ped::Status::pin_incorrect);
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::pin_incorrect);
  EXPECT_TRUE(contains(bench.console.text(), "You have only 1 so login attempts left"))
      << bench.console.text();

  // A wrong key colour, a timeout or a cancel does not count.
  bench.ped.fail_next(ped::Status::wrong_key_type);
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::callback_error);
  bench.ped.fail_next(ped::Status::timeout);
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::timeout);
  bench.ped.fail_next(ped::Status::cancelled);
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::function_canceled);
  EXPECT_EQ(bench.hsm->snapshot().so.failed_logins, 2u);

  // The counter survives a restart of the HSM.
  bench.restart();
  EXPECT_EQ(bench.hsm->snapshot().so.failed_logins, 2u);
  ASSERT_TRUE(bench.run("ped connect -ip 127.0.0.1 -port 1503").ok()) << bench.console.text();

  bench.ped.present_wrong_secret(true);
  const CommandResult third = bench.run("role login -name so");
  EXPECT_EQ(third.code, ResultCode::so_login_failure_threshold);
  EXPECT_TRUE(contains(third.message, "zeroized")) << third.message;
  const HsmState state = bench.hsm->snapshot();
  EXPECT_FALSE(state.initialized);
  EXPECT_FALSE(state.so.initialized);
  EXPECT_TRUE(state.rpv.initialized) << "zeroize keeps the RPV";
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::user_pin_not_initialized);
}

TEST(HsmLogin, ASuccessfulLoginResetsTheCounter) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label L").ok());
  bench.ped.present_wrong_secret(true);
  EXPECT_EQ(bench.run("role login -name so").code, ResultCode::pin_incorrect);
  bench.ped.present_wrong_secret(false);
  ASSERT_TRUE(bench.run("role login -name so").ok());
  EXPECT_EQ(bench.hsm->snapshot().so.failed_logins, 0u);
}

TEST(HsmLogin, PedUnpluggedMidLoginIsReportedAndNotCounted) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label L").ok());
  bench.pedclient->drop_link_on_next_ped_request = true;
  const CommandResult r = bench.run("role login -name so");
  EXPECT_EQ(r.code, ResultCode::ped_unplugged);
  EXPECT_TRUE(contains(r.message, "ped_unplugged")) << r.message;
  EXPECT_FALSE(bench.hsm->ped_connected());
  EXPECT_EQ(bench.hsm->snapshot().so.failed_logins, 0u);
  // A new ped connect re-establishes it.
  ASSERT_TRUE(bench.run("ped connect -ip 127.0.0.1 -port 1503").ok());
  EXPECT_TRUE(bench.run("role login -name so").ok());
}

TEST(HsmRoles, PartitionAndCryptoOfficerAndAuditor) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label L").ok());
  // The auditor is initialized by nobody logged in.
  ASSERT_TRUE(bench.run("role login -name so").ok());
  EXPECT_EQ(bench.run("role init -name au").code, ResultCode::user_another_already_logged_in);
  EXPECT_EQ(bench.run("role init -name co").code, ResultCode::operation_not_allowed)
      << "no partition";
  ASSERT_TRUE(bench.run("partition create").ok());
  ASSERT_TRUE(bench.run("role logout").ok());
  ASSERT_TRUE(bench.run("role init -name au").ok()) << bench.console.text();
  ASSERT_TRUE(bench.run("role login -name au").ok());
  ASSERT_TRUE(bench.run("role logout").ok());

  ASSERT_TRUE(bench.run("partition init -label part1").ok()) << bench.console.text();
  EXPECT_EQ(bench.run("role init -name co").code, ResultCode::user_not_logged_in);
  ASSERT_TRUE(bench.run("role login -name po").ok());
  ASSERT_TRUE(bench.run("role init -name co").ok());
  ASSERT_TRUE(bench.run("role logout").ok());
  ASSERT_TRUE(bench.run("role login -name co").ok());
  ASSERT_TRUE(bench.run("role init -name cu").ok());
  ASSERT_TRUE(bench.run("role changepw -name co").ok()) << bench.console.text();
  ASSERT_TRUE(bench.run("role logout").ok());
  ASSERT_TRUE(bench.run("role login -name cu").ok());
  EXPECT_EQ(bench.run("role init -name so").code, ResultCode::user_type_invalid);
  EXPECT_TRUE(bench.run("role show").ok());
}

TEST(HsmRoles, TenFailedCryptoOfficerLoginsLockTheRole) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label L").ok());
  ASSERT_TRUE(bench.run("role login -name so").ok());
  ASSERT_TRUE(bench.run("partition create").ok());
  ASSERT_TRUE(bench.run("role logout").ok());
  ASSERT_TRUE(bench.run("partition init -label p").ok());
  ASSERT_TRUE(bench.run("role login -name po").ok());
  ASSERT_TRUE(bench.run("role init -name co").ok());
  ASSERT_TRUE(bench.run("role logout").ok());
  bench.ped.present_wrong_secret(true);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(bench.run("role login -name co").code, ResultCode::pin_incorrect) << i;
  }
  bench.ped.present_wrong_secret(false);
  EXPECT_EQ(bench.run("role login -name co").code, ResultCode::pin_locked);
}

TEST(HsmZeroize, ZeroizeKeepsTheRpvFactoryResetErasesIt) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label L").ok());
  EXPECT_EQ(bench.run("hsm zeroize").code, ResultCode::function_canceled);
  ASSERT_TRUE(bench.run("hsm zeroize -force").ok());
  HsmState state = bench.hsm->snapshot();
  EXPECT_FALSE(state.initialized);
  EXPECT_TRUE(state.rpv.initialized);
  bench.console.answer("proceed");
  ASSERT_TRUE(bench.run("hsm factoryreset").ok()) << bench.console.text();
  state = bench.hsm->snapshot();
  EXPECT_FALSE(state.rpv.initialized);
  EXPECT_FALSE(bench.hsm->ped_connected()) << "no RPV, no Full Unified session";
  EXPECT_EQ(state.manufacturing.serial, 1234567u) << "manufacturing data stays";
  EXPECT_EQ(bench.run("ped connect -ip 127.0.0.1 -port 1503").code,
            ResultCode::operation_not_allowed);
}

TEST(HsmRpv, RotationNeedsTheSoAndInvalidatesTheOldOrangeKey) {
  HsmBench bench;
  bench.initialize_rpv_and_connect();
  ASSERT_TRUE(bench.run("hsm init -label L").ok());
  const std::uint64_t old_serial = bench.hsm->snapshot().rpv.rpk_serial;
  EXPECT_EQ(bench.run("ped vector init -force").code, ResultCode::user_not_logged_in);
  ASSERT_TRUE(bench.run("role login -name so").ok());
  ASSERT_TRUE(bench.run("ped vector init -force").ok()) << bench.console.text();
  EXPECT_NE(bench.hsm->snapshot().rpv.rpk_serial, old_serial);
  EXPECT_TRUE(bench.hsm->ped_connected()) << "the running session is not affected";
  ASSERT_TRUE(bench.run("ped disconnect").ok());
  EXPECT_TRUE(bench.run("ped connect -ip 127.0.0.1 -port 1503").ok()) << "the new orange key works";
}

TEST(HsmBackend, ASecondPedclientIsRefused) {
  HsmBench bench;
  FakePed other_ped;
  FakePedclient second(other_ped, bench.root);
  second.attach(bench.dir.path() / "backend.sock");
  EXPECT_FALSE(second.backend().identity().ok());
  EXPECT_TRUE(bench.pedclient->backend().identity().ok()) << "the first one is still served";
}

// A raw client on the backend socket, speaking frames by hand.
int connect_raw(const std::filesystem::path& socket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket.string();
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot connect to " + path);
  }
  return fd;
}

TEST(HsmBackend, MalformedAuditResumeIsABadRequestAndGarbageEndsTheSession) {
  HsmBench bench;
  bench.pedclient->detach();  // this raw client is the one pedclient now
  for (int i = 0; i < 500 && bench.backend->attached(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int raw = connect_raw(bench.dir.path() / "backend.sock");
  const SecretBytes request =
      hsm::BackendFrame{hsm::FrameKind::request, hsm::MessageType::audit_resume, 1, {}}.serialize();
  ASSERT_EQ(::send(raw, request.reveal().data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  std::array<std::uint8_t, 512> buffer{};
  const ssize_t n = ::recv(raw, buffer.data(), buffer.size(), 0);
  ASSERT_GT(n, 0);
  const hsm::BackendFrame answer =
      must(hsm::BackendFrame::parse(ByteView(buffer.data(), static_cast<std::size_t>(n))));
  EXPECT_EQ(answer.kind, hsm::FrameKind::response);
  EXPECT_EQ(answer.type, hsm::MessageType::audit_resume);
  const auto status = must(hsm::parse_response(answer.body.reveal()));
  ASSERT_TRUE(status.first.has_value());
  // An empty audit_resume body does not parse (docs/hsm-backend.md §4.7): bad_request, the
  // session goes on.
  EXPECT_EQ(status.first->status, hsm::Status::bad_request);

  // An HSM-side request type sent by pedclient breaks the protocol: the session ends.
  const SecretBytes wrong_way =
      hsm::BackendFrame{hsm::FrameKind::request, hsm::MessageType::connect_ped, 2, {}}.serialize();
  ASSERT_EQ(::send(raw, wrong_way.reveal().data(), wrong_way.size(), 0),
            static_cast<ssize_t>(wrong_way.size()));
  EXPECT_EQ(::recv(raw, buffer.data(), buffer.size(), 0), 0) << "closed by the HSM";
  ::close(raw);

  // So does a frame of garbage on a new session.
  for (int i = 0; i < 500 && bench.backend->attached(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int again = connect_raw(bench.dir.path() / "backend.sock");
  const std::uint8_t garbage[16] = {0, 0, 0, 12, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
  ASSERT_EQ(::send(again, garbage, sizeof garbage, 0), 16);
  EXPECT_EQ(::recv(again, buffer.data(), buffer.size(), 0), 0) << "closed by the HSM";
  ::close(again);
}

}  // namespace
}  // namespace rped::hsmsim::test
