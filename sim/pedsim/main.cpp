// pedsim: the PED emulator program.
//
//   pedsim run --socket PATH --keys DIR [--serial S] [--script FILE | --interactive]
//              [--mode local|admin|remote]
//   pedsim mint-demo-keys --keys DIR
//   pedsim show-key FILE
//
// `run` serves one host (pedserver) at a time on a Unix-domain stream socket
// and prints every LCD change to stdout. The custodian is a script
// (rped/pedsim/custodian_script.h), the terminal (--interactive), or nobody
// (a host can still identify the PED and query it). The program ends on
// `quit` in the script, q in the terminal, or SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "console.h"
#include "key_commands.h"
#include "rped/pedsim/custodian_script.h"
#include "rped/pedsim/device.h"
#include "rped/pedsim/key_store.h"
#include "socket_host_link.h"
#include "terminal_ui.h"

namespace {

using namespace rped;
using namespace rped::pedsim;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr std::size_t kMaxScriptBytes = 1 << 20;

constexpr const char* kUsage =
    "usage:\n"
    "  pedsim run --socket PATH --keys DIR [--serial S] [--script FILE | --interactive]\n"
    "             [--mode local|admin|remote]\n"
    "  pedsim mint-demo-keys --keys DIR\n"
    "  pedsim show-key FILE\n";

[[noreturn]] void usage_error(const std::string& line) {
  std::fprintf(stderr, "pedsim: %s\n", line.c_str());
  std::exit(kExitUsage);
}

struct RunOptions {
  std::string socket;
  std::string keys;
  std::string serial = "PED0000001";
  std::optional<std::string> script;
  bool interactive = false;
  ped::Mode mode = ped::Mode::local;
};

// Options of one command: "--name value" pairs and flags, each named in errors.
class OptionReader final {
 public:
  OptionReader(std::vector<std::string> args, std::string command)
      : args_(std::move(args)), command_(std::move(command)) {}
  bool done() const { return next_ >= args_.size(); }
  const std::string& name() { return args_[next_++]; }
  std::string value(const std::string& option, const char* what) {
    if (done()) {
      usage_error(option + " needs a value (" + what + ")");
    }
    return args_[next_++];
  }
  [[noreturn]] void unknown(const std::string& option, const char* allowed) const {
    usage_error("unknown option '" + option + "' for " + command_ + " (options: " + allowed + ")");
  }

 private:
  std::vector<std::string> args_;
  std::string command_;
  std::size_t next_ = 0;
};

RunOptions parse_run(std::vector<std::string> args) {
  constexpr const char* kAllowed =
      "--socket PATH, --keys DIR, --serial S, --script FILE, --interactive, --mode M";
  RunOptions options;
  OptionReader reader(std::move(args), "run");
  while (!reader.done()) {
    const std::string option = reader.name();
    if (option == "--socket") {
      options.socket = reader.value(option, "PATH");
    } else if (option == "--keys") {
      options.keys = reader.value(option, "DIR");
    } else if (option == "--serial") {
      options.serial = reader.value(option, "S");
      const bool printable = std::all_of(options.serial.begin(), options.serial.end(),
                                         [](char c) { return c > 0x20 && c < 0x7f; });
      if (options.serial.empty() || options.serial.size() > 32 || !printable) {
        usage_error("--serial '" + options.serial +
                    "' is not 1 to 32 printable characters without spaces");
      }
    } else if (option == "--script") {
      options.script = reader.value(option, "FILE");
    } else if (option == "--interactive") {
      options.interactive = true;
    } else if (option == "--mode") {
      const std::string mode = reader.value(option, "local|admin|remote");
      if (mode == "local") {
        options.mode = ped::Mode::local;
      } else if (mode == "admin") {
        options.mode = ped::Mode::admin;
      } else if (mode == "remote") {
        options.mode = ped::Mode::remote;
      } else {
        usage_error("--mode '" + mode + "' is not one of local, admin, remote");
      }
    } else {
      reader.unknown(option, kAllowed);
    }
  }
  if (options.socket.empty()) {
    usage_error("run needs --socket PATH");
  }
  if (options.keys.empty()) {
    usage_error("run needs --keys DIR");
  }
  if (options.script && options.interactive) {
    usage_error("--script '" + *options.script + "' and --interactive exclude each other");
  }
  return options;
}

std::string read_script(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    usage_error("--script '" + file + "' cannot be read");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxScriptBytes) {
    usage_error("--script '" + file + "' is larger than 1 MiB");
  }
  return text.str();
}

// How `run` ends: the first of quit, a script failure and a signal.
class StopSignal final {
 public:
  void request(int exit_code) {
    {
      const std::lock_guard lock(mu_);
      if (!exit_code_) {
        exit_code_ = exit_code;
      }
    }
    stopping_.store(true);
    cv_.notify_all();
  }
  int wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return exit_code_.has_value(); });
    return *exit_code_;
  }
  const std::atomic<bool>& flag() const { return stopping_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<int> exit_code_;
  std::atomic<bool> stopping_{false};
};

