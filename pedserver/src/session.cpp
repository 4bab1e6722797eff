#include "session.h"

#include <utility>  // before boost/asio (Boost 1.74 + g++ 12)

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>

#include "ped_connection.h"
#include "rped/attestation/pkc.h"
#include "trust_anchors.h"
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

// How long the PED shows why an HSM was refused.
constexpr std::chrono::milliseconds kRefusalNoticeTime{3'000};

std::string clip(std::string text, std::size_t columns = ped::kLcdColumns) {
  if (text.size() > columns) {
    text.resize(columns);
  }
  return text;
}

std::string_view answer_status_name(ByteView response_body) {
  const auto parsed = ped::parse_response(response_body);
  return parsed.ok() ? ped::status_name(parsed->first.status) : std::string_view("malformed");
}

// One HSM connection's daemon part: a ChannelDelegate of the service's
// ChannelConnection, which owns the transport, the loops and every deadline.
class Session final : public SessionHandle,
                      public service::ChannelDelegate,
                      public std::enable_shared_from_this<Session> {
 public:
  Session(SessionIdentity identity, SessionSettings settings, SessionServices services)
      : identity_(std::move(identity)),
        settings_(settings),
        services_(std::move(services)),
        log_(services_.log) {}

  // Set once by make_session, before start().
  void attach(std::shared_ptr<service::ChannelConnection> connection) {
    connection_ = std::move(connection);
  }

  std::uint64_t id() const noexcept override { return identity_.id; }

  void start() override {
    auto self = shared_from_this();
    asio::post(connection_->strand(), [self] { self->begin(); });
  }

  void shutdown(AlertCode code, std::string reason) override {
    connection_->shutdown(code, std::move(reason));
  }

  void force_close(std::string reason) override { connection_->force_close(std::move(reason)); }

  ClientStatus describe() const override {
    ClientStatus status;
    status.session_id = identity_.id;
    status.peer = identity_.peer;
    status.via = identity_.via;
    status.hsm_serial = hsm_serial_;
    status.scheme = scheme_;
    status.connected_at = connection_->connected_at();
    status.last_activity = connection_->last_activity();
    status.operations = operations_;
    if (connection_->closing()) {
      status.state = "closing";
    } else {
      switch (connection_->endpoint().state()) {
        case channel::State::established:
          status.state = "established";
          break;
        case channel::State::ped_await_identity:
          status.state = "handshake: waiting for the custodian to confirm the HSM";
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

  // --- ChannelDelegate (on the connection's strand) ---------------------------

  void on_key_request(service::ChannelConnection&, channel::KeyRequestEvent event) override {
    spawn(answer_key_request(std::move(event.request)));
  }
  void on_rpk_request(service::ChannelConnection&, std::uint64_t hsm_serial) override {
    spawn(answer_rpk_request(hsm_serial));
  }
  // The channel exists only after the custodian's YES (on_identity), so every
  // PED command that arrives here is from a confirmed HSM.
  void on_data(service::ChannelConnection&, Bytes payload) override {
    spawn(relay(std::move(payload)));
  }
  // docs/attestation.md §6: the HSM's chain is verified; nothing is read from
  // the PED's keys (orange key, password) before its PKC is checked and the
  // custodian has said YES to what the PED shows.
  void on_identity(service::ChannelConnection&, channel::IdentityEvent event) override {
    hsm_serial_ = event.hsm_serial;
    verified_by_ = event.verified_by;
    hsm_certificate_ = event.hsm_certificate;
    hsm_identity_ = std::move(event.identity);
    spawn(confirm_hsm());
  }
  void on_established(service::ChannelConnection&,
                      const channel::EstablishedEvent& event) override {
    hsm_serial_ = event.hsm_serial;
    scheme_ = std::string(channel::scheme_name(event.scheme));
    log_->info("session {} {}: channel established with HSM {} ({}{}); {}", identity_.id,
               identity_.peer, event.hsm_serial, scheme_,
               event.scheme == channel::Scheme::full_unified
                   ? ", RPK " + std::to_string(event.rpk_serial)
                   : "",
               event.peer_certificate_subject);
    // The PED already names this HSM: confirm_hsm() announced it before the YES.
  }
  void on_closing(service::ChannelConnection& connection, const service::ChannelEnd& end) override {
    // docs/attestation.md §6: an HSM whose chain fails is refused in the
    // handshake, before the custodian is asked anything; the PED says so too.
    // Fire and forget: the session ends now, and it never announced itself.
    if (!end.by_peer && !end.transport_lost && !remote_session_announced_ &&
        (end.code == AlertCode::certificate_untrusted || end.code == AlertCode::bad_certificate)) {
      const std::uint64_t serial = connection.endpoint().stated_hsm_serial();
      log_->warn("session {} {}: HSM {} NOT VERIFIED: {}; refusing it", identity_.id,
                 identity_.peer, serial, end.reason);
      services_.ped.notify(ped::Op::confirm_identity, refusal_notice(serial, end.reason).serialize());
    }
    if (end.transport_lost) {
      end_reason_ = end.reason;
      log_->warn("session {} {}: connection closed: {}", identity_.id, identity_.peer, end.reason);
      return;
    }
    end_reason_ = std::string(channel::alert_name(end.code));
    if (end.by_peer) {
      log_->info("session {} {}: the HSM side ended the session: {} ({})", identity_.id,
                 identity_.peer, channel::alert_name(end.code), end.reason);
    } else if (end.code == AlertCode::close_notify) {
      log_->info("session {} {}: closing: {}", identity_.id, identity_.peer, end.reason);
    } else {
      log_->warn("session {} {}: ending the session with {}: {}", identity_.id, identity_.peer,
                 channel::alert_name(end.code), end.reason);
    }
  }
  // The transport is closed: the PED is told the remote session is over and
  // any PED operation still running is cancelled, so the next connection
  // starts clean.
  void on_finished(service::ChannelConnection&, const service::ChannelEnd& end) override {
    services_.ped.set_listener(nullptr);
    if (ped_operations_in_flight_ > 0) {
      log_->info("session {}: cancelling the PED operation still running", identity_.id);
      services_.ped.notify(ped::Op::cancel, {});
    }
    if (remote_session_announced_) {
      services_.ped.notify(ped::Op::set_remote_session,
                           ped::SetRemoteSessionRequest{false, {}}.serialize());
    }
    log_->info("session {} {}: ended after {} s ({}); keys wiped: {}", identity_.id, identity_.peer,
               whole_seconds(end.duration), end_reason_.empty() ? "closed" : end_reason_,
               end.keys_wiped ? "yes" : "NO");
    services_.status.finished_connection_time += end.duration;
    if (services_.on_finished) {
      services_.on_finished(identity_.id);
    }
  }
  std::string handshake_deadline_name() const override { return "pre-authentication deadline"; }

 private:
  void begin() {
    std::weak_ptr<Session> weak = weak_from_this();
    services_.ped.set_listener([weak](PedEvent event, const std::string& detail) {
      if (auto self = weak.lock()) {
        asio::post(self->connection_->strand(),
                   [self, event, detail] { self->on_ped_event(event, detail); });
      }
    });
    log_->info("session {} {}: connected ({}); waiting for the HSM's hello", identity_.id,
               identity_.peer, identity_.via);
    connection_->start();
  }

  template <typename Awaitable>
  void spawn(Awaitable coroutine) {
    auto self = shared_from_this();
    asio::co_spawn(connection_->strand(), std::move(coroutine), [self](std::exception_ptr failure) {
      if (!failure) {
        return;
      }
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        self->log_->error("session {}: internal error: {}", self->identity_.id, e.what());
      }
      self->connection_->force_close("internal error");
    });
  }

  bool closing() const { return connection_->closing(); }

  // Strand-only: at once, so nothing the HSM side sent after the reason is acted on.
  void close_with(AlertCode code, const std::string& detail) { connection_->close(code, detail); }

  void on_ped_event(PedEvent event, const std::string& detail) {
    if (closing()) {
      return;
    }
    if (event == PedEvent::remote_mode_exited) {
      close_with(AlertCode::remote_mode_exited, detail);
    } else {
      close_with(AlertCode::ped_unplugged, "the PED went away: " + detail);
    }
  }

  // --- the PED's part ---------------------------------------------------------

  awaitable<PedCallResult> ped_call(ped::Op op, SecretBytes body,
                                    std::chrono::milliseconds timeout) {
    ++ped_operations_in_flight_;
    connection_->operation_started();
    PedCallResult result =
        co_await async_ped_call(services_.ped, op, std::move(body), timeout, use_awaitable);
    --ped_operations_in_flight_;
    connection_->operation_finished();  // the idle clock restarts when the PED has answered
    co_return result;
  }

  // Tells the PED whom it serves ("HSM 1234567" on its display), once the
  // HSM's certificate chain has been verified.
  awaitable<void> announce_remote_session(std::uint64_t hsm_serial) {
    auto self = shared_from_this();
    if (announced_serial_ == hsm_serial || closing()) {
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

  // docs/attestation.md §6: the PKC (when offered) must verify against the
  // same roots or pin and attest the static key in the verified chain; then
  // the custodian sees serial, label and what verified the HSM, and presses
  // YES before the handshake may read any key. Every refusal is answered
  // through complete_identity(), which ends the handshake with identity_refused.
  awaitable<void> confirm_hsm() {
    auto self = shared_from_this();
    co_await wait_for_ped_notices();
    if (closing()) {
      co_return;
    }
    const std::uint64_t serial = hsm_serial_.value_or(0);
    const std::string label = hsm_identity_.label;
    const std::string pkc_text = hsm_identity_.pkc.empty() ? "no PKC offered" : "PKC verified";
    if (!hsm_identity_.pkc.empty()) {
      const std::string refused = check_pkc(hsm_identity_.pkc, serial);
      if (!refused.empty()) {
        log_->warn("session {} {}: HSM {} \"{}\" NOT VERIFIED: {}; refusing it", identity_.id,
                   identity_.peer, serial, label, refused);
        co_await show_refusal(serial, refused);
        if (!closing()) {
          connection_->complete_identity(make_error(
              Errc::invalid_argument,
              "HSM " + std::to_string(serial) + " refused: its PKC does not verify: " + refused));
        }
        co_return;
      }
    }
    const std::string who = "HSM " + std::to_string(serial) + " \"" + label + "\" / verified: " +
                            verified_by_ + " / " + pkc_text;
    log_->info("session {} {}: {}; asking the custodian to confirm at the PED", identity_.id,
               identity_.peer, who);
    co_await announce_remote_session(serial);
    if (closing()) {
      co_return;
    }
    ped::ConfirmIdentityRequest request;
    request.ask = true;
    request.lines = {clip("HSM " + std::to_string(serial)),
                     clip(label.empty() ? std::string("(no label)") : "\"" + label + "\""),
                     "verified:", clip(verified_by_)};
    if (verified_by_.size() > ped::kLcdColumns) {  // a long root name takes two lines
      request.lines.push_back(clip(verified_by_.substr(ped::kLcdColumns)));
    }
    request.timeout_ms = static_cast<std::uint32_t>(settings_.key_operation_timeout.count());
    const PedCallResult answer =
        co_await ped_call(ped::Op::confirm_identity, into_secret(request.serialize()),
                          settings_.key_operation_timeout + kPedAnswerMargin);
    if (closing()) {
      co_return;
    }
    const auto payload = ok_payload(ped::Op::confirm_identity, answer);
    if (!payload.ok()) {
      // Fail closed: a PED that cannot ask (an older one answers "unknown
      // command"), a timeout, or a cancel is not a YES.
      log_->warn("session {} {}: the custodian did not confirm HSM {}: {}", identity_.id,
                 identity_.peer, serial, payload.error().message);
      connection_->complete_identity(make_error(Errc::invalid_argument,
                                                "HSM " + std::to_string(serial) +
                                                    " was not confirmed at the PED: " +
                                                    payload.error().message));
      co_return;
    }
    const auto confirmed = ped::ConfirmIdentityResponse::parse(payload->reveal());
    if (!confirmed.ok() || !confirmed->confirmed) {
      log_->warn("session {} {}: {}: refused by the custodian", identity_.id, identity_.peer, who);
      connection_->complete_identity(make_error(
          Errc::invalid_argument,
          "HSM " + std::to_string(serial) + " refused by the custodian at the PED"));
      co_return;
    }
    log_->info("session {} {}: HSM {} confirmed by the custodian (YES)", identity_.id,
               identity_.peer, serial);
    connection_->complete_identity({});
  }

  // Empty when the PKC verifies and attests this HSM's static key, else why not.
  std::string check_pkc(const Bytes& pkc, std::uint64_t serial) const {
    if (!hsm_certificate_) {
      return "the HSM's static-key certificate is unknown";
    }
    auto anchors = load_trust_anchors(services_.trust_directory);
    if (!anchors.ok()) {
      return "cannot load the trust anchors: " + anchors.error().message;
    }
    attestation::VerifyOptions options;
    std::vector<crypto::Certificate> roots = anchors->roots;
    if (const auto pin = anchors->pinned_hoc_sha256.find(serial);
        pin != anchors->pinned_hoc_sha256.end()) {
      options.pinned_hoc_sha256 = pin->second;
      if (verified_by_.starts_with("pinned")) {
        roots.clear();  // pinned-fingerprint mode: the root is not held
      }
    }
    return attestation::verify_hsm_static_key_pkc(pkc, *hsm_certificate_, serial, roots, options)
        .reason;
  }

  // A refusal notice an earlier connection left on the PED ends (by its
  // timeout or a key press) before this one asks anything: the PED runs one
  // operation at a time.
  awaitable<void> wait_for_ped_notices() {
    auto self = shared_from_this();
    auto drained = std::make_shared<asio::steady_timer>(connection_->strand());
    drained->expires_at(asio::steady_timer::time_point::max());
    services_.ped.after_pending_notifications(
        kRefusalNoticeTime + kPedAnswerMargin, [drained, strand = connection_->strand()] {
          asio::post(strand, [drained] { drained->cancel(); });
        });
    boost::system::error_code ignored;
    co_await drained->async_wait(asio::redirect_error(use_awaitable, ignored));
  }

  // "HSM 1234567 / NOT VERIFIED / <reason>", shown for a few seconds.
  static ped::ConfirmIdentityRequest refusal_notice(std::uint64_t serial, const std::string& reason) {
    ped::ConfirmIdentityRequest notice;
    notice.ask = false;
    notice.lines = {clip("HSM " + std::to_string(serial)), "NOT VERIFIED", clip(reason),
                    clip(reason.size() > ped::kLcdColumns ? reason.substr(ped::kLcdColumns) : "")};
    notice.timeout_ms = static_cast<std::uint32_t>(kRefusalNoticeTime.count());
    return notice;
  }

  awaitable<void> show_refusal(std::uint64_t serial, const std::string& reason) {
    auto self = shared_from_this();
    co_await ped_call(ped::Op::confirm_identity,
                      into_secret(refusal_notice(serial, reason).serialize()),
                      kRefusalNoticeTime + kPedAnswerMargin);
  }

  awaitable<void> answer_rpk_request(std::uint64_t hsm_serial) {
    auto self = shared_from_this();
    hsm_serial_ = hsm_serial;
    log_->info(
        "session {} {}: HSM {} proved its certificate chain and chose Full Unified; reading the "
        "RPK "
        "from the orange key (the custodian inserts it)",
        identity_.id, identity_.peer, hsm_serial);
    co_await announce_remote_session(hsm_serial);
    if (closing()) {
      co_return;
    }
    ped::ReadRpkInfoRequest request;
    request.timeout_ms = static_cast<std::uint32_t>(settings_.key_operation_timeout.count());
    const PedCallResult answer =
        co_await ped_call(ped::Op::read_rpk_info, into_secret(request.serialize()),
                          settings_.key_operation_timeout + kPedAnswerMargin);
    if (closing()) {
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
    connection_->complete_rpk_request(std::move(rpk));
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
    auto self = shared_from_this();
    const std::uint64_t hsm_serial = request.transcript.hsm_serial;
    const channel::Scheme scheme = request.transcript.scheme;
    hsm_serial_ = hsm_serial;
    log_->info("session {} {}: key derivation on the PED for HSM {} ({}): {}", identity_.id,
               identity_.peer, hsm_serial, channel::scheme_name(scheme),
               scheme == channel::Scheme::full_unified
                   ? "the custodian presents the orange keys and their PINs"
                   : "the custodian types the one-time password");
    co_await announce_remote_session(hsm_serial);
    if (closing()) {
      co_return;
    }
    ped::DeriveSessionKeysRequest derive;
    derive.request = std::move(request);
    derive.timeout_ms = static_cast<std::uint32_t>(settings_.key_operation_timeout.count());
    const PedCallResult answer =
        co_await ped_call(ped::Op::derive_session_keys, into_secret(derive.serialize()),
                          settings_.key_operation_timeout + kPedAnswerMargin);
    if (closing()) {
      co_return;
    }
    Result<SecretBytes> dkm = dkm_of(answer);
    if (!dkm.ok()) {
      log_->warn("session {}: key derivation on the PED failed: {}", identity_.id,
                 dkm.error().message);
    }
    connection_->complete_key_request(std::move(dkm));
  }

  static Result<SecretBytes> dkm_of(const PedCallResult& answer) {
    RPED_TRY_ASSIGN(const SecretBytes payload, ok_payload(ped::Op::derive_session_keys, answer));
    RPED_TRY_ASSIGN(ped::DeriveSessionKeysResponse response,
                    ped::DeriveSessionKeysResponse::parse(payload.reveal()));
    return std::move(response.dkm);
  }

  // docs/protocol.md §10: one PED command per data record, CSPs wrapped.
  awaitable<void> relay(Bytes payload) {
    auto self = shared_from_this();
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
        payload, [this](ByteView wrapped) { return connection_->endpoint().unwrap_csp(wrapped); });
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
    if (closing()) {
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
    if (closing() || connection_->endpoint().state() != channel::State::established) {
      return;
    }
    ped::DeviceFrame response{ped::FrameKind::response, op, request_id, body};
    const WipeOnExit wipe_response(response.body);
    auto channel_form = ped::to_channel_form(
        response, [this](ByteView csp) { return connection_->endpoint().wrap_csp(csp); });
    if (!channel_form.ok()) {
      close_with(AlertCode::internal_error,
                 "cannot put the PED's answer in channel form: " + channel_form.error().message);
      return;
    }
    // send() restarts the idle clock.
    if (auto sent = connection_->send(channel_form.value()); !sent.ok()) {
      close_with(AlertCode::internal_error,
                 "cannot send the PED's answer: " + sent.error().message);
    }
  }

  const SessionIdentity identity_;
  const SessionSettings settings_;
  SessionServices services_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<service::ChannelConnection> connection_;

  channel::HsmIdentity hsm_identity_;  // from HsmHello, for the custodian's confirmation
  std::string verified_by_;
  std::optional<crypto::Certificate> hsm_certificate_;
  unsigned ped_operations_in_flight_ = 0;
  std::optional<std::uint64_t> announced_serial_;
  bool remote_session_announced_ = false;
  std::optional<std::uint64_t> hsm_serial_;
  std::string scheme_;
  std::uint64_t operations_ = 0;
  std::string end_reason_;
};

service::ChannelTimeouts timeouts_of(const SessionSettings& settings) {
  service::ChannelTimeouts timeouts;
  timeouts.socket_read = settings.socket_read;
  timeouts.socket_write = settings.socket_write;
  timeouts.idle = settings.idle;
  timeouts.ping_interval = settings.ping_interval;
  timeouts.ping_timeout = settings.ping_timeout;
  timeouts.handshake = settings.handshake_deadline;
  return timeouts;
}

template <class Stream>
std::shared_ptr<SessionHandle> make(Stream stream, channel::Endpoint endpoint,
                                    SessionIdentity identity, SessionSettings settings,
                                    SessionServices services) {
  service::ChannelLabel label{identity.id, identity.peer, "the HSM side"};
  std::shared_ptr<spdlog::logger> log = services.log;
  auto session = std::make_shared<Session>(std::move(identity), settings, std::move(services));
  session->attach(service::make_channel_connection(std::move(stream), std::move(endpoint),
                                                   std::move(label), timeouts_of(settings),
                                                   std::move(log), session));
  return session;
}

}  // namespace

std::shared_ptr<SessionHandle> make_session(TcpSocket socket, channel::Endpoint endpoint,
                                            SessionIdentity identity, SessionSettings settings,
                                            SessionServices services) {
  return make(std::move(socket), std::move(endpoint), std::move(identity), settings,
              std::move(services));
}

std::shared_ptr<SessionHandle> make_session(TlsStream stream, channel::Endpoint endpoint,
                                            SessionIdentity identity, SessionSettings settings,
                                            SessionServices services) {
  return make(std::move(stream), std::move(endpoint), std::move(identity), settings,
              std::move(services));
}

}  // namespace rped::pedserver
