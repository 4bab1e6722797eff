#include "rped/channel/messages.h"

#include <string>

#include "rped/wire.h"

namespace rped::channel {

std::string_view message_type_name(std::uint8_t type) noexcept {
  switch (static_cast<MessageType>(type)) {
    case MessageType::hsm_hello: return "HsmHello";
    case MessageType::ped_key_share: return "PedKeyShare";
    case MessageType::hsm_confirm: return "HsmConfirm";
    case MessageType::alert: return "Alert";
    case MessageType::record: return "Record";
    default: return "unknown";
  }
}

std::string_view scheme_name(Scheme scheme) noexcept {
  switch (scheme) {
    case Scheme::one_pass_password: return "C(1e,1s) one-time password";
    case Scheme::full_unified: return "C(2e,2s) Full Unified";
    default: return "unknown";
  }
}

std::string_view alert_name(AlertCode code) noexcept {
  switch (code) {
    case AlertCode::close_notify: return "close_notify";
    case AlertCode::unexpected_message: return "unexpected_message";
    case AlertCode::decode_error: return "decode_error";
    case AlertCode::unsupported_version: return "unsupported_version";
    case AlertCode::frame_too_large: return "frame_too_large";
    case AlertCode::bad_certificate: return "bad_certificate";
    case AlertCode::certificate_untrusted: return "certificate_untrusted";
    case AlertCode::invalid_public_key: return "invalid_public_key";
    case AlertCode::authentication_failed: return "authentication_failed";
    case AlertCode::bad_record_mac: return "bad_record_mac";
    case AlertCode::record_out_of_order: return "record_out_of_order";
    case AlertCode::scheme_not_allowed: return "scheme_not_allowed";
    case AlertCode::ped_busy: return "ped_busy";
    case AlertCode::timeout: return "timeout";
    case AlertCode::device_failure: return "device_failure";
    case AlertCode::sequence_exhausted: return "sequence_exhausted";
    case AlertCode::ped_unplugged: return "ped_unplugged";
    case AlertCode::remote_mode_exited: return "remote_mode_exited";
    case AlertCode::internal_error: return "internal_error";
    case AlertCode::identity_refused: return "identity_refused";
    default: return "unknown";
  }
}

std::optional<AlertCode> alert_from_wire(std::uint16_t value) noexcept {
  if (value > static_cast<std::uint16_t>(AlertCode::identity_refused)) {
    return std::nullopt;
  }
  return static_cast<AlertCode>(value);
}

FrameHeader FrameHeader::parse(std::span<const std::uint8_t, kFrameHeaderBytes> bytes) noexcept {
  return FrameHeader{bytes[0], bytes[1], static_cast<std::uint16_t>((bytes[2] << 8) | bytes[3])};
}

void FrameHeader::serialize(Bytes& out) const {
  out.push_back(version);
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(body_length >> 8));
  out.push_back(static_cast<std::uint8_t>(body_length));
}

