// Failures the HSM side sees, each through the real processes.
#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

// (b) Nobody listens: ped connect fails at once, naming the address once.
TEST_F(E2eTest, ConnectToAPortNobodyListensOnFailsFastNamingTheAddress) {
  HsmHost& h = start_hsm(1234567);
  const std::uint16_t nobody = free_port();
  const auto started = std::chrono::steady_clock::now();
  const Ran ran =
      cmd(h, "ped connect -ip 127.0.0.1 -port " + std::to_string(nobody) + " -password 12345678");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(ran.exit_code, 1) << ran.out << ran.err;
  EXPECT_TRUE(contains(ran.out, "CKR_UNABLE_TO_CONNECT")) << ran.out;
  const std::string where = "127.0.0.1:" + std::to_string(nobody);
  EXPECT_TRUE(contains(ran.out, where)) << ran.out;
  const std::string said = "cannot connect to the PED server at " + where;
  const auto first = ran.out.find(said);
  EXPECT_EQ(ran.out.find(said, first + 1), std::string::npos) << "named twice: " << ran.out;
  EXPECT_LT(took, 10s);
}

}  // namespace
}  // namespace rped::e2e::test

namespace rped::e2e::test {
namespace {

// (c) A wrong PIN on the third blue key: counted, with Luna's warning; the
// next good login resets the counter.
TEST_F(E2eTest, WrongPinIsPinIncorrectWithTheAttemptsLeftWarning) {
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() +
                         script::blue_quorum({"1111", "2222", "9999"}) + script::blue_quorum());
  initialize_rpv_and_connect(h);
  ASSERT_EQ(cmd(h, "hsm init -label pin").exit_code, 0);
  const Ran wrong = cmd(h, "role login -name so");
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_TRUE(contains(wrong.out, "CKR_PIN_INCORRECT")) << wrong.out;
  EXPECT_TRUE(contains(wrong.out, "You have only 2 so login attempts left")) << wrong.out;
  const Ran right = cmd(h, "role login -name so");
  EXPECT_EQ(right.exit_code, 0) << right.out;
}

// (f) The PED is unplugged while the custodian is at the SO login: the HSM
// hears of it, and after the replug a new ped connect and login work.
TEST_F(E2eTest, PedUnpluggedMidLoginThenReconnect) {
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() + script::expect("PED Key (BLUE)") +
                         "unplug\nwait 500ms\nreplug\n" + script::orange_login("blank1", "4321") +
                         script::blue_quorum());
  initialize_rpv_and_connect(h);
  ASSERT_EQ(cmd(h, "hsm init -label unplug").exit_code, 0);
  const Ran cut = cmd(h, "role login -name so");
  EXPECT_EQ(cut.exit_code, 1) << cut.out;
  EXPECT_TRUE(contains(cut.out, "CKR_PED_UNPLUGGED")) << cut.out;
  // pedserver reattaches to the PED after the replug; the operator connects again.
  Ran again;
  ASSERT_TRUE(wait_until(
      [&] {
        again = cmd(h, "ped connect " + connect_args());
        return again.exit_code == 0;
      },
      60s))
      << again.out;
  const Ran login = cmd(h, "role login -name so");
  EXPECT_EQ(login.exit_code, 0) << login.out;
}

// The custodian leaves Remote PED mode on the PED while the HSM is connected:
// the session ends with remote_mode_exited, the HSM is told (ped show names
// it, PED operations get CKR_PED_UNPLUGGED), and once the custodian is back in
// Remote PED mode a new ped connect works without restarting anything.
TEST_F(E2eTest, CustodianLeavesRemotePedModeThenReconnect) {
  HsmHost& h = start_all(rpv_init_script() + script::expect("HSM 1234567") +
                         "wait 3s\nexit-remote\nwait 500ms\nmode remote\n" +
                         script::orange_login("blank1", "4321"));
  initialize_rpv_and_connect(h);
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }, 30s))
      << pedclient(h, {"-mode", "show"}).out;
  const Ran shown = cmd(h, "ped show");
  EXPECT_TRUE(contains(shown.out, "remote_mode_exited")) << shown.out;
  const Ran refused = cmd(h, "hsm init -label gone");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_TRUE(contains(refused.out, "CKR_PED_UNPLUGGED")) << refused.out;
  Ran again;
  ASSERT_TRUE(wait_until(
      [&] {
        again = cmd(h, "ped connect " + connect_args());
        return again.exit_code == 0;
      },
      60s))
      << again.out;
  EXPECT_TRUE(contains(cmd(h, "ped show").out, "C(2e,2s)"));
}

