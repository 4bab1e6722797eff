#include "rped/ped/device_protocol.h"

#include <algorithm>
#include <string>

#include "rped/crypto/ec.h"
#include "rped/wire.h"

namespace rped::ped {

std::string_view op_name(Op op) noexcept {
  switch (op) {
    case Op::identify: return "identify";
    case Op::get_status: return "get_status";
    case Op::set_remote_session: return "set_remote_session";
    case Op::read_secret: return "read_secret";
    case Op::create_keyset: return "create_keyset";
    case Op::read_rpk_info: return "read_rpk_info";
    case Op::derive_session_keys: return "derive_session_keys";
    case Op::create_rpk_keyset: return "create_rpk_keyset";
    case Op::confirm_identity: return "confirm_identity";
    case Op::cancel: return "cancel";
    case Op::self_test: return "self_test";
    case Op::mode_changed: return "mode_changed";
    case Op::remote_mode_exited: return "remote_mode_exited";
    case Op::display: return "display";
    default: return "unknown";
  }
}

bool is_command(Op op) noexcept {
  switch (op) {
    case Op::identify:
    case Op::get_status:
    case Op::set_remote_session:
    case Op::read_secret:
    case Op::create_keyset:
    case Op::read_rpk_info:
    case Op::derive_session_keys:
    case Op::create_rpk_keyset:
    case Op::confirm_identity:
    case Op::cancel:
    case Op::self_test: return true;
    default: return false;
  }
}

bool is_event(Op op) noexcept {
  return op == Op::mode_changed || op == Op::remote_mode_exited || op == Op::display;
}

std::string_view status_name(Status status) noexcept {
  switch (status) {
    case Status::ok: return "ok";
    case Status::timeout: return "timeout";
    case Status::cancelled: return "cancelled";
    case Status::wrong_key_type: return "wrong_key_type";
    case Status::key_removed: return "key_removed";
    case Status::duplicate_split: return "duplicate_split";
    case Status::pin_incorrect: return "pin_incorrect";
    case Status::keyset_mismatch: return "keyset_mismatch";
    case Status::not_in_remote_mode: return "not_in_remote_mode";
    case Status::busy: return "busy";
    case Status::bad_request: return "bad_request";
    case Status::blank_key: return "blank_key";
    case Status::internal: return "internal";
    default: return "unknown";
  }
}

std::string_view key_type_name(KeyType type) noexcept {
  switch (type) {
    case KeyType::blank: return "blank";
    case KeyType::blue: return "blue";
    case KeyType::red: return "red";
    case KeyType::orange: return "orange";
    case KeyType::white: return "white";
    case KeyType::black: return "black";
    default: return "unknown";
  }
}

std::string_view key_type_holder(KeyType type) noexcept {
  switch (type) {
    case KeyType::blank: return "blank";
    case KeyType::blue: return "SO / HSM Admin";
    case KeyType::red: return "Cloning Domain";
    case KeyType::orange: return "Remote PED Vector";
    case KeyType::white: return "Auditor";
    case KeyType::black: return "Crypto Officer/User";
    default: return "unknown";
  }
}

std::optional<KeyType> key_type_from_name(std::string_view name) noexcept {
  for (const KeyType t : {KeyType::blank, KeyType::blue, KeyType::red, KeyType::orange, KeyType::white,
                          KeyType::black}) {
    if (key_type_name(t) == name) {
      return t;
    }
  }
  if (name == "gray" || name == "grey") {
    return KeyType::black;  // the PED calls gray keys black
  }
  return std::nullopt;
}

std::string_view mode_name(Mode mode) noexcept {
  switch (mode) {
    case Mode::local: return "Local PED-USB";
    case Mode::admin: return "Admin";
    case Mode::remote: return "Remote PED";
    default: return "unknown";
  }
}

// ---------------------------------------------------------------------------
// Field helpers

namespace {

Result<KeyType> read_key_type(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const std::uint8_t v, r.u8(field));
  if (v > static_cast<std::uint8_t>(KeyType::black)) {
    return make_error(Errc::invalid_encoding, std::string(field) + " " + std::to_string(v) + " is not a key type (0-5)");
  }
  return static_cast<KeyType>(v);
}

Result<Mode> read_mode(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const std::uint8_t v, r.u8(field));
  if (v > static_cast<std::uint8_t>(Mode::remote)) {
    return make_error(Errc::invalid_encoding, std::string(field) + " " + std::to_string(v) + " is not a mode (0-2)");
  }
  return static_cast<Mode>(v);
}

