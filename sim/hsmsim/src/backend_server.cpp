#include "rped/hsmsim/backend_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "unix_socket.h"

namespace rped::hsmsim {

namespace {

using hsm::BackendFrame;
using hsm::FrameKind;
using hsm::MessageType;

// A peer that stops reading, or stops mid-frame, is dropped after this long.
constexpr std::chrono::milliseconds kIoTimeout{5'000};

}  // namespace

struct BackendServer::Impl {
  Impl(std::filesystem::path p, int listen, WakePipe w, Hsm& h, Logger l)
      : path(std::move(p)), listen_fd(listen), wake(w), hsm(h), log(std::move(l)) {}

  struct Pending {
    MessageType type;
    bool done = false;
    LinkReply reply;
  };

  const std::filesystem::path path;
  const int listen_fd;
  WakePipe wake;
  Hsm& hsm;
  const Logger log;
  std::thread io;

  // Lock order: write_mu before mu. The session descriptor is closed only
  // with both held, so a writer never writes to a recycled descriptor.
  std::mutex write_mu;
  mutable std::mutex mu;
  std::condition_variable cv;
  int session_fd = -1;
  bool stopping = false;
  bool stopped = false;
  std::uint32_t last_id = 0;
  std::map<std::uint32_t, Pending> pending;

  void say(const std::string& text) const {
    if (log) {
      log(text);
    }
  }

  Result<void> write_frame(const BackendFrame& frame) {
    const SecretBytes wire = frame.serialize();
    const std::lock_guard write_lock(write_mu);
    int fd = -1;
    {
      const std::lock_guard lock(mu);
      fd = session_fd;
    }
    if (fd < 0) {
      return make_error(Errc::invalid_argument, "no pedclient is attached");
    }
    auto written = write_all(fd, wire.reveal());
    if (!written.ok()) {
      ::shutdown(fd, SHUT_RDWR);  // the I/O thread sees end of stream and drops the session
    }
    return written;
  }

  Result<void> respond(MessageType type, std::uint32_t id, SecretBytes body) {
    return write_frame(BackendFrame{FrameKind::response, type, id, std::move(body)});
  }

  Result<void> refuse(MessageType type, std::uint32_t id, hsm::Status status, std::string message) {
    return respond(type, id,
                   SecretBytes::copy_of(hsm::error_response(
                       hsm::Failure{status, std::nullopt, std::move(message)})));
  }

  void drop_session(const std::string& why) {
    {
      const std::lock_guard write_lock(write_mu);
      const std::lock_guard lock(mu);
      if (session_fd < 0) {
        return;
      }
      ::shutdown(session_fd, SHUT_RDWR);
      ::close(session_fd);
      session_fd = -1;
      for (auto& [id, p] : pending) {
        if (!p.done) {
          p.done = true;
          p.reply.kind = LinkReply::Kind::lost;
        }
      }
    }
    cv.notify_all();
    hsm.on_pedclient_detached(why);
  }

  void accept_session() {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      return;
    }
    bool refused = false;
    {
      const std::lock_guard lock(mu);
      refused = session_fd >= 0 || stopping;
      if (!refused) {
        session_fd = fd;
      }
    }
    if (refused) {
      ::close(fd);
      say("refused a second pedclient connection: one is already attached");
      return;
    }
    if (auto timeouts = set_timeouts(fd, kIoTimeout, kIoTimeout); !timeouts.ok()) {
      drop_session(timeouts.error().message);
      return;
    }
    hsm.on_pedclient_attached();
  }

  // Reads and handles one frame; an error ends the session.
  Result<void> read_frame(int fd) {
    std::uint8_t prefix[4];
    RPED_TRY(read_exact(fd, prefix));
    RPED_TRY_ASSIGN(const std::size_t size, hsm::backend_frame_size(prefix));
    SecretBytes wire(size);
    std::copy(std::begin(prefix), std::end(prefix), wire.reveal_mutable().begin());
    RPED_TRY(read_exact(fd, wire.reveal_mutable().subspan(4)));
    RPED_TRY_ASSIGN(BackendFrame frame, BackendFrame::parse(wire.reveal()));
    RPED_TRY(hsm::check_sender(frame, hsm::Party::pedclient));
    return handle(std::move(frame));
  }

  Result<void> handle(BackendFrame frame) {
    switch (frame.kind) {
      case FrameKind::response:
        return complete(std::move(frame));
      case FrameKind::notification: {
        // ped_connection_state is the only notification (check_sender ensured it).
        RPED_TRY_ASSIGN(const hsm::PedConnectionState state,
                        hsm::PedConnectionState::parse(frame.body.reveal()));
        hsm.on_ped_connection_state(state);
        return {};
      }
      case FrameKind::request:
      default:
        break;
    }
    switch (frame.type) {
      case MessageType::get_identity: {
        if (!frame.body.empty()) {
          return refuse(frame.type, frame.request_id, hsm::Status::bad_request,
                        "get_identity has an empty body");
        }
        const Bytes payload = hsm.identity().serialize();
        return respond(frame.type, frame.request_id, hsm::ok_response(payload));
      }
      case MessageType::derive_session_keys: {
        auto request = hsm::DeriveSessionKeysRequest::parse(frame.body.reveal());
        if (!request.ok()) {
          return refuse(frame.type, frame.request_id, hsm::Status::bad_request,
                        request.error().message);
        }
        auto answer = hsm.derive_session_keys(request.value());
        if (auto* failure = std::get_if<hsm::Failure>(&answer)) {
          return respond(frame.type, frame.request_id,
                         SecretBytes::copy_of(hsm::error_response(*failure)));
        }
        hsm::DeriveSessionKeysResponse response;
        response.dkm = std::move(std::get<SecretBytes>(answer));
        const SecretBytes payload = response.serialize();
        return respond(frame.type, frame.request_id, hsm::ok_response(payload.reveal()));
      }
      case MessageType::audit_resume: {
        // docs/hsm-backend.md §4.7: streaming starts from the record after last_seq.
        auto request = hsm::AuditResumeRequest::parse(frame.body.reveal());
        if (!request.ok()) {
          return refuse(frame.type, frame.request_id, hsm::Status::bad_request,
                        request.error().message);
        }
        const Bytes payload = hsm.on_audit_resume(request.value()).serialize();
        return respond(frame.type, frame.request_id, hsm::ok_response(payload));
      }
      default:
        return make_error(Errc::invalid_encoding,
                          "unexpected request " + std::string(hsm::message_type_name(frame.type)));
    }
  }

