// PED faults: the PED unplugged at every step of a 3-of-5 SO login and of a
// key creation (role init), keys pulled out midway. Each time the operator
// gets a clear result code, hsm.state is unchanged, and a retry succeeds.
// Each attempt runs against a new pedsim (a new custodian script), so a fault
// that leaves the custodian's script behind cannot desynchronise the next one.
#include "fault/fault_fixture.h"

namespace rped::fault::test {
namespace {

const std::string kUnplug = "unplug\nwait 300ms\nreplug\n";

// The SO's blue quorum cut by an unplug at `point`: 0/2/4 at the prompt for
// key 1/2/3 (before the insert), 1/3/5 right after PIN 1/2/3.
std::string blue_quorum_unplugged_at(int point) {
  const std::vector<std::string> pins{"1111", "2222", "3333"};
  std::string s = script::expect("PED Key (BLUE)");
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      s += script::expect("Keys read: 0" + std::to_string(i) + " of 03");
    }
    if (point == 2 * i) {
      return s + kUnplug;
    }
    s += script::present("blue" + std::to_string(i + 1)) + script::expect("Enter PED PIN:") +
         "pin " + pins[static_cast<std::size_t>(i)] + "\n";
    if (point == 2 * i + 1) {
      return s + kUnplug;
    }
  }
  return s;
}

const char* const kLoginPoints[] = {"before key 1", "after PIN 1",  "before key 2",
                                    "after PIN 2",  "before key 3", "after PIN 3"};

class PedFaultTest : public FaultTest {
 protected:
  HsmHost& bring_up() {
    HsmHost& h = start_all(rpv_init_script() + script::hsm_init());
    initialize_rpv_and_connect_quietly(h);
    const Ran init = cmd(h, "hsm init -label fault");
    EXPECT_EQ(init.exit_code, 0) << init.out;
    return h;
  }

  // role login that must leave the HSM as it was unless acknowledged.
  Ran login_attempt(HsmHost& h, const std::string& role, const std::string& shown_as,
                    const std::string& what) {
    const std::string before = role_fingerprint(h);
    const Ran ran = cmd(h, "role login -name " + role);
    const bool in = logged_in(h, shown_as);
    // A login changes no stored record (a failed-login counter only on a wrong PIN).
    account(ran, in, before, role_fingerprint(h), what);
    if (ran.exit_code != 0) {
      EXPECT_FALSE(in) << what << ": failed, yet logged in";
    }
    return ran;
  }
};

TEST_F(PedFaultTest, UnplugAtEveryStepOfA3Of5SoLogin) {
  HsmHost& h = bring_up();
  for (int point = 0; point < 6; ++point) {
    const std::string what = std::string("PED unplugged during SO login, ") + kLoginPoints[point];
    fresh_ped(script::orange_login("blank1", kOrangePin) + blue_quorum_unplugged_at(point) +
              script::orange_login("blank1", kOrangePin) + script::blue_quorum());
    ASSERT_TRUE(reconnect(h, server_port_)) << what;
    injected(what);
    const Ran cut = login_attempt(h, "so", "HSM SO", what);
    // Right after the last PIN the PED may already have answered: then the
    // login is acknowledged and must be in effect (checked by login_attempt).
    if (point < 5) {
      EXPECT_EQ(cut.exit_code, 1) << what << cut.out;
    }
    if (cut.exit_code != 0) {
      EXPECT_TRUE(contains(cut.out, "CKR_PED_UNPLUGGED")) << what << ": " << cut.out;
    } else {
      EXPECT_EQ(cmd(h, "role logout").exit_code, 0);
    }
    // The retry: the operator connects again and the custodian starts over.
    ASSERT_TRUE(reconnect(h, server_port_)) << what;
    const Ran retry = login_attempt(h, "so", "HSM SO", what + " (retry)");
    EXPECT_EQ(retry.exit_code, 0) << what << ": " << retry.out;
    if (retry.exit_code == 0) {
      recovered();
    } else {
      not_recovered(retry.out);
    }
    EXPECT_EQ(cmd(h, "role logout").exit_code, 0);
  }
}

