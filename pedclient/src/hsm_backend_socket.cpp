// HsmBackend over the emulator's Unix-domain socket (docs/hsm-backend.md).
//
// One reader thread owns the receiving half of the socket: it parses every
// frame, completes the caller waiting for a response, and hands the HSM's
// requests to the HsmRequestHandler. Writers (callers, answers) share the
// sending half under a mutex; a write that cannot finish within the write
// timeout drops the link. Closing the socket (shutdown) ends the reader.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "rped/pedclient/hsm_backend.h"

namespace rped::pedclient {

namespace {

using hsm::BackendFrame;
using hsm::FrameKind;
using hsm::MessageType;

Error system_error(const std::string& what, int error) {
  return make_error(Errc::internal, what + ": " + std::strerror(error));
}

// Maps an HSM refusal to the Errc the caller acts on: mac_mismatch only for a
// tag_U that did not verify, so the channel endpoint closes with
// authentication_failed exactly then.
Error failure_error(const hsm::Failure& failure, MessageType type) {
  const Errc code = failure.status == hsm::Status::authentication_failed ? Errc::mac_mismatch
                    : failure.status == hsm::Status::bad_request         ? Errc::invalid_argument
                                                                         : Errc::internal;
  return make_error(code, "HSM refused " + std::string(hsm::message_type_name(type)) + " (" +
                              std::string(hsm::status_name(failure.status)) +
                              "): " + failure.message);
}

class SocketHsmBackend final : public HsmBackend {
 public:
  SocketHsmBackend(int fd, HsmRequestHandler& handler, SocketHsmBackendOptions options)
      : fd_(fd), handler_(handler), options_(options) {
    reader_ = std::thread([this] { read_loop(); });
  }

  ~SocketHsmBackend() override {
    ::shutdown(fd_, SHUT_RDWR);  // wakes the reader with end of stream
    if (reader_.joinable()) {
      reader_.join();
    }
    ::close(fd_);
  }

  SocketHsmBackend(const SocketHsmBackend&) = delete;
  SocketHsmBackend& operator=(const SocketHsmBackend&) = delete;

  Result<HsmIdentity> identity() override {
    RPED_TRY_ASSIGN(const SecretBytes payload, call(MessageType::get_identity, {}));
    RPED_TRY_ASSIGN(hsm::IdentityResponse response, hsm::IdentityResponse::parse(payload.reveal()));
    HsmIdentity identity;
    identity.serial = response.serial;
    identity.label = std::move(response.label);
    identity.firmware_version = std::move(response.firmware_version);
    identity.model = std::move(response.model);
    identity.rpv_initialized = response.rpv_initialized;
    identity.certificate_chain = std::move(response.certificate_chain);
    identity.static_key_pkc = std::move(response.static_key_pkc);
    return identity;
  }

  Result<SecretBytes> derive_session_keys(const channel::KeyDerivationRequest& request,
                                          const crypto::Certificate* rpk_certificate) override {
    hsm::DeriveSessionKeysRequest message;
    message.key_request.side = request.side;
    message.key_request.transcript = request.transcript;
    message.key_request.z_part = request.z_part.clone();
    message.key_request.device_peer_key = request.device_peer_key;
    message.key_request.peer_tag = request.peer_tag;
    if (rpk_certificate != nullptr) {
      message.rpk_certificate = *rpk_certificate;
    }
    const SecretBytes body = message.serialize();
    RPED_TRY_ASSIGN(const SecretBytes payload,
                    call(MessageType::derive_session_keys, body.reveal()));
    RPED_TRY_ASSIGN(hsm::DeriveSessionKeysResponse response,
                    hsm::DeriveSessionKeysResponse::parse(payload.reveal()));
    return std::move(response.dkm);
  }

  Result<void> report_ped_connection(const hsm::PedConnectionState& state) override {
    const Bytes body = state.serialize();
    return send(BackendFrame{FrameKind::notification, MessageType::ped_connection_state, 0,
                             SecretBytes::copy_of(body)});
  }

  Result<void> complete_connect_ped(std::uint32_t request_id,
                                    const hsm::ConnectPedResponse& response) override {
    const Bytes payload = response.serialize();
    return answer(MessageType::connect_ped, request_id, hsm::ok_response(payload));
  }

  Result<void> complete_disconnect_ped(std::uint32_t request_id) override {
    return answer(MessageType::disconnect_ped, request_id, hsm::ok_response({}));
  }

  Result<void> complete_ped_request(std::uint32_t request_id,
                                    const hsm::PedResponse& response) override {
    const SecretBytes payload = response.serialize();
    return answer(MessageType::ped_request, request_id, hsm::ok_response(payload.reveal()));
  }