Result<void> check_quorum(std::uint8_t m, std::uint8_t n) {
  if (m < 1 || m > n || n > kMaxQuorum) {
    return make_error(Errc::invalid_encoding, "quorum " + std::to_string(m) + " of " + std::to_string(n) +
                                                  " is outside 1 <= M <= N <= 16");
  }
  return {};
}

Result<std::uint32_t> read_timeout(Reader& r) {
  RPED_TRY_ASSIGN(const std::uint32_t ms, r.u32("timeout_ms"));
  if (ms == 0 || ms > 3'600'000) {
    return make_error(Errc::invalid_encoding, "timeout_ms " + std::to_string(ms) + " is outside 1 to 3600000");
  }
  return ms;
}

}  // namespace

// ---------------------------------------------------------------------------
// Framing

Result<std::size_t> device_frame_size(ByteView prefix) {
  Reader r(prefix);
  RPED_TRY_ASSIGN(const std::uint32_t length, r.u32("frame length"));
  if (length < kDeviceFrameHeaderBytes - 4 || length > kMaxDeviceFrameBytes - 4) {
    return make_error(Errc::invalid_encoding, "device frame length " + std::to_string(length) +
                                                  " is outside 8 to " + std::to_string(kMaxDeviceFrameBytes - 4));
  }
  return std::size_t{length} + 4;
}

Result<DeviceFrame> DeviceFrame::parse(ByteView frame) {
  RPED_TRY_ASSIGN(const std::size_t size, device_frame_size(frame));
  if (size != frame.size()) {
    return make_error(Errc::invalid_encoding, "device frame length field says " + std::to_string(size) +
                                                  " bytes, the frame has " + std::to_string(frame.size()));
  }
  Reader r(frame.subspan(4));
  DeviceFrame f;
  RPED_TRY_ASSIGN(const std::uint8_t version, r.u8("version"));
  if (version != kDeviceProtocolVersion) {
    return make_error(Errc::invalid_encoding, "device protocol version " + std::to_string(version) +
                                                  " is not supported; this side speaks 1");
  }
  RPED_TRY_ASSIGN(const std::uint8_t kind, r.u8("kind"));
  if (kind < 1 || kind > 3) {
    return make_error(Errc::invalid_encoding, "frame kind " + std::to_string(kind) + " is not 1, 2 or 3");
  }
  f.kind = static_cast<FrameKind>(kind);
  RPED_TRY_ASSIGN(const std::uint16_t op, r.u16("op"));
  f.op = static_cast<Op>(op);
  const bool known = f.kind == FrameKind::event ? is_event(f.op) : is_command(f.op);
  if (!known) {
    return make_error(Errc::invalid_encoding, "op 0x" + to_hex(ByteView(frame.subspan(6, 2))) +
                                                  " is not valid for this frame kind");
  }
  RPED_TRY_ASSIGN(f.request_id, r.u32("request_id"));
  if ((f.kind == FrameKind::event) != (f.request_id == 0)) {
    return make_error(Errc::invalid_encoding, "events carry request id 0 and commands and responses a non-zero one");
  }
  const ByteView body = r.rest();
  f.body.assign(body.begin(), body.end());
  return f;
}

Bytes DeviceFrame::serialize() const {
  Writer w;
  w.u32(static_cast<std::uint32_t>(kDeviceFrameHeaderBytes - 4 + body.size()));
  w.u8(kDeviceProtocolVersion);
  w.u8(static_cast<std::uint8_t>(kind));
  w.u16(static_cast<std::uint16_t>(op));
  w.u32(request_id);
  w.bytes(body);
  return w.take();
}

