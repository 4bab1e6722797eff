// Process-level test harness for pedserver: runs the real pedserver and
// pedsim binaries, plays the HSM side of the secure channel over a real TCP
// (or TLS) connection with a test PKI, and cleans up every process it started.
//
//   PedServerTest (fixture): a temporary directory with a state directory
//   (STATE_DIRECTORY) holding the test manufacturer root in trust/, free
//   ports, pedsim with a custodian script, and helpers to run pedserver.
//
//   HsmPeer: a channel::Endpoint::hsm driven over a socket; the HSM's device
//   part (static key, RPV, one-time password) answered in-process.
//
// Waiting is always on a condition (a file appears, a status field changes,
// bytes arrive), bounded by a timeout; never a fixed sleep where a condition
// exists.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/free_port.h"
#include "rped/channel/endpoint.h"
#include "rped/crypto/symmetric.h"
#include "rped/ped/device_protocol.h"
#include "rped/ped/remote_ops.h"
#include "rped/pedsim/key_store.h"
#include "support/pki.h"

extern char** environ;

namespace rped::pedserver::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using rped::test::must;

inline const std::string kPedserver = RPED_PEDSERVER_BINARY;
inline const std::string kPedsim = RPED_PEDSIM_BINARY;
inline constexpr std::chrono::milliseconds kWait{15'000};
inline constexpr uid_t kNobody = 65534;
inline constexpr gid_t kNogroup = 65534;

inline std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_text(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline std::size_t line_count(const std::string& text) {
  std::size_t lines = 0;
  for (const char c : text) {
    lines += c == '\n' ? 1 : 0;
  }
  return lines;
}

// A directory removed at the end of the test; traversable by every user so
// that tests which run pedserver as nobody can reach files under it.
class TempDir final {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "pedserver-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port nothing listens on right now (IPv6 any, which covers IPv4 too).
using rped::test::free_port;  // support/free_port.h

struct SpawnOptions {
  std::map<std::string, std::string> env;  // added or replaced
  std::vector<std::string> unset_env;      // removed
  std::optional<uid_t> uid;                // run as this user (we are root in CI)
  std::optional<gid_t> gid;
  std::filesystem::path cwd;
};

// A child process with stdout and stderr in files.
class Child final {
 public:
  Child(const std::string& binary, const std::vector<std::string>& args,
        const std::filesystem::path& out_dir, const SpawnOptions& options = {}) {
    static int counter = 0;
    const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(++counter);
    stdout_ = out_dir / ("out-" + tag + ".txt");
    stderr_ = out_dir / ("err-" + tag + ".txt");
    std::vector<std::string> argv_strings{binary};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const std::size_t eq = entry.find('=');
      if (eq != std::string::npos) {
        env[entry.substr(0, eq)] = entry.substr(eq + 1);
      }
    }
    env.erase("STATE_DIRECTORY");
    env.erase("LOGS_DIRECTORY");
    env.erase("CONFIGURATION_DIRECTORY");
    env.erase("RPED_READY_FD");
    for (const std::string& name : options.unset_env) {
      env.erase(name);
    }
    for (const auto& [name, value] : options.env) {
      env[name] = value;
    }
    std::vector<std::string> env_strings;
    for (const auto& [name, value] : env) {
      env_strings.push_back(name + "=" + value);
    }
    std::vector<char*> argv;
    for (std::string& a : argv_strings) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& e : env_strings) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    const std::string out_path = stdout_.string();
    const std::string err_path = stderr_.string();
    const std::string cwd = options.cwd.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) {
        ::_exit(126);
      }
      ::dup2(in, STDIN_FILENO);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      if (options.gid && (::setgroups(0, nullptr) != 0 || ::setgid(*options.gid) != 0)) {
        ::_exit(125);
      }
      if (options.uid && ::setuid(*options.uid) != 0) {
        ::_exit(125);
      }
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
        ::_exit(124);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  std::optional<int> wait(std::chrono::milliseconds timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    while (!exit_code_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (Clock::now() >= deadline) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(5ms);
    }
    return exit_code_;
  }
  void terminate() {
    if (!exit_code_) {
      ::kill(pid_, SIGTERM);
    }
  }
  std::string out() const { return slurp(stdout_); }
  std::string err() const { return slurp(stderr_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path stdout_;
  std::filesystem::path stderr_;
};

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline Ran run(const std::string& binary, const std::vector<std::string>& args,
               const std::filesystem::path& out_dir, const SpawnOptions& options = {},
               std::chrono::milliseconds timeout = kWait) {
  Child child(binary, args, out_dir, options);
  const std::optional<int> code = child.wait(timeout);
  return Ran{code.value_or(-1), child.out(), child.err()};
}

// ---------------------------------------------------------------------------
// The HSM side of the channel

// What the HSM side holds: the PKI (manufacturer root -> HOC -> HSM static
// key), the RPK it issued to the orange key, the RPV and a one-time password.
struct HsmWorld {
  std::uint64_t hsm_serial = 1234567;
  std::uint64_t rpk_serial = 7001;
  rped::test::HsmPki pki = rped::test::make_hsm_pki(hsm_serial);
  crypto::EcKeyPair rpk_key = must(crypto::EcKeyPair::generate());
  crypto::Certificate rpk_cert = rped::test::issue_rpk(pki, rpk_key.public_key(), rpk_serial);
  SecretBytes rpv = must(crypto::random_secret(channel::kRpvBytes));
  std::string password = "31415926";
  SecretBytes so_secret = must(crypto::random_secret(32));  // the blue keyset's secret

  channel::HsmEndpointConfig config(channel::Scheme scheme) const {
    channel::HsmEndpointConfig c;
    c.scheme = scheme;
    c.hsm_serial = hsm_serial;
    c.certificate_chain = {pki.ecdh_cert, pki.hoc};
    return c;
  }

  // PED keys the custodian holds: orange (RPV + RPK, PIN 4321), blue SO 3 of 5 (PINs 1111..5555).
  void write_ped_keys(const std::filesystem::path& directory) const {
    std::filesystem::create_directories(directory);
    const auto keys = must(pedsim::KeyDirectory::open(directory));
    pedsim::KeysetSpec orange;
    orange.type = ped::KeyType::orange;
    orange.name_prefix = "orange";
    orange.pins = {"4321"};
    orange.secret = rpv.clone();
    pedsim::RpkMaterial rpk;
    rpk.hsm_serial = hsm_serial;
    rpk.rpk_serial = rpk_serial;
    rpk.rpk_private = must(rpk_key.export_private_scalar());
    rpk.rpk_certificate = rpk_cert.der();
    orange.rpk = std::move(rpk);
    (void)must(pedsim::write_keyset(keys, orange));
    pedsim::KeysetSpec blue;
    blue.type = ped::KeyType::blue;
    blue.name_prefix = "blue";
    blue.m = 3;
    blue.n = 5;
    blue.pins = {"1111", "2222", "3333", "4444", "5555"};
    blue.secret = so_secret.clone();
    (void)must(pedsim::write_keyset(keys, blue));
  }
};

// A byte stream to pedserver: plain TCP or TLS.
class Wire {
 public:
  virtual ~Wire() = default;
  virtual bool send(ByteView bytes) = 0;
  // Some bytes; empty with `closed` set at end of stream; nothing on timeout.
  virtual std::optional<Bytes> receive(std::chrono::milliseconds timeout) = 0;
  bool closed = false;
};

inline int connect_tcp(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = -1;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class TcpWire final : public Wire {
 public:
  explicit TcpWire(int fd) : fd_(fd) {}
  ~TcpWire() override {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  bool send(ByteView bytes) override {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  std::optional<Bytes> receive(std::chrono::milliseconds timeout) override {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(timeout.count())) <= 0) {
      return std::nullopt;
    }
    Bytes buffer(16 * 1024);
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n <= 0) {
      closed = true;
      return Bytes{};
    }
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }
  void close_now() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

inline std::unique_ptr<TcpWire> tcp_wire(std::uint16_t port,
                                         const std::string& host = "127.0.0.1") {
  const int fd = connect_tcp(host, port);
  return fd < 0 ? nullptr : std::make_unique<TcpWire>(fd);
}

// The HSM side over a wire: handshake, PED commands in channel form, closes.
class HsmPeer final {
 public:
  HsmPeer(std::unique_ptr<Wire> wire, const HsmWorld& world, channel::Scheme scheme)
      : wire_(std::move(wire)),
        world_(world),
        endpoint_(must(channel::Endpoint::hsm(world.config(scheme)))) {}

  channel::Endpoint& endpoint() { return endpoint_; }
  Wire& wire() { return *wire_; }
  const std::optional<channel::ClosedEvent>& closed() const { return closed_; }

  // Sends HsmHello and pumps until established or closed.
  bool handshake(std::chrono::milliseconds timeout = kWait) {
    absorb(endpoint_.start());
    const auto deadline = Clock::now() + timeout;
    while (endpoint_.state() != channel::State::established && !closed_ && !wire_->closed &&
           Clock::now() < deadline) {
      pump(50ms);
    }
    return endpoint_.state() == channel::State::established;
  }

  // One PED command; the response frame (device form, CSPs unwrapped).
  std::optional<ped::DeviceFrame> call(ped::Op op, const Bytes& body,
                                       std::chrono::milliseconds timeout = kWait,
                                       Bytes* channel_form_seen = nullptr) {
    const std::uint32_t id = ++request_id_;
    const ped::DeviceFrame command{ped::FrameKind::command, op, id, body};
    const Bytes payload = must(
        ped::to_channel_form(command, [this](ByteView csp) { return endpoint_.wrap_csp(csp); }));
    absorb(must(endpoint_.send(payload)));
    const auto deadline = Clock::now() + timeout;
    while (data_.empty() && !closed_ && !wire_->closed && Clock::now() < deadline) {
      pump(50ms);
    }
    if (data_.empty()) {
      return std::nullopt;
    }
    const Bytes answer = data_.front();
    data_.erase(data_.begin());
    if (channel_form_seen != nullptr) {
      *channel_form_seen = answer;
    }
    auto frame = ped::from_channel_form(
        answer, [this](ByteView wrapped) { return endpoint_.unwrap_csp(wrapped); });
    if (!frame.ok() || frame->request_id != id) {
      return std::nullopt;
    }
    return std::move(frame).value();
  }

  // Pumps until the session ends (a close or an Alert from pedserver, or EOF).
  bool wait_closed(std::chrono::milliseconds timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    while (!closed_ && !wire_->closed && Clock::now() < deadline) {
      pump(50ms);
    }
    return closed_.has_value() || wire_->closed;
  }

  void pump(std::chrono::milliseconds timeout) {
    auto bytes = wire_->receive(timeout);
    if (bytes && !bytes->empty()) {
      absorb(endpoint_.receive(*bytes));
    }
  }

 private:
  void absorb(channel::Output out) {
    if (!out.send.empty()) {
      wire_->send(out.send);
    }
    for (channel::Event& event : out.events) {
      if (auto* request = std::get_if<channel::KeyRequestEvent>(&event)) {
        const bool full = request->request.transcript.scheme == channel::Scheme::full_unified;
        const Bytes password(world_.password.begin(), world_.password.end());
        auto dkm = channel::derive_dkm(request->request, &world_.pki.ecdh_key,
                                       full ? world_.rpv.reveal() : ByteView(password));
        absorb(endpoint_.complete_key_request(std::move(dkm)));
      } else if (auto* data = std::get_if<channel::DataEvent>(&event)) {
        data_.push_back(data->payload);
      } else if (auto* closed = std::get_if<channel::ClosedEvent>(&event)) {
        closed_ = *closed;
      }
    }
  }

  std::unique_ptr<Wire> wire_;
  const HsmWorld& world_;
  channel::Endpoint endpoint_;
  std::vector<Bytes> data_;
  std::optional<channel::ClosedEvent> closed_;
  std::uint32_t request_id_ = 0;
};

// The first frame pedserver sends on a fresh connection (e.g. the ped_busy Alert).
inline std::optional<channel::AlertCode> read_alert(Wire& wire,
                                                    std::chrono::milliseconds timeout = kWait) {
  Bytes received;
  const auto deadline = Clock::now() + timeout;
  while (received.size() < 6 && !wire.closed && Clock::now() < deadline) {
    if (auto bytes = wire.receive(50ms)) {
      received.insert(received.end(), bytes->begin(), bytes->end());
    }
  }
  if (received.size() < 6 ||
      received[1] != static_cast<std::uint8_t>(channel::MessageType::alert)) {
    return std::nullopt;
  }
  const auto alert = channel::Alert::parse(ByteView(received).subspan(4, 2));
  return alert.ok() ? std::optional(alert->code) : std::nullopt;
}

// ---------------------------------------------------------------------------
// The fixture

class PedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::prctl(PR_SET_CHILD_SUBREAPER,
            1);  // background servers are reparented to us, so we can reap them
    state_ = dir_.path() / "state";
    std::filesystem::create_directories(state_ / "trust");
    write_text(state_ / "trust" / "root.pem", world_.pki.root.pem());
    keys_ = dir_.path() / "keys";
    world_.write_ped_keys(keys_);
    socket_ = dir_.path() / "ped.sock";
    log_ = dir_.path() / "pedserver.log";
    port_ = free_port();
    admin_ = free_port();
  }

  void TearDown() override {
    stop_server_if_running();
    if (pedsim_) {
      pedsim_->terminate();
      pedsim_->wait(5s);
    }
    if (HasFailure()) {
      std::cerr << "---- pedserver log ----\n"
                << slurp(log_) << "---- pedsim ----\n"
                << (pedsim_ ? pedsim_->out() + pedsim_->err() : std::string()) << "\n";
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  // pedsim in Remote PED mode with a custodian script; returns once its socket exists.
  void start_pedsim(const std::string& script = "", const std::string& mode = "remote") {
    std::vector<std::string> args{"run",    "--socket", socket_.string(), "--keys", keys_.string(),
                                  "--mode", mode};
    if (!script.empty()) {
      const auto file = dir_.path() / ("script-" + std::to_string(++scripts_) + ".txt");
      write_text(file, script);
      args.insert(args.end(), {"--script", file.string()});
    }
    pedsim_.emplace(kPedsim, args, dir_.path());
    ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(socket_); })) << pedsim_->err();
  }

  // The options every server in these tests gets (short timeouts, its own ports and files).
  std::vector<std::string> server_options() const {
    return {"-ped",   "sim:" + socket_.string(), "-port",    std::to_string(port_),
            "-admin", std::to_string(admin_),    "-logfile", log_.string()};
  }

  SpawnOptions root_env() const {
    return SpawnOptions{{{"STATE_DIRECTORY", state_.string()}}, {}, {}, {}, {}};
  }

  Ran pedserver(std::vector<std::string> args, const SpawnOptions& options,
                std::chrono::milliseconds timeout = kWait) {
    return run(kPedserver, args, dir_.path(), options, timeout);
  }
  Ran pedserver(std::vector<std::string> args) { return pedserver(std::move(args), root_env()); }

  // -mode start with the common options plus `extra`.
  Ran start_server(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"-mode", "start"};
    const std::vector<std::string> defaults = server_options();
    for (std::size_t i = 0; i + 1 < defaults.size(); i += 2) {
      if (std::find(extra.begin(), extra.end(), defaults[i]) == extra.end()) {  // `extra` overrides
        args.push_back(defaults[i]);
        args.push_back(defaults[i + 1]);
      }
    }
    args.insert(args.end(), extra.begin(), extra.end());
    Ran ran = pedserver(args);
    if (ran.exit_code == 0 || ran.exit_code == 3) {
      started_ = true;
    }
    return ran;
  }

  Ran admin(const std::vector<std::string>& args, const SpawnOptions& options) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"-admin", std::to_string(admin_)});
    return pedserver(all, options);
  }
  Ran admin(const std::vector<std::string>& args) { return admin(args, root_env()); }

  nlohmann::json show_json() {
    const Ran ran = admin({"-mode", "show", "-format", "json"});
    if (ran.exit_code != 0) {
      return nullptr;
    }
    return nlohmann::json::parse(ran.out, nullptr, false);
  }

  bool ped_connected() {
    const nlohmann::json status = show_json();
    return status.is_object() && status["ped"]["connected"] == true;
  }

  void stop_server_if_running() {
    if (!started_) {
      return;
    }
    started_ = false;
    const auto token = state_ / ("admin-" + std::to_string(admin_) + ".token");
    pid_t pid = 0;
    if (std::filesystem::exists(token)) {
      const auto document = nlohmann::json::parse(slurp(token), nullptr, false);
      if (document.is_object()) {
        pid = document.value("pid", 0);
      }
    }
    const Ran stopped = admin({"-mode", "stop"});
    if (stopped.exit_code != 0 && pid > 0) {
      ::kill(pid, SIGKILL);
    }
  }

  TempDir dir_;
  HsmWorld world_;
  std::filesystem::path state_;
  std::filesystem::path keys_;
  std::filesystem::path socket_;
  std::filesystem::path log_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_ = 0;
  std::optional<Child> pedsim_;
  bool started_ = false;
  int scripts_ = 0;
};

// Custodian scripts for the PED's part of a session.
// docs/attestation.md §6: before any key is read, the PED shows which HSM asks
// and the custodian presses YES.
inline const std::string kConfirmHsm =
    "expect \"Proceed? YES/NO\" 20s\n"
    "yes\n";
// Full Unified: the orange key is read for its RPK, then again with its PIN for the RPV.
inline const std::string kOrangeLogin = kConfirmHsm +
    "expect \"Insert a\" 20s\n"
    "insert orange1\n"
    "enter\n"
    "expect \"REMOTE PED LOGIN\" 20s\n"
    "enter\n"
    "expect \"Enter PED PIN:\" 20s\n"
    "pin 4321\n";
// One-pass: the custodian types the one-time password the HSM operator read out.
inline const std::string kPasswordEntry = kConfirmHsm +
    "expect \"Enter PED Password.\" 20s\n"
    "pin 31415926\n";

}  // namespace rped::pedserver::test
