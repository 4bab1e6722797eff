// Network faults between pedclient and pedserver, through FaultProxy: a reset
// mid-login and mid-handshake, delay, a flipped bit and dropped bytes mid-frame
// in each direction (the channel must fail closed: the record MAC or the frame
// decoder refuses, the login is not acknowledged, nothing changes in the HSM),
// partitions mid-handshake and mid-login (a half-forwarded frame, then nothing:
// -socketreadtimeout fires). Both daemons run with -socketreadtimeout 2.
// Random packet loss needs nft/iptables in a network namespace; the test says
// why it is skipped when they are missing. Clock jumps: see the last test.
#include "fault/fault_fixture.h"

namespace rped::fault::test {
namespace {

using Kind = FaultProxy::Fault::Kind;

constexpr int kReadTimeout = 2;  // -socketreadtimeout of both daemons

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (::access((std::filesystem::path(dir) / program).c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

class NetworkFaultTest : public FaultTest {
 protected:
  HsmHost& bring_up() {
    const std::vector<std::string> timeouts{"-socketreadtimeout", std::to_string(kReadTimeout)};
    HsmHost& h = start_hsm(1234567, timeouts);
    start_ped(rpv_init_script() + script::hsm_init());
    start_pedserver(timeouts);
    initialize_rpv_and_connect_quietly(h);
    const Ran init = cmd(h, "hsm init -label netfault");
    EXPECT_EQ(init.exit_code, 0) << init.out;
    EXPECT_EQ(cmd(h, "ped disconnect").exit_code, 0);
    proxy_ = std::make_unique<FaultProxy>(server_port_);
    return h;
  }

  // One SO login with `fault` armed once the session is up through the proxy.
  // Returns the login's result; the HSM's state is checked either way.
  Ran login_with(HsmHost& h, FaultProxy::Fault fault, const std::string& what) {
    fresh_ped(script::orange_login("blank1", kOrangePin) + script::blue_quorum());
    EXPECT_TRUE(reconnect(h, proxy_->port()));
    fault.seed = static_cast<std::uint32_t>(rng_());
    proxy_->arm(fault);
    injected(what);
    const std::string before = role_fingerprint(h);
    const Ran ran = cmd(h, "role login -name so");
    const bool in = logged_in(h, "HSM SO");
    account(ran, in, before, role_fingerprint(h), what);
    std::cout << "[fault]   proxy: " << (proxy_->fired() ? proxy_->fired_detail() : "not fired")
              << "\n";
    if (ran.exit_code == 0) {
      EXPECT_EQ(cmd(h, "role logout").exit_code, 0);
    }
    return ran;
  }

  // A fault that must end the session: the login is not acknowledged, the SO
  // is not logged in; the end is the network's (CKR_PED_UNPLUGGED).
  void expect_failed_closed(HsmHost& h, const Ran& ran, const std::string& what) {
    EXPECT_TRUE(proxy_->fired()) << what << ": the proxy never saw the traffic it was armed for";
    EXPECT_NE(ran.exit_code, 0) << what << ": altered or cut traffic was accepted\n" << ran.out;
    EXPECT_FALSE(logged_in(h, "HSM SO")) << what;
    EXPECT_TRUE(contains(ran.out, "CKR_PED_UNPLUGGED")) << what << ": " << ran.out;
  }

  // Heal the network, start the custodian over, and log in through the proxy.
  void recover(HsmHost& h, const std::string& what) {
    proxy_->arm({});
    proxy_->set_delay(0ms);
    proxy_->reset();
    fresh_ped(script::orange_login("blank1", kOrangePin) + script::blue_quorum());
    if (!reconnect(h, proxy_->port())) {
      not_recovered("ped connect failed");
      return;
    }
    const std::string before = role_fingerprint(h);
    const Ran retry = cmd(h, "role login -name so");
    account(retry, logged_in(h, "HSM SO"), before, role_fingerprint(h), what + " (retry)");
    EXPECT_EQ(retry.exit_code, 0) << what << ": " << retry.out;
    if (retry.exit_code == 0) {
      recovered();
      EXPECT_EQ(cmd(h, "role logout").exit_code, 0);
    } else {
      not_recovered(retry.out);
    }
  }

  // Sessions pedserver ended at a deadline ("ended after N s (timeout)").
  std::size_t count_timeouts() {
    const std::string log = slurp(server_log_);
    std::size_t n = 0;
    for (auto at = log.find("(timeout)"); at != std::string::npos; at = log.find("(timeout)", at + 1)) {
      ++n;
    }
    return n;
  }

  // What the daemons logged about the altered traffic.
  std::string daemon_logs() { return slurp(server_log_) + slurp(hosts_.front()->client_log); }

  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(NetworkFaultTest, ResetsDelayAndAlteredBytesMidLogin) {
  HsmHost& h = bring_up();
  struct Case {
    std::string what;
    FaultProxy::Fault fault;
  };
  const std::vector<Case> cases{
      {"connection reset mid-login (HSM -> PED)", {Kind::cut, Direction::to_server, 0}},
      {"connection reset mid-login (PED -> HSM)", {Kind::cut, Direction::to_client, 0}},
      {"bit flipped mid-frame (HSM -> PED)", {Kind::flip_bit, Direction::to_server, 0}},
      {"bit flipped mid-frame (PED -> HSM)", {Kind::flip_bit, Direction::to_client, 0}},
      {"3 bytes dropped mid-frame (HSM -> PED)", {Kind::drop_bytes, Direction::to_server, 0}},
      {"3 bytes dropped mid-frame (PED -> HSM)", {Kind::drop_bytes, Direction::to_client, 0}},
  };
  for (const Case& c : cases) {
    const std::size_t logged = daemon_logs().size();
    const Ran ran = login_with(h, c.fault, c.what);
    expect_failed_closed(h, ran, c.what);
    if (c.fault.kind == Kind::flip_bit || c.fault.kind == Kind::drop_bytes) {
      // The receiver refused the frame (record MAC, decoder) or waited for the
      // missing bytes (-socketreadtimeout); it did not act on it.
      const std::string said = daemon_logs().substr(logged);
      const bool refused = contains(said, "MAC") || contains(said, "mac") ||
                           contains(said, "decode") || contains(said, "malformed");
      const bool stalled = contains(said, "stalled") || contains(said, "socketreadtimeout");
      std::cout << "[fault]   daemons said: "
                << (refused ? "MAC/decode error" : stalled ? "read timeout" : "other") << "\n";
      EXPECT_TRUE(refused || stalled) << c.what << ": the receiver did not say why\n" << said;
    }
    recover(h, c.what);
  }
  // Delay: 150 ms on every chunk, both ways. Slower, not broken.
  proxy_->set_delay(150ms);
  const Ran slow = login_with(h, {}, "150 ms delay on every chunk during a login");
  EXPECT_EQ(slow.exit_code, 0) << slow.out;
  proxy_->set_delay(0ms);
  if (slow.exit_code == 0) {
    recovered();
  } else {
    recover(h, "delay");
  }
}

// Partitions: the proxy forwards half of a frame and then nothing, either
// way. The side left with half a frame ends the session at its
// -socketreadtimeout (pedserver: also its pre-authentication deadline).
// PED -> HSM: pedclient holds the half frame and fails the operation itself.
// HSM -> PED: pedserver holds it and ends the session; pedclient, which is
// only waiting for an answer (no frame started), has no deadline of its own
// short of the HSM's PED timeout (pedclient sends no keep-alive, docs/
// pedclient.md), so the test waits for pedserver's timeout, then heals the
// partition as a reset and checks that the HSM hears of it at once.
TEST_F(NetworkFaultTest, PartitionsMidHandshakeAndMidLogin) {
  HsmHost& h = bring_up();
  const auto deadline = std::chrono::seconds(3 * kReadTimeout + 4);
  for (const Direction direction : {Direction::to_client, Direction::to_server}) {
    const bool client_side = direction == Direction::to_client;
    const std::string way = client_side ? "PED -> HSM" : "HSM -> PED";
    for (const bool handshake : {true, false}) {
      const std::string what =
          std::string("partition mid-") + (handshake ? "handshake" : "login") + " (" + way + ")";
      fresh_ped(script::orange_login("blank1", kOrangePin) + script::blue_quorum());
      if (!handshake) {
        ASSERT_TRUE(reconnect(h, proxy_->port()));
      }
      const std::size_t timeouts = count_timeouts();
      proxy_->arm({Kind::stall_half, direction, static_cast<std::uint32_t>(rng_())});
      injected(what);
      const std::string before = role_fingerprint(h);
      const auto started = std::chrono::steady_clock::now();
      auto op = cmd_async(h, handshake ? "ped connect -ip 127.0.0.1 -port " +
                                             std::to_string(proxy_->port())
                                       : std::string("role login -name so"));
      if (!client_side) {
        // pedserver's deadline ends its side; then the partition heals as a reset.
        EXPECT_TRUE(wait_until([&] { return count_timeouts() > timeouts; }, deadline))
            << what << ": pedserver did not end the session at -socketreadtimeout";
        std::cout << "[fault]   pedserver ended the session after "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started)
                         .count()
                  << " ms (timeout)\n";
        proxy_->reset();
      }
      const Ran ran = finish(*op);
      const auto took = std::chrono::steady_clock::now() - started;
      const bool in = logged_in(h, "HSM SO");
      account(ran, in, before, role_fingerprint(h), what);
      std::cout << "[fault]   " << what << ": the HSM heard after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                << " ms; proxy: " << proxy_->fired_detail() << "\n";
      EXPECT_TRUE(proxy_->fired()) << what;
      EXPECT_NE(ran.exit_code, 0) << what << ": " << ran.out;
      EXPECT_FALSE(in) << what;
      EXPECT_LT(took, deadline) << what << ": no deadline fired";
      recover(h, what);
    }
  }
}

// Random packet loss needs a network namespace and a packet filter: the
// engineering notes forbid netem, so drop is nft/iptables `statistic`. Both
// are checked at run time; without them the reason is printed and counted.
TEST(NetworkFaultSkips, RandomPacketLossInANetworkNamespace) {
  const bool unshare = std::system("unshare -n true >/dev/null 2>&1") == 0;
  const bool filter = on_path("nft") || on_path("iptables");
  if (!unshare || !filter) {
    const std::string why =
        std::string("random packet loss: ") +
        (!unshare ? "unshare -n (network namespaces) is not permitted here"
                  : "neither nft nor iptables is installed (netns works; netem is not used by "
                    "policy, ENGINEERING.md)");
    tally().skipped.push_back(why);
    GTEST_SKIP() << why;
  }
  // With a packet filter present this is where the veth pair and the
  // `statistic mode random probability 0.05 drop` rule would go; not written
  // yet because no machine the suite runs on has one to test it against.
  const std::string why = "random packet loss: nft/iptables present, scenario not implemented yet";
  tally().skipped.push_back(why);
  GTEST_SKIP() << why;
}

// Clock jumps: moving CLOCK_REALTIME needs CAP_SYS_TIME on a machine shared
// with other jobs (not safe), and libfaketime would be the cheap way to show
// that deadlines ignore wall-clock jumps; both are checked at run time.
TEST(NetworkFaultSkips, ClockJumps) {
  const bool faketime = on_path("faketime");
  const std::string why =
      std::string("clock jumps: the system clock is shared (setting it needs CAP_SYS_TIME and "
                  "would disturb other jobs); ") +
      (faketime ? "faketime is present but the scenario is not implemented yet"
                : "faketime (libfaketime) is not installed, so a wall-clock-only jump cannot be "
                  "shown to leave the monotonic deadlines alone");
  tally().skipped.push_back(why);
  GTEST_SKIP() << why;
}

}  // namespace
}  // namespace rped::fault::test
