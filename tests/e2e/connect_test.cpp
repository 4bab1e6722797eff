// The documented Remote PED procedures across hsmsim, pedclient, pedserver
// and pedsim: remote RPV initialization with a one-time password on a
// zeroized HSM, ped connect with the orange key (Full Unified), hsm init,
// SO login 3 of 5 with PINs, CO login; disconnect and reconnect; RPV rotation.
#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

TEST_F(E2eTest, RemoteRpvInitializationConnectHsmInitAndLogins) {
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() + script::blue_quorum());

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

  // pedclient counted the PED operations it carried.
  const Ran status = pedclient(h, {"-mode", "show", "-format", "json"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_TRUE(contains(status.out, "\"serial\"")) << status.out;
}

}  // namespace
}  // namespace rped::e2e::test
