#include "rped/usb/unix_socket_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>

#include "frame_assembler.h"
#include "rped/secret.h"
#include "rped/usb/link_error.h"

namespace rped::usb {

using Clock = std::chrono::steady_clock;

namespace {

std::string errno_text(int err) {
  return std::string(std::strerror(err));
}

// Milliseconds for poll(): at least 1 while time remains, 0 once the deadline passed.
int poll_ms(Clock::time_point deadline) {
  const auto remaining = deadline - Clock::now();
  if (remaining <= Clock::duration::zero()) {
    return 0;
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining).count();
  return static_cast<int>(std::clamp<long long>(ms, 1, INT_MAX));
}

}  // namespace

UnixSocketTransport::UnixSocketTransport(int fd, std::string description)
    : fd_(fd),
      description_(std::move(description)),
      assembler_(std::make_unique<detail::FrameAssembler>()) {}

UnixSocketTransport::~UnixSocketTransport() {
  close();
  ::close(fd_);
}

Result<std::unique_ptr<UnixSocketTransport>> UnixSocketTransport::connect(
    const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.empty() || text.size() >= sizeof(address.sun_path)) {
    return make_error(Errc::invalid_argument, "PED emulator socket path must be 1 to " +
                                                  std::to_string(sizeof(address.sun_path) - 1) +
                                                  " bytes");
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return link_error(LinkFailure::io, "socket(AF_UNIX) failed: " + errno_text(errno));
  }
  int r = 0;
  do {
    r = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int err = errno;
    ::close(fd);
    const LinkFailure kind =
        (err == ENOENT || err == ECONNREFUSED) ? LinkFailure::not_found : LinkFailure::io;
    return link_error(kind,
                      "cannot connect to the PED emulator at " + text + ": " + errno_text(err));
  }
  return adopt(fd, "PED emulator " + text);
}

Result<std::unique_ptr<UnixSocketTransport>> UnixSocketTransport::adopt(int fd,
                                                                        std::string description) {
  if (fd < 0) {
    return make_error(Errc::invalid_argument, "not a socket descriptor");
  }
  int type = 0;
  socklen_t length = sizeof(type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) {
    ::close(fd);
    return make_error(Errc::invalid_argument, "the descriptor is not a stream socket");
  }
  return std::unique_ptr<UnixSocketTransport>(new UnixSocketTransport(fd, std::move(description)));
}

Result<void> UnixSocketTransport::usable() const {
  if (closed_.load()) {
    return link_error(LinkFailure::closed, description_ + " is closed");
  }
  if (peer_gone_.load()) {
    return link_error(LinkFailure::unplugged, description_ + " closed the connection");
  }
  if (broken_.load()) {
    return link_error(LinkFailure::io, "a frame was only partly sent to " + description_ +
                                           "; the framing is out of step");
  }
  return {};
}

Result<void> UnixSocketTransport::send(ByteView frame, std::chrono::milliseconds timeout) {
  RPED_TRY(detail::check_whole_frame(frame));
  const std::lock_guard lock(send_mutex_);
  RPED_TRY(usable());
  const Clock::time_point deadline = Clock::now() + timeout;
  std::size_t sent = 0;
  while (sent < frame.size()) {
    pollfd p{fd_, POLLOUT, 0};
    const int ready = ::poll(&p, 1, poll_ms(deadline));
    RPED_TRY(usable());
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      return link_error(LinkFailure::io, "poll failed: " + errno_text(errno));
    }
    if (ready == 0) {
      if (sent > 0) {
        broken_.store(true);
        return usable();
      }
      return link_error(LinkFailure::timeout,
                        description_ + " did not take the frame before the deadline");
    }
    const ssize_t n =
        ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK) {
        continue;
      }
      RPED_TRY(usable());
      if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) {
        peer_gone_.store(true);
        return usable();
      }
      return link_error(LinkFailure::io,
                        "sending to " + description_ + " failed: " + errno_text(err));
    }
    sent += static_cast<std::size_t>(n);
  }
  return {};
}

Result<Bytes> UnixSocketTransport::receive(std::chrono::milliseconds timeout) {
  const std::lock_guard lock(receive_mutex_);
  RPED_TRY(usable());
  const Clock::time_point deadline = Clock::now() + timeout;
  std::array<std::uint8_t, 4096> chunk{};
  struct WipeOnExit {
    std::array<std::uint8_t, 4096>& bytes;
    ~WipeOnExit() { secure_wipe(bytes.data(), bytes.size()); }
  } wipe_chunk{chunk};
  for (;;) {
    auto next = assembler_->next();
    if (!next.ok()) {
      broken_.store(true);
      return std::move(next).error();
    }
    if (next->has_value()) {
      return std::move(*next.value());
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, poll_ms(deadline));
    RPED_TRY(usable());
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      return link_error(LinkFailure::io, "poll failed: " + errno_text(errno));
    }
    if (ready == 0) {
      return link_error(LinkFailure::timeout,
                        "no frame from " + description_ + " before the deadline");
    }
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK) {
        continue;
      }
      RPED_TRY(usable());
      if (err == ECONNRESET || err == ENOTCONN) {
        peer_gone_.store(true);
        return usable().error();
      }
      return link_error(LinkFailure::io,
                        "receiving from " + description_ + " failed: " + errno_text(err));
    }
    if (n == 0) {
      RPED_TRY(usable());
      peer_gone_.store(true);
      return usable().error();
    }
    assembler_->append(ByteView(chunk).first(static_cast<std::size_t>(n)));
  }
}

void UnixSocketTransport::close() {
  if (closed_.exchange(true)) {
    return;
  }
  // Wakes any thread in poll(); the descriptor stays valid until the destructor.
  ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace rped::usb
