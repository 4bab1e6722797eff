// Fault-injection fixture (issue 9 item 3): the four real processes of the
// e2e fixture (tests/e2e/e2e_fixture.h, reused as is) plus what a fault suite
// needs on top of it:
//
//   - a tally shared by every test (faults injected, sessions recovered,
//     operations acknowledged and found in effect, half-applied failures,
//     secrets leaked), printed and enforced by FaultEnvironment at the end;
//   - the HSM's view of its roles, read from hsm.state with hsmsim's own
//     parser, so "acknowledged -> in effect" and "failed -> nothing changed"
//     are checked on the stored state, not on the operator's screen;
//   - a leak scan of every log and process output after each scenario;
//   - FaultProxy: a small TCP proxy between pedclient and pedserver that
//     cuts, delays, corrupts, drops and stalls (docs/protocol.md: the
//     channel must fail closed on any altered byte).
//
// "Records lost" here: the audit log (issue 7) is not on main yet, so the
// suite counts PED operations the HSM acknowledged (CKR_OK) whose effect is
// not in hsm.state, and failed operations that changed hsm.state anyway.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/e2e_fixture.h"
#include "rped/hsmsim/hsm_state.h"
#include "rped/pedsim/key_store.h"

namespace rped::fault::test {

using namespace rped::e2e::test;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// The tally of the whole run

struct FaultTally {
  int faults = 0;        // faults injected
  int recovered = 0;     // sessions that worked again afterwards (ped connect + PED operation)
  int acknowledged = 0;  // PED operations the HSM answered CKR_OK
  int in_effect = 0;     // ... whose effect is in hsm.state
  int failed_clean = 0;  // failed PED operations that left hsm.state unchanged
  int half_applied = 0;  // failed PED operations that changed hsm.state anyway
  int leaks = 0;         // secret hits in logs and outputs
  int scanned_files = 0;
  std::vector<std::string> skipped;  // "scenario: reason"
  std::vector<std::string> unrecovered;

