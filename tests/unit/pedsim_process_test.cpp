// The real pedsim program: mint-demo-keys, show-key, option errors, and `run`
// with a custodian script, talked to over its Unix socket like pedserver would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "pedsim_harness.h"

extern char** environ;

namespace rped::pedsim::test {
namespace {

using namespace std::chrono_literals;
using ped::Op;
using ped::Status;

const std::string kPedsim = std::string(RPED_BINARY_DIR) + "/sim/pedsim/pedsim";

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A pedsim process with stdout and stderr in files.
class PedsimProcess final {
 public:
  PedsimProcess(const std::vector<std::string>& args, const std::filesystem::path& out_dir)
      : stdout_(out_dir / "stdout.txt"), stderr_(out_dir / "stderr.txt") {
    std::vector<std::string> argv_strings{kPedsim};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_strings) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    spawned_ = posix_spawn(&pid_, kPedsim.c_str(), &actions, nullptr, argv.data(), environ) == 0;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~PedsimProcess() {
    if (spawned_ && !exit_status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  bool spawned() const { return spawned_; }
  // The exit code, or nothing if it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exit_status_) {
      int status = 0;
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(5ms);
    }
    return exit_status_;
  }
  void terminate() { ::kill(pid_, SIGTERM); }
  std::string out() const { return slurp(stdout_); }
  std::string err() const { return slurp(stderr_); }

 private:
  std::filesystem::path stdout_;
  std::filesystem::path stderr_;
  pid_t pid_ = -1;
  bool spawned_ = false;
  std::optional<int> exit_status_;
};

// pedserver's end of the socket.
class SocketHost final {
 public:
  // Connects, retrying until pedsim listens (and accepts: an unplugged PED closes at once).
  bool connect(const std::filesystem::path& path, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      close();
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
      if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  ~SocketHost() { close(); }
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  bool send(Op op, std::uint32_t id, const Bytes& body = {}) {
    const Bytes frame = ped::DeviceFrame{ped::FrameKind::command, op, id, body}.serialize();
    return ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(frame.size());
  }

  // The next frame; nothing on end of stream or timeout.
  std::optional<ped::DeviceFrame> receive(std::chrono::milliseconds timeout = kWait) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    Bytes prefix(4);
    if (!read_exactly(prefix)) {
      return std::nullopt;
    }
    const auto size = ped::device_frame_size(prefix);
    if (!size.ok()) {
      return std::nullopt;
    }
    Bytes frame = prefix;
    frame.resize(size.value());
    std::span<std::uint8_t> rest(frame.data() + 4, frame.size() - 4);
    if (!read_exactly(rest)) {
      return std::nullopt;
    }
    auto parsed = ped::DeviceFrame::parse(frame);
    return parsed.ok() ? std::optional(std::move(parsed).value()) : std::nullopt;
  }

  // The response to `id`, skipping events.
  std::optional<Reply> reply(std::uint32_t id) {
    for (;;) {
      auto frame = receive();
      if (!frame) {
        return std::nullopt;
      }
      if (frame->kind == ped::FrameKind::response && frame->request_id == id) {
        auto header = must(ped::parse_response(frame->body));
        return Reply{header.first.status, header.first.message,
                     Bytes(header.second.begin(), header.second.end())};
      }
    }
  }

  // True once the PED closed the connection.
  bool closed_by_peer() {
    for (;;) {
      std::uint8_t byte = 0;
      const ssize_t n = ::recv(fd_, &byte, 1, 0);
      if (n == 0) {
        return true;
      }
      if (n < 0) {
        return false;  // timeout
      }
    }
  }

 private:
  bool read_exactly(std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::recv(fd_, out.data() + done, out.size() - done, 0);
      if (n <= 0) {
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  int fd_ = -1;
};

class PedsimProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kPedsim)) {
      GTEST_SKIP() << kPedsim << " is not built (build the pedsim target)";
    }
    keys = work.path() / "keys";
    socket = work.path() / "ped.sock";
    PedsimProcess mint({"mint-demo-keys", "--keys", keys.string()}, work.path());
    ASSERT_TRUE(mint.spawned());
    ASSERT_EQ(mint.wait(), 0) << mint.err();
    minted = mint.out();
  }

  std::filesystem::path write_script(const std::string& text) {
    const auto file = work.path() / "script.txt";
    std::ofstream(file) << text;
    return file;
  }

  KeyFolder work;
  std::filesystem::path keys;
  std::filesystem::path socket;
  std::string minted;
};

TEST_F(PedsimProgram, MintsDemoKeysAndShowsThemWithoutSecrets) {
  EXPECT_NE(minted.find("blue5"), std::string::npos) << minted;
  EXPECT_NE(minted.find("PIN 5555"), std::string::npos) << minted;
  EXPECT_NE(minted.find("blank1"), std::string::npos) << minted;
  PedsimProcess show({"show-key", (keys / "blue2.json").string()}, work.path());
  ASSERT_EQ(show.wait(), 0) << show.err();
  const std::string out = show.out();
  EXPECT_NE(out.find("type:        blue (SO / HSM Admin)"), std::string::npos) << out;
  EXPECT_NE(out.find("split:       2 of 5 (M = 3)"), std::string::npos) << out;
  EXPECT_NE(out.find("PIN:         yes"), std::string::npos) << out;
  EXPECT_EQ(out.find("wrapped"), std::string::npos) << out;
  EXPECT_EQ(out.find(to_hex(must(KeyDirectory::open(keys)).load("blue2")->wrapped_split)),
            std::string::npos);

  PedsimProcess again({"mint-demo-keys", "--keys", keys.string()}, work.path());
  EXPECT_EQ(again.wait(), 1);
}

