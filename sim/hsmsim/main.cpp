// hsmsim: the HSM emulator (docs/hsmsim.md).
//
//   hsmsim run   --state DIR [--serial N] [--manufacturer DIR] [--firmware V]
//                [--backend-socket PATH] [--control-socket PATH]
//                [--ped-timeout SECONDS] [--connect-timeout SECONDS] [--audit-capacity N]
//   hsmsim cmd   --state DIR [--control-socket PATH] COMMAND...   e.g. hsmsim cmd --state DIR role
//   login -name so hsmsim shell --state DIR [--control-socket PATH] hsmsim show  --state DIR
//
// `run` is the long-running emulator: it keeps the HSM's state in DIR, serves
// pedclient on the backend socket and the operator on the control socket, and
// holds the Remote PED connection between commands, as an HSM does. It ends
// on SIGINT or SIGTERM. `cmd` runs one operator command on the running
// emulator and exits 0 when the result is CKR_OK, 1 for any other result,
// 2 for a usage error and 3 when the emulator cannot be reached.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "rped/hsmsim/backend_server.h"
#include "rped/hsmsim/command_line.h"
#include "rped/hsmsim/control_server.h"
#include "rped/hsmsim/hsm.h"
#include "rped/hsmsim/state_directory.h"

namespace {

using namespace rped;
using namespace rped::hsmsim;

constexpr int kExitOk = 0;
constexpr int kExitCommandFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

constexpr const char* kUsage =
    "usage:\n"
    "  hsmsim run   --state DIR [--serial N] [--manufacturer DIR] [--firmware V]\n"
    "               [--backend-socket PATH] [--control-socket PATH]\n"
    "               [--ped-timeout SECONDS] [--connect-timeout SECONDS] [--audit-capacity N]\n"
    "  hsmsim cmd   --state DIR [--control-socket PATH] COMMAND...\n"
    "  hsmsim shell --state DIR [--control-socket PATH]\n"
    "  hsmsim show  --state DIR\n"
    "COMMAND is a LunaCM-style command, e.g. 'ped connect -ip 127.0.0.1 -port 1503'; 'help' lists "
    "them.\n";

[[noreturn]] void usage_error(const std::string& line) {
  std::fprintf(stderr, "hsmsim: %s\n%s", line.c_str(), kUsage);
  std::exit(kExitUsage);
}

std::uint64_t parse_number(const std::string& option, const std::string& text, std::uint64_t min,
                           std::uint64_t max) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < min || v > max) {
    usage_error(option + " must be a number from " + std::to_string(min) + " to " +
                std::to_string(max));
  }
  return v;
}

struct Arguments {
  std::optional<std::filesystem::path> state;
  std::optional<std::filesystem::path> backend_socket;
  std::optional<std::filesystem::path> control_socket;
  std::optional<std::filesystem::path> manufacturer;
  std::optional<std::uint64_t> serial;
  std::optional<std::string> firmware;
  std::optional<std::uint64_t> ped_timeout_s;
  std::optional<std::uint64_t> connect_timeout_s;
  std::optional<std::uint64_t> audit_capacity;
  std::vector<std::string> words;  // cmd: the command
};

// --options first; for `cmd`, everything from the first other word on is the command.
Arguments parse_arguments(int argc, char** argv, int first, bool takes_command) {
  Arguments a;
  int i = first;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      break;
    }
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage_error(arg + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--state") {
      a.state = value();
    } else if (arg == "--backend-socket") {
      a.backend_socket = value();
    } else if (arg == "--control-socket") {
      a.control_socket = value();
    } else if (arg == "--manufacturer") {
      a.manufacturer = value();
    } else if (arg == "--serial") {
      a.serial = parse_number(arg, value(), 1, 999'999'999'999ULL);
    } else if (arg == "--firmware") {
      a.firmware = value();
    } else if (arg == "--ped-timeout") {
      a.ped_timeout_s = parse_number(arg, value(), 1, 3600);
    } else if (arg == "--connect-timeout") {
      a.connect_timeout_s = parse_number(arg, value(), 1, 3600);
    } else if (arg == "--audit-capacity") {
      a.audit_capacity = parse_number(arg, value(), 1, 10'000'000);
    } else {
      usage_error("unknown option " + arg);
    }
  }
  for (; i < argc; ++i) {
    if (!takes_command) {
      usage_error(std::string("unexpected argument ") + argv[i]);
    }
    a.words.emplace_back(argv[i]);
  }
  if (!a.state) {
    usage_error("--state DIR is required");
  }
  return a;
}

std::filesystem::path control_socket_of(const Arguments& a) {
  return a.control_socket.value_or(StateDirectory::control_socket_of(*a.state));
}