Result<std::pair<ResponseHeader, ByteView>> parse_response(ByteView body) {
  Reader r(body);
  RPED_TRY_ASSIGN(const std::uint16_t status, r.u16("status"));
  if (status > static_cast<std::uint16_t>(Status::internal)) {
    return make_error(Errc::invalid_encoding, "response status " + std::to_string(status) + " is unknown");
  }
  ResponseHeader h{static_cast<Status>(status), {}};
  if (h.status != Status::ok) {
    RPED_TRY_ASSIGN(h.message, r.text16(0, kMaxTextBytes, "message"));
    RPED_TRY(r.expect_end("error response"));
    return std::pair{h, ByteView{}};
  }
  return std::pair{h, r.rest()};
}

Bytes ok_response(ByteView payload) {
  Writer w;
  w.u16(static_cast<std::uint16_t>(Status::ok));
  w.bytes(payload);
  return w.take();
}

Bytes error_response(Status status, std::string_view message) {
  Writer w;
  w.u16(static_cast<std::uint16_t>(status));
  w.text16(message, kMaxTextBytes);
  return w.take();
}

// ---------------------------------------------------------------------------
// Bodies

Result<IdentifyResponse> IdentifyResponse::parse(ByteView body) {
  Reader r(body);
  IdentifyResponse m;
  RPED_TRY_ASSIGN(m.protocol_version, r.u16("protocol_version"));
  RPED_TRY_ASSIGN(m.firmware_version, r.text16(0, kMaxTextBytes, "firmware_version"));
  RPED_TRY_ASSIGN(m.serial, r.text16(0, kMaxTextBytes, "serial"));
  RPED_TRY_ASSIGN(m.model, r.text16(0, kMaxTextBytes, "model"));
  RPED_TRY_ASSIGN(m.mode, read_mode(r, "mode"));
  RPED_TRY(r.expect_end("IdentifyResponse"));
  return m;
}

Bytes IdentifyResponse::serialize() const {
  Writer w;
  w.u16(protocol_version);
  w.text16(firmware_version, kMaxTextBytes);
  w.text16(serial, kMaxTextBytes);
  w.text16(model, kMaxTextBytes);
  w.u8(static_cast<std::uint8_t>(mode));
  return w.take();
}

Result<StatusResponse> StatusResponse::parse(ByteView body) {
  Reader r(body);
  StatusResponse m;
  RPED_TRY_ASSIGN(m.mode, read_mode(r, "mode"));
  RPED_TRY_ASSIGN(m.remote_session, r.boolean("remote_session"));
  RPED_TRY_ASSIGN(m.key_inserted, r.boolean("key_inserted"));
  RPED_TRY_ASSIGN(m.inserted_key, read_key_type(r, "inserted_key"));
  RPED_TRY(r.expect_end("StatusResponse"));
  return m;
}

Bytes StatusResponse::serialize() const {
  Writer w;
  w.u8(static_cast<std::uint8_t>(mode));
  w.u8(remote_session ? 1 : 0);
  w.u8(key_inserted ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(inserted_key));
  return w.take();
}

Result<SetRemoteSessionRequest> SetRemoteSessionRequest::parse(ByteView body) {
  Reader r(body);
  SetRemoteSessionRequest m;
  RPED_TRY_ASSIGN(m.active, r.boolean("active"));
  RPED_TRY_ASSIGN(m.peer, r.text16(0, kMaxTextBytes, "peer"));
  RPED_TRY(r.expect_end("SetRemoteSessionRequest"));
  return m;
}

Bytes SetRemoteSessionRequest::serialize() const {
  Writer w;
  w.u8(active ? 1 : 0);
  w.text16(peer, kMaxTextBytes);
  return w.take();
}

