// pedclient's command line through the real binary: the PED id commands with
// good and bad values, and -winservice on Linux.
#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

class PedclientCli : public E2eTest {
 protected:
  Ran offline(std::vector<std::string> args) {
    args.insert(args.end(), {"-configfile", config_file().string()});
    return run(kPedclient, args, dir_.path(),
               SpawnOptions{{{"STATE_DIRECTORY", (dir_.path() / "ids").string()}}, {}, {}, {}, {}});
  }
};

TEST_F(PedclientCli, WinserviceIsRefusedOnLinux) {
  const Ran ran = offline({"-mode", "start", "-winservice", "-hsm", "/nonexistent.sock"});
  EXPECT_EQ(ran.exit_code, 1) << ran.out << ran.err;
  EXPECT_TRUE(contains(ran.err, "Windows only")) << ran.err;
}

TEST_F(PedclientCli, SetIdAndDeleteIdEditTheTable) {
  Ran set = offline({"-mode", "setid", "-id", "7", "-id_ip", "127.0.0.1", "-id_port", "1600"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_TRUE(contains(set.out, "PED id 7")) << set.out;
  EXPECT_TRUE(contains(set.out, "127.0.0.1:1600")) << set.out;
  const auto ids = dir_.path() / "ids";
  bool found = false;
  for (const auto& entry : std::filesystem::directory_iterator(ids)) {
    found = found || contains(slurp(entry.path()), "1600");
  }
  EXPECT_TRUE(found) << "the mapping is not on disk";
  Ran del = offline({"-mode", "deleteid", "-id", "7"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  Ran again = offline({"-mode", "deleteid", "-id", "7"});
  EXPECT_NE(again.exit_code, 0) << again.out;
  EXPECT_TRUE(contains(again.err, "7")) << again.err;
}

TEST_F(PedclientCli, BadIdValuesAreRefusedWithClearErrors) {
  const Ran zero = offline({"-mode", "setid", "-id", "0", "-id_ip", "127.0.0.1"});
  EXPECT_NE(zero.exit_code, 0) << zero.out;
  EXPECT_TRUE(contains(zero.err, "0")) << zero.err;
  EXPECT_TRUE(contains(zero.err, "local")) << zero.err;
  const Ran high = offline({"-mode", "setid", "-id", "65535", "-id_ip", "127.0.0.1"});
  EXPECT_NE(high.exit_code, 0) << high.out;
  EXPECT_TRUE(contains(high.err, "65534")) << high.err;
  const Ran no_ip = offline({"-mode", "setid", "-id", "3"});
  EXPECT_NE(no_ip.exit_code, 0) << no_ip.out;
  EXPECT_TRUE(contains(no_ip.err, "-id_ip")) << no_ip.err;
  const Ran no_id = offline({"-mode", "deleteid"});
  EXPECT_NE(no_id.exit_code, 0) << no_id.out;
  EXPECT_TRUE(contains(no_id.err, "-id")) << no_id.err;
  const Ran bad_port = offline({"-mode", "setid", "-id", "3", "-id_ip", "127.0.0.1", "-id_port", "0"});
  EXPECT_NE(bad_port.exit_code, 0) << bad_port.out;
  const Ran not_running = offline({"-mode", "testid", "-id", "3", "-admin", std::to_string(free_port())});
  EXPECT_NE(not_running.exit_code, 0) << not_running.out;
  EXPECT_FALSE(not_running.err.empty());
}

}  // namespace
}  // namespace rped::e2e::test

namespace rped::e2e::test {
namespace {

// setid, testid (a real handshake up to the orange key), assignid (the
// orange-key connection opened by pedclient), releaseid, deleteid against
// the running processes; and the refusals in between.
TEST_F(E2eTest, PedIdCommandsAgainstTheRunningClient) {
  // testid's handshake makes the PED ask the custodian to confirm the HSM; the
  // custodian waits until the test ends it (the PED is back at its idle screen).
  HsmHost& h = start_all(rpv_init_script() + script::expect("Proceed? YES/NO") +
                         script::expect("Awaiting command...") +
                         script::orange_login("blank1", "4321"));
  initialize_rpv_and_connect(h);
  ASSERT_EQ(cmd(h, "ped disconnect").exit_code, 0);

  const Ran set = pedclient(h, {"-mode", "setid", "-id", "5", "-id_ip", "127.0.0.1", "-id_port",
                                std::to_string(server_port_)});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  const Ran unknown = pedclient(h, {"-mode", "testid", "-id", "6"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
  EXPECT_TRUE(contains(unknown.err, "6")) << unknown.err;

  const Ran test = pedclient(h, {"-mode", "testid", "-id", "5"});
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_TRUE(contains(test.out, "PASSED")) << test.out;
  EXPECT_TRUE(contains(test.out, "round trip")) << test.out;

  const Ran other = pedclient(h, {"-mode", "assignid", "-id", "5", "-id_serialnumber", "999"});
  EXPECT_EQ(other.exit_code, 1) << other.out;
  EXPECT_TRUE(contains(other.err, "1234567")) << other.err;

  const Ran assign =
      pedclient(h, {"-mode", "assignid", "-id", "5", "-id_serialnumber", "1234567"});
  ASSERT_EQ(assign.exit_code, 0) << assign.out << assign.err;
  EXPECT_NE(link_state(h), "Disconnected");
  EXPECT_TRUE(contains(pedclient(h, {"-mode", "show"}).out, "(connected)"));

  const Ran release = pedclient(h, {"-mode", "releaseid", "-id", "5"});
  EXPECT_EQ(release.exit_code, 0) << release.out << release.err;
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }));
  const Ran del = pedclient(h, {"-mode", "deleteid", "-id", "5"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  const Ran gone = pedclient(h, {"-mode", "testid", "-id", "5"});
  EXPECT_EQ(gone.exit_code, 1) << gone.out;
}

// testid against an address nobody listens on: fails, naming the address.
TEST_F(E2eTest, TestIdToADeadAddressFails) {
  HsmHost& h = start_hsm(1234567);
  const std::string port = std::to_string(free_port());
  ASSERT_EQ(pedclient(h, {"-mode", "setid", "-id", "9", "-id_ip", "127.0.0.1", "-id_port", port})
                .exit_code,
            0);
  const Ran test = pedclient(h, {"-mode", "testid", "-id", "9"});
  EXPECT_EQ(test.exit_code, 1) << test.out;
  EXPECT_TRUE(contains(test.err, "127.0.0.1:" + port)) << test.err;
}

}  // namespace
}  // namespace rped::e2e::test
