#include "rped/service/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace rped::service {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxReadyLine = 4096;
constexpr std::chrono::seconds kKillGrace{3};

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

[[noreturn]] void exec_foreground(const LaunchOptions& options, int ready_write) {
  ::setsid();
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
  }
  const int inherited = ::dup(ready_write);  // dup() clears FD_CLOEXEC: the daemon keeps it
  if (inherited < 0) {
    ::_exit(127);
  }
  const std::string fd_text = std::to_string(inherited);
  ::setenv(kReadyFdVariable, fd_text.c_str(), 1);
  std::vector<std::string> arguments;
  arguments.push_back(options.program);
  arguments.insert(arguments.end(), options.arguments.begin(), options.arguments.end());
  arguments.emplace_back("-foreground");
  std::vector<char*> argv;
  for (std::string& argument : arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);
  ::execv("/proc/self/exe", argv.data());
  write_all(inherited,
            std::string("error cannot execute /proc/self/exe: ") + std::strerror(errno) + "\n");
  ::_exit(127);
}

std::string exit_description(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  }
  return "ended";
}

int fail(const LaunchOptions& options, const std::string& why) {
  std::fprintf(stderr, "%s: the background process failed to start: %s\n", options.program.c_str(),
               why.c_str());
  if (!options.log_file.empty()) {
    std::fprintf(stderr, "%s: see the log file %s\n", options.program.c_str(),
                 options.log_file.c_str());
  }
  return kExitFailure;
}

}  // namespace

int launch_background(const LaunchOptions& options) {
  std::printf("%s Version %s\n", options.display_name.c_str(), options.version.c_str());
  std::printf("%s launched in startup mode.\n", options.display_name.c_str());
  std::printf("Starting background process\n");
  std::fflush(stdout);
  std::fflush(stderr);

  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    return fail(options, std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(ready[0]);
    ::close(ready[1]);
    return fail(options, std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    ::close(ready[0]);
    exec_foreground(options, ready[1]);
  }
  ::close(ready[1]);

  const Clock::time_point deadline = Clock::now() + options.startup_timeout;
  std::string line;
  bool complete = false;
  bool timed_out = false;
  while (!complete) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd waiting{ready[0], POLLIN, 0};
    const int polled = ::poll(&waiting, 1, static_cast<int>(left));
    if (polled < 0 && errno == EINTR) {
      continue;
    }
    if (polled == 0) {
      timed_out = true;
      break;
    }
    char chunk[512];
    const ssize_t n = ::read(ready[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;  // the child closed the pipe (or died) without a complete line
    }
    line.append(chunk, static_cast<std::size_t>(n));
    const std::size_t end = line.find('\n');
    if (end != std::string::npos) {
      line.resize(end);
      complete = true;
    } else if (line.size() > kMaxReadyLine) {
      line.resize(kMaxReadyLine);
      complete = true;
    }
  }
  ::close(ready[0]);

  if (timed_out) {
    ::kill(child, SIGTERM);
    const Clock::time_point grace = Clock::now() + kKillGrace;
    int status = 0;
    while (::waitpid(child, &status, WNOHANG) == 0) {
      if (Clock::now() >= grace) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        break;
      }
      ::usleep(20'000);
    }
    return fail(options, "it did not report that it was ready within " +
                             std::to_string(options.startup_timeout.count()) + " s (" +
                             options.startup_timeout_option + "); it was stopped");
  }
  if (!complete) {
    int status = 0;
    const pid_t reaped = ::waitpid(child, &status, 0);
    return fail(options, reaped == child ? "it " + exit_description(status) + " before it was ready"
                                         : std::string("it ended before it was ready"));
  }
  if (line == "ready") {
    std::printf("Background process started\n");
    std::printf("%s Process created, exiting this process.\n", options.display_name.c_str());
    return kExitOk;
  }
  if (line.starts_with("degraded ")) {
    std::printf("Background process started\n");
    std::printf("Warning: %s\n", line.substr(9).c_str());
    if (!options.degraded_note.empty()) {
      std::printf("%s\n", options.degraded_note.c_str());
    }
    std::printf("%s Process created, exiting this process.\n", options.display_name.c_str());
    return kExitStartedDegraded;
  }
  if (line.starts_with("error ")) {
    int status = 0;
    ::waitpid(child, &status, 0);
    return fail(options, line.substr(6));
  }
  return fail(options, "it reported '" + line + "'");
}

ReadinessReporter ReadinessReporter::from_environment() {
  const char* const text =
      std::getenv(kReadyFdVariable);  // NOLINT(concurrency-mt-unsafe): start-up, one thread
  if (text == nullptr) {
    return ReadinessReporter(-1);
  }
  const std::string_view value(text);
  int fd = -1;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), fd);
  ::unsetenv(kReadyFdVariable);
  if (error != std::errc{} || end != value.data() + value.size() || fd < 3 ||
      ::fcntl(fd, F_GETFD) < 0) {
    return ReadinessReporter(-1);
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return ReadinessReporter(fd);
}

ReadinessReporter::ReadinessReporter(ReadinessReporter&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

ReadinessReporter::~ReadinessReporter() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void ReadinessReporter::report(std::string_view line) {
  if (fd_ < 0) {
    return;
  }
  std::string text(line);
  for (char& c : text) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  write_all(fd_, text + "\n");
  ::close(fd_);
  fd_ = -1;
}

void ReadinessReporter::ready() {
  report("ready");
}
void ReadinessReporter::ready_degraded(std::string_view why) {
  report("degraded " + std::string(why));
}
void ReadinessReporter::failed(std::string_view why) {
  report("error " + std::string(why));
}

}  // namespace rped::service
