#include "rped/service/admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "rped/config/atomic_file.h"
#include "rped/crypto/symmetric.h"
#include "rped/secret.h"

namespace rped::service {

std::filesystem::path token_file_path(const std::filesystem::path& state_dir,
                                      std::uint16_t admin_port) {
  return state_dir / ("admin-" + std::to_string(admin_port) + ".token");
}

Result<std::string> new_admin_token() {
  std::array<std::uint8_t, kAdminTokenBytes> random{};
  RPED_TRY(crypto::random_bytes(random));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * random.size());
  for (const std::uint8_t byte : random) {
    token.push_back(kHex[byte >> 4U]);
    token.push_back(kHex[byte & 0x0fU]);
  }
  secure_wipe(random.data(), random.size());
  return token;
}

Result<void> write_token_file(const std::filesystem::path& file, const TokenFile& contents) {
  const nlohmann::json document = {
      {"admin_port", contents.admin_port}, {"pid", contents.pid}, {"token", contents.token}};
  RPED_TRY(config::write_file_atomically(file, document.dump() + "\n"));
  if (::chmod(file.c_str(), 0600) != 0) {
    return make_error(Errc::internal,
                      "cannot make " + file.string() + " private: " + std::strerror(errno));
  }
  return {};
}

Result<TokenFile> read_token_file(const std::filesystem::path& file) {
  constexpr std::size_t kMaxTokenFileBytes = 4096;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int error = errno;
    if (error == EACCES || error == EPERM) {
      return make_error(Errc::invalid_argument, "permission denied");
    }
    return make_error(Errc::internal, "cannot read " + file.string() + ": " + std::strerror(error));
  }
  std::string text(kMaxTokenFileBytes, '\0');
  std::size_t have = 0;
  for (;;) {
    const ssize_t n = ::read(fd, text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    have += static_cast<std::size_t>(n);
    if (have == text.size()) {
      break;
    }
  }
  ::close(fd);
  text.resize(have);
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (!document.is_object() || !document.contains("admin_port") ||
      !document["admin_port"].is_number_unsigned() || !document.contains("pid") ||
      !document["pid"].is_number_integer() || !document.contains("token") ||
      !document["token"].is_string()) {
    return make_error(Errc::invalid_encoding, file.string() + " is not an admin token file");
  }
  TokenFile contents;
  contents.admin_port = document["admin_port"].get<std::uint16_t>();
  contents.pid = document["pid"].get<pid_t>();
  contents.token = document["token"].get<std::string>();
  return contents;
}

bool token_matches(std::string_view expected, std::string_view given) noexcept {
  return constant_time_equal(
      std::span(reinterpret_cast<const std::uint8_t*>(expected.data()), expected.size()),
      std::span(reinterpret_cast<const std::uint8_t*>(given.data()), given.size()));
}

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

Error admin_error(std::uint16_t port, const std::string& what) {
  return make_error(Errc::internal, "admin port " + std::to_string(port) + ": " + what);
}

}  // namespace

Result<AdminConnection> AdminConnection::open(std::string_view program, std::uint16_t port,
                                              std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return make_error(Errc::internal, std::string("socket: ") + std::strerror(errno));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS) {
    const int error = errno;
    ::close(fd);
    if (error == ECONNREFUSED) {
      return make_error(Errc::invalid_argument,
                        std::string(program) +
                            " is not running: nothing answers on the admin port 127.0.0.1:" +
                            std::to_string(port) + " (-admin)");
    }
    return make_error(Errc::internal, "cannot reach the admin port 127.0.0.1:" +
                                          std::to_string(port) + ": " + std::strerror(error));
  }
  pollfd waiting{fd, POLLOUT, 0};
  const int ready = ::poll(&waiting, 1, static_cast<int>(timeout.count()));
  int error = 0;
  socklen_t length = sizeof error;
  if (ready <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
    ::close(fd);
    if (error == ECONNREFUSED) {
      return make_error(Errc::invalid_argument,
                        std::string(program) +
                            " is not running: nothing answers on the admin port 127.0.0.1:" +
                            std::to_string(port) + " (-admin)");
    }
    return make_error(
        Errc::internal,
        "cannot reach the admin port 127.0.0.1:" + std::to_string(port) + ": " +
            (ready <= 0 ? std::string("timed out") : std::string(std::strerror(error))));
  }
  return AdminConnection(fd, program, port);
}

