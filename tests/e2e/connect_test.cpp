// The documented Remote PED procedures across hsmsim, pedclient, pedserver
// and pedsim: remote RPV initialization with a one-time password on a
// zeroized HSM, ped connect with the orange key (Full Unified), hsm init,
// SO login 3 of 5 with PINs, CO login; disconnect and reconnect; RPV rotation.
#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

TEST_F(E2eTest, RemoteRpvInitializationConnectHsmInitAndLogins) {
  // partition init reuses the demo keys like hsm init; role init -name co reuses black1.
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() + script::blue_quorum() +
                         script::hsm_init() + script::blue_quorum() +
                         script::expect("Do you wish to reuse") + "yes\n" + script::black_login() +
                         script::black_login());

  // A zeroized HSM: the one-time password connection, shown to the operator.
  const Ran otp = cmd(h, "ped connect " + connect_args() + " -password 31415926");
  ASSERT_EQ(otp.exit_code, 0) << otp.out << otp.err;
  EXPECT_TRUE(contains(otp.out, "one-time password")) << otp.out;
  EXPECT_TRUE(contains(otp.out, "Command Result : No Error")) << otp.out;

  // pedclient reports the connection it carries.
  const Ran shown = pedclient(h, {"-mode", "show"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_TRUE(contains(shown.out, "127.0.0.1:" + std::to_string(server_port_))) << shown.out;

  const Ran vector = cmd(h, "ped vector init");
  ASSERT_EQ(vector.exit_code, 0) << vector.out << vector.err;
  EXPECT_TRUE(contains(vector.out, "Please attend to the PED.")) << vector.out;
  EXPECT_TRUE(contains(vector.out, "orange keys 1 of 1")) << vector.out;

  // The orange key on the custodian's side is now an orange key of this HSM.
  const std::string orange = slurp(keys_ / "blank1.json");
  EXPECT_TRUE(contains(orange, "\"orange\"")) << orange;
  EXPECT_TRUE(contains(orange, "1234567")) << orange;

  const Ran fu = cmd(h, "ped connect " + connect_args());
  ASSERT_EQ(fu.exit_code, 0) << fu.out << fu.err;
  const Ran ped_show = cmd(h, "ped show");
  EXPECT_EQ(ped_show.exit_code, 0);
  EXPECT_TRUE(contains(ped_show.out, "C(2e,2s)") || contains(ped_show.out, "Full Unified"))
      << ped_show.out;

  const Ran init = cmd(h, "hsm init -label e2eHSM");
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  const Ran login = cmd(h, "role login -name so");
  ASSERT_EQ(login.exit_code, 0) << login.out << login.err;
  const Ran hsm_show = cmd(h, "hsm show");
  EXPECT_TRUE(contains(hsm_show.out, "e2eHSM")) << hsm_show.out;
  EXPECT_TRUE(contains(hsm_show.out, "HSM SO")) << hsm_show.out;

  // The Crypto Officer: partition, its SO, then co initialized and logged in.
  for (const std::string command :
       {"partition create", "partition init -label e2ePart", "role logout", "role login -name po",
        "role init -name co", "role logout", "role login -name co"}) {
    const Ran ran = cmd(h, command);
    ASSERT_EQ(ran.exit_code, 0) << command << ": " << ran.out << ran.err;
  }
  EXPECT_TRUE(contains(cmd(h, "role show").out, "Crypto Officer")) << cmd(h, "role show").out;

  // pedclient counted the PED operations it carried.
  const Ran status = pedclient(h, {"-mode", "show", "-format", "json"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_TRUE(contains(status.out, "\"serial\"")) << status.out;
}

}  // namespace
}  // namespace rped::e2e::test

namespace rped::e2e::test {
namespace {

// (e) ped disconnect, then a new ped connect: no daemon restarts.
TEST_F(E2eTest, DisconnectThenReconnectWithoutRestartingAnything) {
  HsmHost& h = start_all(rpv_init_script() + script::orange_login("blank1", "4321"));
  initialize_rpv_and_connect(h);
  const pid_t client = h.pedclient->pid();
  const pid_t server = pedserver_->pid();
  const std::string up = link_state(h);
  EXPECT_FALSE(up.empty());
  EXPECT_NE(up, "Disconnected");
  const Ran off = cmd(h, "ped disconnect");
  ASSERT_EQ(off.exit_code, 0) << off.out;
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }))
      << pedclient(h, {"-mode", "show"}).out;
  const Ran again = cmd(h, "ped connect " + connect_args());
  ASSERT_EQ(again.exit_code, 0) << again.out;
  EXPECT_EQ(h.pedclient->pid(), client);
  EXPECT_EQ(pedserver_->pid(), server);
  EXPECT_FALSE(h.pedclient->wait(0ms).has_value()) << "pedclient exited";
  EXPECT_FALSE(pedserver_->wait(0ms).has_value()) << "pedserver exited";
}

