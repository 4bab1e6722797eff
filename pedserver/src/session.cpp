#include "session.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <deque>
#include <exception>
#include <type_traits>
#include <variant>

#include "../../service/src/frame_tracker.h"
#include "ped_connection.h"
#include "rped/ped/remote_ops.h"
#include "rped/service/channel_connection.h"
#include "rped/usb/link_error.h"

namespace rped::pedserver {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using channel::AlertCode;
using Clock = SteadyClock;

constexpr std::size_t kReadChunkBytes = 16 * 1024;
constexpr std::size_t kPingPayloadBytes = 8;

// A Bytes buffer that may hold a CSP in clear is wiped when it goes out of scope.
class WipeOnExit final {
 public:
  explicit WipeOnExit(Bytes& bytes) : bytes_(bytes) {}
  ~WipeOnExit() { secure_wipe(bytes_.data(), bytes_.size()); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  Bytes& bytes_;
};

SecretBytes into_secret(Bytes bytes) {
  SecretBytes secret = SecretBytes::copy_of(bytes);
  secure_wipe(bytes.data(), bytes.size());
  return secret;
}

using service::seconds_text;

TcpSocket& lowest_layer(TcpSocket& socket) {
  return socket;
}
TcpSocket& lowest_layer(TlsStream& stream) {
  return stream.next_layer();
}

// The PED's status for a failed PED link call, so the HSM side gets an answer
// in the device protocol's own terms.
ped::Status status_for_link_error(const Error& error) {
  const std::optional<usb::LinkFailure> failure = usb::link_failure_of(error);
  if (failure == usb::LinkFailure::timeout) {
    return ped::Status::timeout;
  }
  if (failure == usb::LinkFailure::busy) {
    return ped::Status::busy;
  }
  return ped::Status::internal;
}

// How long pedserver waits for the PED's answer to a relayed command: the
// command's own timeout_ms (what the custodian is given) plus a margin.
std::chrono::milliseconds relay_timeout(const ped::DeviceFrame& command) {
  std::optional<std::uint32_t> timeout_ms;
  switch (command.op) {
    case ped::Op::read_secret:
      if (auto r = ped::ReadSecretRequest::parse(command.body); r.ok()) {
        timeout_ms = r->timeout_ms;
      }
      break;
    case ped::Op::create_keyset:
      if (auto r = ped::CreateKeysetRequest::parse(command.body); r.ok()) {
        timeout_ms = r->timeout_ms;
      }
      break;
    case ped::Op::create_rpk_keyset:
      if (auto r = ped::CreateRpkKeysetRequest::parse(command.body); r.ok()) {
        timeout_ms = r->timeout_ms;
      }
      break;
    default:
      break;
  }
  if (!timeout_ms) {
    return kQuickPedOperationTimeout;
  }
  return std::chrono::milliseconds(*timeout_ms) + kPedAnswerMargin;
}

std::string_view answer_status_name(ByteView response_body) {
  const auto parsed = ped::parse_response(response_body);
  return parsed.ok() ? ped::status_name(parsed->first.status) : std::string_view("malformed");
}

template <class Stream>
class Session final : public SessionHandle, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, channel::Endpoint endpoint, SessionIdentity identity,
          SessionSettings settings, SessionServices services)
      : stream_(std::move(stream)),
        strand_(stream_.get_executor()),
        endpoint_(std::move(endpoint)),
        identity_(std::move(identity)),
        settings_(settings),
        services_(std::move(services)),
        log_(services_.log),
        writer_wake_(strand_),
        drained_(strand_),
        watchdog_timer_(strand_) {}

  std::uint64_t id() const noexcept override { return identity_.id; }

  void start() override {
    auto self = this->shared_from_this();
    asio::post(strand_, [self] { self->begin(); });
  }

  void shutdown(AlertCode code, std::string reason) override {
    auto self = this->shared_from_this();
    asio::post(strand_, [self, code, reason = std::move(reason)] {
      if (!self->closing_) {
        self->close_with(code, reason);
      }
    });
  }

  void force_close(std::string reason) override {
    auto self = this->shared_from_this();
    asio::post(strand_, [self, reason = std::move(reason)] { self->transport_lost(reason); });
  }