  int lost() const { return acknowledged - in_effect; }
};

inline FaultTally& tally() {
  static FaultTally t;
  return t;
}

// Prints the summary once, after every test, and fails the run if a record
// was lost, a secret leaked, a failure was half-applied or a session did not
// recover.
class FaultEnvironment final : public ::testing::Environment {
 public:
  void TearDown() override {
    const FaultTally& t = tally();
    std::cout << "\n==== fault-injection summary ====\n"
              << "faults injected            : " << t.faults << "\n"
              << "sessions recovered         : " << t.recovered << " of " << t.faults << "\n"
              << "PED operations acknowledged: " << t.acknowledged << " (in effect: " << t.in_effect
              << ")\n"
              << "failed operations          : " << t.failed_clean + t.half_applied
              << " (state unchanged: " << t.failed_clean << ", half-applied: " << t.half_applied
              << ")\n"
              << "records lost               : " << t.lost()
              << "  (must be 0: PED operations hsmsim acknowledged whose effect is missing "
                 "from hsm.state; audit records under kill -9: rped_e2e_tests "
                 "AuditLogSurvives...)\n"
              << "secrets leaked             : " << t.leaks << "  (must be 0; " << t.scanned_files
              << " files scanned)\n";
    for (const std::string& s : t.unrecovered) {
      std::cout << "not recovered: " << s << "\n";
    }
    for (const std::string& s : t.skipped) {
      std::cout << "skipped: " << s << "\n";
    }
    std::cout << "=================================\n";
    EXPECT_EQ(t.lost(), 0) << "records lost";
    EXPECT_EQ(t.leaks, 0) << "secrets leaked";
    EXPECT_EQ(t.half_applied, 0) << "failed operations that changed the HSM's state";
    EXPECT_GE(t.recovered, t.faults) << "sessions that did not recover";
  }
};

// The seed of every random choice (kill moments, corrupted offsets):
// RPED_FAULT_SEED to replay a run; printed by each test that uses it.
inline std::uint64_t fault_seed() {
  static const std::uint64_t seed = [] {
    if (const char* s = std::getenv("RPED_FAULT_SEED"); s != nullptr && *s != '\0') {
      return static_cast<std::uint64_t>(std::strtoull(s, nullptr, 10));
    }
    return static_cast<std::uint64_t>(std::random_device{}());
  }();
  return seed;
}

inline std::string hex(ByteView bytes, bool upper = false) {
  static constexpr char kLower[] = "0123456789abcdef";
  static constexpr char kUpper[] = "0123456789ABCDEF";
  const char* digits = upper ? kUpper : kLower;
  std::string out;
  for (const std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
  return out;
}

// ---------------------------------------------------------------------------
// FaultProxy: pedclient -> proxy -> pedserver, one connection at a time.

enum class Direction { to_server, to_client };

class FaultProxy final {
 public:
  explicit FaultProxy(std::uint16_t target) : target_(target) {
    // CLOEXEC everywhere: the processes the test forks must not hold the
    // proxy's sockets open (a close would then cut nothing).
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("proxy: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~FaultProxy() {
    stop_ = true;
    thread_.join();
    cut_locked(false);
    ::close(listener_);
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const { return port_; }

  // Faults, each applied to the next chunk read in `direction`.
  struct Fault {
    enum class Kind { none, cut, flip_bit, drop_bytes, stall_half } kind = Kind::none;
    Direction direction = Direction::to_server;
    std::uint32_t seed = 0;  // picks the offset inside the chunk
  };
  void arm(Fault fault) {
    const std::lock_guard lock(mu_);
    fault_ = fault;
    fired_ = false;
  }
  bool fired() const {
    const std::lock_guard lock(mu_);
    return fired_;
  }
  // What the last fired fault did (offset, bytes), for the report.
  std::string fired_detail() const {
    const std::lock_guard lock(mu_);
    return detail_;
  }
  void set_delay(std::chrono::milliseconds per_chunk) { delay_ms_ = per_chunk.count(); }
  // Ends a partition (or anything else) by resetting both sides.
  void reset() {
    const std::lock_guard lock(mu_);
    cut_locked(true);
  }
  std::size_t connections() const { return connections_; }

 private:
  void loop() {
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      {
        const std::lock_guard lock(mu_);
        if (client_ >= 0 && !stalled_) {
          fds.push_back({client_, POLLIN, 0});
          fds.push_back({server_, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) {
        continue;
      }
      if ((fds[0].revents & POLLIN) != 0) {
        accept_one();
        continue;
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents != 0) {
          forward(fds[i].fd == client_fd() ? Direction::to_server : Direction::to_client);
          break;
        }
      }
    }
  }

  int client_fd() const {
    const std::lock_guard lock(mu_);
    return client_;
  }

  void accept_one() {
    const int accepted = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (accepted < 0) {
      return;
    }
    const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(target_);
    if (::connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(upstream);
      ::close(accepted);
      return;
    }
    const std::lock_guard lock(mu_);
    cut_locked(false);
    client_ = accepted;
    server_ = upstream;
    stalled_ = false;
    ++connections_;
  }

  void forward(Direction direction) {
    std::array<std::uint8_t, 65536> buffer{};
    const std::lock_guard lock(mu_);
    const int from = direction == Direction::to_server ? client_ : server_;
    const int to = direction == Direction::to_server ? server_ : client_;
    const ssize_t got = ::read(from, buffer.data(), buffer.size());
    if (got <= 0) {
      cut_locked(false);  // an orderly close or reset travels on as a close
      return;
    }
    std::vector<std::uint8_t> chunk(buffer.begin(), buffer.begin() + got);
    if (fault_.kind != Fault::Kind::none && fault_.direction == direction) {
      const std::size_t at = fault_.seed % chunk.size();
      std::ostringstream what;
      switch (fault_.kind) {
        case Fault::Kind::cut:
          what << "reset both sides before a " << chunk.size() << "-byte chunk";
          detail_ = what.str();
          fault_ = {};
          fired_ = true;
          cut_locked(true);
          return;
        case Fault::Kind::flip_bit:
          chunk[at] ^= static_cast<std::uint8_t>(1U << (fault_.seed % 8));
          what << "flipped bit " << fault_.seed % 8 << " of byte " << at << " of " << chunk.size();
          break;
        case Fault::Kind::drop_bytes: {
          const std::size_t n = std::min<std::size_t>(3, chunk.size() - at);
          chunk.erase(chunk.begin() + static_cast<std::ptrdiff_t>(at),
                      chunk.begin() + static_cast<std::ptrdiff_t>(at + n));
          what << "dropped " << n << " bytes at " << at << " of " << chunk.size() + n;
          break;
        }
        case Fault::Kind::stall_half:
          chunk.resize(std::max<std::size_t>(1, chunk.size() / 2));
          stalled_ = true;  // nothing more is forwarded either way until reset()
          what << "forwarded " << chunk.size() << " of " << got << " bytes, then stalled";
          break;
        case Fault::Kind::none:
          break;
      }
      detail_ = what.str();
      fault_ = {};
      fired_ = true;
    }
    if (const long delay = delay_ms_; delay > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
    std::size_t sent = 0;
    while (sent < chunk.size()) {
      const ssize_t n = ::send(to, chunk.data() + sent, chunk.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        cut_locked(false);
        return;
      }
      sent += static_cast<std::size_t>(n);
    }
  }

  // Closes both sides; `hard` sends a TCP reset (SO_LINGER 0).
  void cut_locked(bool hard) {
    for (int* fd : {&client_, &server_}) {
      if (*fd >= 0) {
        if (hard) {
          const linger reset{1, 0};
          ::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        }
        ::close(*fd);
        *fd = -1;
      }
    }
    stalled_ = false;
  }

  std::uint16_t target_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  mutable std::mutex mu_;
  int client_ = -1;
  int server_ = -1;
  bool stalled_ = false;
  Fault fault_;
  bool fired_ = false;
  std::string detail_;
  std::atomic<long> delay_ms_{0};
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// The fixture

class FaultTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    // mint-demo-keys prints the demo PINs by design (a demo tool's listing):
    // its output is not a daemon's and is left out of the leak scan.
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      setup_outputs_.insert(entry.path());
    }
    operator_dir_ = dir_.path() / "operator-screen";
    std::filesystem::create_directories(operator_dir_);
    rng_.seed(fault_seed() ^ std::hash<std::string>{}(
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name()));
  }

  void TearDown() override {
    // Read the secrets before the processes stop (the state stays on disk).
    collect_state_secrets();
    E2eTest::TearDown();
    scan_for_leaks();
  }

  // --- the tally --------------------------------------------------------------

  void injected(const std::string& what) {
    ++tally().faults;
    last_fault_ = what;
    std::cout << "[fault] " << what << "\n";
  }
  // The session worked again after the last fault: call once per fault.
  void recovered() { ++tally().recovered; }
  void not_recovered(const std::string& why) {
    tally().unrecovered.push_back(last_fault_ + ": " + why);
  }

  // --- the HSM's stored state -------------------------------------------------

  std::optional<hsmsim::HsmState> stored_state(const HsmHost& h) const {
    const std::string bytes = slurp(h.state / "hsm.state");
    auto parsed = hsmsim::HsmState::parse(
        ByteView(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    if (!parsed.ok()) {
      return std::nullopt;
    }
    return std::move(parsed).value();
  }

  // Everything a PED operation can change in hsm.state, as text: the roles'
  // records (keyset, verifier, failed logins), the HSM and partition flags, the RPV.
  std::string role_fingerprint(const HsmHost& h) const {
    const auto state = stored_state(h);
    if (!state) {
      return "unreadable";
    }
    std::ostringstream out;
    const auto record = [&](const char* name, const hsmsim::PedSecretRecord& r) {
      out << name << ':' << r.initialized << ':' << hex(r.keyset_id) << ':'
          << hex(r.verifier.reveal()).substr(0, 16) << ':' << r.failed_logins << ';';
    };
    out << "hsm:" << state->initialized << ':' << state->label << ';';
    record("so", state->so);
    record("hsm-domain", state->hsm_domain);
    record("auditor", state->auditor);
    record("po", state->partition.partition_so);
    record("co", state->partition.crypto_officer);
    record("cu", state->partition.crypto_user);
    record("domain", state->partition.domain);
    out << "rpv:" << state->rpv.initialized << ':' << state->rpv.rpk_serial;
    return out.str();
  }

  // A PED operation that the HSM acknowledged must be in effect; one that
  // failed must have changed nothing. `effect` says whether its effect is there.
  void account(const Ran& ran, bool effect, const std::string& before, const std::string& after,
               const std::string& what) {
    std::cout << "[fault]   " << what << " -> " << result_line(ran) << "\n";
    if (ran.exit_code == 0) {
      ++tally().acknowledged;
      if (effect) {
        ++tally().in_effect;
      } else {
        ADD_FAILURE() << what << ": acknowledged but not in effect\n" << ran.out;
      }
    } else if (before == after) {
      ++tally().failed_clean;
    } else {
      ++tally().half_applied;
      ADD_FAILURE() << what << ": failed but changed the HSM's state\nbefore: " << before
                    << "\nafter:  " << after << "\n"
                    << ran.out;
    }
  }

  // `role show`: one line per role ("so  HSM SO  initialized, ..., logged in").
  // LunaCM's last line, "Command Result : ...", without the prefix.
  static std::string result_line(const Ran& ran) {
    const auto at = ran.out.rfind("Command Result : ");
    if (at == std::string::npos) {
      return "exit " + std::to_string(ran.exit_code);
    }
    const auto end = ran.out.find('\n', at);
    return ran.out.substr(at + 17, end == std::string::npos ? end : end - at - 17);
  }

  bool logged_in(const HsmHost& h, const std::string& role_name) {
    std::istringstream lines(cmd(h, "role show").out);
    for (std::string line; std::getline(lines, line);) {
      if (contains(line, role_name)) {
        return contains(line, ", logged in");
      }
    }
    return false;
  }

  // --- PED and connection helpers ----------------------------------------------

  // A new pedsim process (the custodian with a new script); the old one is
  // stopped (or was killed). pedserver re-attaches to it.
  void fresh_ped(const std::string& custodian) {
    // The custodian walks away: SIGTERM, and SIGKILL if the script thread
    // does not let go within 2 s (it may sit in an `expect`).
    if (pedsim_) {
      pedsim_->terminate();
      if (!pedsim_->wait(2s)) {
        ::kill(pedsim_->pid(), SIGKILL);
        pedsim_->wait(5s);
      }
    }
    pedsim_.reset();
    std::error_code ignored;
    std::filesystem::remove(ped_socket_, ignored);  // stale after a kill -9
    if (pedserver_) {
      wait_until([&] { return ped_attached(false); }, 10s);
    }
    start_ped(custodian);
    if (pedserver_) {
      EXPECT_TRUE(wait_until([&] { return ped_attached(true); }, 30s)) << "pedserver: no PED";
    }
  }

  // ped connect (Full Unified, orange key) until it works: the PED or a
  // daemon may still be coming back. True once connected.
  bool reconnect(HsmHost& h, std::uint16_t port, Ran* last = nullptr) {
    Ran ran;
    wait_until([&] { return link_state(h) == "Disconnected"; }, 15s);
    const bool ok = wait_until(
        [&] {
          ran = cmd(h, "ped connect -ip 127.0.0.1 -port " + std::to_string(port));
          if (ran.exit_code != 0 && contains(ran.out, "CKR_OPERATION_NOT_ALLOWED")) {
            cmd(h, "ped disconnect");
          }
          return ran.exit_code == 0;
        },
        60s);
    if (last != nullptr) {
      *last = ran;
    }
    if (!ok) {
      ADD_FAILURE() << "ped connect did not recover: " << ran.out << ran.err;
    }
    return ok;
  }

  // After a fault: ped connect through `port` and an SO login work again;
  // counted as recovered (or not) and accounted like any login.
  void connect_and_login_again(HsmHost& h, std::uint16_t port, const std::string& what) {
    if (!reconnect(h, port)) {
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

  // hsmsim run again on the same state directory (after kill -9).
  void restart_hsmsim(HsmHost& h, std::uint64_t serial) {
    h.hsmsim.reset();
    h.hsmsim.emplace(
        kHsmsim,
        std::vector<std::string>{"run", "--state", h.state.string(), "--serial",
                                 std::to_string(serial), "--manufacturer", manufacturer_.string(),
                                 "--ped-timeout", std::to_string(kPedSeconds), "--connect-timeout",
                                 std::to_string(kPedSeconds)},
        dir_.path());
    EXPECT_TRUE(wait_until([&] { return contains(h.hsmsim->out(), "control socket"); }))
        << h.hsmsim->err();
  }

  // `hsmsim cmd` started, not waited for: the fault lands while it runs.
  std::unique_ptr<Child> cmd_async(const HsmHost& h, const std::string& command) {
    std::vector<std::string> args{"cmd", "--state", h.state.string()};
    std::istringstream words(command);
    for (std::string word; words >> word;) {
      args.push_back(word);
    }
    return std::make_unique<Child>(kHsmsim, args, dir_.path());
  }
  static Ran finish(Child& child, std::chrono::milliseconds timeout = kCommandWait) {
    const std::optional<int> code = child.wait(timeout);
    return Ran{code.value_or(-1), child.out(), child.err()};
  }

  // The operator's one-time-password connect: hsmsim shows the password to the
  // operator by design, so this output goes to operator-screen/ (not scanned).
  void initialize_rpv_and_connect_quietly(HsmHost& h) {
    const Ran otp = run(kHsmsim,
                        {"cmd", "--state", h.state.string(), "ped", "connect", "-ip", "127.0.0.1",
                         "-port", std::to_string(server_port_), "-password", kOtp},
                        operator_dir_, {}, kCommandWait);
    ASSERT_EQ(otp.exit_code, 0) << otp.out << otp.err;
    const Ran vector = cmd(h, "ped vector init");
    ASSERT_EQ(vector.exit_code, 0) << vector.out << vector.err;
    const Ran fu = cmd(h, "ped connect " + connect_args());
    ASSERT_EQ(fu.exit_code, 0) << fu.out << fu.err;
  }

  // A fresh blank key in the key directory (creation faults each use a new one).
  std::string new_blank() {
    const std::string name = "fblank" + std::to_string(++blanks_);
    const auto keys = pedsim::KeyDirectory::open(keys_);
    EXPECT_TRUE(keys.ok());
    if (keys.ok()) {
      EXPECT_TRUE(pedsim::write_blank_key(keys.value(), name).ok());
    }
    return name;
  }
  std::string keyset_of(const std::string& key) const {
    const auto record = pedsim::load_key_file(keys_ / (key + ".json"));
    return record.ok() ? hex(record->keyset_id) : std::string();
  }

  // --- leak scan ----------------------------------------------------------------

  static constexpr const char* kOtp = "31415926";
  static constexpr const char* kOrangePin = "4321";

  struct Secret {
    std::string name;
    std::string needle;
    bool digits = false;  // a PIN: only a whole token counts (not part of a longer number)
  };

  void add_secret_bytes(const std::string& name, ByteView bytes) {
    if (bytes.size() < 8) {
      return;
    }
    secrets_.push_back({name, std::string(bytes.begin(), bytes.end()), false});
    secrets_.push_back({name + " (hex)", hex(bytes), false});
    secrets_.push_back({name + " (HEX)", hex(bytes, true), false});
  }

  void collect_state_secrets() {
    secrets_.clear();
    for (const std::string pin : {"1111", "2222", "3333", "4444", "5555", "1234", kOrangePin}) {
      secrets_.push_back({"PIN " + pin, pin, true});
    }
    for (const std::string& pin : extra_pins_) {
      secrets_.push_back({"PIN " + pin, pin, true});
    }
    secrets_.push_back({"one-time password", kOtp, true});
    for (const auto& host : hosts_) {
      if (const auto state = stored_state(*host); state && state->rpv.initialized) {
        add_secret_bytes("RPV", state->rpv.rpv.reveal());
      }
    }
    // The splits (and the RPK private key) behind the demo keys and the orange key.
    const std::vector<std::pair<std::string, std::string>> opened{
        {"blue1", "1111"},  {"blue2", "2222"}, {"blue3", "3333"},
        {"black1", "1234"}, {"red1", ""},      {"blank1", kOrangePin}};
    for (const auto& [key, pin] : opened) {
      const auto record = pedsim::load_key_file(keys_ / (key + ".json"));
      if (!record.ok() || record->is_blank()) {
        continue;
      }
      const auto unsealed = pedsim::unseal_key(
          record.value(), SecretBytes::copy_of(ByteView(
                              reinterpret_cast<const std::uint8_t*>(pin.data()), pin.size())));
      if (unsealed.ok()) {
        add_secret_bytes(key + " split", unsealed->split.reveal());
        add_secret_bytes(key + " RPK private key", unsealed->rpk_private.reveal());
      }
    }
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  static int count_hits(const std::string& text, const Secret& secret) {
    int hits = 0;
    for (auto at = text.find(secret.needle); at != std::string::npos;
         at = text.find(secret.needle, at + 1)) {
      if (secret.digits) {
        // A PIN as a token of its own: not the middle of a longer number or
        // of a hex string (the audit log's HMACs hold every 4-digit run
        // sooner or later; key material is scanned as hex needles anyway).
        const auto end = at + secret.needle.size();
        const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
        if ((at > 0 && word(text[at - 1])) || (end < text.size() && word(text[end]))) {
          continue;
        }
      }
      ++hits;
    }
    return hits;
  }

  // Every log file and every process's stdout/stderr under the test directory
  // (the custodian's scripts, the key files and hsm.state hold secrets by design
  // and are not outputs); a core file counts as a failure of its own.
  int scan_for_leaks(bool record = true) {
    int hits = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir_.path(), ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      const auto& path = it->path();
      if (!it->is_regular_file(ec) || setup_outputs_.contains(path) ||
          path.parent_path() == operator_dir_ || path.parent_path() == keys_) {
        continue;
      }
      const std::string name = path.filename().string();
      if (name.starts_with("core")) {
        ADD_FAILURE() << "core file: " << path;
        continue;
      }
      const bool output =
          name.ends_with(".log") || name.starts_with("out-") || name.starts_with("err-");
      if (!output) {
        continue;
      }
      tally().scanned_files += record ? 1 : 0;
      const std::string text = slurp(path);
      for (const Secret& secret : secrets_) {
        if (const int n = count_hits(text, secret); n > 0) {
          hits += n;
          if (!record) {
            continue;
          }
          const auto at = text.find(secret.needle);
          const auto from = at > 60 ? at - 60 : 0;
          ADD_FAILURE() << secret.name << " found " << n << " time(s) in " << path << ": ..."
                        << text.substr(from, at - from) << "<secret>"
                        << text.substr(at + secret.needle.size(), 60) << "...";
        }
      }
    }
    if (record) {
      tally().leaks += hits;
    }
    return hits;
  }

  std::set<std::filesystem::path> setup_outputs_;
  std::filesystem::path operator_dir_;
  std::vector<Secret> secrets_;
  std::vector<std::string> extra_pins_;
  std::mt19937_64 rng_;
  int blanks_ = 0;
  std::string last_fault_;
};

}  // namespace rped::fault::test
