#include "remote_ped.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>

#include "rped/ped/device_protocol.h"
#include "rped/ped/remote_ops.h"
#include "rped/service/net.h"

namespace rped::pedclient {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Backend texts are at most hsm::kMaxTextBytes; cut at a UTF-8 boundary.
std::string backend_text(std::string text) {
  if (text.size() <= hsm::kMaxTextBytes) {
    return text;
  }
  std::size_t end = hsm::kMaxTextBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) {
    --end;
  }
  text.resize(end);
  return text;
}

hsm::Failure failure(hsm::Status status, std::optional<channel::AlertCode> alert,
                     std::string message) {
  return hsm::Failure{status, alert, backend_text(std::move(message))};
}

// What the HSM is told when the connection ended under a request: the Alert
// that ended it (the PED unplugged, the custodian left Remote PED mode, the
// idle timeout ...), or internal_error when the transport broke without one.
hsm::Failure lost(const service::ChannelEnd& end) {
  return failure(hsm::Status::connection_lost,
                 end.transport_lost ? channel::AlertCode::internal_error : end.code,
                 "the Remote PED connection ended: " + end.reason);
}

}  // namespace

struct RemotePed::Pending {
  std::uint32_t backend_request_id = 0;
  ped::Op op = ped::Op::identify;
  asio::steady_timer timer;
  Clock::time_point started;
  explicit Pending(const service::Strand& strand) : timer(strand) {}
};

RemotePed::RemotePed(LinkTarget target, LinkServices services, LinkHooks hooks)
    : target_(std::move(target)),
      services_(std::move(services)),
      hooks_(std::move(hooks)),
      strand_(asio::make_strand(services_.io)),
      started_at_(Clock::now()) {}

void RemotePed::start(HsmIdentity identity) {
  auto self = shared_from_this();
  service::spawn_logged(strand_, dial(std::move(identity)), services_.log,
                        "link " + std::to_string(services_.id), [self] {
                          self->fail_connect(failure(hsm::Status::internal, std::nullopt,
                                                     "internal error while connecting"));
                        });
}

asio::awaitable<void> RemotePed::dial(HsmIdentity identity) {
  auto self = shared_from_this();
  const Clock::time_point deadline = started_at_ + target_.timeout;
  service::TcpSocket socket(strand_);
  const Result<void> dialled =
      co_await service::dial(socket, target_.host, target_.port, "the PED server",
                             std::min(deadline, Clock::now() + services_.timeouts.socket_write));
  if (!dialled.ok()) {
    fail_connect(failure(hsm::Status::connect_failed, std::nullopt, dialled.error().message));
    co_return;
  }
  boost::system::error_code error;
  const std::string peer = service::endpoint_text(socket.remote_endpoint(error));

  const std::uint64_t serial = identity.serial;
  auto endpoint = hsm_endpoint(identity);
  if (!endpoint.ok()) {
    fail_connect(failure(hsm::Status::internal, std::nullopt,
                         "cannot start the channel: " + endpoint.error().message));
    co_return;
  }
  const service::ChannelTimeouts timeouts = handshake_timeouts();
  services_.log->info("link {} {}: connected ({}); handshake {} for HSM {}", services_.id, peer,
                      target_.origin, channel::scheme_name(target_.scheme), serial);
  connection_ =
      service::make_channel_connection(std::move(socket), std::move(endpoint).value(),
                                       service::ChannelLabel{services_.id, peer, "the PED server"},
                                       timeouts, services_.log, shared_from_this());
  connection_->start();
}

Result<channel::Endpoint> RemotePed::hsm_endpoint(HsmIdentity& identity) {
  channel::HsmEndpointConfig config;
  config.scheme = target_.scheme;
  config.hsm_serial = identity.serial;
  // docs/attestation.md §6: sent in HsmHello, for the custodian's PED, before any key is read.
  const auto printable = [](const std::string& text) {
    return to_printable_ascii(text.substr(0, channel::kMaxIdentityTextBytes));
  };
  config.identity = channel::HsmIdentity{printable(identity.label), printable(identity.model),
                                         printable(identity.firmware_version), {}};
  // HsmHello is one frame: a PKC that would not fit beside the chain is left
  // out (the PED side then shows "no PKC offered") rather than failing the link.
  std::size_t hello_bytes = 512 + 3 * channel::kMaxIdentityTextBytes;
  for (const crypto::Certificate& cert : identity.certificate_chain) {
    hello_bytes += cert.der().size() + 2;
  }
  if (identity.static_key_pkc.size() <= channel::kMaxIdentityPkcBytes &&
      hello_bytes + identity.static_key_pkc.size() <= channel::kMaxFrameBody) {
    config.identity.pkc = std::move(identity.static_key_pkc);
  } else if (!identity.static_key_pkc.empty()) {
    services_.log->warn("link {}: the HSM's PKC ({} bytes) does not fit in HsmHello; not offered",
                        services_.id, identity.static_key_pkc.size());
  }
  config.certificate_chain = std::move(identity.certificate_chain);
  return channel::Endpoint::hsm(std::move(config));
}

