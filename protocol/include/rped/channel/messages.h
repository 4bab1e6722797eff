// The channel's wire messages, one struct each with parse() and serialize()
// (ENGINEERING.md convention 3). Layouts: docs/protocol.md §3.
//
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rped/bytes.h"
#include "rped/channel/limits.h"
#include "rped/result.h"

namespace rped::channel {

enum class MessageType : std::uint8_t {
  hsm_hello = 0x01,
  ped_key_share = 0x02,
  hsm_confirm = 0x03,
  alert = 0x15,
  record = 0x17,
};
std::string_view message_type_name(std::uint8_t type) noexcept;

// SP 800-56A r3 scheme in use; chosen by the HSM, announced in HsmHello.
enum class Scheme : std::uint8_t {
  one_pass_password = 1,  // C(1e,1s, ECC CDH) with the one-time password as SuppPrivInfo
  full_unified = 2,       // C(2e,2s, ECC CDH) with the RPV as SuppPrivInfo
};
std::string_view scheme_name(Scheme scheme) noexcept;

// Why a session ended. The numeric value travels in Alert frames and in the
// sealed close message; docs/protocol.md §7 says what each side does.
enum class AlertCode : std::uint16_t {
  close_notify = 0,            // orderly end
  unexpected_message = 1,      // message type not allowed in the receiver's state
  decode_error = 2,            // malformed frame or message
  unsupported_version = 3,     // frame version is not kProtocolVersion
  frame_too_large = 4,         // length field above kMaxFrameBody
  bad_certificate = 5,         // certificate malformed, wrong key usage, wrong serial, wrong curve
  certificate_untrusted = 6,   // chain does not reach the configured anchor (incl. expiry)
  invalid_public_key = 7,      // SP 800-56A r3 §5.6.2.3.3 failure, or a reflected ephemeral key
  authentication_failed = 8,   // key confirmation failed: wrong RPV, password, or keys
  bad_record_mac = 9,          // record tag does not verify
  record_out_of_order = 10,    // record sequence number is not the next expected one
  scheme_not_allowed = 11,     // this side is not configured for the scheme the HSM chose
  ped_busy = 12,               // pedserver is serving another HSM ("one connection at a time")
  timeout = 13,                // a deadline passed (handshake, idle, ping)
  device_failure = 14,         // the PED or HSM could not complete a requested operation
  sequence_exhausted = 15,     // kMaxRecordsPerDirection reached; reconnect for new keys
  ped_unplugged = 16,          // the PED went away
  remote_mode_exited = 17,     // the custodian left Remote PED mode
  internal_error = 18,
  identity_refused = 19,       // the custodian refused the HSM at the PED, or its PKC failed (docs/attestation.md §6)
};
std::string_view alert_name(AlertCode code) noexcept;
// Maps a received code; unknown values are reported as decode errors by the caller.
std::optional<AlertCode> alert_from_wire(std::uint16_t value) noexcept;

struct FrameHeader {
  std::uint8_t version = kProtocolVersion;
  std::uint8_t type = 0;
  std::uint16_t body_length = 0;

  static FrameHeader parse(std::span<const std::uint8_t, kFrameHeaderBytes> bytes) noexcept;
  void serialize(Bytes& out) const;
};

// Frames `body` with a header of the given type (body length already checked).
Bytes frame(MessageType type, ByteView body);

// Who the HSM says it is, shown to the custodian on the PED before any key is
// read (docs/attestation.md §6). Carried in HsmHello, whose digest enters the
// key derivation, so the genuine HSM's key confirmation vouches for it too.
struct HsmIdentity {
  std::string label;     // printable ASCII, at most kMaxIdentityTextBytes
  std::string model;
  std::string firmware;
  Bytes pkc;             // DER PKC of the static key; empty when the HSM offers none
};

struct HsmHello {
  Scheme scheme = Scheme::full_unified;
  std::uint64_t hsm_serial = 0;
  // Full Unified: the HSM's ephemeral public key 0x04||X||Y (133 bytes).
  // One-pass: the HSM's 32-byte nonce N_V.
  Bytes ephemeral_data;
  // DER certificates: the HSM static-key certificate first, then the HOC
  // and any further intermediate toward the manufacturer root.
  std::vector<Bytes> certificate_chain;
  HsmIdentity identity;

  static Result<HsmHello> parse(ByteView body);
  Result<Bytes> serialize() const;
};

struct PedKeyShare {
  Bytes ped_ephemeral;  // 0x04 || X || Y (133 bytes)
  std::uint64_t rpk_serial = 0;  // 0 in one-pass mode
  Bytes rpk_certificate;         // DER; empty in one-pass mode
  Bytes tag_u;                   // 64-byte MacTag of party U (the PED side)

  static Result<PedKeyShare> parse(ByteView body);
  Result<Bytes> serialize() const;
};

struct HsmConfirm {
  Bytes tag_v;  // 64-byte MacTag of party V (the HSM side)

  static Result<HsmConfirm> parse(ByteView body);
  Result<Bytes> serialize() const;
};

struct Alert {
  AlertCode code = AlertCode::internal_error;

  static Result<Alert> parse(ByteView body);
  Bytes serialize() const;
};

}  // namespace rped::channel