// Log lines on stderr with a UTC timestamp; never a secret (the HSM's log
// texts are built from constants, names and codes).
void log_line(std::string_view text) {
  static std::mutex mu;
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const std::lock_guard lock(mu);
  std::fprintf(stderr, "%s hsmsim: %.*s\n", stamp, static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
}

int run(const Arguments& a) {
  // Signals go to sigwait below, never to the worker threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ManufacturingOptions options;
  options.serial = a.serial;
  if (a.firmware) {
    options.firmware_version = *a.firmware;
  }
  options.manufacturer_dir = a.manufacturer;
  auto directory = StateDirectory::open(*a.state, options);
  if (!directory.ok()) {
    std::fprintf(stderr, "hsmsim: %s\n", directory.error().message.c_str());
    return kExitCommandFailed;
  }
  const std::filesystem::path backend_socket =
      a.backend_socket.value_or(directory->backend_socket());
  const std::filesystem::path control_socket =
      a.control_socket.value_or(directory->control_socket());
  HsmTimings timings;
  if (a.ped_timeout_s) {
    timings.ped_operation_timeout_ms = static_cast<std::uint32_t>(*a.ped_timeout_s * 1000);
  }
  if (a.connect_timeout_s) {
    timings.connect_timeout_ms = static_cast<std::uint32_t>(*a.connect_timeout_s * 1000);
  }
  if (a.audit_capacity) {
    timings.audit_capacity = static_cast<std::size_t>(*a.audit_capacity);
  }
  auto hsm = Hsm::create(std::move(directory).value(), timings, log_line);
  if (!hsm.ok()) {
    std::fprintf(stderr, "hsmsim: %s\n", hsm.error().message.c_str());
    return kExitCommandFailed;
  }
  auto backend = BackendServer::start(backend_socket, *hsm.value(), log_line);
  if (!backend.ok()) {
    std::fprintf(stderr, "hsmsim: backend socket: %s\n", backend.error().message.c_str());
    return kExitCommandFailed;
  }
  auto control = ControlServer::start(control_socket, *hsm.value(), log_line);
  if (!control.ok()) {
    std::fprintf(stderr, "hsmsim: control socket: %s\n", control.error().message.c_str());
    return kExitCommandFailed;
  }
  const hsm::IdentityResponse identity = hsm.value()->identity();
  std::printf(
      "hsmsim: HSM %llu ready (firmware %s)\n  backend socket: %s\n  control socket: %s\n"
      "  manufacturer root: %s\n",
      static_cast<unsigned long long>(identity.serial), identity.firmware_version.c_str(),
      backend_socket.c_str(), control_socket.c_str(),
      (*a.state / "certificates" / "manufacturer-root.pem").c_str());
  std::fflush(stdout);
  log_line("HSM " + std::to_string(identity.serial) + " running");

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  log_line(std::string("stopping on ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM"));
  // Backend first: commands waiting for pedclient then return at once.
  backend.value()->stop();
  control.value()->stop();
  control.value().reset();
  backend.value().reset();
  return kExitOk;
}

int command(const Arguments& a) {
  if (a.words.empty()) {
    usage_error("cmd needs a command, e.g. 'ped show'");
  }
  auto code = run_remote_command(control_socket_of(a), a.words, stdin, stdout);
  if (!code.ok()) {
    std::fprintf(stderr, "hsmsim: %s\n", code.error().message.c_str());
    return kExitUnreachable;
  }
  return code.value() == ResultCode::ok ? kExitOk : kExitCommandFailed;
}

int shell(const Arguments& a) {
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  std::string line;
  char buffer[4096];
  int last = kExitOk;
  for (;;) {
    if (interactive) {
      std::printf("hsmsim:> ");
      std::fflush(stdout);
    }
    if (std::fgets(buffer, sizeof buffer, stdin) == nullptr) {
      break;
    }
    line = buffer;
    const std::vector<std::string> words = split_command_line(line);
    if (words.empty()) {
      continue;
    }
    if (words[0] == "exit" || words[0] == "quit") {
      break;
    }
    auto code = run_remote_command(control_socket_of(a), words, stdin, stdout);
    if (!code.ok()) {
      std::fprintf(stderr, "hsmsim: %s\n", code.error().message.c_str());
      last = kExitUnreachable;
      continue;
    }
    last = code.value() == ResultCode::ok ? kExitOk : kExitCommandFailed;
  }
  return last;
}

int show(const Arguments& a) {
  auto state = read_state_file(*a.state);
  if (!state.ok()) {
    std::fprintf(stderr, "hsmsim: %s\n", state.error().message.c_str());
    return kExitCommandFailed;
  }
  const HsmState& s = state.value();
  std::printf("HSM serial:        %llu\n", static_cast<unsigned long long>(s.manufacturing.serial));
  std::printf("Model:             %s\n", s.manufacturing.model.c_str());
  std::printf("Firmware version:  %s\n", s.manufacturing.firmware_version.c_str());
  std::printf("Label:             %s\n", s.label.empty() ? "(none)" : s.label.c_str());
  std::printf("State:             %s\n", s.initialized ? "Initialized" : "Zeroized");
  std::printf("Remote PED Vector: %s\n", s.rpv.initialized ? "initialized" : "not initialized");
  if (s.rpv.initialized) {
    std::printf("RPK serial:        %llu\n", static_cast<unsigned long long>(s.rpv.rpk_serial));
  }
  std::printf("SO failed logins:  %u of %u\n", s.so.failed_logins, role_login_limit(Role::so));
  std::printf(
      "PED server:        %s\n",
      s.ped.host.empty() ? "none" : (s.ped.host + ":" + std::to_string(s.ped.port)).c_str());
  std::printf("Certificates:      %s\n", (*a.state / "certificates").c_str());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string mode = argv[1];
  if (mode == "-h" || mode == "--help" || mode == "help") {
    std::fputs(kUsage, stdout);
    std::printf("\n%s\n", command_help().c_str());
    return kExitOk;
  }
  if (mode == "run") {
    return run(parse_arguments(argc, argv, 2, false));
  }
  if (mode == "cmd") {
    return command(parse_arguments(argc, argv, 2, true));
  }
  if (mode == "shell") {
    return shell(parse_arguments(argc, argv, 2, false));
  }
  if (mode == "show") {
    return show(parse_arguments(argc, argv, 2, false));
  }
  usage_error("unknown mode '" + mode + "'");
}
