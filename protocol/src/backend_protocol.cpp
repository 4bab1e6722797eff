#include "rped/hsm/backend_protocol.h"

#include <algorithm>
#include <string>

#include "rped/channel/limits.h"
#include "rped/ped/device_protocol.h"
#include "rped/ped/remote_ops.h"
#include "rped/wire.h"

namespace rped::hsm {

std::string_view party_name(Party party) noexcept {
  switch (party) {
    case Party::pedclient:
      return "pedclient";
    case Party::hsm:
      return "HSM";
    default:
      return "unknown";
  }
}

std::string_view message_type_name(MessageType type) noexcept {
  switch (type) {
    case MessageType::get_identity:
      return "get_identity";
    case MessageType::derive_session_keys:
      return "derive_session_keys";
    case MessageType::ped_connection_state:
      return "ped_connection_state";
    case MessageType::connect_ped:
      return "connect_ped";
    case MessageType::disconnect_ped:
      return "disconnect_ped";
    case MessageType::ped_request:
      return "ped_request";
    case MessageType::audit_records:
      return "audit_records";
    case MessageType::audit_resume:
      return "audit_resume";
    default:
      return "unknown";
  }
}

bool is_known_type(std::uint16_t type) noexcept {
  switch (static_cast<MessageType>(type)) {
    case MessageType::get_identity:
    case MessageType::derive_session_keys:
    case MessageType::ped_connection_state:
    case MessageType::connect_ped:
    case MessageType::disconnect_ped:
    case MessageType::ped_request:
    case MessageType::audit_records:
    case MessageType::audit_resume:
      return true;
    default:
      return false;
  }
}

Party initiator(MessageType type) noexcept {
  switch (type) {
    case MessageType::get_identity:
    case MessageType::derive_session_keys:
    case MessageType::ped_connection_state:
    case MessageType::audit_resume:
      return Party::pedclient;
    case MessageType::connect_ped:
    case MessageType::disconnect_ped:
    case MessageType::ped_request:
    case MessageType::audit_records:
    default:
      return Party::hsm;
  }
}

bool is_notification_type(MessageType type) noexcept {
  return type == MessageType::ped_connection_state;
}

bool is_reserved(MessageType /*type*/) noexcept {
  return false;
}

std::string_view status_name(Status status) noexcept {
  switch (status) {
    case Status::ok:
      return "ok";
    case Status::bad_request:
      return "bad_request";
    case Status::unsupported:
      return "unsupported";
    case Status::not_allowed:
      return "not_allowed";
    case Status::authentication_failed:
      return "authentication_failed";
    case Status::busy:
      return "busy";
    case Status::no_ped_connection:
      return "no_ped_connection";
    case Status::connection_lost:
      return "connection_lost";
    case Status::connect_failed:
      return "connect_failed";
    case Status::handshake_failed:
      return "handshake_failed";
    case Status::timeout:
      return "timeout";
    case Status::internal:
      return "internal";
    default:
      return "unknown";
  }
}

// ---------------------------------------------------------------------------
// Field helpers

namespace {

Result<channel::Scheme> read_scheme(Reader& r) {
  RPED_TRY_ASSIGN(const std::uint8_t v, r.u8("scheme"));
  if (v != static_cast<std::uint8_t>(channel::Scheme::one_pass_password) &&
      v != static_cast<std::uint8_t>(channel::Scheme::full_unified)) {
    return make_error(Errc::invalid_encoding,
                      "scheme " + std::to_string(v) + " is not 1 (one-pass) or 2 (Full Unified)");
  }
  return static_cast<channel::Scheme>(v);
}

Result<std::optional<channel::AlertCode>> read_alert(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const std::uint16_t v, r.u16(field));
  if (v == kNoAlert) {
    return std::optional<channel::AlertCode>{};
  }
  const std::optional<channel::AlertCode> code = channel::alert_from_wire(v);
  if (!code) {
    return make_error(Errc::invalid_encoding,
                      std::string(field) + " " + std::to_string(v) + " is not an alert code");
  }
  return code;
}

void write_alert(Writer& w, const std::optional<channel::AlertCode>& alert) {
  w.u16(alert ? static_cast<std::uint16_t>(*alert) : kNoAlert);
}

Result<std::uint32_t> read_timeout(Reader& r) {
  RPED_TRY_ASSIGN(const std::uint32_t ms, r.u32("timeout_ms"));
  if (ms == 0 || ms > kMaxTimeoutMs) {
    return make_error(
        Errc::invalid_encoding,
        "timeout_ms " + std::to_string(ms) + " is outside 1 to " + std::to_string(kMaxTimeoutMs));
  }
  return ms;
}

Result<crypto::Certificate> read_certificate(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView der, r.vector16(1, channel::kMaxCertificateBytes, field));
  auto certificate = crypto::Certificate::from_der(der);
  if (!certificate.ok()) {
    return make_error(Errc::invalid_encoding,
                      std::string(field) + ": " + certificate.error().message);
  }
  return std::move(certificate).value();
}