Result<ConfirmIdentityRequest> ConfirmIdentityRequest::parse(ByteView body) {
  Reader r(body);
  ConfirmIdentityRequest m;
  RPED_TRY_ASSIGN(m.ask, r.boolean("ask"));
  RPED_TRY_ASSIGN(const std::uint8_t count, r.u8("line_count"));
  if (count < 1 || count > kMaxIdentityLines) {
    return make_error(Errc::invalid_encoding, "line_count " + std::to_string(count) + " is outside 1 to " +
                                                  std::to_string(kMaxIdentityLines));
  }
  for (std::uint8_t i = 0; i < count; ++i) {
    RPED_TRY_ASSIGN(std::string line, r.text16(0, kLcdColumns, "line"));
    if (!is_printable_ascii(line)) {
      return make_error(Errc::invalid_encoding, "an identity line is not printable ASCII");
    }
    m.lines.push_back(std::move(line));
  }
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY(r.expect_end("ConfirmIdentityRequest"));
  return m;
}

// Lines are clipped to the LCD width and the line count to kMaxIdentityLines;
// non-printable characters become '?', so the request always parses.
Bytes ConfirmIdentityRequest::serialize() const {
  Writer w;
  w.u8(ask ? 1 : 0);
  const std::size_t count = std::min(std::max<std::size_t>(lines.size(), 1), kMaxIdentityLines);
  w.u8(static_cast<std::uint8_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    w.text16(to_printable_ascii(i < lines.size() ? lines[i] : std::string()), kLcdColumns);
  }
  w.u32(timeout_ms);
  return w.take();
}

Result<ConfirmIdentityResponse> ConfirmIdentityResponse::parse(ByteView body) {
  Reader r(body);
  ConfirmIdentityResponse m;
  RPED_TRY_ASSIGN(m.confirmed, r.boolean("confirmed"));
  RPED_TRY(r.expect_end("ConfirmIdentityResponse"));
  return m;
}

Bytes ConfirmIdentityResponse::serialize() const {
  Writer w;
  w.u8(confirmed ? 1 : 0);
  return w.take();
}

Result<ReadSecretRequest> ReadSecretRequest::parse(ByteView body) {
  Reader r(body);
  ReadSecretRequest m;
  RPED_TRY_ASSIGN(m.key_type, read_key_type(r, "key_type"));
  if (m.key_type == KeyType::blank) {
    return make_error(Errc::invalid_encoding, "a blank key holds no secret to read");
  }
  RPED_TRY_ASSIGN(m.context, r.text16(0, kMaxTextBytes, "context"));
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY(r.expect_end("ReadSecretRequest"));
  return m;
}

Bytes ReadSecretRequest::serialize() const {
  Writer w;
  w.u8(static_cast<std::uint8_t>(key_type));
  w.text16(context, kMaxTextBytes);
  w.u32(timeout_ms);
  return w.take();
}

Result<ReadSecretResponse> ReadSecretResponse::parse(ByteView body) {
  Reader r(body);
  ReadSecretResponse m;
  RPED_TRY_ASSIGN(m.m, r.u8("m"));
  RPED_TRY_ASSIGN(m.n, r.u8("n"));
  RPED_TRY(check_quorum(m.m, m.n));
  RPED_TRY_ASSIGN(const ByteView id, r.bytes(kKeysetIdBytes, "keyset_id"));
  m.keyset_id.assign(id.begin(), id.end());
  RPED_TRY_ASSIGN(m.secret, r.secret16(1, kMaxSecretBytes, "secret"));
  RPED_TRY(r.expect_end("ReadSecretResponse"));
  return m;
}

Bytes ReadSecretResponse::serialize() const {
  Writer w;
  w.u8(m);
  w.u8(n);
  w.bytes(keyset_id);
  w.vector16(secret.reveal());
  return w.take();
}

Result<CreateKeysetRequest> CreateKeysetRequest::parse(ByteView body) {
  Reader r(body);
  CreateKeysetRequest m;
  RPED_TRY_ASSIGN(m.key_type, read_key_type(r, "key_type"));
  if (m.key_type == KeyType::blank || m.key_type == KeyType::orange) {
    return make_error(Errc::invalid_encoding, "create_keyset makes blue, red, white or black keys; orange keys "
                                              "come from create_rpk_keyset");
  }
  RPED_TRY_ASSIGN(m.context, r.text16(0, kMaxTextBytes, "context"));
  RPED_TRY_ASSIGN(m.allow_reuse, r.boolean("allow_reuse"));
  RPED_TRY_ASSIGN(m.secret, r.secret16(1, kMaxSecretBytes, "secret"));
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY(r.expect_end("CreateKeysetRequest"));
  return m;
}

