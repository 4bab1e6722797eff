// End-to-end fixture: the four real processes of the Remote PED path.
//
//   hsmsim run ──backend.sock── pedclient ══TCP══ pedserver ──unix── pedsim
//      ▲ hsmsim cmd (the operator)                                  ▲ custodian script
//
// Process plumbing (Child, TempDir, free_port, wait_until, slurp) comes from
// the pedserver harness, so there is one implementation of it. Every process
// gets its own free ports and files under one temporary directory; logs of
// all of them are printed when a test fails.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pedserver/harness.h"

namespace rped::e2e::test {

using rped::pedserver::test::Child;
using rped::pedserver::test::free_port;
using rped::pedserver::test::Ran;
using rped::pedserver::test::run;
using rped::pedserver::test::slurp;
using rped::pedserver::test::SpawnOptions;
using rped::pedserver::test::TempDir;
using rped::pedserver::test::wait_until;
using rped::pedserver::test::write_text;
using namespace std::chrono_literals;

inline const std::string kHsmsim = RPED_HSMSIM_BINARY;
inline const std::string kPedclient = RPED_PEDCLIENT_BINARY;
inline const std::string kPedserver = RPED_PEDSERVER_BINARY;
inline const std::string kPedsim = RPED_PEDSIM_BINARY;

// The time the custodian script and the daemons get for one PED operation.
inline constexpr int kPedSeconds = 30;
inline constexpr std::chrono::milliseconds kCommandWait{90'000};

inline std::string tail(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "...\n" + text.substr(text.size() - n);
}

// The value of the `name` line of pedclient's `-mode show` text.
inline std::string show_field(const std::string& show, const std::string& name) {
  const auto at = show.find(name);
  if (at == std::string::npos) {
    return {};
  }
  const auto colon = show.find(": ", at);
  const auto end = show.find('\n', colon);
  return colon == std::string::npos ? std::string() : show.substr(colon + 2, end - colon - 2);
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Custodian script fragments (docs/ped-device.md "Flows and screens").
namespace script {

inline std::string expect(const std::string& text) {
  return "expect \"" + text + "\" " + std::to_string(kPedSeconds) + "s\n";
}
// Swap the key in the port for `key` and press ENTER.
inline std::string present(const std::string& key) {
  return "remove\ninsert " + key + "\nenter\n";
}
// docs/attestation.md §6: before any key is read (the orange key, the
// one-time password) the PED shows which HSM asks (serial, label, the root
// that verified it) and the custodian presses YES.
inline std::string confirm_hsm() {
  return expect("Proceed? YES/NO") + "yes\n";
}
// One-pass: the custodian confirms the HSM, then types the one-time password.
inline std::string password(const std::string& digits) {
  return confirm_hsm() + expect("Enter PED Password.") + "pin " + digits + "\n";
}
// create_rpk_keyset: 1 of 1 orange key on `blank` with `pin`, no duplicates.
inline std::string create_orange(const std::string& blank, const std::string& pin) {
  return expect("REMOTE PED VECTOR") + expect("Enter M value:") + "pin 1\n" +
         expect("Enter N value:") + "pin 1\n" + expect("PED Key (ORANGE)") + present(blank) +
         expect("Overwrite?") + "yes\n" + expect("Enter new PED PIN") + "pin " + pin + "\n" +
         expect("Confirm new PED PIN:") + "pin " + pin + "\n" + expect("Create duplicate") + "no\n";
}
// Full Unified: read_rpk_info (the key, no PIN), then derive_session_keys (ENTER, PIN).
inline std::string orange_login(const std::string& key, const std::string& pin) {
  return confirm_hsm() + expect("PED Key (ORANGE)") + present(key) + expect("REMOTE PED LOGIN") +
         "enter\n" + expect("Enter PED PIN:") + "pin " + pin + "\n";
}
// The SO's blue keys, 3 of 5 (demo keys blue1..3 with PINs 1111..3333; `pins` overrides).
inline std::string blue_quorum(const std::vector<std::string>& pins = {"1111", "2222", "3333"}) {
  std::string s = expect("PED Key (BLUE)");
  for (std::size_t i = 0; i < pins.size(); ++i) {
    if (i > 0) {
      s += expect("Keys read: 0" + std::to_string(i) + " of 03");
    }
    s += present("blue" + std::to_string(i + 1)) + expect("Enter PED PIN:") + "pin " + pins[i] +
         "\n";
  }
  return s;
}
// The Crypto Officer's demo key: black1, PIN 1234.
inline std::string black_login() {
  return expect("PED Key (BLACK)") + present("black1") + expect("Enter PED PIN:") + "pin 1234\n";
}
// hsm init: reuse the demo blue keyset (3 of 5) and the demo red key (no PIN).
inline std::string hsm_init() {
  return expect("Do you wish to reuse") + "yes\n" + blue_quorum() + expect("Do you wish to reuse") +
         "yes\n" + expect("PED Key (RED)") + present("red1");
}

}  // namespace script

// One emulated HSM: `hsmsim run` and the pedclient beside it.
struct HsmHost {
  std::filesystem::path state;
  std::filesystem::path client_state;
  std::filesystem::path client_log;
  std::uint16_t client_admin = 0;
  std::optional<Child> hsmsim;
  std::optional<Child> pedclient;
};

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    manufacturer_ = dir_.path() / "manufacturer";
    keys_ = dir_.path() / "keys";
    ped_socket_ = dir_.path() / "ped.sock";
    server_state_ = dir_.path() / "pedserver-state";
    server_log_ = dir_.path() / "pedserver.log";
    server_port_ = free_port();
    server_admin_ = free_port();
    write_text(config_file(), "");
    const Ran minted = run(kPedsim, {"mint-demo-keys", "--keys", keys_.string()}, dir_.path());
    ASSERT_EQ(minted.exit_code, 0) << minted.out << minted.err;
  }

  void TearDown() override {
    for (auto& host : hosts_) {
      stop(host->pedclient);
      stop(host->hsmsim);
    }
    stop(pedserver_);
    stop(pedsim_);
    if (HasFailure()) {
      for (std::size_t i = 0; i < hosts_.size(); ++i) {
        const HsmHost& host = *hosts_[i];
        std::cerr << "---- hsmsim " << i << " ----\n"
                  << (host.hsmsim ? host.hsmsim->out() + host.hsmsim->err() : std::string())
                  << "---- pedclient " << i << " log ----\n"
                  << or_stderr(host.client_log, host.pedclient);
      }
      std::cerr << "---- pedserver log ----\n"
                << or_stderr(server_log_, pedserver_) << "---- pedsim ----\n"
                << (pedsim_ ? tail(pedsim_->out(), 6000) + pedsim_->err() : std::string()) << "\n";
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  // A daemon's log file; its stderr (the same lines) only when the file is empty.
  static std::string or_stderr(const std::filesystem::path& log,
                               const std::optional<Child>& child) {
    const std::string text = slurp(log);
    return !text.empty() || !child ? text : child->err();
  }

  static void stop(std::optional<Child>& child) {
    if (child) {
      child->terminate();
      if (!child->wait(10s)) {
        ::kill(child->pid(), SIGKILL);
        child->wait(5s);
      }
    }
  }

  // An empty config file: every setting comes from the command line.
  std::filesystem::path config_file() const { return dir_.path() / "empty.conf"; }

  // --- hsmsim + pedclient -----------------------------------------------------

  HsmHost& start_hsm(std::uint64_t serial, const std::vector<std::string>& client_extra = {}) {
    auto host = std::make_unique<HsmHost>();
    const std::string tag = std::to_string(hosts_.size() + 1);
    host->state = dir_.path() / ("hsm" + tag);
    host->client_state = dir_.path() / ("pedclient" + tag);
    host->client_log = dir_.path() / ("pedclient" + tag + ".log");
    host->client_admin = free_port();
    host->hsmsim.emplace(
        kHsmsim,
        std::vector<std::string>{"run", "--state", host->state.string(), "--serial",
                                 std::to_string(serial), "--manufacturer", manufacturer_.string(),
                                 "--ped-timeout", std::to_string(kPedSeconds), "--connect-timeout",
                                 std::to_string(kPedSeconds)},
        dir_.path());
    HsmHost& h = *host;
    hosts_.push_back(std::move(host));
    EXPECT_TRUE(wait_until([&] { return contains(h.hsmsim->out(), "control socket"); }))
        << h.hsmsim->out() << h.hsmsim->err();
    start_pedclient(h, client_extra);
    return h;
  }

  void start_pedclient(HsmHost& h, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"-mode",
                                  "start",
                                  "-foreground",
                                  "-hsm",
                                  (h.state / "backend.sock").string(),
                                  "-admin",
                                  std::to_string(h.client_admin),
                                  "-logfile",
                                  h.client_log.string(),
                                  "-configfile",
                                  config_file().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    h.pedclient.emplace(kPedclient, args, dir_.path(), client_env(h));
    EXPECT_TRUE(wait_until([&] {
      const Ran shown = pedclient(h, {"-mode", "show", "-format", "json"});
      return shown.exit_code == 0 && contains(shown.out, "\"attached\": true");
    })) << h.pedclient->err();
  }

  // pedclient's view of the Remote PED connection: Disconnected, or its state.
  std::string link_state(const HsmHost& h) {
    return show_field(pedclient(h, {"-mode", "show"}).out, "Remote PED Connection Status");
  }

  // State and logs (the audit log's default directory among them) under the
  // test's own directory: never the user's or the system's.
  SpawnOptions client_env(const HsmHost& h) const {
    return SpawnOptions{{{"STATE_DIRECTORY", h.client_state.string()},
                         {"LOGS_DIRECTORY", (h.client_state / "logs").string()}},
                        {},
                        {},
                        {},
                        {}};
  }

  // A pedclient command line against `h`'s running client (-admin added).
  Ran pedclient(const HsmHost& h, std::vector<std::string> args,
                std::chrono::milliseconds timeout = kCommandWait) {
    args.insert(args.end(),
                {"-admin", std::to_string(h.client_admin), "-configfile", config_file().string()});
    return run(kPedclient, args, dir_.path(), client_env(h), timeout);
  }

  // `hsmsim cmd` as the operator types it; stdin is /dev/null (questions are aborted).
  Ran cmd(const HsmHost& h, const std::string& command) {
    std::vector<std::string> args{"cmd", "--state", h.state.string()};
    std::istringstream words(command);
    for (std::string word; words >> word;) {
      args.push_back(word);
    }
    return run(kHsmsim, args, dir_.path(), {}, kCommandWait);
  }

  std::string connect_args() const { return "-ip 127.0.0.1 -port " + std::to_string(server_port_); }

  // --- pedsim + pedserver ------------------------------------------------------

  void start_ped(const std::string& custodian) {
    const auto file = dir_.path() / ("script-" + std::to_string(++scripts_) + ".txt");
    write_text(file, custodian);
    pedsim_.emplace(
        kPedsim,
        std::vector<std::string>{"run", "--socket", ped_socket_.string(), "--keys", keys_.string(),
                                 "--mode", "remote", "--script", file.string()},
        dir_.path());
    ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(ped_socket_); })) << pedsim_->err();
  }