// Writer for bodies that can hold secrets: the bytes grow inside SecretBytes,
// whose allocator wipes every buffer it gives back (a std::vector would leave
// copies behind on reallocation).
class SecretWriter final {
 public:
  void u8(std::uint8_t v) { out_.append(ByteView(&v, 1)); }
  void u16(std::uint16_t v) {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    out_.append(b);
  }
  void u32(std::uint32_t v) {
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24),
                               static_cast<std::uint8_t>(v >> 16),
                               static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    out_.append(b);
  }
  void bytes(ByteView v) { out_.append(v); }
  // u16 length prefix; the caller has checked the length against its limit.
  void vector16(ByteView v) {
    u16(static_cast<std::uint16_t>(v.size()));
    out_.append(v);
  }
  SecretBytes take() noexcept { return std::move(out_); }

 private:
  SecretBytes out_;
};

// The PED frame inside a ped_request / its response: a whole device frame of
// the expected kind. DeviceFrame::parse copies the body into a plain vector,
// which is wiped at once: only the header's validity matters here.
Result<void> check_device_frame(ByteView frame, ped::FrameKind want) {
  auto parsed = ped::DeviceFrame::parse(frame);
  if (!parsed.ok()) {
    return make_error(Errc::invalid_encoding, "device_frame: " + parsed.error().message);
  }
  ped::DeviceFrame& f = parsed.value();
  secure_wipe(f.body.data(), f.body.size());
  if (f.kind != want) {
    return make_error(Errc::invalid_encoding, want == ped::FrameKind::command
                                                  ? "device_frame must be a command"
                                                  : "device_frame must be a response");
  }
  // docs/protocol.md §10: only these commands travel over the channel.
  if (!ped::allowed_over_channel(f.op)) {
    return make_error(Errc::invalid_encoding, "device_frame: " + std::string(ped::op_name(f.op)) +
                                                  " is not sent over the Remote PED channel");
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------
// Framing

Result<std::size_t> backend_frame_size(ByteView prefix) {
  Reader r(prefix);
  RPED_TRY_ASSIGN(const std::uint32_t length, r.u32("frame length"));
  if (length < kBackendFrameHeaderBytes - 4 || length > kMaxBackendFrameBytes - 4) {
    return make_error(Errc::invalid_encoding,
                      "backend frame length " + std::to_string(length) + " is outside " +
                          std::to_string(kBackendFrameHeaderBytes - 4) + " to " +
                          std::to_string(kMaxBackendFrameBytes - 4));
  }
  return std::size_t{length} + 4;
}

Result<BackendFrame> BackendFrame::parse(ByteView frame) {
  RPED_TRY_ASSIGN(const std::size_t size, backend_frame_size(frame));
  if (size != frame.size()) {
    return make_error(Errc::invalid_encoding, "backend frame length field says " +
                                                  std::to_string(size) + " bytes, the frame has " +
                                                  std::to_string(frame.size()));
  }
  Reader r(frame.subspan(4));
  BackendFrame f;
  RPED_TRY_ASSIGN(const std::uint8_t version, r.u8("version"));
  if (version != kBackendProtocolVersion) {
    return make_error(Errc::invalid_encoding, "backend protocol version " +
                                                  std::to_string(version) +
                                                  " is not supported; this side speaks 1");
  }
  RPED_TRY_ASSIGN(const std::uint8_t kind, r.u8("kind"));
  if (kind < 1 || kind > 3) {
    return make_error(Errc::invalid_encoding,
                      "frame kind " + std::to_string(kind) + " is not 1, 2 or 3");
  }
  f.kind = static_cast<FrameKind>(kind);
  RPED_TRY_ASSIGN(const std::uint16_t type, r.u16("type"));
  if (!is_known_type(type)) {
    return make_error(Errc::invalid_encoding,
                      "message type " + std::to_string(type) + " is unknown");
  }
  f.type = static_cast<MessageType>(type);
  if ((f.kind == FrameKind::notification) != is_notification_type(f.type)) {
    return make_error(
        Errc::invalid_encoding,
        std::string(message_type_name(f.type)) +
            (is_notification_type(f.type) ? " is a notification" : " is not a notification"));
  }
  RPED_TRY_ASSIGN(f.request_id, r.u32("request_id"));
  if ((f.kind == FrameKind::notification) != (f.request_id == 0)) {
    return make_error(Errc::invalid_encoding,
                      "notifications carry request id 0 and requests and responses a non-zero one");
  }
  f.body = SecretBytes::copy_of(r.rest());
  return f;
}

SecretBytes BackendFrame::serialize() const {
  SecretWriter w;
  w.u32(static_cast<std::uint32_t>(kBackendFrameHeaderBytes - 4 + body.size()));
  w.u8(kBackendProtocolVersion);
  w.u8(static_cast<std::uint8_t>(kind));
  w.u16(static_cast<std::uint16_t>(type));
  w.u32(request_id);
  w.bytes(body.reveal());
  return w.take();
}

Result<void> check_sender(const BackendFrame& frame, Party sender) {
  const Party requester = initiator(frame.type);
  const bool allowed =
      frame.kind == FrameKind::response ? requester != sender : requester == sender;
  if (!allowed) {
    return make_error(Errc::invalid_encoding,
                      std::string(party_name(sender)) + " may not send a " +
                          (frame.kind == FrameKind::response ? "response to " : "") +
                          std::string(message_type_name(frame.type)));
  }
  return {};
}

// ---------------------------------------------------------------------------
// Responses

SecretBytes ok_response(ByteView payload) {
  SecretWriter w;
  w.u16(static_cast<std::uint16_t>(Status::ok));
  w.bytes(payload);
  return w.take();
}

Bytes error_response(const Failure& failure) {
  Writer w;
  // An error response never says ok: a caller's Status::ok here is a bug, sent as internal.
  w.u16(
      static_cast<std::uint16_t>(failure.status == Status::ok ? Status::internal : failure.status));
  write_alert(w, failure.alert);
  w.text16(failure.message, kMaxTextBytes);
  return w.take();
}

Result<std::pair<std::optional<Failure>, ByteView>> parse_response(ByteView body) {
  Reader r(body);
  RPED_TRY_ASSIGN(const std::uint16_t status, r.u16("status"));
  if (status > static_cast<std::uint16_t>(Status::internal)) {
    return make_error(Errc::invalid_encoding,
                      "response status " + std::to_string(status) + " is unknown");
  }
  if (status == static_cast<std::uint16_t>(Status::ok)) {
    return std::pair{std::optional<Failure>{}, r.rest()};
  }
  Failure failure;
  failure.status = static_cast<Status>(status);
  RPED_TRY_ASSIGN(failure.alert, read_alert(r, "alert"));
  RPED_TRY_ASSIGN(failure.message, r.text16(0, kMaxTextBytes, "message"));
  RPED_TRY(r.expect_end("error response"));
  return std::pair{std::optional<Failure>{std::move(failure)}, ByteView{}};
}

// ---------------------------------------------------------------------------
// Bodies

Result<IdentityResponse> IdentityResponse::parse(ByteView body) {
  Reader r(body);
  IdentityResponse m;
  RPED_TRY_ASSIGN(m.serial, r.u64("serial"));
  RPED_TRY_ASSIGN(m.label, r.text16(0, kMaxTextBytes, "label"));
  RPED_TRY_ASSIGN(m.firmware_version, r.text16(0, kMaxTextBytes, "firmware_version"));
  RPED_TRY_ASSIGN(m.model, r.text16(0, kMaxTextBytes, "model"));
  RPED_TRY_ASSIGN(m.rpv_initialized, r.boolean("rpv_initialized"));
  RPED_TRY_ASSIGN(const std::uint8_t count, r.u8("cert_count"));
  // docs/protocol.md §3.1: the static-key certificate, the HOC, at most one more.
  if (count < 2 || count > channel::kMaxHsmChainCertificates) {
    return make_error(Errc::invalid_encoding,
                      "cert_count " + std::to_string(count) + " is outside 2 to " +
                          std::to_string(channel::kMaxHsmChainCertificates));
  }
  for (std::uint8_t i = 0; i < count; ++i) {
    RPED_TRY_ASSIGN(crypto::Certificate certificate, read_certificate(r, "certificate"));
    m.certificate_chain.push_back(std::move(certificate));
  }
  if (r.remaining() > 0) {
    RPED_TRY_ASSIGN(const ByteView pkc, r.vector16(1, channel::kMaxIdentityPkcBytes, "static_key_pkc"));
    m.static_key_pkc.assign(pkc.begin(), pkc.end());
  }
  RPED_TRY(r.expect_end("IdentityResponse"));
  return m;
}

Bytes IdentityResponse::serialize() const {
  Writer w;
  w.u64(serial);
  w.text16(label, kMaxTextBytes);
  w.text16(firmware_version, kMaxTextBytes);
  w.text16(model, kMaxTextBytes);
  w.u8(rpv_initialized ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(certificate_chain.size()));
  for (const crypto::Certificate& certificate : certificate_chain) {
    w.vector16(certificate.der());
  }
  if (!static_key_pkc.empty() && static_key_pkc.size() <= channel::kMaxIdentityPkcBytes) {
    w.vector16(static_key_pkc);
  }
  return w.take();
}

Result<DeriveSessionKeysRequest> DeriveSessionKeysRequest::parse(ByteView body) {
  Reader r(body);
  DeriveSessionKeysRequest m;
  // The largest key request: two 132-byte keys, N_V or QeV, Ze, the 133-byte peer key and the tag.
  constexpr std::size_t kMaxKeyRequestBytes = 1024;
  RPED_TRY_ASSIGN(const ByteView request, r.vector16(1, kMaxKeyRequestBytes, "key_request"));
  RPED_TRY_ASSIGN(m.key_request, ped::parse_key_request(request));
  if (m.key_request.side != channel::Side::hsm) {
    return make_error(Errc::invalid_encoding,
                      "key_request: the HSM answers only HSM-side (V) requests");
  }
  RPED_TRY_ASSIGN(const ByteView der,
                  r.vector16(0, channel::kMaxCertificateBytes, "rpk_certificate"));
  if (!der.empty()) {
    if (m.key_request.transcript.scheme != channel::Scheme::full_unified) {
      return make_error(Errc::invalid_encoding,
                        "rpk_certificate is only sent with Full Unified requests");
    }
    auto certificate = crypto::Certificate::from_der(der);
    if (!certificate.ok()) {
      return make_error(Errc::invalid_encoding, "rpk_certificate: " + certificate.error().message);
    }
    m.rpk_certificate = std::move(certificate).value();
  }
  RPED_TRY(r.expect_end("DeriveSessionKeysRequest"));
  return m;
}

SecretBytes DeriveSessionKeysRequest::serialize() const {
  Bytes request = ped::serialize_key_request(key_request);  // holds Ze
  SecretWriter w;
  w.vector16(request);
  secure_wipe(request.data(), request.size());
  w.vector16(rpk_certificate ? rpk_certificate->der() : Bytes{});
  return w.take();
}

Result<DeriveSessionKeysResponse> DeriveSessionKeysResponse::parse(ByteView body) {
  Reader r(body);
  DeriveSessionKeysResponse m;
  RPED_TRY_ASSIGN(const ByteView dkm, r.vector16(channel::kDkmBytes, channel::kDkmBytes, "dkm"));
  m.dkm = SecretBytes::copy_of(dkm);
  RPED_TRY(r.expect_end("DeriveSessionKeysResponse"));
  return m;
}

SecretBytes DeriveSessionKeysResponse::serialize() const {
  SecretWriter w;
  w.vector16(dkm.reveal());
  return w.take();
}

Result<PedConnectionState> PedConnectionState::parse(ByteView body) {
  Reader r(body);
  PedConnectionState m;
  RPED_TRY_ASSIGN(m.connected, r.boolean("connected"));
  RPED_TRY_ASSIGN(m.scheme, read_scheme(r));
  RPED_TRY_ASSIGN(m.pedserver, r.text16(0, kMaxTextBytes, "pedserver"));
  RPED_TRY_ASSIGN(m.rpk_serial, r.u64("rpk_serial"));
  RPED_TRY_ASSIGN(m.reason, read_alert(r, "reason"));
  RPED_TRY_ASSIGN(m.detail, r.text16(0, kMaxTextBytes, "detail"));
  RPED_TRY(r.expect_end("PedConnectionState"));
  if (m.connected && m.reason) {
    return make_error(Errc::invalid_encoding, "a connected link has no reason code");
  }
  return m;
}

Bytes PedConnectionState::serialize() const {
  Writer w;
  w.u8(connected ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(scheme));
  w.text16(pedserver, kMaxTextBytes);
  w.u64(rpk_serial);
  write_alert(w, connected ? std::nullopt : reason);
  w.text16(detail, kMaxTextBytes);
  return w.take();
}

Result<ConnectPedRequest> ConnectPedRequest::parse(ByteView body) {
  Reader r(body);
  ConnectPedRequest m;
  RPED_TRY_ASSIGN(m.host, r.text16(1, kMaxHostBytes, "host"));
  RPED_TRY_ASSIGN(m.port, r.u16("port"));
  if (m.port == 0) {
    return make_error(Errc::invalid_encoding, "port 0 is not a TCP port");
  }
  RPED_TRY_ASSIGN(m.scheme, read_scheme(r));
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY(r.expect_end("ConnectPedRequest"));
  return m;
}

Bytes ConnectPedRequest::serialize() const {
  Writer w;
  w.text16(host, kMaxHostBytes);
  w.u16(port);
  w.u8(static_cast<std::uint8_t>(scheme));
  w.u32(timeout_ms);
  return w.take();
}

Result<ConnectPedResponse> ConnectPedResponse::parse(ByteView body) {
  Reader r(body);
  ConnectPedResponse m;
  RPED_TRY_ASSIGN(m.rpk_serial, r.u64("rpk_serial"));
  RPED_TRY_ASSIGN(m.pedserver, r.text16(0, kMaxTextBytes, "pedserver"));
  RPED_TRY_ASSIGN(m.peer_subject, r.text16(0, kMaxTextBytes, "peer_subject"));
  RPED_TRY(r.expect_end("ConnectPedResponse"));
  return m;
}

Bytes ConnectPedResponse::serialize() const {
  Writer w;
  w.u64(rpk_serial);
  w.text16(pedserver, kMaxTextBytes);
  w.text16(peer_subject, kMaxTextBytes);
  return w.take();
}

Result<PedRequest> PedRequest::parse(ByteView body) {
  Reader r(body);
  PedRequest m;
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY_ASSIGN(const ByteView frame,
                  r.vector16(ped::kDeviceFrameHeaderBytes, kMaxPedFrameBytes, "device_frame"));
  RPED_TRY(check_device_frame(frame, ped::FrameKind::command));
  m.device_frame = SecretBytes::copy_of(frame);
  RPED_TRY(r.expect_end("PedRequest"));
  return m;
}

SecretBytes PedRequest::serialize() const {
  SecretWriter w;
  w.u32(timeout_ms);
  w.vector16(device_frame.reveal().first(std::min(device_frame.size(), kMaxPedFrameBytes)));
  return w.take();
}

Result<PedResponse> PedResponse::parse(ByteView body) {
  Reader r(body);
  PedResponse m;
  RPED_TRY_ASSIGN(const ByteView frame,
                  r.vector16(ped::kDeviceFrameHeaderBytes, kMaxPedFrameBytes, "device_frame"));
  RPED_TRY(check_device_frame(frame, ped::FrameKind::response));
  m.device_frame = SecretBytes::copy_of(frame);
  RPED_TRY(r.expect_end("PedResponse"));
  return m;
}

SecretBytes PedResponse::serialize() const {
  SecretWriter w;
  w.vector16(device_frame.reveal().first(std::min(device_frame.size(), kMaxPedFrameBytes)));
  return w.take();
}

// ---------------------------------------------------------------------------
// Audit (docs/hsm-backend.md §4.7)

namespace {

Result<audit::HmacTag> read_hmac(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, r.bytes(audit::kHmacBytes, field));
  audit::HmacTag tag{};
  std::copy(b.begin(), b.end(), tag.begin());
  return tag;
}

}  // namespace

Result<AuditRecords> AuditRecords::parse(ByteView body) {
  Reader r(body);
  AuditRecords m;
  RPED_TRY_ASSIGN(const std::uint16_t count, r.u16("count"));
  if (count == 0 || count > kMaxAuditBatch) {
    return make_error(Errc::invalid_encoding, "audit_records count " + std::to_string(count) +
                                                  " is outside 1 to " +
                                                  std::to_string(kMaxAuditBatch));
  }
  m.records.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    RPED_TRY_ASSIGN(const ByteView line, r.bytes(audit::kRecordBytes, "record"));
    const std::string_view text(reinterpret_cast<const char*>(line.data()), line.size());
    auto record = audit::AuditRecord::parse(text);
    if (!record.ok()) {
      return make_error(Errc::invalid_encoding,
                        "record " + std::to_string(i) + ": " + record.error().message);
    }
    if (i == 0) {
      m.first_seq = record->seq;
    } else if (record->seq != m.first_seq + i) {
      return make_error(Errc::invalid_encoding,
                        "audit_records must carry consecutive sequence numbers: record " +
                            std::to_string(i) + " is " + std::to_string(record->seq) +
                            ", expected " + std::to_string(m.first_seq + i));
    }
    audit::RecordLine out{};
    std::copy(text.begin(), text.end(), out.begin());
    m.records.push_back(out);
  }
  RPED_TRY(r.expect_end("AuditRecords"));
  return m;
}

