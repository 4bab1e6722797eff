// The real pedserver binary with -ped usb:VID:PID:SERIAL against a PED
// emulated with umockdev: pedserver runs as a child process under the same
// LD_PRELOAD and $UMOCKDEV_DIR (set by the testbed), so its libusb enumerates
// the emulated bus and its usbfs ioctls reach this process's handler. The
// background start must report the PED found (exit 0, not 3), -mode show must
// name it, and -mode stop must end the server.
#if defined(RPED_PEDSERVER_BINARY)

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/free_port.h"
#include "usb_test_support.h"

extern char** environ;

namespace rped::usbtest {
namespace {

struct Ran final {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

using rped::test::free_port;  // support/free_port.h

class UsbPedServerTest : public UsbFixture {
 protected:
  void SetUp() override {
    UsbFixture::SetUp();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // the background server is reparented to us
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           ("rped-usb-pedserver-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(dir_ / "state" / "trust");
    std::filesystem::copy_file(RPED_TEST_DATA_DIR "/worked-example/root.pem",
                               dir_ / "state" / "trust" / "root.pem");
    port_ = free_port();
    admin_ = free_port();
  }

  void TearDown() override {
    if (started_) {
      run({"-mode", "stop", "-admin", std::to_string(admin_)});
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (HasFailure()) {
      std::cerr << "---- pedserver log ----\n" << slurp(dir_ / "pedserver.log");
    }
    UsbFixture::TearDown();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // pedserver with this process's environment (LD_PRELOAD, UMOCKDEV_DIR) plus
  // STATE_DIRECTORY; stdout and stderr through files.
  Ran run(std::vector<std::string> args) {
    static int counter = 0;
    const auto out = dir_ / ("out-" + std::to_string(++counter));
    const auto err = dir_ / ("err-" + std::to_string(counter));
    std::vector<std::string> argv_strings{RPED_PEDSERVER_BINARY};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_strings) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!std::string_view(*e).starts_with("STATE_DIRECTORY=")) {
        env_strings.emplace_back(*e);
      }
    }
    env_strings.push_back("STATE_DIRECTORY=" + (dir_ / "state").string());
    std::vector<char*> envp;
    for (std::string& e : env_strings) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    Ran ran;
    if (::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) == 0) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      ran.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ran.out = slurp(out);
    ran.err = slurp(err);
    return ran;
  }

  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_ = 0;
  bool started_ = false;
};

TEST_F(UsbPedServerTest, ServesTheUsbPedNamedByVidPidSerial) {
  MockUsbPedConfig config;
  config.serial = "PED0000042";
  plug_default(config);
  const Ran started =
      run({"-mode", "start", "-ped", "usb:1209:0001:PED0000042", "-port", std::to_string(port_),
           "-admin", std::to_string(admin_), "-logfile", (dir_ / "pedserver.log").string()});
  started_ = started.exit_code == 0 || started.exit_code == 3;
  ASSERT_EQ(started.exit_code, 0) << "the PED was found over (emulated) USB\n"
                                  << started.out << started.err;
  const Ran shown = run({"-mode", "show", "-format", "json", "-admin", std::to_string(admin_)});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("\"connection_status\": \"Connected\""), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("PED0000042"), std::string::npos) << shown.out;
  EXPECT_NE(slurp(dir_ / "pedserver.log").find("ready: serving USB PED 1209:0001:PED0000042"),
            std::string::npos);

  const Ran stopped = run({"-mode", "stop", "-admin", std::to_string(admin_)});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  started_ = stopped.exit_code != 0;
}

TEST_F(UsbPedServerTest, AnotherSerialIsNotServed) {
  MockUsbPedConfig config;
  config.serial = "PED0000042";
  plug_default(config);
  const Ran started =
      run({"-mode", "start", "-ped", "usb:1209:0001:PED0000099", "-port", std::to_string(port_),
           "-admin", std::to_string(admin_), "-logfile", (dir_ / "pedserver.log").string()});
  started_ = started.exit_code == 0 || started.exit_code == 3;
  EXPECT_EQ(started.exit_code, 3) << "started, but without the PED\n" << started.out << started.err;
  EXPECT_NE(started.out.find("PED not found"), std::string::npos) << started.out;
}

}  // namespace
}  // namespace rped::usbtest

#endif  // RPED_PEDSERVER_BINARY
