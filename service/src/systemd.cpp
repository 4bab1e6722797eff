// Every sd-daemon call of the project (systemd.h says why and how).
//
// The model is knot DNS's src/knot/common/systemd.c and systemd's own
// socket-proxyd: one small file, READY only when the listeners are bound,
// strict checks of every passed socket.
#include "rped/service/systemd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(RPED_HAVE_LIBSYSTEMD)
#include <systemd/sd-daemon.h>
#endif

namespace rped::service {
namespace {

// The first passed descriptor (sd-daemon.h's SD_LISTEN_FDS_START).
constexpr int kListenFdsStart = 3;

const char* env(const char* name) {
  return std::getenv(name);  // NOLINT(concurrency-mt-unsafe): start-up, one thread
}

std::string type_name(int type) {
  switch (type) {
    case SOCK_STREAM:
      return "a stream socket (SOCK_STREAM)";
    case SOCK_DGRAM:
      return "a datagram socket (SOCK_DGRAM)";
    case SOCK_SEQPACKET:
      return "a packet socket (SOCK_SEQPACKET)";
    case SOCK_RAW:
      return "a raw socket (SOCK_RAW)";
    default:
      return "a socket of type " + std::to_string(type);
  }
}

std::string family_name(int family) {
  switch (family) {
    case AF_INET:
      return "AF_INET";
    case AF_INET6:
      return "AF_INET6";
    case AF_UNIX:
      return "AF_UNIX";
    case AF_NETLINK:
      return "AF_NETLINK";
    default:
      return "address family " + std::to_string(family);
  }
}

struct LocalAddress final {
  std::string text;  // "127.0.0.1:1503", "[::1]:1503"
  std::uint16_t port = 0;
  bool loopback = false;
};

std::optional<LocalAddress> local_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return std::nullopt;
  }
  char host[INET6_ADDRSTRLEN] = {};
  LocalAddress local;
  if (storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    local.port = ntohs(v4->sin_port);
    local.loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    local.text = std::string(host) + ":" + std::to_string(local.port);
    return local;
  }
  if (storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    local.port = ntohs(v6->sin6_port);
    local.loopback =
        IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) != 0 ||
        (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) != 0 && v6->sin6_addr.s6_addr[12] == 127);
    local.text = "[" + std::string(host) + "]:" + std::to_string(local.port);
    return local;
  }
  return std::nullopt;
}

int socket_option(int fd, int option) {
  int value = -1;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) {
    return -1;
  }
  return value;
}

// What is wrong with a passed descriptor, in words; empty when it is what
// `expected` asks for. (The verdict is cross-checked with sd_is_socket_inet.)
[[maybe_unused]] std::string problem_with(int fd, const ListenExpectation& expected) {
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    return std::string("is not open (") + std::strerror(errno) + ")";
  }
  if (!S_ISSOCK(status.st_mode)) {
    return "is not a socket";
  }
  const int family = socket_option(fd, SO_DOMAIN);
  const int type = socket_option(fd, SO_TYPE);
  if (family != AF_INET && family != AF_INET6) {
    return "is an " + family_name(family) + " socket, not an Internet (AF_INET/AF_INET6) one";
  }
  if (type != SOCK_STREAM) {
    return std::string("is ") +
           (type == SOCK_DGRAM ? "a UDP socket (SOCK_DGRAM)" : type_name(type)) +
           ", not a TCP (SOCK_STREAM) one: use ListenStream=";
  }
  if (socket_option(fd, SO_ACCEPTCONN) != 1) {
    return "is a TCP socket that is not listening (Accept=yes passes connections, not "
           "listeners: use Accept=no)";
  }
  const std::optional<LocalAddress> local = local_address(fd);
  if (!local) {
    return "has no local address";
  }
  if (expected.port != 0 && local->port != expected.port) {
    return "listens on " + local->text + ", but " + expected.port_option + " is " +
           std::to_string(expected.port) + ": make ListenStream= and " + expected.port_option +
           " agree";
  }
  if (expected.loopback_only && !local->loopback) {
    return "listens on " + local->text +
           ", which is not a loopback address, but -eserverport 0 allows the loopback "
           "interface only";
  }
  return {};
}

}  // namespace

bool stderr_is_journal() {
  const char* const value = env("JOURNAL_STREAM");
  if (value == nullptr) {
    return false;
  }
  const std::string_view text(value);
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  unsigned long long device = 0;
  unsigned long long inode = 0;
  const auto [device_end, device_error] = std::from_chars(text.data(), text.data() + colon, device);
  const auto [inode_end, inode_error] =
      std::from_chars(text.data() + colon + 1, text.data() + text.size(), inode);
  if (device_error != std::errc{} || device_end != text.data() + colon ||
      inode_error != std::errc{} || inode_end != text.data() + text.size()) {
    return false;
  }
  struct stat status {};
  if (::fstat(STDERR_FILENO, &status) != 0) {
    return false;
  }
  return static_cast<unsigned long long>(status.st_dev) == device &&
         static_cast<unsigned long long>(status.st_ino) == inode;
}