Bytes CreateKeysetRequest::serialize() const {
  Writer w;
  w.u8(static_cast<std::uint8_t>(key_type));
  w.text16(context, kMaxTextBytes);
  w.u8(allow_reuse ? 1 : 0);
  w.vector16(secret.reveal());
  w.u32(timeout_ms);
  return w.take();
}

Result<CreateKeysetResponse> CreateKeysetResponse::parse(ByteView body) {
  Reader r(body);
  CreateKeysetResponse m;
  RPED_TRY_ASSIGN(m.reused, r.boolean("reused"));
  RPED_TRY_ASSIGN(m.m, r.u8("m"));
  RPED_TRY_ASSIGN(m.n, r.u8("n"));
  RPED_TRY(check_quorum(m.m, m.n));
  RPED_TRY_ASSIGN(m.duplicate_sets, r.u8("duplicate_sets"));
  RPED_TRY_ASSIGN(const ByteView id, r.bytes(kKeysetIdBytes, "keyset_id"));
  m.keyset_id.assign(id.begin(), id.end());
  RPED_TRY_ASSIGN(m.secret, r.secret16(1, kMaxSecretBytes, "secret"));
  RPED_TRY(r.expect_end("CreateKeysetResponse"));
  return m;
}

Bytes CreateKeysetResponse::serialize() const {
  Writer w;
  w.u8(reused ? 1 : 0);
  w.u8(m);
  w.u8(n);
  w.u8(duplicate_sets);
  w.bytes(keyset_id);
  w.vector16(secret.reveal());
  return w.take();
}

Result<CreateRpkKeysetRequest> CreateRpkKeysetRequest::parse(ByteView body) {
  Reader r(body);
  CreateRpkKeysetRequest m;
  RPED_TRY_ASSIGN(m.hsm_serial, r.u64("hsm_serial"));
  RPED_TRY_ASSIGN(m.rpk_serial, r.u64("rpk_serial"));
  if (m.rpk_serial == 0) {
    return make_error(Errc::invalid_encoding, "rpk_serial must not be 0");
  }
  RPED_TRY_ASSIGN(m.rpv, r.secret16(channel::kRpvBytes, channel::kRpvBytes, "rpv"));
  RPED_TRY_ASSIGN(m.rpk_private, r.secret16(crypto::kP521FieldBytes, crypto::kP521FieldBytes, "rpk_private"));
  RPED_TRY_ASSIGN(m.rpk_certificate, r.blob16(1, kMaxCertificateBytes, "rpk_certificate"));
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY(r.expect_end("CreateRpkKeysetRequest"));
  return m;
}

Bytes CreateRpkKeysetRequest::serialize() const {
  Writer w;
  w.u64(hsm_serial);
  w.u64(rpk_serial);
  w.vector16(rpv.reveal());
  w.vector16(rpk_private.reveal());
  w.vector16(rpk_certificate);
  w.u32(timeout_ms);
  return w.take();
}

Result<CreateRpkKeysetResponse> CreateRpkKeysetResponse::parse(ByteView body) {
  Reader r(body);
  CreateRpkKeysetResponse m;
  RPED_TRY_ASSIGN(m.m, r.u8("m"));
  RPED_TRY_ASSIGN(m.n, r.u8("n"));
  RPED_TRY(check_quorum(m.m, m.n));
  RPED_TRY(r.expect_end("CreateRpkKeysetResponse"));
  return m;
}

Bytes CreateRpkKeysetResponse::serialize() const {
  Writer w;
  w.u8(m);
  w.u8(n);
  return w.take();
}