// role init -name co (create_keyset, no reuse, 1 of 1 on a fresh blank),
// cut by an unplug at `point`.
std::string create_black_unplugged_at(int point, const std::string& blank, const std::string& pin) {
  const std::vector<std::string> steps{script::expect("Do you wish to reuse"),
                                       "no\n" + script::expect("Enter M value:"),
                                       "pin 1\n" + script::expect("Enter N value:"),
                                       "pin 1\n" + script::expect("PED Key (BLACK)"),
                                       script::present(blank) + script::expect("Overwrite?"),
                                       "yes\n" + script::expect("Enter new PED PIN"),
                                       "pin " + pin + "\n" + script::expect("Confirm new PED PIN:"),
                                       "pin " + pin + "\n" + script::expect("Create duplicate"),
                                       "no\n"};
  std::string s;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    s += steps[i];
    if (static_cast<int>(i) == point) {
      return s + kUnplug;
    }
  }
  return s;
}

const char* const kCreatePoints[] = {
    "at the reuse question",     "at the M prompt",
    "at the N prompt",           "at the key prompt",
    "at the overwrite question", "at the new PIN prompt",
    "at the PIN confirmation",   "at the duplicate question (key written)"};

TEST_F(PedFaultTest, UnplugAtEveryStepOfARoleInitKeyCreation) {
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() + script::blue_quorum() +
                         script::hsm_init() + script::blue_quorum());
  initialize_rpv_and_connect_quietly(h);
  // The Partition SO creates the Crypto Officer.
  for (const std::string command :
       {"hsm init -label fault", "role login -name so", "partition create",
        "partition init -label fp", "role logout", "role login -name po"}) {
    const Ran ran = cmd(h, command);
    ASSERT_EQ(ran.exit_code, 0) << command << ": " << ran.out;
  }
  const std::string pin = "86420135";
  extra_pins_.push_back(pin);
  for (int point = 0; point < 8; ++point) {
    const std::string what =
        std::string("PED unplugged during role init -name co, ") + kCreatePoints[point];
    const std::string cut_key = new_blank();
    const std::string retry_key = new_blank();
    fresh_ped(script::orange_login("blank1", kOrangePin) +
              create_black_unplugged_at(point, cut_key, pin) +
              script::orange_login("blank1", kOrangePin) +
              create_black_unplugged_at(-1, retry_key, pin));
    ASSERT_TRUE(reconnect(h, server_port_)) << what;
    injected(what);
    const std::string before = role_fingerprint(h);
    const Ran cut = cmd(h, "role init -name co");
    const auto after_cut = stored_state(h);
    ASSERT_TRUE(after_cut.has_value());
    account(cut, hex(after_cut->partition.crypto_officer.keyset_id) == keyset_of(cut_key), before,
            role_fingerprint(h), what);
    EXPECT_EQ(cut.exit_code, 1) << what << ": " << cut.out;
    EXPECT_TRUE(contains(cut.out, "CKR_PED_UNPLUGGED")) << what << ": " << cut.out;
    EXPECT_TRUE(logged_in(h, "Partition SO")) << what << ": the Partition SO was logged out";

    ASSERT_TRUE(reconnect(h, server_port_)) << what;
    const std::string before_retry = role_fingerprint(h);
    const Ran retry = cmd(h, "role init -name co");
    const auto after = stored_state(h);
    ASSERT_TRUE(after.has_value());
    // In effect: the Crypto Officer's keyset is the one now on the retry's key.
    const bool effect = after->partition.crypto_officer.initialized &&
                        hex(after->partition.crypto_officer.keyset_id) == keyset_of(retry_key);
    account(retry, effect, before_retry, role_fingerprint(h), what + " (retry)");
    EXPECT_EQ(retry.exit_code, 0) << what << ": " << retry.out;
    if (retry.exit_code == 0 && effect) {
      recovered();
    } else {
      not_recovered(retry.out);
    }
  }
}