// (j) RPV rotation by the logged-in SO: new orange key on blank2; the running
// session goes on; afterwards the old orange key no longer connects, the new one does.
TEST_F(E2eTest, RpvRotationRetiresTheOldOrangeKey) {
  HsmHost& h =
      start_all(rpv_init_script() + script::hsm_init() + script::blue_quorum() +
                script::create_orange("blank2", "8642") + script::blue_quorum() +
                // The old orange key no longer connects (the HSM was confirmed first).
                script::confirm_hsm() + script::expect("PED Key (ORANGE)") +
                script::present("blank1") +
                script::expect("REMOTE PED LOGIN") + "enter\n" + script::expect("Enter PED PIN:") +
                "pin 4321\n" + script::orange_login("blank2", "8642"));
  initialize_rpv_and_connect(h);
  ASSERT_EQ(cmd(h, "hsm init -label rot").exit_code, 0);
  ASSERT_EQ(cmd(h, "role login -name so").exit_code, 0);
  const std::string before = cmd(h, "ped show").out;
  const Ran rotate = cmd(h, "ped vector init -force");
  ASSERT_EQ(rotate.exit_code, 0) << rotate.out;
  EXPECT_TRUE(contains(slurp(keys_ / "blank2.json"), "\"orange\""));
  // The session that carried the rotation still serves logins.
  ASSERT_EQ(cmd(h, "role logout").exit_code, 0);
  const Ran login = cmd(h, "role login -name so");
  ASSERT_EQ(login.exit_code, 0) << login.out;
  ASSERT_EQ(cmd(h, "ped disconnect").exit_code, 0);
  const Ran old_key = cmd(h, "ped connect " + connect_args());
  EXPECT_EQ(old_key.exit_code, 1) << old_key.out;
  EXPECT_FALSE(contains(old_key.out, "No Error")) << old_key.out;
  const Ran new_key = cmd(h, "ped connect " + connect_args());
  EXPECT_EQ(new_key.exit_code, 0) << new_key.out;
  EXPECT_NE(before, cmd(h, "ped show").out);
}

}  // namespace
}  // namespace rped::e2e::test

namespace rped::e2e::test {
namespace {

// docs/attestation.md §6. The manufacturer root's common name, as the PED shows it.
std::string root_common_name(const std::filesystem::path& hsm_state) {
  const auto roots =
      crypto::Certificate::from_pem(slurp(hsm_state / "certificates" / "manufacturer-root.pem"));
  return roots.ok() && !roots->empty() ? roots->front().common_name() : std::string();
}

// Before any key is read for it, the PED shows the HSM's serial, label and the
// root that verified it, and the session goes on only after YES.
TEST_F(E2eTest, ThePedShowsTheVerifiedHsmAndYesProceeds) {
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() +
                         script::orange_login("blank1", "4321") + script::blue_quorum());
  initialize_rpv_and_connect(h);
  ASSERT_EQ(cmd(h, "hsm init -label prod-ca").exit_code, 0);
  ASSERT_EQ(cmd(h, "ped disconnect").exit_code, 0);
  const Ran fu = cmd(h, "ped connect " + connect_args());
  ASSERT_EQ(fu.exit_code, 0) << fu.out;
  const Ran login = cmd(h, "role login -name so");
  ASSERT_EQ(login.exit_code, 0) << login.out;

