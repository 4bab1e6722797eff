// Process faults: kill -9 of pedserver and of pedclient at random moments of
// an SO login (and restart), of hsmsim between commands, of pedsim mid-login.
// Afterwards a ped connect and a login work; what the HSM acknowledged
// before the kill is still in hsm.state; a cut login changed nothing.
#include "fault/fault_fixture.h"

namespace rped::fault::test {
namespace {

constexpr std::uint64_t kSerial = 1234567;

class ProcessFaultTest : public FaultTest {
 protected:
  HsmHost& bring_up() {
    HsmHost& h = start_all(rpv_init_script() + script::hsm_init());
    initialize_rpv_and_connect_quietly(h);
    const Ran init = cmd(h, "hsm init -label procfault");
    EXPECT_EQ(init.exit_code, 0) << init.out;
    return h;
  }

  // The custodian for one attempt and its retry: orange key, blue quorum, twice.
  static std::string attempt_and_retry() {
    return script::orange_login("blank1", kOrangePin) + script::blue_quorum() +
           script::orange_login("blank1", kOrangePin) + script::blue_quorum();
  }

  // An SO login with `kill` applied to a process `delay` after it started.
  // Returns the login's result; accounts acknowledged vs in effect.
  Ran login_killed(HsmHost& h, std::chrono::milliseconds delay, const std::function<void()>& kill,
                   const std::string& what) {
    const std::string before = role_fingerprint(h);
    auto login = cmd_async(h, "role login -name so");
    std::this_thread::sleep_for(delay);
    kill();
    const Ran ran = finish(*login);
    // hsmsim itself was not killed: its view of the login is authoritative.
    const bool in = logged_in(h, "HSM SO");
    account(ran, in, before, role_fingerprint(h), what);
    if (ran.exit_code != 0) {
      EXPECT_FALSE(in) << what << ": failed, yet logged in";
      EXPECT_TRUE(contains(ran.out, "CKR_PED_UNPLUGGED") ||
                  contains(ran.out, "CKR_PED_CLIENT_NOT_RUNNING"))
          << what << ": " << ran.out;
    } else {
      EXPECT_EQ(cmd(h, "role logout").exit_code, 0);
    }
    return ran;
  }


  // How long a clean SO login takes here: the kill moments are drawn from it.
  std::chrono::milliseconds login_duration(HsmHost& h) {
    fresh_ped(script::orange_login("blank1", kOrangePin) + script::blue_quorum());
    EXPECT_TRUE(reconnect(h, server_port_));
    const auto started = std::chrono::steady_clock::now();
    const Ran login = cmd(h, "role login -name so");
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    EXPECT_EQ(login.exit_code, 0) << login.out;
    EXPECT_EQ(cmd(h, "role logout").exit_code, 0);
    std::cout << "[fault] a clean SO login takes " << took.count() << " ms\n";
    return std::max(took, 20ms);
  }