// The handshake, the custodian at the PED included, ends by the target's deadline.
service::ChannelTimeouts RemotePed::handshake_timeouts() const {
  service::ChannelTimeouts timeouts = services_.timeouts;
  const Clock::time_point deadline = started_at_ + target_.timeout;
  timeouts.handshake =
      std::max(std::chrono::milliseconds(1),
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  return timeouts;
}

void RemotePed::start_accepted(HsmIdentity identity, std::shared_ptr<service::TlsStream> stream) {
  boost::system::error_code error;
  const std::string peer = service::endpoint_text(stream->next_layer().remote_endpoint(error));
  // Only Full Unified: the one-time password of remote RPV initialization is
  // typed for a `ped connect` the operator started, never for a PED server
  // that calls in (docs/pedclient.md §9).
  if (target_.scheme != channel::Scheme::full_unified || !identity.rpv_initialized) {
    stream->next_layer().close(error);
    fail_connect(failure(hsm::Status::not_allowed, std::nullopt,
                         "HSM " + std::to_string(identity.serial) +
                             " has no Remote PED vector: a PED-initiated connection needs Full "
                             "Unified (initialize the RPV with 'ped connect -password' and 'ped "
                             "vector init' first)"));
    return;
  }
  const std::uint64_t serial = identity.serial;
  auto endpoint = hsm_endpoint(identity);
  if (!endpoint.ok()) {
    stream->next_layer().close(error);
    fail_connect(failure(hsm::Status::internal, std::nullopt,
                         "cannot start the channel: " + endpoint.error().message));
    return;
  }
  services_.log->info("link {} {}: PED-initiated ({}); handshake {} for HSM {}", services_.id, peer,
                      target_.origin, channel::scheme_name(target_.scheme), serial);
  connection_ =
      service::make_channel_connection(std::move(*stream), std::move(endpoint).value(),
                                       service::ChannelLabel{services_.id, peer, "the PED server"},
                                       handshake_timeouts(), services_.log, shared_from_this());
  connection_->start();
}

void RemotePed::fail_connect(hsm::Failure why) {
  if (connect_reported_) {
    return;
  }
  connect_reported_ = true;
  services_.log->warn("link {}: connecting to {}:{} failed: {}", services_.id, target_.host,
                      target_.port, why.message);
  if (hooks_.connected) {
    hooks_.connected(why, LinkUp{});
  }
  if (!connection_ && !finished_) {
    // Never got as far as a connection: nothing else will finish this link.
    finished_ = true;
    if (hooks_.finished) {
      hooks_.finished();
    }
  }
}

void RemotePed::on_key_request(service::ChannelConnection& connection,
                               channel::KeyRequestEvent event) {
  // The HSM computes Zs (or Z) with its static key, derives the DKM with the
  // RPV or the one-time password and checks tag_U before it releases anything
  // (docs/hsm-backend.md §4.2). That call blocks: run it on the worker.
  auto self = shared_from_this();
  auto shared_event = std::make_shared<channel::KeyRequestEvent>(std::move(event));
  auto backend = services_.backend;
  services_.log->info("link {}: asking HSM {} to derive the session keys and check the PED's tag",
                      services_.id, shared_event->request.transcript.hsm_serial);
  asio::post(services_.worker, [self, shared_event, backend, strand = connection.strand()] {
    const crypto::Certificate* rpk =
        shared_event->peer_rpk_certificate ? &*shared_event->peer_rpk_certificate : nullptr;
    auto dkm = std::make_shared<Result<SecretBytes>>(
        backend->derive_session_keys(shared_event->request, rpk));
    asio::post(strand, [self, dkm] {
      if (!dkm->ok()) {
        self->services_.log->warn("link {}: the HSM refused the key derivation: {}",
                                  self->services_.id, dkm->error().message);
      }
      if (self->connection_) {
        self->connection_->complete_key_request(std::move(*dkm));
      }
    });
  });
}

void RemotePed::on_established(service::ChannelConnection& connection,
                               const channel::EstablishedEvent& event) {
  up_ = LinkUp{event.rpk_serial, target_.host + ":" + std::to_string(target_.port),
               event.peer_certificate_subject};
  services_.log->info("link {} {}: Remote PED connection established ({}{}) for HSM {}",
                      services_.id, connection.label().peer, channel::scheme_name(event.scheme),
                      event.scheme == channel::Scheme::full_unified
                          ? ", RPK " + std::to_string(event.rpk_serial)
                          : "",
                      event.hsm_serial);
  connect_reported_ = true;
  if (hooks_.connected) {
    hooks_.connected(std::nullopt, *up_);
  }
}

void RemotePed::ped_request(std::uint32_t backend_request_id, hsm::PedRequest request) {
  const auto refuse = [&](hsm::Failure why) {
    static_cast<void>(
        services_.backend->refuse(hsm::MessageType::ped_request, backend_request_id, why));
  };
  if (!established() || !connection_ || connection_->closing()) {
    refuse(
        failure(hsm::Status::no_ped_connection, std::nullopt, "no Remote PED connection is open"));
    return;
  }
  auto frame = ped::DeviceFrame::parse(request.device_frame.reveal());
  if (!frame.ok() || frame->kind != ped::FrameKind::command) {
    refuse(failure(hsm::Status::bad_request, std::nullopt, "not a PED command frame"));
    return;
  }
  const ped::Op op = frame->op;
  const std::uint32_t ped_request_id = frame->request_id;
  if (!ped::allowed_over_channel(op)) {
    secure_wipe(frame->body.data(), frame->body.size());
    refuse(failure(hsm::Status::bad_request, std::nullopt,
                   std::string(ped::op_name(op)) + " is not carried over the Remote PED channel"));
    return;
  }
  if (pending_.contains(ped_request_id)) {
    secure_wipe(frame->body.data(), frame->body.size());
    refuse(failure(hsm::Status::busy, std::nullopt,
                   "PED request id " + std::to_string(ped_request_id) + " is already running"));
    return;
  }
  // docs/protocol.md §10: CSPs leave the host only wrapped under the CWK.
  const channel::Endpoint& endpoint = connection_->endpoint();
  auto channel_form = ped::to_channel_form(
      frame.value(), [&endpoint](ByteView csp) { return endpoint.wrap_csp(csp); });
  secure_wipe(frame->body.data(), frame->body.size());
  if (!channel_form.ok()) {
    refuse(failure(hsm::Status::bad_request, std::nullopt,
                   "the PED command does not convert: " + channel_form.error().message));
    return;
  }
  if (auto sent = connection_->send(channel_form.value()); !sent.ok()) {
    refuse(failure(hsm::Status::no_ped_connection, std::nullopt,
                   "cannot send the PED command: " + sent.error().message));
    return;
  }
  ++operations_;
  auto pending = std::make_shared<Pending>(strand_);
  pending->backend_request_id = backend_request_id;
  pending->op = op;
  pending->started = Clock::now();
  pending_.emplace(ped_request_id, pending);
  connection_->operation_started();
  services_.log->info("link {}: HSM asks the PED for {} (request {})", services_.id,
                      ped::op_name(op), ped_request_id);
  const auto limit = std::chrono::milliseconds(request.timeout_ms) + kPedAnswerMargin;
  pending->timer.expires_after(limit);
  std::weak_ptr<RemotePed> weak = weak_from_this();
  pending->timer.async_wait([weak, ped_request_id, limit](const boost::system::error_code& error) {
    auto self = weak.lock();
    if (error || !self) {
      return;
    }
    const hsm::Failure why =
        failure(hsm::Status::timeout, std::nullopt,
                "the PED did not answer within " + service::seconds_text(limit));
    self->answer_pending(ped_request_id, make_error(Errc::timeout, why.message), &why);
  });
}

void RemotePed::answer_pending(std::uint32_t ped_request_id, const Result<hsm::PedResponse>& answer,
                               const hsm::Failure* why) {
  const auto it = pending_.find(ped_request_id);
  if (it == pending_.end()) {
    return;
  }
  const std::shared_ptr<Pending> pending = it->second;
  pending_.erase(it);
  pending->timer.cancel();
  if (connection_) {
    connection_->operation_finished();
  }
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - pending->started);
  if (answer.ok()) {
    services_.log->info("link {}: {} (request {}) answered after {} ms", services_.id,
                        ped::op_name(pending->op), ped_request_id, elapsed.count());
    static_cast<void>(
        services_.backend->complete_ped_request(pending->backend_request_id, answer.value()));
    return;
  }
  services_.log->warn("link {}: {} (request {}) failed after {} ms: {}", services_.id,
                      ped::op_name(pending->op), ped_request_id, elapsed.count(),
                      why ? why->message : answer.error().message);
  static_cast<void>(services_.backend->refuse(
      hsm::MessageType::ped_request, pending->backend_request_id,
      why ? *why : failure(hsm::Status::internal, std::nullopt, answer.error().message)));
}