  const std::string root = root_common_name(h.state);
  ASSERT_FALSE(root.empty());
  const std::string lcd = pedsim_->out();
  EXPECT_TRUE(contains(lcd, "|HSM 1234567")) << lcd;
  EXPECT_TRUE(contains(lcd, "|\"prod-ca\"")) << lcd;
  EXPECT_TRUE(contains(lcd, "|verified:")) << lcd;
  EXPECT_TRUE(contains(lcd, "|" + root.substr(0, 21))) << lcd;
  EXPECT_TRUE(contains(lcd, "|Proceed? YES/NO")) << lcd;
  const std::string log = slurp(server_log_);
  EXPECT_TRUE(contains(log, "HSM 1234567 \"prod-ca\" / verified: " + root + " / PKC verified"))
      << log;
  EXPECT_TRUE(contains(log, "HSM 1234567 confirmed by the custodian (YES)")) << log;
}

// NO ends the handshake before any key is read: ped connect itself fails with
// identity_refused, pedserver logs it, the PED never asks for the password.
TEST_F(E2eTest, NoAtThePedRefusesTheHsm) {
  HsmHost& h = start_all(script::expect("Proceed? YES/NO") + "no\n" +
                         script::expect("Awaiting command..."));
  const Ran connect = cmd(h, "ped connect " + connect_args() + " -password 31415926");
  EXPECT_EQ(connect.exit_code, 1) << connect.out;
  EXPECT_TRUE(contains(connect.out + connect.err, "identity_refused")) << connect.out << connect.err;
  EXPECT_EQ(link_state(h), "Disconnected");
  const Ran shown = cmd(h, "ped show");
  EXPECT_TRUE(contains(shown.out, "identity_refused")) << shown.out;
  const std::string log = slurp(server_log_);
  EXPECT_TRUE(contains(log, "refused by the custodian")) << log;
  EXPECT_FALSE(contains(log, "key derivation on the PED")) << log;
  const std::string lcd = pedsim_->out();
  EXPECT_TRUE(contains(lcd, "Refused by custodian")) << lcd;
  EXPECT_FALSE(contains(lcd, "Enter PED Password.")) << lcd;
}

// Full Unified: NO comes before the orange key is asked for. ped connect fails
// with identity_refused, and the PED never shows the orange-key prompt again.
TEST_F(E2eTest, NoBeforeTheOrangeKeyReadsNoKey) {
  HsmHost& h = start_all(rpv_init_script() + script::expect("Proceed? YES/NO") + "no\n" +
                         script::expect("Awaiting command...") + "wait 500ms\n");
  initialize_rpv_and_connect(h);
  ASSERT_EQ(cmd(h, "ped disconnect").exit_code, 0);
  const auto orange_prompts = [&] {
    const std::string lcd = pedsim_->out();
    std::size_t count = 0;
    for (auto at = lcd.find("PED Key (ORANGE)"); at != std::string::npos;
         at = lcd.find("PED Key (ORANGE)", at + 1)) {
      ++count;
    }
    return count;
  };
  const std::size_t before = orange_prompts();
  ASSERT_GT(before, 0U) << "the orange key was asked for in the first connection";
  const Ran refused = cmd(h, "ped connect " + connect_args());
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_TRUE(contains(refused.out + refused.err, "identity_refused")) << refused.out << refused.err;
  EXPECT_TRUE(wait_until([&] { return contains(pedsim_->out(), "Refused by custodian"); }, 10s));
  EXPECT_EQ(orange_prompts(), before) << pedsim_->out();
  const std::string log = slurp(server_log_);
  EXPECT_TRUE(contains(log, "refused by the custodian")) << log;
}

// Pinned-fingerprint mode: pedserver holds another manufacturer's root only;
// the custodian pinned this HSM's HOC, so it is accepted and shown as pinned.
TEST_F(E2eTest, APinnedHocIsAcceptedFromARootTheCustodianDoesNotHold) {
  HsmHost& h = start_all(script::password("31415926"));
  // Replace the trusted root with another manufacturer's, which the HSM's chain does not reach.
  manufacturer_ = dir_.path() / "another-manufacturer";
  HsmHost& stranger = start_hsm(7654321);
  write_text(server_state_ / "trust" / "root.pem",
             slurp(stranger.state / "certificates" / "manufacturer-root.pem"));
  const Ran untrusted = cmd(h, "ped connect " + connect_args() + " -password 31415926");
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.out;
  // Refused in the handshake, before the custodian is asked: the PED says why.
  EXPECT_TRUE(wait_until([&] { return contains(pedsim_->out(), "|NOT VERIFIED"); }, 10s))
      << pedsim_->out();
  EXPECT_TRUE(contains(pedsim_->out(), "|HSM 1234567")) << pedsim_->out();
  EXPECT_TRUE(contains(slurp(server_log_), "HSM 1234567 NOT VERIFIED")) << slurp(server_log_);
  const auto hoc = crypto::Certificate::from_pem(slurp(h.state / "certificates" / "hoc.pem"));
  ASSERT_TRUE(hoc.ok());
  std::filesystem::create_directories(server_state_ / "trust" / "pinned");
  write_text(server_state_ / "trust" / "pinned" / "1234567",
             to_hex(hoc->front().sha256_fingerprint()) + "\n");
  const Ran pinned = cmd(h, "ped connect " + connect_args() + " -password 31415926");
  ASSERT_EQ(pinned.exit_code, 0) << pinned.out;
  ASSERT_TRUE(
      wait_until([&] { return contains(slurp(server_log_), "confirmed by the custodian"); }, 20s))
      << slurp(server_log_);
  EXPECT_TRUE(contains(pedsim_->out(), "|pinned HOC ")) << pedsim_->out();
}

}  // namespace
}  // namespace rped::e2e::test