TEST_F(PedsimProgram, BadOptionsNameTheOptionAndTheAllowedValues) {
  PedsimProcess mode(
      {"run", "--socket", socket.string(), "--keys", keys.string(), "--mode", "sleepy"},
      work.path());
  EXPECT_EQ(mode.wait(), 2);
  EXPECT_EQ(mode.err(), "pedsim: --mode 'sleepy' is not one of local, admin, remote\n");
  PedsimProcess unknown({"run", "--sokcet", "x"}, work.path());
  EXPECT_EQ(unknown.wait(), 2);
  EXPECT_NE(unknown.err().find("unknown option '--sokcet'"), std::string::npos) << unknown.err();
  PedsimProcess both({"run", "--socket", socket.string(), "--keys", keys.string(), "--script", "s",
                      "--interactive"},
                     work.path());
  EXPECT_EQ(both.wait(), 2);
  EXPECT_NE(both.err().find("exclude each other"), std::string::npos) << both.err();
  const auto bad_script = write_script("insert blue1\npress 11\n");
  PedsimProcess script({"run", "--socket", socket.string(), "--keys", keys.string(), "--script",
                        bad_script.string()},
                       work.path());
  EXPECT_EQ(script.wait(), 2);
  EXPECT_NE(script.err().find("line 2"), std::string::npos) << script.err();
  PedsimProcess interactive(
      {"run", "--socket", socket.string(), "--keys", keys.string(), "--interactive"}, work.path());
  EXPECT_EQ(interactive.wait(), 2);  // stdin is /dev/null, not a terminal
  EXPECT_NE(interactive.err().find("needs a terminal"), std::string::npos) << interactive.err();
}

TEST_F(PedsimProgram, ScriptedLoginOverTheUnixSocket) {
  const auto script = write_script(
      "# the custodian of the black key\n"
      "expect \"Insert a\" 20s\n"
      "insert black1\n"
      "enter\n"
      "expect Enter PED PIN:\n"
      "pin 1234\n"
      "expect Awaiting command... 20s\n"
      "wait 100ms\n"
      "quit\n");
  PedsimProcess pedsim({"run", "--socket", socket.string(), "--keys", keys.string(), "--serial",
                        "PED4242", "--mode", "remote", "--script", script.string()},
                       work.path());
  ASSERT_TRUE(pedsim.spawned());
  SocketHost host;
  ASSERT_TRUE(host.connect(socket)) << pedsim.err();

  ASSERT_TRUE(host.send(Op::identify, 1));
  const auto identify = host.reply(1);
  ASSERT_TRUE(identify.has_value());
  ASSERT_EQ(identify->status, Status::ok);
  const auto who = must(ped::IdentifyResponse::parse(identify->payload));
  EXPECT_EQ(who.serial, "PED4242");
  EXPECT_EQ(who.mode, ped::Mode::remote);

  ASSERT_TRUE(host.send(Op::read_secret, 2,
                        read_secret_body(ped::KeyType::black, "SLOT 01 / USER LOGIN...")));
  const auto login = host.reply(2);
  ASSERT_TRUE(login.has_value()) << pedsim.err();
  ASSERT_EQ(login->status, Status::ok) << login->message;
  const auto secret = must(ped::ReadSecretResponse::parse(login->payload));
  EXPECT_EQ(secret.m, 1);
  EXPECT_EQ(secret.secret.size(), 32u);

  EXPECT_EQ(pedsim.wait(), 0) << pedsim.err();
  const std::string out = pedsim.out();
  EXPECT_NE(out.find("|Enter PED PIN:       |"), std::string::npos) << out;
  EXPECT_NE(out.find("|PED Key (BLACK)      |"), std::string::npos) << out;
  // The transcript echoes the custodian's steps, the PIN's digits masked.
  EXPECT_NE(out.find("custodian: pin ****"), std::string::npos) << out;
  // (Not a bare "1234": the random temporary directory's name may hold it.)
  EXPECT_EQ(out.find("pin 1234"), std::string::npos) << "the PIN is in the transcript: " << out;
  EXPECT_EQ(out.find("*1234"), std::string::npos) << out;
  EXPECT_NE(out.find("pedsim: host connected"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(socket)) << "the socket file is removed on exit";
}

TEST_F(PedsimProgram, UnplugDropsTheHostAndReplugLetsItBack) {
  const auto script = write_script(
      "expect \"Insert a\" 20s\n"
      "unplug\n"
      "wait 200ms\n"
      "replug\n");
  PedsimProcess pedsim({"run", "--socket", socket.string(), "--keys", keys.string(), "--mode",
                        "remote", "--script", script.string()},
                       work.path());
  SocketHost host;
  ASSERT_TRUE(host.connect(socket)) << pedsim.err();
  ASSERT_TRUE(host.send(Op::read_secret, 1, read_secret_body(ped::KeyType::blue)));
  EXPECT_TRUE(host.closed_by_peer()) << "the unplug closes the host connection";

  // Replugged: a new connection is served (the first attempts may be refused while unplugged).
  std::optional<Reply> identify;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!identify && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(host.connect(socket));
    if (host.send(Op::identify, 2)) {
      identify = host.reply(2);
    }
  }
  ASSERT_TRUE(identify.has_value()) << pedsim.out();
  EXPECT_EQ(identify->status, Status::ok);

  pedsim.terminate();
  EXPECT_EQ(pedsim.wait(), 0);
  EXPECT_NE(pedsim.out().find("USB cable unplugged"), std::string::npos) << pedsim.out();
}

}  // namespace
}  // namespace rped::pedsim::test