void RemotePed::on_data(service::ChannelConnection& connection, Bytes payload) {
  const channel::Endpoint& endpoint = connection.endpoint();
  auto frame = ped::from_channel_form(
      payload, [&endpoint](ByteView wrapped) { return endpoint.unwrap_csp(wrapped); });
  secure_wipe(payload.data(), payload.size());
  if (!frame.ok() || frame->kind != ped::FrameKind::response) {
    connection.shutdown(channel::AlertCode::decode_error,
                        "the PED server sent a record that is not a PED response");
    return;
  }
  const std::uint32_t ped_request_id = frame->request_id;
  if (!pending_.contains(ped_request_id)) {
    // Late (we stopped waiting) or unsolicited: nobody to give it to.
    services_.log->warn("link {}: ignored a PED answer to request {} nobody waits for",
                        services_.id, ped_request_id);
    secure_wipe(frame->body.data(), frame->body.size());
    return;
  }
  hsm::PedResponse response;
  Bytes device_form = frame->serialize();
  response.device_frame = SecretBytes::copy_of(device_form);
  secure_wipe(device_form.data(), device_form.size());
  secure_wipe(frame->body.data(), frame->body.size());
  answer_pending(ped_request_id, std::move(response), nullptr);
}

void RemotePed::fail_all_pending(const hsm::Failure& why) {
  while (!pending_.empty()) {
    answer_pending(pending_.begin()->first, make_error(Errc::closed, why.message), &why);
  }
}