  // pedserver in the foreground, trusting the demo manufacturer's root.
  void start_pedserver(const std::vector<std::string>& extra = {}) {
    ASSERT_FALSE(hosts_.empty()) << "start an HSM first: it creates the manufacturer root";
    std::filesystem::create_directories(server_state_ / "trust");
    write_text(server_state_ / "trust" / "root.pem",
               slurp(hosts_.front()->state / "certificates" / "manufacturer-root.pem"));
    std::vector<std::string> args{"-mode",
                                  "start",
                                  "-foreground",
                                  "-ped",
                                  "sim:" + ped_socket_.string(),
                                  "-port",
                                  std::to_string(server_port_),
                                  "-admin",
                                  std::to_string(server_admin_),
                                  "-logfile",
                                  server_log_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    pedserver_.emplace(kPedserver, args, dir_.path(), server_env());
    // Ready for HSMs once the PED is attached (the admin port answers earlier).
    ASSERT_TRUE(wait_until([&] { return ped_attached(true); })) << pedserver_->err();
  }

  // pedserver's `-mode show` says the PED is (or is not) attached.
  bool ped_attached(bool want) {
    const Ran shown = run(
        kPedserver, {"-mode", "show", "-format", "json", "-admin", std::to_string(server_admin_)},
        dir_.path(), server_env());
    if (shown.exit_code != 0) {
      return false;
    }
    const auto status = nlohmann::json::parse(shown.out, nullptr, false);
    return status.is_object() && status["ped"]["connected"] == want;
  }

  SpawnOptions server_env() const {
    return SpawnOptions{{{"STATE_DIRECTORY", server_state_.string()}}, {}, {}, {}, {}};
  }

  // Everything up to a zeroized HSM whose pedclient reaches a pedserver with a
  // PED running `custodian`.
  HsmHost& start_all(const std::string& custodian,
                     const std::vector<std::string>& client_extra = {}) {
    HsmHost& h = start_hsm(1234567, client_extra);
    start_ped(custodian);
    start_pedserver();
    return h;
  }

  // Remote RPV initialization with the one-time password 31415926 (the
  // script must hold script::password + script::create_orange), then the
  // orange-key connection (script::orange_login).
  void initialize_rpv_and_connect(HsmHost& h) {
    const Ran otp = cmd(h, "ped connect " + connect_args() + " -password 31415926");
    ASSERT_EQ(otp.exit_code, 0) << otp.out << otp.err;
    const Ran vector = cmd(h, "ped vector init");
    ASSERT_EQ(vector.exit_code, 0) << vector.out << vector.err;
    ASSERT_TRUE(contains(vector.out, "orange keys 1 of 1")) << vector.out;
    const Ran fu = cmd(h, "ped connect " + connect_args());
    ASSERT_EQ(fu.exit_code, 0) << fu.out << fu.err;
    // The custodian's YES (docs/attestation.md §6) came before the orange key
    // was read, so a channel that is up is one the custodian confirmed.
    EXPECT_TRUE(contains(slurp(server_log_), "confirmed by the custodian")) << slurp(server_log_);
  }

  TempDir dir_;
  std::filesystem::path manufacturer_;
  std::filesystem::path keys_;
  std::filesystem::path ped_socket_;
  std::filesystem::path server_state_;
  std::filesystem::path server_log_;
  std::uint16_t server_port_ = 0;
  std::uint16_t server_admin_ = 0;
  std::vector<std::unique_ptr<HsmHost>> hosts_;
  std::optional<Child> pedsim_;
  std::optional<Child> pedserver_;
  int scripts_ = 0;
};

// The script prologue/epilogue for a PED whose HSM gets an RPV on blank1 (PIN 4321).
inline std::string rpv_init_script() {
  return script::password("31415926") + script::create_orange("blank1", "4321") +
         script::orange_login("blank1", "4321");
}

}  // namespace rped::e2e::test