AdminConnection::AdminConnection(AdminConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      program_(std::move(other.program_)),
      port_(other.port_),
      pending_(std::move(other.pending_)) {}

AdminConnection::~AdminConnection() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

Result<nlohmann::json> AdminConnection::exchange(const nlohmann::json& request,
                                                 std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string line = request.dump() + "\n";
  std::size_t sent = 0;
  while (sent < line.size()) {
    pollfd waiting{fd_, POLLOUT, 0};
    if (::poll(&waiting, 1, remaining_ms(deadline)) <= 0) {
      return admin_error(port_, "the server does not take the request (timed out)");
    }
    const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    if (n <= 0) {
      return admin_error(port_, std::string("cannot send the request: ") + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  for (;;) {
    const std::size_t end = pending_.find('\n');
    if (end != std::string::npos) {
      const std::string answer = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      nlohmann::json document = nlohmann::json::parse(answer, nullptr, false);
      if (!document.is_object() || !document.contains("ok") || !document["ok"].is_boolean()) {
        return admin_error(port_, "the program there is not " + program_ + " (unexpected answer)");
      }
      return document;
    }
    if (pending_.size() > kMaxAdminLineBytes) {
      return admin_error(port_, "the answer is too long");
    }
    pollfd waiting{fd_, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, remaining_ms(deadline));
    if (ready <= 0) {
      return admin_error(
          port_,
          "no answer from the server within " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
              " s");
    }
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    if (n <= 0) {
      return admin_error(port_, "the server closed the connection without answering");
    }
    pending_.append(chunk, static_cast<std::size_t>(n));
  }
}

bool AdminConnection::wait_for_close(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, remaining_ms(deadline)) <= 0) {
      return false;
    }
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    if (n <= 0) {
      return true;
    }
  }
}

Result<AdminSession> open_admin_session(std::string_view program, std::uint16_t port,
                                        std::string_view action) {
  RPED_TRY_ASSIGN(AdminConnection connection,
                  AdminConnection::open(program, port, kAdminIoTimeout));
  RPED_TRY_ASSIGN(
      nlohmann::json hello,
      connection.exchange(nlohmann::json{{"command", admin_command::hello}}, kAdminIoTimeout));
  if (!hello.value("ok", false) || hello.value("server", "") != program ||
      !hello.contains("token_file") || !hello["token_file"].is_string() ||
      !hello.contains("owner_uid") || !hello["owner_uid"].is_number_integer() ||
      !hello.contains("pid") || !hello["pid"].is_number_integer()) {
    return admin_error(port,
                       "the program there is not " + std::string(program) + " (unexpected hello)");
  }
  const std::string token_file = hello["token_file"].get<std::string>();
  const auto owner = hello["owner_uid"].get<std::int64_t>();
  auto token = read_token_file(token_file);
  if (!token.ok()) {
    if (token.error().message == "permission denied") {
      return make_error(Errc::invalid_argument,
                        "permission denied: only the user who started " + std::string(program) +
                            " (uid " + std::to_string(owner) + ") or root may " +
                            std::string(action) + " (the admin token " + token_file +
                            " is not readable by uid " + std::to_string(::geteuid()) + ")");
    }
    return std::move(token).error();
  }
  if (token->admin_port != port) {
    return make_error(Errc::invalid_argument,
                      "the admin token " + token_file + " belongs to admin port " +
                          std::to_string(token->admin_port) + ", not " + std::to_string(port) +
                          "; refusing to send it there");
  }
  AdminSession session{std::move(connection), std::move(hello), 0, std::move(token->token)};
  session.server_pid = session.hello["pid"].get<pid_t>();
  return session;
}

Result<nlohmann::json> admin_command_call(AdminSession& session, std::string_view command,
                                          nlohmann::json arguments,
                                          std::chrono::milliseconds timeout) {
  nlohmann::json request = arguments.is_object() ? std::move(arguments) : nlohmann::json::object();
  request["command"] = command;
  request["token"] = session.token;
  RPED_TRY_ASSIGN(nlohmann::json answer, session.connection.exchange(request, timeout));
  if (!answer["ok"].get<bool>()) {
    return make_error(Errc::invalid_argument,
                      answer.value("error", std::string("the server refused the request")));
  }
  return answer;
}

bool process_gone(pid_t pid) {
  if (pid <= 0) {
    return true;
  }
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    return true;
  }
  // A zombie has exited; its parent just has not reaped it yet.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const std::size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() &&
         (text[paren + 2] == 'Z' || text[paren + 2] == 'X');
}

Result<void> stop_daemon(const StopRequest& request) {
  RPED_TRY_ASSIGN(AdminSession session,
                  open_admin_session(request.program, request.admin_port, "stop it"));
  const pid_t pid = session.server_pid;
  RPED_TRY(admin_command_call(session, admin_command::stop, nullptr, kAdminIoTimeout));
  std::printf("%s Version %s\n", request.display_name.c_str(), request.version.c_str());
  std::printf("Stopping %s (pid %d)...\n", request.display_name.c_str(), static_cast<int>(pid));
  std::fflush(stdout);
  const Clock::time_point deadline = Clock::now() + request.limit;
  // The daemon keeps this connection open until it exits.
  (void)session.connection.wait_for_close(
      std::chrono::duration_cast<std::chrono::milliseconds>(request.limit));
  while (!process_gone(pid)) {
    if (Clock::now() >= deadline) {
      return make_error(Errc::timeout, "the " + request.program + " process (pid " +
                                           std::to_string(pid) + ") did not stop within " +
                                           std::to_string(request.limit.count()) + " s (" +
                                           request.limit_option + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("%s stopped.\n", request.display_name.c_str());
  return {};
}

}  // namespace rped::service