int run(const RunOptions& options) {
  std::optional<std::vector<ScriptStep>> steps;
  if (options.script) {
    auto parsed = parse_custodian_script(read_script(*options.script));
    if (!parsed.ok()) {
      usage_error("--script '" + *options.script + "': " + parsed.error().message);
    }
    steps = std::move(parsed).value();
  }
  auto keys = KeyDirectory::open(options.keys);
  if (!keys.ok()) {
    usage_error("--keys '" + options.keys + "' is not a directory");
  }

  // Signals go to one thread (sigwait); every other thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  PedDeviceOptions device_options;
  device_options.serial = options.serial;
  device_options.key_directory = options.keys;
  device_options.initial_mode = options.mode;
  auto created = PedDevice::create(device_options);
  if (!created.ok()) {
    std::fprintf(stderr, "pedsim: %s\n", created.error().message.c_str());
    return kExitFailure;
  }
  std::unique_ptr<PedDevice> device = std::move(created).value();

  Console console(stdout);
  std::unique_ptr<TerminalUi> ui;
  if (options.interactive) {
    auto opened = TerminalUi::open(*device, keys.value());
    if (!opened.ok()) {
      usage_error(opened.error().message);
    }
    ui = std::move(opened).value();
    device->on_display([raw = ui.get()](const Screen& screen) { raw->draw(screen); });
  } else {
    device->on_display([&console](const Screen& screen) { console.screen(screen); });
  }
  const auto log = [&console, interactive = options.interactive](const std::string& line) {
    if (!interactive) {
      console.note("pedsim", line);
    }
  };
  auto listening = SocketHostLink::listen(options.socket, *device, log);
  if (!listening.ok()) {
    if (ui) {
      ui->restore();
    }
    usage_error("--socket '" + options.socket + "': " + listening.error().message);
  }
  std::unique_ptr<SocketHostLink> link = std::move(listening).value();
  log("PED " + options.serial + " in " + std::string(ped::mode_name(options.mode)) +
      " mode, listening on " + options.socket + ", keys in " + options.keys);
  if (!ui) {
    console.first_screen(device->lcd());
  }

  StopSignal stop;
  std::thread signal_thread([&stop, stop_signals] {
    int signal_number = 0;
    if (sigwait(&stop_signals, &signal_number) == 0) {
      stop.request(kExitOk);
    }
  });
  signal_thread.detach();

  std::thread custodian;
  if (steps) {
    custodian = std::thread([&] {
      ScriptHooks hooks;
      hooks.unplug = [&] { link->unplug(); };
      hooks.replug = [&] { link->replug(); };
      hooks.before_step = [&](const ScriptStep& step) {
        // The transcript shows what the custodian does, never the PIN or
        // password typed: digits as '*', as the LCD does (docs/ped-device.md).
        console.note("custodian", step.kind == StepKind::pin
                                      ? "pin " + std::string(step.text.size(), '*')
                                      : step.source);
      };
      const auto ended = run_custodian_script(*device, *steps, hooks);
      if (!ended.ok()) {
        std::fprintf(stderr, "pedsim: --script '%s': %s\n", options.script->c_str(),
                     ended.error().message.c_str());
        stop.request(kExitFailure);
      } else if (ended.value() == ScriptEnd::quit) {
        stop.request(kExitOk);
      } else {
        console.note("pedsim", "script finished; serving until stopped");
      }
    });
    custodian.detach();
  } else if (ui) {
    custodian = std::thread([&] {
      ui->run(stop.flag());
      stop.request(kExitOk);
    });
    custodian.detach();
  }

  const int exit_code = stop.wait();
  // The custodian thread may be inside a step that waits (an expect, a
  // pause): end the process without unwinding it, after what must be undone.
  if (ui) {
    ui->restore();
  }
  link.reset();  // closes the host connection and removes the socket file
  std::fflush(nullptr);
  std::_Exit(exit_code);
}

int mint(std::vector<std::string> args) {
  std::string keys;
  OptionReader reader(std::move(args), "mint-demo-keys");
  while (!reader.done()) {
    const std::string option = reader.name();
    if (option == "--keys") {
      keys = reader.value(option, "DIR");
    } else {
      reader.unknown(option, "--keys DIR");
    }
  }
  if (keys.empty()) {
    usage_error("mint-demo-keys needs --keys DIR");
  }
  if (auto minted = mint_demo_keys(keys, stdout); !minted.ok()) {
    std::fprintf(stderr, "pedsim: mint-demo-keys --keys '%s': %s\n", keys.c_str(),
                 minted.error().message.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

int show(const std::vector<std::string>& args) {
  if (args.size() != 1 || args[0].starts_with("-")) {
    usage_error("show-key takes one FILE (a PED key file), not '" +
                (args.empty() ? std::string() : args[0]) + "'");
  }
  if (auto shown = show_key(args[0], stdout); !shown.ok()) {
    std::fprintf(stderr, "pedsim: show-key '%s': %s\n", args[0].c_str(),
                 shown.error().message.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "run") {
    return run(parse_run(std::move(args)));
  }
  if (command == "mint-demo-keys") {
    return mint(std::move(args));
  }
  if (command == "show-key") {
    return show(args);
  }
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  usage_error("unknown command '" + command + "' (commands: run, mint-demo-keys, show-key)");
}