namespace rped::e2e::test {
namespace {

// A PKC that does not verify: the PED says NOT VERIFIED, the HSM is refused
// before the custodian is asked anything, and pedserver's log says why.
TEST_F(E2eTest, AnHsmWhosePkcFailsIsRefusedWithAMessageOnThePed) {
  ::setenv("RPED_HSMSIM_CORRUPT_PKC", "1", 1);
  HsmHost& h = start_all(script::expect("NOT VERIFIED"));
  ::unsetenv("RPED_HSMSIM_CORRUPT_PKC");
  static_cast<void>(cmd(h, "ped connect " + connect_args() + " -password 31415926"));
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }, 20s))
      << pedclient(h, {"-mode", "show"}).out;
  EXPECT_TRUE(contains(cmd(h, "ped show").out, "identity_refused"));
  const std::string log = slurp(server_log_);
  EXPECT_TRUE(contains(log, "NOT VERIFIED")) << log;
  EXPECT_TRUE(contains(log, "its PKC does not verify")) << log;
  EXPECT_FALSE(contains(log, "confirmed by the custodian")) << log;
  const std::string lcd = pedsim_->out();
  EXPECT_TRUE(contains(lcd, "|NOT VERIFIED")) << lcd;
  EXPECT_FALSE(contains(lcd, "|Proceed? YES/NO")) << lcd;
  EXPECT_FALSE(contains(lcd, "Enter PED Password.")) << lcd;
}

// SO login 1 of 1: hsm init creates a new blue keyset of one key (M = N = 1,
// PIN 6789) on a blank key, and the SO logs in with it.
TEST_F(E2eTest, SoLoginOneOfOneWithANewBlueKey) {
  const std::string new_blue =
      script::expect("Do you wish to reuse") + "no\n" + script::expect("Enter M value:") +
      "pin 1\n" + script::expect("Enter N value:") + "pin 1\n" + script::expect("PED Key (BLUE)") +
      script::present("blank2") + script::expect("Overwrite?") + "yes\n" +
      script::expect("Enter new PED PIN") + "pin 6789\n" + script::expect("Confirm new PED PIN:") +
      "pin 6789\n" + script::expect("Create duplicate") + "no\n";
  const std::string reuse_red = script::expect("Do you wish to reuse") + "yes\n" +
                                script::expect("PED Key (RED)") + script::present("red1");
  const std::string so_login = script::expect("PED Key (BLUE)") + script::present("blank2") +
                               script::expect("Enter PED PIN:") + "pin 6789\n";
  HsmHost& h = start_all(rpv_init_script() + new_blue + reuse_red + so_login);
  initialize_rpv_and_connect(h);
  ASSERT_FALSE(HasFailure());
  const Ran init = cmd(h, "hsm init -label oneofone");
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  const Ran login = cmd(h, "role login -name so");
  EXPECT_EQ(login.exit_code, 0) << login.out << login.err;
  EXPECT_TRUE(contains(cmd(h, "role show").out, "logged in"));
}

}  // namespace
}  // namespace rped::e2e::test