Bytes AuditRecords::serialize() const {
  Writer w;
  const std::size_t count = std::min(records.size(), kMaxAuditBatch);
  w.u16(static_cast<std::uint16_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    w.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(records[i].data()), records[i].size()));
  }
  return w.take();
}

Result<AuditRecordsResponse> AuditRecordsResponse::parse(ByteView body) {
  Reader r(body);
  AuditRecordsResponse m;
  RPED_TRY_ASSIGN(m.durable_seq, r.u64("durable_seq"));
  if (m.durable_seq > audit::kMaxSeq) {
    return make_error(Errc::invalid_encoding, "durable_seq is beyond the largest sequence number");
  }
  RPED_TRY(r.expect_end("AuditRecordsResponse"));
  return m;
}

Bytes AuditRecordsResponse::serialize() const {
  Writer w;
  w.u64(durable_seq);
  return w.take();
}

Result<AuditResumeRequest> AuditResumeRequest::parse(ByteView body) {
  Reader r(body);
  AuditResumeRequest m;
  RPED_TRY_ASSIGN(m.last_seq, r.u64("last_seq"));
  if (m.last_seq > audit::kMaxSeq) {
    return make_error(Errc::invalid_encoding, "last_seq is beyond the largest sequence number");
  }
  RPED_TRY_ASSIGN(m.last_prev_hmac, read_hmac(r, "last_prev_hmac"));
  RPED_TRY(r.expect_end("AuditResumeRequest"));
  return m;
}