// A key pulled out in the middle of a prompt: the login and the creation end
// with the PED's key_removed, the HSM is unchanged, and the same session goes on.
TEST_F(PedFaultTest, KeysRemovedMidway) {
  const std::string pin = "97531864";
  extra_pins_.push_back(pin);
  const std::string blank = "blank2";
  HsmHost& h = start_all(
      rpv_init_script() + script::hsm_init() +
      // SO login: blue2 pulled out while its PIN is asked.
      script::expect("PED Key (BLUE)") + script::present("blue1") +
      script::expect("Enter PED PIN:") + "pin 1111\n" + script::expect("Keys read: 01 of 03") +
      script::present("blue2") + script::expect("Enter PED PIN:") + "remove\n" +
      // The retry in the same session.
      script::blue_quorum() +
      // partition init (reuse the demo keys) for the Partition SO, who inits co.
      script::hsm_init() + script::blue_quorum() +
      // role init -name co: the blank pulled out at the PIN confirmation.
      script::expect("Do you wish to reuse") + "no\n" + script::expect("Enter M value:") +
      "pin 1\n" + script::expect("Enter N value:") + "pin 1\n" + script::expect("PED Key (BLACK)") +
      script::present(blank) + script::expect("Overwrite?") + "yes\n" +
      script::expect("Enter new PED PIN") + "pin " + pin + "\n" +
      script::expect("Confirm new PED PIN:") + "remove\n" +
      // The retry (blank2 was not written: the key was out).
      create_black_unplugged_at(-1, blank, pin));
  initialize_rpv_and_connect_quietly(h);
  ASSERT_EQ(cmd(h, "hsm init -label removed").exit_code, 0);

  injected("blue key 2 of 3 removed at its PIN prompt during SO login");
  const Ran removed = login_attempt(h, "so", "HSM SO", "key removed during SO login");
  EXPECT_EQ(removed.exit_code, 1) << removed.out;
  EXPECT_TRUE(contains(removed.out, "CKR_CALLBACK_ERROR")) << removed.out;
  EXPECT_TRUE(contains(removed.out, "removed")) << "the operator is told why: " << removed.out;
  const Ran login = login_attempt(h, "so", "HSM SO", "SO login after a key was removed");
  EXPECT_EQ(login.exit_code, 0) << login.out;
  if (login.exit_code == 0) {
    recovered();
  } else {
    not_recovered(login.out);
  }

  for (const std::string command :
       {"partition create", "partition init -label kr", "role logout", "role login -name po"}) {
    const Ran ran = cmd(h, command);
    ASSERT_EQ(ran.exit_code, 0) << command << ": " << ran.out;
  }
  injected("black key removed at the PIN confirmation during role init -name co");
  const std::string before = role_fingerprint(h);
  const Ran cut = cmd(h, "role init -name co");
  const auto state = stored_state(h);
  ASSERT_TRUE(state.has_value());
  account(cut, state->partition.crypto_officer.initialized, before, role_fingerprint(h),
          "key removed during role init");
  EXPECT_EQ(cut.exit_code, 1) << cut.out;
  EXPECT_TRUE(contains(cut.out, "removed")) << cut.out;
  EXPECT_FALSE(state->partition.crypto_officer.initialized) << "the role is half-created";
  EXPECT_TRUE(pedsim::load_key_file(keys_ / (blank + ".json"))->is_blank())
      << "the key was written although it was out of the port";

  const std::string before_retry = role_fingerprint(h);
  const Ran retry = cmd(h, "role init -name co");
  const auto after = stored_state(h);
  ASSERT_TRUE(after.has_value());
  const bool effect = after->partition.crypto_officer.initialized &&
                      hex(after->partition.crypto_officer.keyset_id) == keyset_of(blank);
  account(retry, effect, before_retry, role_fingerprint(h), "role init after a key was removed");
  EXPECT_EQ(retry.exit_code, 0) << retry.out;
  if (retry.exit_code == 0 && effect) {
    recovered();
  } else {
    not_recovered(retry.out);
  }
}

}  // namespace
}  // namespace rped::fault::test

namespace rped::fault::test {
namespace {

// The leak scan itself: planted secrets are found (a PIN only as a whole
// number, key material raw and in hex), and the count is what was planted.
TEST_F(FaultTest, LeakScanFindsPlantedSecrets) {
  collect_state_secrets();
  const auto blue1 = pedsim::load_key_file(keys_ / "blue1.json");
  ASSERT_TRUE(blue1.ok());
  const auto split = pedsim::unseal_key(
      blue1.value(),
      SecretBytes::copy_of(ByteView(reinterpret_cast<const std::uint8_t*>("1111"), 4)));
  ASSERT_TRUE(split.ok());
  const auto planted = dir_.path() / "planted.log";
  write_text(planted, "port 41111 and 11112 are not PINs, nor is the hex 9290B1111EC3\n");
  EXPECT_EQ(scan_for_leaks(false), 0);
  write_text(planted, "typed pin 1111.\nsplit " + hex(split->split.reveal()) + "\n" +
                          hex(split->split.reveal(), true) + "\n");
  EXPECT_EQ(scan_for_leaks(false), 3);
  write_text(planted, "otp=" + std::string(kOtp) + "\n");
  EXPECT_EQ(scan_for_leaks(false), 1);
  std::filesystem::remove(planted);
  EXPECT_EQ(scan_for_leaks(false), 0);
}

}  // namespace
}  // namespace rped::fault::test