  std::chrono::milliseconds random_moment(std::chrono::milliseconds span) {
    return std::chrono::milliseconds(std::uniform_int_distribution<long>(0, span.count())(rng_));
  }
};

TEST_F(ProcessFaultTest, KillPedserverAtRandomMomentsOfALogin) {
  HsmHost& h = bring_up();
  const auto span = login_duration(h);
  for (int round = 0; round < 3; ++round) {
    const auto at = random_moment(span);
    const std::string what =
        "kill -9 pedserver " + std::to_string(at.count()) + " ms into an SO login";
    fresh_ped(attempt_and_retry());
    ASSERT_TRUE(reconnect(h, server_port_));
    injected(what);
    login_killed(
        h, at, [&] { ::kill(pedserver_->pid(), SIGKILL); }, what);
    pedserver_->wait(5s);
    pedserver_.reset();
    // The custodian's script may be mid-login: start the PED over, then pedserver.
    fresh_ped(script::orange_login("blank1", kOrangePin) + script::blue_quorum());
    start_pedserver();
    connect_and_login_again(h, server_port_, what);
  }
}

TEST_F(ProcessFaultTest, KillPedclientAtRandomMomentsOfALogin) {
  HsmHost& h = bring_up();
  const auto span = login_duration(h);
  for (int round = 0; round < 3; ++round) {
    const auto at = random_moment(span);
    const std::string what =
        "kill -9 pedclient " + std::to_string(at.count()) + " ms into an SO login";
    fresh_ped(attempt_and_retry());
    ASSERT_TRUE(reconnect(h, server_port_));
    injected(what);
    login_killed(
        h, at, [&] { ::kill(h.pedclient->pid(), SIGKILL); }, what);
    h.pedclient->wait(5s);
    start_pedclient(h);
    // pedserver sees its HSM go away and serves the next one.
    fresh_ped(script::orange_login("blank1", kOrangePin) + script::blue_quorum());
    connect_and_login_again(h, server_port_, what);
  }
}

TEST_F(ProcessFaultTest, KillPedsimMidLogin) {
  HsmHost& h = bring_up();
  const auto span = login_duration(h);
  for (int round = 0; round < 2; ++round) {
    const auto at = random_moment(span);
    const std::string what =
        "kill -9 pedsim " + std::to_string(at.count()) + " ms into an SO login";
    fresh_ped(attempt_and_retry());
    ASSERT_TRUE(reconnect(h, server_port_));
    injected(what);
    login_killed(
        h, at, [&] { ::kill(pedsim_->pid(), SIGKILL); }, what);
    fresh_ped(script::orange_login("blank1", kOrangePin) + script::blue_quorum());
    connect_and_login_again(h, server_port_, what);
  }
}

// hsmsim killed between commands: what it acknowledged survives the restart
// (hsm.state is written before the result), pedclient re-attaches, and a new
// ped connect and login work.
TEST_F(ProcessFaultTest, KillHsmsimBetweenCommands) {
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() + script::blue_quorum() +
                         script::orange_login("blank1", kOrangePin) + script::blue_quorum() +
                         script::orange_login("blank1", kOrangePin) + script::blue_quorum());
  initialize_rpv_and_connect_quietly(h);
  ASSERT_EQ(cmd(h, "hsm init -label killed").exit_code, 0);
  ASSERT_EQ(cmd(h, "role login -name so").exit_code, 0);
  for (int round = 0; round < 2; ++round) {
    // Something acknowledged right before the kill: the partition (round 0)
    // or a policy change (round 1, by the SO logged in again after round 0).
    const Ran acked =
        cmd(h, round == 0 ? "partition create" : "hsm changepolicy -policy 21 -value 0");
    const std::string fingerprint = role_fingerprint(h);
    const std::string what = "kill -9 hsmsim after '" +
                             std::string(round == 0 ? "partition create" : "hsm changepolicy") +
                             "'";
    injected(what);
    ::kill(h.hsmsim->pid(), SIGKILL);
    h.hsmsim->wait(5s);
    restart_hsmsim(h, kSerial);
    const auto state = stored_state(h);
    ASSERT_TRUE(state.has_value());
    const bool effect = round == 0 ? state->partition.created
                                   : state->policy(hsmsim::PolicyId::force_user_pin_change) == 0;
    account(acked, effect, fingerprint, role_fingerprint(h), what + ": the command before");
    EXPECT_EQ(role_fingerprint(h), fingerprint) << "the restart changed the roles";
    EXPECT_TRUE(wait_until(
        [&] {
          return contains(pedclient(h, {"-mode", "show", "-format", "json"}).out,
                          "\"attached\": true");
        },
        30s))
        << "pedclient did not re-attach";
    if (!reconnect(h, server_port_)) {
      not_recovered("ped connect failed");
      continue;
    }
    // A restarted HSM has nobody logged in (volatile); the SO logs in again.
    const std::string before = role_fingerprint(h);
    const Ran login = cmd(h, "role login -name so");
    account(login, logged_in(h, "HSM SO"), before, role_fingerprint(h), what + " (login)");
    EXPECT_EQ(login.exit_code, 0) << login.out;
    if (login.exit_code == 0) {
      recovered();
    } else {
      not_recovered(login.out);
    }
  }
}

}  // namespace
}  // namespace rped::fault::test