void RemotePed::on_closing(service::ChannelConnection&, const service::ChannelEnd& end) {
  ending_ = true;
  if (!up_) {
    // The handshake did not complete: say why in the HSM's terms.
    if (end.code == channel::AlertCode::timeout && !end.by_peer) {
      fail_connect(failure(hsm::Status::timeout, channel::AlertCode::timeout,
                           "the connection was not established within " +
                               service::seconds_text(target_.timeout) + ": " + end.reason));
    } else if (end.by_peer && end.code == channel::AlertCode::device_failure) {
      // The Alert carries no text. During the handshake pedserver sends
      // device_failure when the PED could not read the orange key or derive
      // the session keys (docs/protocol.md §3.5 step 4): say that, not just
      // the code, so the operator knows to look at the key and the PED.
      fail_connect(failure(hsm::Status::handshake_failed, end.code,
                           "the PED could not use the orange key presented (not this HSM's "
                           "RPK, a wrong key type, the key removed, or cancelled at the PED; "
                           "the PED server's log has the PED's reason)"));
    } else {
      fail_connect(failure(
          hsm::Status::handshake_failed,
          end.transport_lost ? std::nullopt : std::optional(end.code),
          (end.by_peer ? "the PED server ended the handshake: " : "the handshake failed: ") +
              end.reason));
    }
    return;
  }
  services_.log->info("link {}: the Remote PED connection is ending: {}{}", services_.id,
                      end.transport_lost ? "" : std::string(channel::alert_name(end.code)) + ": ",
                      end.reason);
  fail_all_pending(lost(end));
  if (hooks_.ended) {
    hooks_.ended(end);
  }
}

void RemotePed::on_finished(service::ChannelConnection&, const service::ChannelEnd& end) {
  services_.log->info("link {}: closed after {} s; keys wiped: {}", services_.id,
                      std::chrono::duration_cast<std::chrono::seconds>(end.duration).count(),
                      end.keys_wiped ? "yes" : "NO");
  connection_.reset();
  if (!finished_) {
    finished_ = true;
    if (hooks_.finished) {
      hooks_.finished();
    }
  }
}

void RemotePed::close(std::string reason) {
  if (connection_) {
    connection_->shutdown(channel::AlertCode::close_notify, std::move(reason));
  }
}

void RemotePed::force_close(std::string reason) {
  if (connection_) {
    connection_->force_close(std::move(reason));
  }
}

std::optional<Clock::time_point> RemotePed::last_activity() const {
  if (!connection_) {
    return std::nullopt;
  }
  return connection_->last_activity();
}

std::string RemotePed::state_text() const {
  if (ending_) {
    return "closing";
  }
  if (up_) {
    return "established";
  }
  if (!connection_) {
    return "connecting";
  }
  return connection_->endpoint().state() == channel::State::hsm_await_key_share
             ? "handshake: waiting for the PED (the custodian)"
             : "handshake";
}

}  // namespace rped::pedclient