  ClientStatus describe() const override {
    ClientStatus status;
    status.session_id = identity_.id;
    status.peer = identity_.peer;
    status.via = identity_.via;
    status.hsm_serial = hsm_serial_;
    status.scheme = scheme_;
    status.connected_at = connected_at_;
    status.last_activity = last_data_;
    status.operations = operations_;
    if (closing_) {
      status.state = "closing";
    } else {
      switch (endpoint_.state()) {
        case channel::State::established:
          status.state = "established";
          break;
        case channel::State::ped_await_rpk:
        case channel::State::ped_await_device:
          status.state = "handshake: waiting for the custodian at the PED";
          break;
        default:
          status.state = "handshake";
          break;
      }
    }
    return status;
  }

 private:
  enum class Deadline : std::uint8_t {
    handshake,
    frame_stalled,
    write_stalled,
    idle,
    ping_due,
    pong_missing
  };
  struct Due {
    Clock::time_point at;
    Deadline what;
  };

  // --- start and the three loops ------------------------------------------

  void begin() {
    connected_at_ = last_data_ = last_progress_ = last_ping_ = Clock::now();
    phase_deadline_ = connected_at_ + settings_.handshake_deadline;
    previous_state_ = endpoint_.state();
    std::weak_ptr<Session> weak = this->weak_from_this();
    services_.ped.set_listener([weak](PedEvent event, const std::string& detail) {
      if (auto self = weak.lock()) {
        asio::post(self->strand_, [self, event, detail] { self->on_ped_event(event, detail); });
      }
    });
    log_->info("session {} {}: connected ({}); waiting for the HSM's hello", identity_.id,
               identity_.peer, identity_.via);
    spawn(read_loop());
    spawn(write_loop());
    spawn(watchdog());
  }