bool ServiceManager::compiled_in() noexcept {
#if defined(RPED_HAVE_LIBSYSTEMD)
  return true;
#else
  return false;
#endif
}

ServiceManager ServiceManager::from_environment() {
  ServiceManager manager;
#if defined(RPED_HAVE_LIBSYSTEMD)
  manager.notifying_ = env("NOTIFY_SOCKET") != nullptr;
  std::uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set and WATCHDOG_PID is absent or names this process.
  if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    manager.watchdog_ = std::chrono::microseconds(static_cast<std::int64_t>(usec));
  }
  char** names = nullptr;
  // unset_environment=1: nothing this process starts inherits the sockets'
  // description; the descriptors themselves get FD_CLOEXEC.
  manager.listen_count_ = ::sd_listen_fds_with_names(1, &names);
  if (names != nullptr) {
    for (char** name = names; *name != nullptr; ++name) {
      manager.listen_names_.emplace_back(*name);
      std::free(*name);  // NOLINT(cppcoreguidelines-no-malloc): sd_listen_fds_with_names' contract
    }
    std::free(static_cast<void*>(names));  // NOLINT(cppcoreguidelines-no-malloc)
  }
#else
  manager.listen_requested_uncompiled_ = env("LISTEN_FDS") != nullptr;
#endif
  return manager;
}

void ServiceManager::notify(const std::string& message) {
#if defined(RPED_HAVE_LIBSYSTEMD)
  if (notifying_) {
    (void)::sd_notify(0, message.c_str());  // best effort: systemd times us out if it is lost
  }
#else
  (void)message;  // not under systemd: nothing to tell
#endif
}

void ServiceManager::ready() {
  notify("READY=1");
}

void ServiceManager::status(std::string_view line) {
  if (line == last_status_) {
    return;
  }
  last_status_ = std::string(line);
  // One line: a newline would start another assignment in the message.
  std::string clean(line.substr(0, 200));
  for (char& c : clean) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  notify("STATUS=" + clean);
}

void ServiceManager::stopping() {
  notify("STOPPING=1");
}

void ServiceManager::failed(std::string_view why) {
  status("cannot start: " + std::string(why));
}

void ServiceManager::watchdog_ping() {
  if (watchdog_) {
    notify("WATCHDOG=1");
  }
}

Result<std::vector<ListenSocket>> ServiceManager::listen_fds(const ListenExpectation& expected) {
  if (listen_taken_) {
    return make_error(Errc::internal, "socket activation: the passed sockets were taken already");
  }
  listen_taken_ = true;
  const std::string prefix = "socket activation: ";
  if (listen_requested_uncompiled_) {
    return make_error(Errc::invalid_argument,
                      prefix + "LISTEN_FDS is set, but this " + expected.program +
                          " was built without libsystemd (RPED_WITH_SYSTEMD=OFF): start it "
                          "without " +
                          expected.unit + ", or use a build with systemd support");
  }
  if (listen_count_ < 0) {
    return make_error(Errc::invalid_argument, prefix + "LISTEN_FDS/LISTEN_FDNAMES are malformed (" +
                                                  std::strerror(-listen_count_) + ")");
  }
  std::vector<ListenSocket> sockets;
#if defined(RPED_HAVE_LIBSYSTEMD)
  for (int i = 0; i < listen_count_; ++i) {
    const int fd = kListenFdsStart + i;
    const std::string name = static_cast<std::size_t>(i) < listen_names_.size()
                                 ? listen_names_[static_cast<std::size_t>(i)]
                                 : std::string("unknown");
    const std::string which = "descriptor " + std::to_string(fd) + " (\"" + name + "\")";
    std::string problem = problem_with(fd, expected);
    // The library's verdict must agree: any family (0 = AF_INET or AF_INET6),
    // a stream socket, listening, on the port.
    if (problem.empty() && ::sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, expected.port) <= 0) {
      problem = "is not a listening TCP socket on port " + std::to_string(expected.port);
    }
    if (!problem.empty()) {
      return make_error(Errc::invalid_argument,
                        prefix + which + " " + problem + "; " + expected.program +
                            " needs listening TCP sockets for " + expected.what + " (check " +
                            expected.unit + ")");
    }
    const std::optional<LocalAddress> local = local_address(fd);
    sockets.push_back(
        ListenSocket{fd, socket_option(fd, SO_DOMAIN), name, local ? local->text : std::string()});
  }
#endif
  return sockets;
}

}  // namespace rped::service
