#include "socket_host_link.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rped/ped/device_protocol.h"

namespace rped::pedsim {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

Error system_error(const std::string& what) {
  return make_error(Errc::internal, what + ": " + std::strerror(errno));
}

// Writes the whole frame; a failure means the host is gone, which the I/O
// thread notices as end of stream.
void send_all(int fd, const Bytes& frame) {
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace

Result<std::unique_ptr<SocketHostLink>> SocketHostLink::listen(const std::filesystem::path& path,
                                                               PedDevice& device, Logger log) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.empty() || text.size() >= sizeof address.sun_path) {
    return make_error(Errc::invalid_argument, "socket path '" + text + "' must be 1 to " +
                                                  std::to_string(sizeof address.sun_path - 1) +
                                                  " bytes");
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  struct stat existing {};
  if (::lstat(text.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return make_error(Errc::invalid_argument, "'" + text + "' exists and is not a socket");
    }
    ::unlink(text.c_str());  // a stale socket from an earlier run
  }
  const int listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) {
    return system_error("socket");
  }
  if (::bind(listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd, 4) != 0) {
    auto error = system_error("cannot listen on " + text);
    ::close(listen_fd);
    return error;
  }
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    auto error = system_error("pipe");
    ::close(listen_fd);
    return error;
  }
  auto link = std::unique_ptr<SocketHostLink>(
      new SocketHostLink(path, listen_fd, wake[0], wake[1], device, std::move(log)));
  link->io_thread_ = std::thread([raw = link.get()] { raw->run(); });
  return link;
}

SocketHostLink::SocketHostLink(std::filesystem::path path, int listen_fd, int wake_read,
                               int wake_write, PedDevice& device, Logger log)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_read_(wake_read),
      wake_write_(wake_write),
      device_(device),
      log_(std::move(log)) {}

SocketHostLink::~SocketHostLink() {
  request(Request::stop);
  if (io_thread_.joinable()) {
    io_thread_.join();
  }
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
  ::unlink(path_.c_str());
}

void SocketHostLink::unplug() {
  request(Request::unplug);
}
void SocketHostLink::replug() {
  request(Request::replug);
}

void SocketHostLink::request(Request what) {
  std::unique_lock lock(mu_);
  requests_.push_back(what);
  const std::uint64_t ticket = ++requested_;
  const std::uint8_t byte = 1;
  (void)!::write(wake_write_, &byte, 1);
  done_cv_.wait(lock, [&] { return completed_ >= ticket || !io_running_; });
}

void SocketHostLink::run() {
  serve();
  {
    const std::lock_guard lock(mu_);
    io_running_ = false;
  }
  done_cv_.notify_all();
}

void SocketHostLink::serve() {
  for (;;) {
    pollfd fds[3] = {{wake_read_, POLLIN, 0}, {listen_fd_, POLLIN, 0}, {host_fd_, POLLIN, 0}};
    const nfds_t count = host_fd_ >= 0 ? 3 : 2;
    if (::poll(fds, count, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      log_("poll failed: " + std::string(std::strerror(errno)));
      return;
    }
    if (fds[0].revents != 0) {
      std::uint8_t drain[64];
      while (::read(wake_read_, drain, sizeof drain) > 0) {
      }
      std::deque<Request> requests;
      {
        const std::lock_guard lock(mu_);
        requests.swap(requests_);
      }
      bool stop = false;
      for (const Request what : requests) {
        switch (what) {
          case Request::unplug:
            plugged_ = false;
            if (host_fd_ >= 0) {
              disconnect("unplugged");
            }
            device_.detach_host();
            log_("USB cable unplugged");
            break;
          case Request::replug:
            plugged_ = true;
            log_("USB cable plugged in; waiting for the host");
            break;
          case Request::stop:
          default:
            stop = true;
            break;
        }
      }
      {
        const std::lock_guard lock(mu_);
        completed_ += requests.size();
      }
      done_cv_.notify_all();
      if (stop) {
        if (host_fd_ >= 0) {
          disconnect("pedsim is stopping");
        }
        return;
      }
      continue;
    }
    if (count == 3 && fds[2].revents != 0) {
      read_from_host();
      continue;
    }
    if (fds[1].revents != 0) {
      accept_host();
    }
  }
}

void SocketHostLink::accept_host() {
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    return;
  }
  if (host_fd_ >= 0 || !plugged_) {
    // One host at a time, and none while the cable is out.
    ::close(fd);
    log_(plugged_ ? "refused a second host connection" : "refused a host: the PED is unplugged");
    return;
  }
  host_fd_ = fd;
  received_.clear();
  device_.attach_host([this, fd](Bytes frame) {
    const std::lock_guard lock(write_mu_);
    send_all(fd, frame);
    secure_wipe(frame.data(), frame.size());
  });
  log_("host connected");
}

void SocketHostLink::read_from_host() {
  std::uint8_t chunk[kReadChunk];
  const ssize_t n = ::read(host_fd_, chunk, sizeof chunk);
  if (n < 0 && errno == EINTR) {
    return;
  }
  if (n <= 0) {
    disconnect(n == 0 ? "host disconnected" : "host connection failed");
    return;
  }
  received_.insert(received_.end(), chunk, chunk + n);
  secure_wipe(chunk, static_cast<std::size_t>(n));
  while (received_.size() >= 4) {
    const auto size = ped::device_frame_size(ByteView(received_).first(4));
    if (!size.ok()) {
      disconnect("host sent a bad frame: " + size.error().message);
      return;
    }
    if (received_.size() < size.value()) {
      break;
    }
    // docs/ped-device.md §2: a frame that does not parse, or is not a command,
    // is discarded and the link closed; the stream cannot be trusted after it.
    const ByteView frame = ByteView(received_).first(size.value());
    auto parsed = ped::DeviceFrame::parse(frame);
    const bool command = parsed.ok() && parsed->kind == ped::FrameKind::command;
    if (parsed.ok()) {
      secure_wipe(parsed->body.data(), parsed->body.size());  // the device parses its own copy
    }
    if (!command) {
      disconnect("host sent a frame that is not a valid command");
      return;
    }
    device_.on_host_frame(frame);
    secure_wipe(received_.data(), size.value());
    received_.erase(received_.begin(),
                    received_.begin() + static_cast<std::ptrdiff_t>(size.value()));
  }
}

void SocketHostLink::disconnect(const std::string& why) {
  // Unblock a send in progress, detach (which waits for it), then close.
  ::shutdown(host_fd_, SHUT_RDWR);
  device_.detach_host();
  {
    const std::lock_guard lock(write_mu_);
    ::close(host_fd_);
  }
  host_fd_ = -1;
  secure_wipe(received_.data(), received_.size());
  received_.clear();
  log_(why);
}

}  // namespace rped::pedsim