  template <typename Awaitable>
  void spawn(Awaitable coroutine) {
    auto self = this->shared_from_this();
    asio::co_spawn(strand_, std::move(coroutine), [self](std::exception_ptr failure) {
      if (!failure) {
        return;
      }
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        self->log_->error("session {}: internal error: {}", self->identity_.id, e.what());
      }
      self->transport_lost("internal error");
    });
  }

  awaitable<void> read_loop() {
    auto self = this->shared_from_this();
    std::array<std::uint8_t, kReadChunkBytes> buffer{};
    while (!closing_) {
      boost::system::error_code error;
      // Backpressure: an HSM that sends but does not read (pings, say) is not
      // read from until the writer has caught up.
      while (queued_bytes_ >= kWriteQueueHighWater && !closing_) {
        drained_.expires_at(Clock::time_point::max());
        co_await drained_.async_wait(asio::redirect_error(use_awaitable, error));
      }
      if (closing_) {
        break;
      }
      const std::size_t n = co_await stream_.async_read_some(
          asio::buffer(buffer), asio::redirect_error(use_awaitable, error));
      if (error || n == 0) {
        if (!closing_) {
          transport_lost(error == asio::error::eof ? "the HSM side closed the connection"
                                                   : "connection failed: " + error.message());
        }
        break;
      }
      const ByteView bytes(buffer.data(), n);
      last_progress_ = Clock::now();
      tracker_.feed(bytes);
      handle(endpoint_.receive(bytes));
      secure_wipe(buffer.data(), n);
    }
    reader_done_ = true;
    poke();
  }

  awaitable<void> write_loop() {
    auto self = this->shared_from_this();
    for (;;) {
      boost::system::error_code error;
      if (!queue_.empty() && !transport_closed_) {
        Bytes chunk;
        while (!queue_.empty()) {
          chunk.insert(chunk.end(), queue_.front().begin(), queue_.front().end());
          queue_.pop_front();
        }
        write_started_ = Clock::now();
        poke();
        co_await asio::async_write(stream_, asio::buffer(chunk),
                                   asio::redirect_error(use_awaitable, error));
        write_started_.reset();
        queued_bytes_ = queued_bytes_ > chunk.size() ? queued_bytes_ - chunk.size() : 0;
        drained_.cancel();
        if (error) {
          if (!closing_) {
            transport_lost("cannot send to the HSM side: " + error.message());
          }
          break;
        }
        continue;
      }
      if (closing_ || transport_closed_) {
        break;
      }
      writer_wake_.expires_at(Clock::time_point::max());
      co_await writer_wake_.async_wait(asio::redirect_error(use_awaitable, error));
    }
    close_transport();
    writer_done_ = true;
    poke();
  }

  awaitable<void> watchdog() {
    auto self = this->shared_from_this();
    while (!(reader_done_ && writer_done_)) {
      const std::optional<Due> due = next_due();
      watchdog_timer_.expires_at(due ? due->at : Clock::time_point::max());
      boost::system::error_code error;
      co_await watchdog_timer_.async_wait(asio::redirect_error(use_awaitable, error));
      if (reader_done_ && writer_done_) {
        break;
      }
      // Re-evaluate: the state may have moved on while the timer ran.
      const std::optional<Due> now_due = next_due();
      if (now_due && Clock::now() >= now_due->at) {
        expire(now_due->what);
      }
    }
    finish();
  }

  void poke() { watchdog_timer_.cancel(); }

  std::optional<Due> next_due() const {
    std::optional<Due> best;
    const auto consider = [&best](Clock::time_point at, Deadline what) {
      if (!best || at < best->at) {
        best = Due{at, what};
      }
    };
    if (write_started_) {
      consider(*write_started_ + settings_.socket_write, Deadline::write_stalled);
    }
    if (closing_ || transport_closed_) {
      return best;
    }
    const channel::State state = endpoint_.state();
    if (state == channel::State::ped_await_hello || state == channel::State::ped_await_confirm) {
      consider(phase_deadline_, Deadline::handshake);
    }
    if (tracker_.mid_frame()) {
      consider(last_progress_ + settings_.socket_read, Deadline::frame_stalled);
    }
    if (state == channel::State::established) {
      if (ped_operations_in_flight_ == 0) {
        consider(last_data_ + settings_.idle, Deadline::idle);
      }
      if (ping_outstanding_) {
        consider(ping_sent_ + settings_.ping_timeout, Deadline::pong_missing);
      } else {
        consider(last_ping_ + settings_.ping_interval, Deadline::ping_due);
      }
    }
    return best;
  }

  void expire(Deadline what) {
    switch (what) {
      case Deadline::handshake:
        close_with(AlertCode::timeout, endpoint_.state() == channel::State::ped_await_hello
                                           ? "the HSM did not send its hello within " +
                                                 seconds_text(settings_.handshake_deadline) +
                                                 " of connecting (pre-authentication deadline)"
                                           : "the HSM did not confirm the keys within " +
                                                 seconds_text(settings_.handshake_deadline) +
                                                 " (pre-authentication deadline)");
        return;
      case Deadline::frame_stalled:
        close_with(AlertCode::timeout, "a frame from the HSM side stalled for " +
                                           seconds_text(settings_.socket_read) +
                                           " (-socketreadtimeout)");
        return;
      case Deadline::write_stalled:
        transport_lost("a write to the HSM side made no progress for " +
                       seconds_text(settings_.socket_write) + " (-socketwritetimeout)");
        return;
      case Deadline::idle:
        close_with(AlertCode::timeout,
                   "no PED operation for " + seconds_text(settings_.idle) + " (-idletimeout)");
        return;
      case Deadline::ping_due:
        send_ping();
        return;
      case Deadline::pong_missing:
        close_with(AlertCode::timeout, "no answer to a ping within " +
                                           seconds_text(settings_.ping_timeout) +
                                           " (-pingtimeout)");
        return;
      default:
        close_with(AlertCode::internal_error, "unknown deadline");
        return;
    }
  }

  void send_ping() {
    ++ping_counter_;
    Bytes payload;
    append_u64_be(payload, ping_counter_);
    auto out = endpoint_.ping(payload);
    if (!out.ok()) {
      close_with(AlertCode::internal_error, "cannot send a ping: " + out.error().message);
      return;
    }
    ping_outstanding_ = true;
    ping_sent_ = Clock::now();
    expected_pong_ = std::move(payload);
    log_->trace("session {}: ping {}", identity_.id, ping_counter_);
    handle(std::move(out).value());
  }

  // --- endpoint output and events -------------------------------------------

  void enqueue(Bytes bytes) {
    if (bytes.empty() || transport_closed_) {
      return;
    }
    queued_bytes_ += bytes.size();
    queue_.push_back(std::move(bytes));
    writer_wake_.cancel();
  }

  void handle(channel::Output out) {
    enqueue(std::move(out.send));
    for (channel::Event& event : out.events) {
      std::visit([this](auto& e) { on_event(e); }, event);
    }
    const channel::State state = endpoint_.state();
    if (state != previous_state_) {
      if (state == channel::State::ped_await_confirm) {
        phase_deadline_ = Clock::now() + settings_.handshake_deadline;  // the second network phase
      }
      previous_state_ = state;
    }
    poke();
  }

  void on_event(channel::KeyRequestEvent& event) {
    spawn(answer_key_request(std::move(event.request)));
  }
  void on_event(channel::RpkRequestEvent& event) { spawn(answer_rpk_request(event.hsm_serial)); }
  void on_event(channel::DataEvent& event) {
    last_data_ = Clock::now();
    spawn(relay(std::move(event.payload)));
  }
  void on_event(channel::PongEvent& event) {
    if (ping_outstanding_ && event.payload == expected_pong_) {
      ping_outstanding_ = false;
      last_ping_ = Clock::now();
      log_->trace("session {}: pong {}", identity_.id, ping_counter_);
    }
  }
  void on_event(channel::EstablishedEvent& event) {
    hsm_serial_ = event.hsm_serial;
    scheme_ = std::string(channel::scheme_name(event.scheme));
    last_data_ = last_ping_ = Clock::now();
    log_->info("session {} {}: channel established with HSM {} ({}{}); {}", identity_.id,
               identity_.peer, event.hsm_serial, scheme_,
               event.scheme == channel::Scheme::full_unified
                   ? ", RPK " + std::to_string(event.rpk_serial)
                   : "",
               event.peer_certificate_subject);
    spawn(announce_remote_session(event.hsm_serial));
  }
  void on_event(channel::ClosedEvent& event) {
    closing_ = true;
    end_reason_ = std::string(channel::alert_name(event.code));
    if (event.by_peer) {
      log_->info("session {} {}: the HSM side ended the session: {} ({})", identity_.id,
                 identity_.peer, channel::alert_name(event.code), event.detail);
    } else if (event.code == AlertCode::close_notify) {
      log_->info("session {} {}: closing: {}", identity_.id, identity_.peer, event.detail);
    } else {
      log_->warn("session {} {}: ending the session with {}: {}", identity_.id, identity_.peer,
                 channel::alert_name(event.code), event.detail);
    }
    writer_wake_.cancel();
    drained_.cancel();
  }

  void close_with(AlertCode code, const std::string& detail) {
    if (closing_) {
      return;
    }
    handle(endpoint_.close(code, detail));
  }

  // The connection is gone (or must go now): nothing more can be sent.
  void transport_lost(const std::string& why) {
    if (!closing_) {
      closing_ = true;
      end_reason_ = why;
      log_->warn("session {} {}: connection closed: {}", identity_.id, identity_.peer, why);
      // Wipes the keys; what it would send has nowhere to go.
      (void)endpoint_.close(AlertCode::internal_error, why);
    }
    queue_.clear();
    queued_bytes_ = 0;
    close_transport();
  }

  void close_transport() {
    if (transport_closed_) {
      return;
    }
    transport_closed_ = true;
    boost::system::error_code ignored;
    lowest_layer(stream_).shutdown(asio::socket_base::shutdown_both, ignored);
    lowest_layer(stream_).close(ignored);
    writer_wake_.cancel();
    drained_.cancel();
    poke();
  }

  void on_ped_event(PedEvent event, const std::string& detail) {
    if (closing_) {
      return;
    }
    if (event == PedEvent::remote_mode_exited) {
      close_with(AlertCode::remote_mode_exited, detail);
    } else {
      close_with(AlertCode::ped_unplugged, "the PED went away: " + detail);
    }
  }

  void finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    services_.ped.set_listener(nullptr);
    if (ped_operations_in_flight_ > 0) {
      log_->info("session {}: cancelling the PED operation still running", identity_.id);
      services_.ped.notify(ped::Op::cancel, {});
    }
    if (remote_session_announced_) {
      services_.ped.notify(ped::Op::set_remote_session,
                           ped::SetRemoteSessionRequest{false, {}}.serialize());
    }
    const auto duration = Clock::now() - connected_at_;
    log_->info("session {} {}: ended after {} s ({}); keys wiped: {}", identity_.id, identity_.peer,
               whole_seconds(duration), end_reason_.empty() ? "closed" : end_reason_,
               endpoint_.holds_key_material() ? "NO" : "yes");
    services_.status.finished_connection_time += duration;
    if (services_.on_finished) {
      services_.on_finished(identity_.id);
    }
  }

  // --- the PED's part ---------------------------------------------------------

  awaitable<PedCallResult> ped_call(ped::Op op, SecretBytes body,
                                    std::chrono::milliseconds timeout) {
    ++ped_operations_in_flight_;
    poke();
    PedCallResult result =
        co_await async_ped_call(services_.ped, op, std::move(body), timeout, use_awaitable);
    --ped_operations_in_flight_;
    last_data_ = Clock::now();  // the idle clock restarts when the PED has answered
    poke();
    co_return result;
  }

  // Tells the PED whom it serves ("HSM 1234567" on its display), once the
  // HSM's certificate chain has been verified.
  awaitable<void> announce_remote_session(std::uint64_t hsm_serial) {
    auto self = this->shared_from_this();
    if (announced_serial_ == hsm_serial || closing_) {
      co_return;
    }
    announced_serial_ = hsm_serial;
    const ped::SetRemoteSessionRequest request{true, "HSM " + std::to_string(hsm_serial)};
    const PedCallResult answer = co_await ped_call(
        ped::Op::set_remote_session, into_secret(request.serialize()), kQuickPedOperationTimeout);
    const auto ok = ok_payload(ped::Op::set_remote_session, answer);
    if (ok.ok()) {
      remote_session_announced_ = true;
    } else {
      log_->warn("session {}: could not tell the PED which HSM it serves: {}", identity_.id,
                 ok.error().message);
    }
  }

  awaitable<void> answer_rpk_request(std::uint64_t hsm_serial) {
    auto self = this->shared_from_this();
    hsm_serial_ = hsm_serial;
    log_->info(
        "session {} {}: HSM {} proved its certificate chain and chose Full Unified; reading the "
        "RPK "
        "from the orange key (the custodian inserts it)",
        identity_.id, identity_.peer, hsm_serial);
    co_await announce_remote_session(hsm_serial);
    if (closing_) {
      co_return;
    }
    ped::ReadRpkInfoRequest request;
    request.timeout_ms = static_cast<std::uint32_t>(settings_.key_operation_timeout.count());
    const PedCallResult answer =
        co_await ped_call(ped::Op::read_rpk_info, into_secret(request.serialize()),
                          settings_.key_operation_timeout + kPedAnswerMargin);
    if (closing_) {
      co_return;
    }
    Result<channel::RpkInfo> rpk = rpk_info_of(answer, hsm_serial);
    if (rpk.ok()) {
      services_.status.rpk_serials.insert(rpk->serial);
      log_->info("session {}: orange key read: RPK {} for HSM {}", identity_.id, rpk->serial,
                 hsm_serial);
    } else {
      log_->warn("session {}: reading the orange key failed: {}", identity_.id,
                 rpk.error().message);
    }
    handle(endpoint_.complete_rpk_request(std::move(rpk)));
  }

  static Result<channel::RpkInfo> rpk_info_of(const PedCallResult& answer,
                                              std::uint64_t hsm_serial) {
    RPED_TRY_ASSIGN(const SecretBytes payload, ok_payload(ped::Op::read_rpk_info, answer));
    RPED_TRY_ASSIGN(const ped::ReadRpkInfoResponse info,
                    ped::ReadRpkInfoResponse::parse(payload.reveal()));
    if (info.hsm_serial != 0 && info.hsm_serial != hsm_serial) {
      return make_error(Errc::invalid_argument, "the orange key holds the RPK of HSM " +
                                                    std::to_string(info.hsm_serial) +
                                                    ", not of HSM " + std::to_string(hsm_serial));
    }
    RPED_TRY_ASSIGN(crypto::Certificate certificate,
                    crypto::Certificate::from_der(info.rpk_certificate));
    return channel::RpkInfo{std::move(certificate), info.rpk_serial};
  }

  awaitable<void> answer_key_request(channel::KeyDerivationRequest request) {
    auto self = this->shared_from_this();
    const std::uint64_t hsm_serial = request.transcript.hsm_serial;
    const channel::Scheme scheme = request.transcript.scheme;
    hsm_serial_ = hsm_serial;
    log_->info("session {} {}: key derivation on the PED for HSM {} ({}): {}", identity_.id,
               identity_.peer, hsm_serial, channel::scheme_name(scheme),
               scheme == channel::Scheme::full_unified
                   ? "the custodian presents the orange keys and their PINs"
                   : "the custodian types the one-time password");
    co_await announce_remote_session(hsm_serial);
    if (closing_) {
      co_return;
    }
    ped::DeriveSessionKeysRequest derive;
    derive.request = std::move(request);
    derive.timeout_ms = static_cast<std::uint32_t>(settings_.key_operation_timeout.count());
    const PedCallResult answer =
        co_await ped_call(ped::Op::derive_session_keys, into_secret(derive.serialize()),
                          settings_.key_operation_timeout + kPedAnswerMargin);
    if (closing_) {
      co_return;
    }
    Result<SecretBytes> dkm = dkm_of(answer);
    if (!dkm.ok()) {
      log_->warn("session {}: key derivation on the PED failed: {}", identity_.id,
                 dkm.error().message);
    }
    handle(endpoint_.complete_key_request(std::move(dkm)));
  }

  static Result<SecretBytes> dkm_of(const PedCallResult& answer) {
    RPED_TRY_ASSIGN(const SecretBytes payload, ok_payload(ped::Op::derive_session_keys, answer));
    RPED_TRY_ASSIGN(ped::DeriveSessionKeysResponse response,
                    ped::DeriveSessionKeysResponse::parse(payload.reveal()));
    return std::move(response.dkm);
  }

  // docs/protocol.md §10: one PED command per data record, CSPs wrapped.
  awaitable<void> relay(Bytes payload) {
    auto self = this->shared_from_this();
    const WipeOnExit wipe_payload(payload);
    auto frame = ped::DeviceFrame::parse(payload);
    if (!frame.ok() || frame->kind != ped::FrameKind::command) {
      close_with(AlertCode::decode_error, "the HSM side sent a record that is not a PED command");
      co_return;
    }
    const ped::Op op = frame->op;
    const std::uint32_t request_id = frame->request_id;
    secure_wipe(frame->body.data(), frame->body.size());
    ++operations_;
    if (!ped::allowed_over_channel(op)) {
      log_->warn("session {}: refused {} from the HSM side: pedserver runs it itself", identity_.id,
                 ped::op_name(op));
      send_response(
          op, request_id,
          ped::error_response(ped::Status::bad_request,
                              std::string(ped::op_name(op)) + " is not allowed over the channel"));
      co_return;
    }
    auto command = ped::from_channel_form(
        payload, [this](ByteView wrapped) { return endpoint_.unwrap_csp(wrapped); });
    if (!command.ok()) {
      if (command.error().code == Errc::unwrap_failed) {
        close_with(AlertCode::device_failure, "a CSP from the HSM side does not unwrap");
      } else {
        send_response(op, request_id,
                      ped::error_response(ped::Status::bad_request, "the command does not parse"));
      }
      co_return;
    }
    const WipeOnExit wipe_command(command->body);
    const std::chrono::milliseconds timeout = relay_timeout(command.value());
    log_->info("session {}: HSM {} asks for {} (request {})", identity_.id, hsm_serial_.value_or(0),
               ped::op_name(op), request_id);
    const Clock::time_point started = Clock::now();
    const PedCallResult answer =
        co_await ped_call(op, SecretBytes::copy_of(command->body), timeout);
    if (closing_) {
      co_return;
    }
    if (!answer.ok() && usb::is_unplugged(answer.error())) {
      // The session ends with the matching alert rather than an answer.
      close_with(AlertCode::ped_unplugged, "the PED went away: " + answer.error().message);
      co_return;
    }
    Bytes response_body;
    if (answer.ok()) {
      const ByteView body = answer->reveal();
      response_body.assign(body.begin(), body.end());
    } else {
      response_body =
          ped::error_response(status_for_link_error(answer.error()), "the PED did not answer");
      log_->warn("session {}: {}: {}", identity_.id, ped::op_name(op), answer.error().message);
    }
    const WipeOnExit wipe_response(response_body);
    log_->info(
        "session {}: {} (request {}) answered {} after {} ms", identity_.id, ped::op_name(op),
        request_id, answer_status_name(response_body),
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
    send_response(op, request_id, response_body);
  }

  void send_response(ped::Op op, std::uint32_t request_id, const Bytes& body) {
    if (closing_ || endpoint_.state() != channel::State::established) {
      return;
    }
    ped::DeviceFrame response{ped::FrameKind::response, op, request_id, body};
    const WipeOnExit wipe_response(response.body);
    auto channel_form =
        ped::to_channel_form(response, [this](ByteView csp) { return endpoint_.wrap_csp(csp); });
    if (!channel_form.ok()) {
      close_with(AlertCode::internal_error,
                 "cannot put the PED's answer in channel form: " + channel_form.error().message);
      return;
    }
    auto out = endpoint_.send(channel_form.value());
    if (!out.ok()) {
      close_with(AlertCode::internal_error, "cannot send the PED's answer: " + out.error().message);
      return;
    }
    last_data_ = Clock::now();
    handle(std::move(out).value());
  }

  Stream stream_;
  typename Stream::executor_type strand_;
  channel::Endpoint endpoint_;
  const SessionIdentity identity_;
  const SessionSettings settings_;
  SessionServices services_;
  std::shared_ptr<spdlog::logger> log_;

  asio::steady_timer writer_wake_;     // an event: cancelled when there is something to write
  asio::steady_timer drained_;         // an event: cancelled when the write queue shrank
  asio::steady_timer watchdog_timer_;  // sleeps until the nearest deadline; cancelled to recompute
  std::deque<Bytes> queue_;
  std::size_t queued_bytes_ = 0;
  service::FrameTracker tracker_;

  Clock::time_point connected_at_{};
  Clock::time_point last_progress_{};  // bytes last arrived
  Clock::time_point last_data_{};      // a PED operation last came or went
  Clock::time_point phase_deadline_{};
  std::optional<Clock::time_point> write_started_;
  channel::State previous_state_ = channel::State::ped_await_hello;

  bool ping_outstanding_ = false;
  Clock::time_point ping_sent_{};
  Clock::time_point last_ping_{};
  std::uint64_t ping_counter_ = 0;
  Bytes expected_pong_;

  unsigned ped_operations_in_flight_ = 0;
  std::optional<std::uint64_t> announced_serial_;
  bool remote_session_announced_ = false;
  std::optional<std::uint64_t> hsm_serial_;
  std::string scheme_;
  std::uint64_t operations_ = 0;

  bool closing_ = false;
  bool transport_closed_ = false;
  bool reader_done_ = false;
  bool writer_done_ = false;
  bool finished_ = false;
  std::string end_reason_;
};

}  // namespace

std::shared_ptr<SessionHandle> make_session(TcpSocket socket, channel::Endpoint endpoint,
                                            SessionIdentity identity, SessionSettings settings,
                                            SessionServices services) {
  return std::make_shared<Session<TcpSocket>>(std::move(socket), std::move(endpoint),
                                              std::move(identity), settings, std::move(services));
}

std::shared_ptr<SessionHandle> make_session(TlsStream stream, channel::Endpoint endpoint,
                                            SessionIdentity identity, SessionSettings settings,
                                            SessionServices services) {
  return std::make_shared<Session<TlsStream>>(std::move(stream), std::move(endpoint),
                                              std::move(identity), settings, std::move(services));
}

}  // namespace rped::pedserver