Bytes AuditResumeRequest::serialize() const {
  Writer w;
  w.u64(last_seq);
  w.bytes(last_prev_hmac);
  return w.take();
}

Result<AuditResumeResponse> AuditResumeResponse::parse(ByteView body) {
  Reader r(body);
  AuditResumeResponse m;
  RPED_TRY_ASSIGN(m.next_seq, r.u64("next_seq"));
  RPED_TRY_ASSIGN(m.head_seq, r.u64("head_seq"));
  if (m.next_seq == 0 || m.next_seq > m.head_seq + 1 || m.head_seq > audit::kMaxSeq) {
    return make_error(Errc::invalid_encoding,
                      "next_seq must be 1 to head_seq + 1, head_seq at most 9999999999");
  }
  RPED_TRY_ASSIGN(m.head_hmac, read_hmac(r, "head_hmac"));
  RPED_TRY_ASSIGN(m.rotation_interval_s, r.u32("rotation_interval_s"));
  RPED_TRY_ASSIGN(m.rotation_bytes, r.u64("rotation_bytes"));
  RPED_TRY(r.expect_end("AuditResumeResponse"));
  return m;
}

Bytes AuditResumeResponse::serialize() const {
  Writer w;
  w.u64(next_seq);
  w.u64(head_seq);
  w.bytes(head_hmac);
  w.u32(rotation_interval_s);
  w.u64(rotation_bytes);
  return w.take();
}

}  // namespace rped::hsm