// (g) pedclient closes an idle connection (-idletimeout 2); the HSM is told why.
TEST_F(E2eTest, IdleTimeoutEndsTheConnectionAndReconnectWorks) {
  HsmHost& h =
      start_all(rpv_init_script() + script::orange_login("blank1", "4321"), {"-idletimeout", "2"});
  initialize_rpv_and_connect(h);
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }, 20s))
      << pedclient(h, {"-mode", "show"}).out;
  const Ran shown = cmd(h, "ped show");
  EXPECT_TRUE(contains(shown.out, "idle")) << shown.out;
  const Ran refused = cmd(h, "hsm init -label idle");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_TRUE(contains(refused.out, "CKR_PED_UNPLUGGED")) << refused.out;
  const Ran again = cmd(h, "ped connect " + connect_args());
  EXPECT_EQ(again.exit_code, 0) << again.out;
}

// (h) The network path dies (pedserver killed outright: the TCP connection
// is gone); pedclient reports the loss, and after pedserver is back a new
// ped connect works without restarting pedclient or the HSM.
TEST_F(E2eTest, NetworkCutThenReconnect) {
  HsmHost& h = start_all(rpv_init_script() + script::orange_login("blank1", "4321"));
  initialize_rpv_and_connect(h);
  ::kill(pedserver_->pid(), SIGKILL);
  pedserver_->wait(5s);
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }, 30s))
      << pedclient(h, {"-mode", "show"}).out;
  const Ran down = cmd(h, "hsm init -label cut");
  EXPECT_EQ(down.exit_code, 1) << down.out;
  EXPECT_TRUE(contains(down.out, "CKR_PED_UNPLUGGED")) << down.out;
  pedserver_.reset();
  start_pedserver();
  Ran again;
  ASSERT_TRUE(wait_until(
      [&] {
        again = cmd(h, "ped connect " + connect_args());
        return again.exit_code == 0;
      },
      60s))
      << again.out;
}

// (i) One Remote PED connection per pedserver: a second HSM is refused while
// the first is connected, and served once the first ends.
TEST_F(E2eTest, SecondHsmIsRefusedUntilTheFirstEnds) {
  HsmHost& first = start_all(rpv_init_script() + script::password("11112222"));
  initialize_rpv_and_connect(first);
  HsmHost& second = start_hsm(7654321);
  const Ran refused = cmd(second, "ped connect " + connect_args() + " -password 11112222");
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_TRUE(contains(refused.out, "CKR_UNABLE_TO_CONNECT")) << refused.out;
  ASSERT_EQ(cmd(first, "ped disconnect").exit_code, 0);
  Ran served;
  ASSERT_TRUE(wait_until(
      [&] {
        served = cmd(second, "ped connect " + connect_args() + " -password 11112222");
        return served.exit_code == 0;
      },
      30s))
      << served.out;
}

// (d) An orange key of another HSM's RPV: the connect fails and says why.
TEST_F(E2eTest, WrongOrangeKeyFailsTheConnectWithAClearMessage) {
  HsmHost& first = start_all(
      rpv_init_script() + script::password("11112222") + script::create_orange("blank2", "8642") +
      // The wrong key: pedserver reads it for the RPK and refuses it.
      script::confirm_hsm() + script::expect("PED Key (ORANGE)") + script::present("blank2") +
      script::expect("Awaiting command...") + script::orange_login("blank1", "4321"));
  initialize_rpv_and_connect(first);
  ASSERT_EQ(cmd(first, "ped disconnect").exit_code, 0);
  HsmHost& second = start_hsm(7654321);
  ASSERT_EQ(cmd(second, "ped connect " + connect_args() + " -password 11112222").exit_code, 0);
  ASSERT_EQ(cmd(second, "ped vector init").exit_code, 0);
  // blank2 now holds the second HSM's RPV; the custodian presents it to the first.
  const Ran wrong = cmd(first, "ped connect " + connect_args());
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out;
  EXPECT_TRUE(contains(wrong.out, "CKR_UNABLE_TO_CONNECT")) << wrong.out;
  EXPECT_TRUE(contains(wrong.out, "orange key")) << wrong.out;
  EXPECT_TRUE(contains(slurp(server_log_), "the orange key holds the RPK of HSM 7654321"))
      << slurp(server_log_);
  const Ran right = cmd(first, "ped connect " + connect_args());
  EXPECT_EQ(right.exit_code, 0) << right.out;
}

}  // namespace
}  // namespace rped::e2e::test
