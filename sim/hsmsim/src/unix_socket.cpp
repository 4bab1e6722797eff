#include "unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace rped::hsmsim {

namespace {

Error system_error(const std::string& what, int error) {
  return make_error(Errc::internal, what + ": " + std::strerror(error));
}

Result<sockaddr_un> address_of(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.empty() || text.size() >= sizeof address.sun_path) {
    return make_error(Errc::invalid_argument, "socket path '" + text + "' must be 1 to " +
                                                  std::to_string(sizeof address.sun_path - 1) +
                                                  " bytes");
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return address;
}

}  // namespace

Result<int> listen_unix(const std::filesystem::path& path) {
  RPED_TRY_ASSIGN(const sockaddr_un address, address_of(path));
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return make_error(Errc::invalid_argument,
                        "'" + path.string() + "' exists and is not a socket");
    }
    ::unlink(path.c_str());  // left by an earlier run; the state lock says none runs now
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return system_error("socket", errno);
  }
  // Owner only from the start: bind creates the file under this umask.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_error = errno;
  ::umask(old_mask);
  if (bound != 0 || ::listen(fd, 8) != 0) {
    const int error = bound != 0 ? bind_error : errno;
    ::close(fd);
    return system_error("cannot listen on " + path.string(), error);
  }
  return fd;
}

Result<int> connect_unix(const std::filesystem::path& path) {
  RPED_TRY_ASSIGN(const sockaddr_un address, address_of(path));
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return system_error("socket", errno);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    return system_error("cannot connect to " + path.string(), error);
  }
  return fd;
}

Result<void> set_timeouts(int fd, std::chrono::milliseconds send,
                          std::chrono::milliseconds receive) {
  const auto tv = [](std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000),
                   static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
  };
  const timeval s = tv(send);
  const timeval r = tv(receive);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof s) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r) != 0) {
    return system_error("setsockopt", errno);
  }
  return {};
}

Result<void> write_all(int fd, ByteView bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int error = n < 0 ? errno : EPIPE;
      return system_error("write", error == EAGAIN ? ETIMEDOUT : error);
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> read_exact(int fd, std::span<std::uint8_t> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::recv(fd, out.data() + got, out.size() - got, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n == 0) {
      return make_error(Errc::invalid_argument,
                        got == 0 ? "end of stream" : "end of stream inside a frame");
    }
    if (n < 0) {
      return system_error("read", errno == EAGAIN ? ETIMEDOUT : errno);
    }
    got += static_cast<std::size_t>(n);
  }
  return {};
}

Result<WakePipe> WakePipe::create() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return system_error("pipe", errno);
  }
  return WakePipe{fds[0], fds[1]};
}

void WakePipe::wake() const noexcept {
  const std::uint8_t byte = 1;
  static_cast<void>(!::write(write_fd, &byte, 1));
}

void WakePipe::drain() const noexcept {
  std::uint8_t buffer[64];
  while (::read(read_fd, buffer, sizeof buffer) > 0) {
  }
}

void WakePipe::close() noexcept {
  if (read_fd >= 0) {
    ::close(read_fd);
  }
  if (write_fd >= 0) {
    ::close(write_fd);
  }
  read_fd = write_fd = -1;
}

}  // namespace rped::hsmsim
