// hsmsim as a process: `hsmsim run` in the background, `hsmsim cmd` one
// command per call, pedclient (FakePedclient) on the backend socket. The
// remote RPV initialization with the one-time password read from the
// operator's output, hsm init and SO login, the exit codes, and a clean stop.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "hsmsim/hsmsim_fixture.h"

namespace rped::hsmsim::test {
namespace {

struct CommandRun {
  int exit_code = -1;
  std::string output;
};

// Runs `hsmsim cmd`; `on_line` sees each output line as it comes.
CommandRun hsmsim_cmd(const std::filesystem::path& state, const std::string& command,
                      const std::function<void(const std::string&)>& on_line = {}) {
  const std::string line = std::string(RPED_HSMSIM_BINARY) + " cmd --state " + state.string() +
                           " " + command + " < /dev/null 2>&1";
  std::FILE* pipe = ::popen(line.c_str(), "r");
  if (pipe == nullptr) {
    throw std::runtime_error("popen failed");
  }
  CommandRun run;
  char buffer[1024];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    run.output += buffer;
    if (on_line) {
      on_line(buffer);
    }
  }
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class Emulator final {
 public:
  explicit Emulator(const std::filesystem::path& state) {
    int out[2];
    if (::pipe(out) != 0) {
      throw std::runtime_error("pipe");
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      const std::string dir = state.string();
      ::execl(RPED_HSMSIM_BINARY, "hsmsim", "run", "--state", dir.c_str(), "--serial", "1234567",
              "--ped-timeout", "5", "--connect-timeout", "5", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = ::fdopen(out[0], "r");
    // Ready once it says so (after both sockets listen).
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, stdout_) != nullptr) {
      banner_ += buffer;
      if (banner_.find("control socket") != std::string::npos) {
        break;
      }
    }
  }
  ~Emulator() { stop(); }

  int stop() {
    if (pid_ <= 0) {
      return exit_code_;
    }
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    std::fclose(stdout_);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return exit_code_;
  }
  const std::string& banner() const { return banner_; }

 private:
  pid_t pid_ = -1;
  std::FILE* stdout_ = nullptr;
  std::string banner_;
  int exit_code_ = -1;
};

TEST(HsmsimProcess, OperatorCommandsDriveTheEmulator) {
  TempDir dir;
  const std::filesystem::path state = dir.path() / "hsm";
  Emulator emulator(state);
  ASSERT_NE(emulator.banner().find("HSM 1234567 ready"), std::string::npos) << emulator.banner();

  // Before pedclient: the documented code.
  const CommandRun early = hsmsim_cmd(state, "ped connect -ip 127.0.0.1 -port 1503 -password");
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.output.find("0x8000002d (CKR_PED_CLIENT_NOT_RUNNING)"), std::string::npos)
      << early.output;

  FakePed ped;
  const crypto::Certificate root =
      must(crypto::Certificate::from_pem(std::string([&] {
        std::ifstream in(state / "certificates" / "manufacturer-root.pem");
        return std::string(std::istreambuf_iterator<char>(in), {});
      }())))
          .front();
  FakePedclient pedclient(ped, root);
  pedclient.attach(state / "backend.sock");
  const auto identity = pedclient.backend().identity();
  ASSERT_TRUE(identity.ok()) << identity.error().message;
  // docs/attestation.md §6: the static key's PKC comes with the identity.
  EXPECT_FALSE(identity->static_key_pkc.empty());

  // The operator reads the one-time password off the screen and the custodian types it.
  const std::string marker = "One-time password for the PED: ";
  const CommandRun connect = hsmsim_cmd(
      state, "ped connect -ip 127.0.0.1 -port 1503 -password", [&](const std::string& line) {
        const auto at = line.find(marker);
        if (at != std::string::npos) {
          const std::string digits = line.substr(at + marker.size(), 8);
          ped.type_password(SecretBytes::copy_of(rped::test::bytes_of(digits)));
        }
      });
  ASSERT_EQ(connect.exit_code, 0) << connect.output;
  EXPECT_NE(connect.output.find("Command Result : No Error"), std::string::npos);

  const CommandRun vector = hsmsim_cmd(state, "ped vector init");
  ASSERT_EQ(vector.exit_code, 0) << vector.output;
  const CommandRun fu = hsmsim_cmd(state, "ped connect -ip 127.0.0.1 -port 1503");
  ASSERT_EQ(fu.exit_code, 0) << fu.output;
  const CommandRun init = hsmsim_cmd(state, "hsm init -label procHSM");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  const CommandRun login = hsmsim_cmd(state, "role login -name so");
  ASSERT_EQ(login.exit_code, 0) << login.output;
  EXPECT_NE(login.output.find("Please attend to the PED."), std::string::npos);

  // A destructive command without -force asks; with no operator to answer it is aborted.
  const CommandRun zeroize = hsmsim_cmd(state, "hsm zeroize");
  EXPECT_EQ(zeroize.exit_code, 1);
  EXPECT_NE(zeroize.output.find("CKR_FUNCTION_CANCELED"), std::string::npos) << zeroize.output;

  const CommandRun show = hsmsim_cmd(state, "hsm show");
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_NE(show.output.find("procHSM"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("Logged in:               HSM SO"), std::string::npos) << show.output;

  const CommandRun bad = hsmsim_cmd(state, "role login -name xx");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("CKR_ARGUMENTS_BAD"), std::string::npos);

  pedclient.detach();
  EXPECT_EQ(emulator.stop(), 0);
  EXPECT_FALSE(std::filesystem::exists(state / "control.sock"));
  EXPECT_FALSE(std::filesystem::exists(state / "backend.sock"));
  const CommandRun gone = hsmsim_cmd(state, "hsm show");
  EXPECT_EQ(gone.exit_code, 3) << gone.output;
}

}  // namespace
}  // namespace rped::hsmsim::test