Bytes frame(MessageType type, ByteView body) {
  Bytes out;
  out.reserve(kFrameHeaderBytes + body.size());
  FrameHeader{kProtocolVersion, static_cast<std::uint8_t>(type), static_cast<std::uint16_t>(body.size())}.serialize(out);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

namespace {

Result<Scheme> parse_scheme(std::uint8_t value) {
  if (value != static_cast<std::uint8_t>(Scheme::one_pass_password) &&
      value != static_cast<std::uint8_t>(Scheme::full_unified)) {
    return make_error(Errc::invalid_encoding, "scheme " + std::to_string(value) + " is unknown; allowed are 1 and 2");
  }
  return static_cast<Scheme>(value);
}

std::size_t ephemeral_data_bytes(Scheme scheme) {
  return scheme == Scheme::full_unified ? kP521PointBytes : kHsmNonceBytes;
}

Result<Bytes> checked_body(Writer& w, std::string_view message) {
  if (w.data().size() > kMaxFrameBody) {
    return make_error(Errc::invalid_length, std::string(message) + " would exceed the maximum frame body");
  }
  return w.take();
}

Result<std::string> read_identity_text(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(std::string text, r.text16(0, kMaxIdentityTextBytes, field));
  if (!is_printable_ascii(text)) {
    return make_error(Errc::invalid_encoding, std::string(field) + " is not printable ASCII");
  }
  return text;
}

Result<void> write_identity_text(Writer& w, std::string_view text, std::string_view field) {
  if (text.size() > kMaxIdentityTextBytes) {
    return make_error(Errc::invalid_argument, std::string(field) + " is longer than " +
                                                  std::to_string(kMaxIdentityTextBytes) + " bytes");
  }
  if (!is_printable_ascii(text)) {
    return make_error(Errc::invalid_argument, std::string(field) + " is not printable ASCII");
  }
  w.text16(text, kMaxIdentityTextBytes);
  return {};
}

// The identity block: vector16(label) || vector16(model) || vector16(firmware) || vector16(pkc, may be empty)
Result<HsmIdentity> read_identity(Reader& r) {
  HsmIdentity m;
  RPED_TRY_ASSIGN(m.label, read_identity_text(r, "HsmHello.label"));
  RPED_TRY_ASSIGN(m.model, read_identity_text(r, "HsmHello.model"));
  RPED_TRY_ASSIGN(m.firmware, read_identity_text(r, "HsmHello.firmware"));
  RPED_TRY_ASSIGN(const ByteView pkc, r.vector16(0, kMaxIdentityPkcBytes, "HsmHello.pkc"));
  m.pkc.assign(pkc.begin(), pkc.end());
  return m;
}

Result<void> write_identity(Writer& w, const HsmIdentity& m) {
  RPED_TRY(write_identity_text(w, m.label, "HsmHello.label"));
  RPED_TRY(write_identity_text(w, m.model, "HsmHello.model"));
  RPED_TRY(write_identity_text(w, m.firmware, "HsmHello.firmware"));
  if (m.pkc.size() > kMaxIdentityPkcBytes) {
    return make_error(Errc::invalid_argument, "HsmHello.pkc is larger than " +
                                                  std::to_string(kMaxIdentityPkcBytes) + " bytes");
  }
  w.vector16(m.pkc);
  return {};
}

}  // namespace

// HsmHello: scheme(1) || hsm_serial(8) || ephemeral_data(133 | 32) || count(1) || count x vector16(DER)
//           || identity block (read_identity)
Result<HsmHello> HsmHello::parse(ByteView body) {
  if (body.size() > kMaxFrameBody) {
    return make_error(Errc::invalid_encoding, "HsmHello is larger than one frame body");
  }
  Reader r(body);
  HsmHello m;
  RPED_TRY_ASSIGN(const std::uint8_t scheme, r.u8("HsmHello.scheme"));
  RPED_TRY_ASSIGN(m.scheme, parse_scheme(scheme));
  RPED_TRY_ASSIGN(m.hsm_serial, r.u64("HsmHello.hsm_serial"));
  RPED_TRY_ASSIGN(const ByteView eph, r.bytes(ephemeral_data_bytes(m.scheme), "HsmHello.ephemeral_data"));
  m.ephemeral_data.assign(eph.begin(), eph.end());
  RPED_TRY_ASSIGN(const std::uint8_t count, r.u8("HsmHello.certificate_count"));
  if (count < 2 || count > kMaxHsmChainCertificates) {
    return make_error(Errc::invalid_encoding, "HsmHello carries " + std::to_string(count) +
                                                  " certificates; allowed are 2 to " +
                                                  std::to_string(kMaxHsmChainCertificates));
  }
  for (std::uint8_t i = 0; i < count; ++i) {
    RPED_TRY_ASSIGN(const ByteView der, r.vector16(1, kMaxCertificateBytes, "HsmHello.certificate"));
    m.certificate_chain.emplace_back(der.begin(), der.end());
  }
  RPED_TRY_ASSIGN(m.identity, read_identity(r));
  RPED_TRY(r.expect_end("HsmHello"));
  return m;
}

Result<Bytes> HsmHello::serialize() const {
  if (ephemeral_data.size() != ephemeral_data_bytes(scheme) || certificate_chain.size() < 2 ||
      certificate_chain.size() > kMaxHsmChainCertificates) {
    return make_error(Errc::invalid_argument, "HsmHello fields do not match the scheme's layout");
  }
  Writer w;
  w.u8(static_cast<std::uint8_t>(scheme));
  w.u64(hsm_serial);
  w.bytes(ephemeral_data);
  w.u8(static_cast<std::uint8_t>(certificate_chain.size()));
  for (const Bytes& der : certificate_chain) {
    if (der.empty() || der.size() > kMaxCertificateBytes) {
      return make_error(Errc::invalid_argument, "HsmHello certificate size is outside 1 to 4096 bytes");
    }
    w.vector16(der);
  }
  RPED_TRY(write_identity(w, identity));
  return checked_body(w, "HsmHello");
}

// PedKeyShare: ped_ephemeral(133) || rpk_serial(8) || vector16(rpk_certificate, 0..4096) || tag_u(64)
Result<PedKeyShare> PedKeyShare::parse(ByteView body) {
  Reader r(body);
  PedKeyShare m;
  RPED_TRY_ASSIGN(const ByteView eph, r.bytes(kP521PointBytes, "PedKeyShare.ped_ephemeral"));
  m.ped_ephemeral.assign(eph.begin(), eph.end());
  RPED_TRY_ASSIGN(m.rpk_serial, r.u64("PedKeyShare.rpk_serial"));
  RPED_TRY_ASSIGN(const ByteView cert, r.vector16(0, kMaxCertificateBytes, "PedKeyShare.rpk_certificate"));
  m.rpk_certificate.assign(cert.begin(), cert.end());
  RPED_TRY_ASSIGN(const ByteView tag, r.bytes(kKcTagBytes, "PedKeyShare.tag_u"));
  m.tag_u.assign(tag.begin(), tag.end());
  RPED_TRY(r.expect_end("PedKeyShare"));
  return m;
}

Result<Bytes> PedKeyShare::serialize() const {
  if (ped_ephemeral.size() != kP521PointBytes || rpk_certificate.size() > kMaxCertificateBytes ||
      tag_u.size() != kKcTagBytes) {
    return make_error(Errc::invalid_argument, "PedKeyShare fields do not match the layout");
  }
  Writer w;
  w.bytes(ped_ephemeral);
  w.u64(rpk_serial);
  w.vector16(rpk_certificate);
  w.bytes(tag_u);
  return checked_body(w, "PedKeyShare");
}

// HsmConfirm: tag_v(64)
Result<HsmConfirm> HsmConfirm::parse(ByteView body) {
  Reader r(body);
  HsmConfirm m;
  RPED_TRY_ASSIGN(const ByteView tag, r.bytes(kKcTagBytes, "HsmConfirm.tag_v"));
  m.tag_v.assign(tag.begin(), tag.end());
  RPED_TRY(r.expect_end("HsmConfirm"));
  return m;
}

Result<Bytes> HsmConfirm::serialize() const {
  if (tag_v.size() != kKcTagBytes) {
    return make_error(Errc::invalid_argument, "HsmConfirm tag must be 64 bytes");
  }
  return Bytes(tag_v);
}

// Alert: code(2)
Result<Alert> Alert::parse(ByteView body) {
  Reader r(body);
  RPED_TRY_ASSIGN(const std::uint16_t value, r.u16("Alert.code"));
  RPED_TRY(r.expect_end("Alert"));
  const std::optional<AlertCode> code = alert_from_wire(value);
  if (!code) {
    return make_error(Errc::invalid_encoding, "Alert code " + std::to_string(value) + " is unknown");
  }
  return Alert{*code};
}

Bytes Alert::serialize() const {
  Writer w;
  w.u16(static_cast<std::uint16_t>(code));
  return w.take();
}

}  // namespace rped::channel