  Result<void> complete(BackendFrame frame) {
    {
      const std::lock_guard lock(mu);
      const auto it = pending.find(frame.request_id);
      if (it == pending.end() || it->second.done) {
        return {};  // a late answer to a call that timed out
      }
      Pending& p = it->second;
      if (p.type != frame.type) {
        return make_error(Errc::invalid_encoding,
                          "pedclient answered request " + std::to_string(frame.request_id) +
                              " with a " + std::string(hsm::message_type_name(frame.type)) +
                              " response");
      }
      auto parsed = hsm::parse_response(frame.body.reveal());
      if (!parsed.ok()) {
        return make_error(Errc::invalid_encoding,
                          "bad response from pedclient: " + parsed.error().message);
      }
      if (parsed->first) {
        p.reply.kind = LinkReply::Kind::refused;
        p.reply.failure = std::move(*parsed->first);
      } else {
        p.reply.kind = LinkReply::Kind::ok;
        p.reply.payload = SecretBytes::copy_of(parsed->second);
      }
      p.done = true;
    }
    cv.notify_all();
    return {};
  }

  void run() {
    for (;;) {
      int fd = -1;
      {
        const std::lock_guard lock(mu);
        if (stopping) {
          break;
        }
        fd = session_fd;
      }
      pollfd fds[3] = {{wake.read_fd, POLLIN, 0}, {listen_fd, POLLIN, 0}, {fd, POLLIN, 0}};
      const nfds_t count = fd >= 0 ? 3 : 2;
      if (::poll(fds, count, -1) < 0) {
        if (errno == EINTR) {
          continue;
        }
        say(std::string("backend poll failed: ") + std::strerror(errno));
        break;
      }
      if (fds[0].revents != 0) {
        wake.drain();
        continue;
      }
      if (count == 3 && fds[2].revents != 0) {
        if (auto handled = read_frame(fd); !handled.ok()) {
          const bool closed = handled.error().message == "end of stream";
          drop_session(closed ? "pedclient closed the connection"
                              : "protocol error: " + handled.error().message);
        }
        continue;
      }
      if (fds[1].revents != 0) {
        accept_session();
      }
    }
    drop_session("hsmsim is stopping");
  }
};

BackendServer::BackendServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<BackendServer>> BackendServer::start(const std::filesystem::path& socket,
                                                            Hsm& hsm, Logger log) {
  RPED_TRY_ASSIGN(const int listen_fd, listen_unix(socket));
  auto wake = WakePipe::create();
  if (!wake.ok()) {
    ::close(listen_fd);
    return std::move(wake).error();
  }
  auto server = std::unique_ptr<BackendServer>(new BackendServer(
      std::make_unique<Impl>(socket, listen_fd, wake.value(), hsm, std::move(log))));
  hsm.set_link(server.get());
  Impl* const impl = server->impl_.get();
  impl->io = std::thread([impl] { impl->run(); });
  return server;
}

void BackendServer::stop() {
  Impl& m = *impl_;
  {
    const std::lock_guard lock(m.mu);
    if (m.stopped) {
      return;
    }
    m.stopping = true;
  }
  m.wake.wake();
  if (m.io.joinable()) {
    m.io.join();
  }
  const std::lock_guard lock(m.mu);
  m.stopped = true;
}

BackendServer::~BackendServer() {
  stop();
  impl_->hsm.set_link(nullptr);
  ::close(impl_->listen_fd);
  impl_->wake.close();
  ::unlink(impl_->path.c_str());
}

bool BackendServer::attached() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->session_fd >= 0 && !impl_->stopping;
}

LinkReply BackendServer::call(MessageType type, ByteView body, std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  std::uint32_t id = 0;
  {
    const std::lock_guard lock(m.mu);
    if (m.session_fd < 0 || m.stopping) {
      return LinkReply{};  // not_running
    }
    id = ++m.last_id;
    if (id == 0) {
      id = ++m.last_id;
    }
    m.pending[id].type = type;
  }
  const auto take = [&](std::unique_lock<std::mutex>&) {
    LinkReply reply = std::move(m.pending.at(id).reply);
    m.pending.erase(id);
    return reply;
  };
  if (auto sent =
          m.write_frame(BackendFrame{FrameKind::request, type, id, SecretBytes::copy_of(body)});
      !sent.ok()) {
    std::unique_lock lock(m.mu);
    m.pending.erase(id);
    LinkReply lost;
    lost.kind = LinkReply::Kind::lost;
    return lost;
  }
  std::unique_lock lock(m.mu);
  if (!m.cv.wait_for(lock, timeout, [&] { return m.pending.at(id).done; })) {
    m.pending.erase(id);
    LinkReply timed_out;
    timed_out.kind = LinkReply::Kind::timed_out;
    m.say("pedclient did not answer " + std::string(hsm::message_type_name(type)) + " in time");
    return timed_out;
  }
  return take(lock);
}

}  // namespace rped::hsmsim