Result<ReadRpkInfoRequest> ReadRpkInfoRequest::parse(ByteView body) {
  Reader r(body);
  ReadRpkInfoRequest m;
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY(r.expect_end("ReadRpkInfoRequest"));
  return m;
}

Bytes ReadRpkInfoRequest::serialize() const {
  Writer w;
  w.u32(timeout_ms);
  return w.take();
}

Result<ReadRpkInfoResponse> ReadRpkInfoResponse::parse(ByteView body) {
  Reader r(body);
  ReadRpkInfoResponse m;
  RPED_TRY_ASSIGN(m.hsm_serial, r.u64("hsm_serial"));
  RPED_TRY_ASSIGN(m.rpk_serial, r.u64("rpk_serial"));
  RPED_TRY_ASSIGN(m.rpk_certificate, r.blob16(1, kMaxCertificateBytes, "rpk_certificate"));
  RPED_TRY(r.expect_end("ReadRpkInfoResponse"));
  return m;
}

Bytes ReadRpkInfoResponse::serialize() const {
  Writer w;
  w.u64(hsm_serial);
  w.u64(rpk_serial);
  w.vector16(rpk_certificate);
  return w.take();
}

Result<DeriveSessionKeysRequest> DeriveSessionKeysRequest::parse(ByteView body) {
  Reader r(body);
  DeriveSessionKeysRequest m;
  RPED_TRY_ASSIGN(const ByteView req, r.vector16(1, kMaxDeviceFrameBytes, "key_request"));
  RPED_TRY_ASSIGN(m.request, parse_key_request(req));
  RPED_TRY_ASSIGN(m.timeout_ms, read_timeout(r));
  RPED_TRY(r.expect_end("DeriveSessionKeysRequest"));
  return m;
}

Bytes DeriveSessionKeysRequest::serialize() const {
  Writer w;
  Bytes req = serialize_key_request(request);  // holds z_part: wiped below
  w.vector16(req);
  secure_wipe(req.data(), req.size());
  w.u32(timeout_ms);
  return w.take();
}

Result<DeriveSessionKeysResponse> DeriveSessionKeysResponse::parse(ByteView body) {
  Reader r(body);
  DeriveSessionKeysResponse m;
  RPED_TRY_ASSIGN(m.dkm, r.secret16(channel::kDkmBytes, channel::kDkmBytes, "dkm"));
  RPED_TRY(r.expect_end("DeriveSessionKeysResponse"));
  return m;
}

Bytes DeriveSessionKeysResponse::serialize() const {
  Writer w;
  w.vector16(dkm.reveal());
  return w.take();
}

Result<SelfTestResponse> SelfTestResponse::parse(ByteView body) {
  Reader r(body);
  SelfTestResponse m;
  RPED_TRY_ASSIGN(m.passed, r.boolean("passed"));
  RPED_TRY_ASSIGN(m.report, r.text16(0, kMaxTextBytes, "report"));
  RPED_TRY(r.expect_end("SelfTestResponse"));
  return m;
}

Bytes SelfTestResponse::serialize() const {
  Writer w;
  w.u8(passed ? 1 : 0);
  w.text16(report, kMaxTextBytes);
  return w.take();
}

Result<ModeChangedEvent> ModeChangedEvent::parse(ByteView body) {
  Reader r(body);
  ModeChangedEvent m;
  RPED_TRY_ASSIGN(m.mode, read_mode(r, "mode"));
  RPED_TRY(r.expect_end("ModeChangedEvent"));
  return m;
}

Bytes ModeChangedEvent::serialize() const {
  Writer w;
  w.u8(static_cast<std::uint8_t>(mode));
  return w.take();
}

Result<DisplayEvent> DisplayEvent::parse(ByteView body) {
  Reader r(body);
  DisplayEvent m;
  for (std::string& line : m.lines) {
    RPED_TRY_ASSIGN(const ByteView b, r.vector16(0, kLcdColumns, "display line"));
    line.assign(b.begin(), b.end());
  }
  RPED_TRY(r.expect_end("DisplayEvent"));
  return m;
}