  Result<void> complete_audit_records(std::uint32_t request_id,
                                      std::uint64_t durable_seq) override {
    const Bytes payload = hsm::AuditRecordsResponse{durable_seq}.serialize();
    return answer(MessageType::audit_records, request_id, hsm::ok_response(payload));
  }

  Result<hsm::AuditResumeResponse> audit_resume(const hsm::AuditResumeRequest& request) override {
    const Bytes body = request.serialize();
    RPED_TRY_ASSIGN(const SecretBytes payload, call(MessageType::audit_resume, body));
    return hsm::AuditResumeResponse::parse(payload.reveal());
  }

  Result<void> refuse(MessageType type, std::uint32_t request_id,
                      const hsm::Failure& failure) override {
    if (hsm::initiator(type) != hsm::Party::hsm || hsm::is_notification_type(type)) {
      return make_error(Errc::invalid_argument, "pedclient answers only the HSM's requests, not " +
                                                    std::string(hsm::message_type_name(type)));
    }
    return answer(type, request_id, SecretBytes::copy_of(hsm::error_response(failure)));
  }

 private:
  struct Pending {
    MessageType type;
    bool done = false;
    std::optional<SecretBytes> payload;  // ok
    std::optional<Error> error;          // refused or link lost
  };

  Result<void> answer(MessageType type, std::uint32_t request_id, SecretBytes body) {
    if (request_id == 0) {
      return make_error(Errc::invalid_argument, "request id 0 is never a request's");
    }
    return send(BackendFrame{FrameKind::response, type, request_id, std::move(body)});
  }

  // A request to the HSM and its answer's payload (ok), or why not.
  Result<SecretBytes> call(MessageType type, ByteView body) {
    std::unique_lock lock(mu_);
    if (lost_) {
      return make_error(Errc::internal, "the HSM link is closed: " + lost_->message);
    }
    std::uint32_t id = ++last_id_;
    if (id == 0) {
      id = ++last_id_;  // ids wrap past 0, which only notifications carry
    }
    Pending& pending = pending_[id];
    pending.type = type;
    lock.unlock();

    if (auto sent = send(BackendFrame{FrameKind::request, type, id, SecretBytes::copy_of(body)});
        !sent.ok()) {
      const std::lock_guard relock(mu_);
      pending_.erase(id);
      return std::move(sent).error();
    }

    lock.lock();
    const bool answered =
        cv_.wait_for(lock, options_.call_timeout, [&] { return pending_.at(id).done; });
    Pending result = std::move(pending_.at(id));
    pending_.erase(id);
    if (!answered) {
      return make_error(Errc::internal, "the HSM did not answer " +
                                            std::string(hsm::message_type_name(type)) + " within " +
                                            std::to_string(options_.call_timeout.count()) + " ms");
    }
    if (result.error) {
      return std::move(*result.error);
    }
    return std::move(*result.payload);
  }

  Result<void> send(const BackendFrame& frame) {
    const SecretBytes wire = frame.serialize();
    const std::lock_guard lock(write_mu_);
    ByteView rest = wire.reveal();
    while (!rest.empty()) {
      const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        const int error = n < 0 ? errno : EPIPE;
        ::shutdown(fd_, SHUT_RDWR);  // a half-written frame leaves the stream unusable
        return system_error("writing to the HSM", error == EAGAIN ? ETIMEDOUT : error);
      }
      rest = rest.subspan(static_cast<std::size_t>(n));
    }
    return {};
  }