Bytes DisplayEvent::serialize() const {
  Writer w;
  for (const std::string& line : lines) {
    const std::string_view clipped = std::string_view(line).substr(0, kLcdColumns);
    w.vector16(ByteView(reinterpret_cast<const std::uint8_t*>(clipped.data()), clipped.size()));
  }
  return w.take();
}

// ---------------------------------------------------------------------------
// KeyDerivationRequest: side(1) scheme(1) hsm_serial(8) rpk_serial(8)
//   vector16(QeU X||Y) vector16(EphemData_V) vector16(hello_digest, 64) vector16(z_part)
//   vector16(device peer key, 0 or 133) vector16(peer_tag)

Bytes serialize_key_request(const channel::KeyDerivationRequest& request) {
  Writer w;
  const channel::Transcript& t = request.transcript;
  w.u8(static_cast<std::uint8_t>(request.side));
  w.u8(static_cast<std::uint8_t>(t.scheme));
  w.u64(t.hsm_serial);
  w.u64(t.rpk_serial);
  w.vector16(t.ped_ephemeral_xy);
  w.vector16(t.hsm_ephemeral_data);
  w.vector16(t.hello_digest);
  w.vector16(request.z_part.reveal());
  w.vector16(request.device_peer_key ? request.device_peer_key->uncompressed() : Bytes{});
  w.vector16(request.peer_tag);
  return w.take();
}

Result<channel::KeyDerivationRequest> parse_key_request(ByteView bytes) {
  Reader r(bytes);
  channel::KeyDerivationRequest m;
  RPED_TRY_ASSIGN(const std::uint8_t side, r.u8("side"));
  if (side != static_cast<std::uint8_t>(channel::Side::ped) && side != static_cast<std::uint8_t>(channel::Side::hsm)) {
    return make_error(Errc::invalid_encoding, "key request side must be 0x55 (PED) or 0x56 (HSM)");
  }
  m.side = static_cast<channel::Side>(side);
  RPED_TRY_ASSIGN(const std::uint8_t scheme, r.u8("scheme"));
  if (scheme != 1 && scheme != 2) {
    return make_error(Errc::invalid_encoding, "key request scheme must be 1 or 2");
  }
  channel::Transcript& t = m.transcript;
  t.scheme = static_cast<channel::Scheme>(scheme);
  RPED_TRY_ASSIGN(t.hsm_serial, r.u64("hsm_serial"));
  RPED_TRY_ASSIGN(t.rpk_serial, r.u64("rpk_serial"));
  RPED_TRY_ASSIGN(t.ped_ephemeral_xy, r.blob16(crypto::kP521XYBytes, crypto::kP521XYBytes, "ped_ephemeral"));
  RPED_TRY_ASSIGN(t.hsm_ephemeral_data, r.blob16(1, crypto::kP521XYBytes, "hsm_ephemeral_data"));
  RPED_TRY_ASSIGN(t.hello_digest,
                  r.blob16(channel::kHelloDigestBytes, channel::kHelloDigestBytes, "hello_digest"));
  RPED_TRY_ASSIGN(m.z_part, r.secret16(0, crypto::kP521FieldBytes, "z_part"));
  RPED_TRY_ASSIGN(const Bytes peer, r.blob16(0, crypto::kP521UncompressedBytes, "device_peer_key"));
  if (!peer.empty()) {
    RPED_TRY_ASSIGN(crypto::EcPublicKey key, crypto::EcPublicKey::from_uncompressed(crypto::Curve::p521, peer));
    m.device_peer_key = std::move(key);
  }
  RPED_TRY_ASSIGN(m.peer_tag, r.blob16(0, channel::kKcTagBytes, "peer_tag"));
  RPED_TRY(r.expect_end("KeyDerivationRequest"));
  // The shape rules of the scheme and side (sizes, which parts are present).
  if (auto shape = m.check(); !shape.ok()) {
    return make_error(Errc::invalid_encoding, "key request: " + shape.error().message);
  }
  return m;
}

}  // namespace rped::ped