  // Exactly out.size() bytes; false at end of stream or on error.
  bool read_exact(std::span<std::uint8_t> out) {
    std::size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return false;
      }
      got += static_cast<std::size_t>(n);
    }
    return true;
  }

  void read_loop() {
    Error why = make_error(Errc::internal, "the HSM closed the backend socket");
    for (;;) {
      std::uint8_t prefix[4];
      if (!read_exact(prefix)) {
        break;
      }
      auto size = hsm::backend_frame_size(prefix);
      if (!size.ok()) {
        why =
            make_error(Errc::invalid_encoding, "the HSM sent a bad frame: " + size.error().message);
        break;
      }
      SecretBytes wire(size.value());
      std::copy(std::begin(prefix), std::end(prefix), wire.reveal_mutable().begin());
      if (!read_exact(wire.reveal_mutable().subspan(4))) {
        why = make_error(Errc::internal,
                         "the HSM closed the backend socket in the middle of a frame");
        break;
      }
      auto frame = BackendFrame::parse(wire.reveal());
      if (!frame.ok()) {
        why = make_error(Errc::invalid_encoding,
                         "the HSM sent a bad frame: " + frame.error().message);
        break;
      }
      if (auto allowed = hsm::check_sender(frame.value(), hsm::Party::hsm); !allowed.ok()) {
        why = make_error(Errc::invalid_encoding,
                         "the HSM broke the protocol: " + allowed.error().message);
        break;
      }
      if (auto handled = dispatch(std::move(frame).value()); !handled.ok()) {
        why = std::move(handled).error();
        break;
      }
    }
    ::shutdown(fd_, SHUT_RDWR);
    {
      const std::lock_guard lock(mu_);
      lost_ = why;
      for (auto& [id, pending] : pending_) {
        if (!pending.done) {
          pending.done = true;
          pending.error = why;
        }
      }
    }
    cv_.notify_all();
    handler_.on_hsm_lost(why);
  }

  Result<void> dispatch(BackendFrame frame) {
    if (frame.kind == FrameKind::response) {
      return complete(std::move(frame));
    }
    // A request from the HSM (it sends no notifications in version 1).
    const auto refuse_bad = [&](const Error& e) {
      return refuse(frame.type, frame.request_id,
                    hsm::Failure{hsm::Status::bad_request, std::nullopt, e.message});
    };
    switch (frame.type) {
      case MessageType::connect_ped: {
        auto request = hsm::ConnectPedRequest::parse(frame.body.reveal());
        if (!request.ok()) {
          return refuse_bad(request.error());
        }
        handler_.on_connect_ped(frame.request_id, std::move(request).value());
        return {};
      }
      case MessageType::disconnect_ped:
        if (!frame.body.empty()) {
          return refuse_bad(make_error(Errc::invalid_encoding, "disconnect_ped has an empty body"));
        }
        handler_.on_disconnect_ped(frame.request_id);
        return {};
      case MessageType::ped_request: {
        auto request = hsm::PedRequest::parse(frame.body.reveal());
        if (!request.ok()) {
          return refuse_bad(request.error());
        }
        handler_.on_ped_request(frame.request_id, std::move(request).value());
        return {};
      }
      case MessageType::audit_records: {
        auto records = hsm::AuditRecords::parse(frame.body.reveal());
        if (!records.ok()) {
          return refuse_bad(records.error());
        }
        handler_.on_audit_records(frame.request_id, std::move(records).value());
        return {};
      }
      default:
        return make_error(
            Errc::invalid_encoding,
            "the HSM sent an unexpected " + std::string(hsm::message_type_name(frame.type)));
    }
  }

  Result<void> complete(BackendFrame frame) {
    const std::lock_guard lock(mu_);
    const auto it = pending_.find(frame.request_id);
    if (it == pending_.end() || it->second.done) {
      // A late answer to a call that timed out: harmless, ignored.
      return {};
    }
    Pending& pending = it->second;
    if (pending.type != frame.type) {
      return make_error(Errc::invalid_encoding,
                        "the HSM answered request " + std::to_string(frame.request_id) +
                            " with a " + std::string(hsm::message_type_name(frame.type)) +
                            " response");
    }
    auto parsed = hsm::parse_response(frame.body.reveal());
    if (!parsed.ok()) {
      pending.error = make_error(Errc::invalid_encoding,
                                 "bad response from the HSM: " + parsed.error().message);
    } else if (parsed->first) {
      pending.error = failure_error(*parsed->first, frame.type);
    } else {
      pending.payload = SecretBytes::copy_of(parsed->second);
    }
    pending.done = true;
    cv_.notify_all();
    return {};
  }

  const int fd_;
  HsmRequestHandler& handler_;
  const SocketHsmBackendOptions options_;
  std::mutex write_mu_;
  std::mutex mu_;  // pending_, last_id_, lost_
  std::condition_variable cv_;
  std::map<std::uint32_t, Pending> pending_;
  std::uint32_t last_id_ = 0;
  std::optional<Error> lost_;
  std::thread reader_;
};

}  // namespace

Result<std::unique_ptr<HsmBackend>> make_socket_hsm_backend(const std::filesystem::path& socket,
                                                            HsmRequestHandler& handler,
                                                            SocketHsmBackendOptions options) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return make_error(Errc::invalid_argument, "HSM socket path '" + path + "' must be 1 to " +
                                                  std::to_string(sizeof address.sun_path - 1) +
                                                  " bytes");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return system_error("socket", errno);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    return make_error(Errc::internal,
                      "cannot reach the HSM at " + path + ": " + std::strerror(error));
  }
  const auto ms = options.write_timeout.count();
  timeval write_timeout{static_cast<time_t>(ms / 1000),
                        static_cast<suseconds_t>((ms % 1000) * 1000)};
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &write_timeout, sizeof write_timeout) != 0) {
    const int error = errno;
    ::close(fd);
    return system_error("setting the write timeout", error);
  }
  return std::unique_ptr<HsmBackend>(new SocketHsmBackend(fd, handler, options));
}

}  // namespace rped::pedclient
