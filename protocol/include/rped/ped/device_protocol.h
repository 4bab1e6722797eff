// The PED device protocol between pedserver (the host) and the PED, carried
// over USB bulk endpoints or, to the emulator, a Unix-domain stream socket.
// docs/ped-device.md is its specification. This file is the codec only: no
// I/O, no device logic.
//
// Every frame: length(4) || version(1) || kind(1) || op(2) || request_id(4) || body,
// where length counts everything after itself. Commands (host -> PED) carry a
// request id the response repeats; events (PED -> host) carry id 0.
//
// Secrets (PED key secrets, RPV, the RPK private key, the DKM) travel in
// SecretBytes fields; the USB link is local to the custodian's workstation.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rped/bytes.h"
#include "rped/channel/key_schedule.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::ped {

inline constexpr std::uint8_t kDeviceProtocolVersion = 1;
inline constexpr std::size_t kDeviceFrameHeaderBytes = 12;  // including the 4-byte length
inline constexpr std::size_t kMaxDeviceFrameBytes = 64 * 1024;
inline constexpr std::size_t kMaxTextBytes = 256;       // labels, prompts, messages, LCD lines
inline constexpr std::size_t kMaxSecretBytes = 1024;    // one PED key secret or an RPV
inline constexpr std::size_t kMaxCertificateBytes = 4096;
inline constexpr std::size_t kLcdLines = 8;
inline constexpr std::size_t kLcdColumns = 21;
inline constexpr std::size_t kKeysetIdBytes = 16;
inline constexpr std::uint8_t kMaxQuorum = 16;  // 1 <= M <= N <= 16
inline constexpr std::uint32_t kDefaultKeyOperationTimeoutMs = 200'000;  // documented PED key timeout

enum class FrameKind : std::uint8_t { command = 1, response = 2, event = 3 };

enum class Op : std::uint16_t {
  // commands (host -> PED), answered by a response with the same op
  identify = 0x0001,
  get_status = 0x0002,
  set_remote_session = 0x0003,
  read_secret = 0x0010,
  create_keyset = 0x0011,
  read_rpk_info = 0x0012,
  derive_session_keys = 0x0013,
  create_rpk_keyset = 0x0014,
  confirm_identity = 0x0015,
  cancel = 0x0020,
  self_test = 0x0030,
  // events (PED -> host)
  mode_changed = 0x8001,
  remote_mode_exited = 0x8002,
  display = 0x8003,
};
std::string_view op_name(Op op) noexcept;
bool is_command(Op op) noexcept;
bool is_event(Op op) noexcept;

// First field of every response body.
enum class Status : std::uint16_t {
  ok = 0,
  timeout = 1,             // no key or keypad answer within the operation timeout
  cancelled = 2,           // the custodian pressed NO or <, or the host sent cancel
  wrong_key_type = 3,      // the inserted key holds another kind of secret
  key_removed = 4,         // a key was pulled out mid-operation
  duplicate_split = 5,     // the same split presented twice in one quorum
  pin_incorrect = 6,       // reported only after all M keys were read
  keyset_mismatch = 7,     // a split from another keyset
  not_in_remote_mode = 8,  // the PED is not in Remote PED mode (menu 7)
  busy = 9,                // another command is running
  bad_request = 10,        // the command does not parse or its values are out of range
  blank_key = 11,          // the key holds no secret
  internal = 12,
};
std::string_view status_name(Status status) noexcept;

// The secret a PED key holds. The PED knows the type, not the sticker colour.
enum class KeyType : std::uint8_t {
  blank = 0,
  blue = 1,    // HSM / partition security officer
  red = 2,     // cloning domain
  orange = 3,  // Remote PED Vector + RPK static key pair and certificate
  white = 4,   // auditor
  black = 5,   // crypto officer / crypto user (gray keys are black too)
};
std::string_view key_type_name(KeyType type) noexcept;     // "blue", ...
std::string_view key_type_holder(KeyType type) noexcept;   // "SO / HSM Admin", ...
std::optional<KeyType> key_type_from_name(std::string_view name) noexcept;

enum class Mode : std::uint8_t { local = 0, admin = 1, remote = 2 };
std::string_view mode_name(Mode mode) noexcept;

// ---------------------------------------------------------------------------
// Framing

struct DeviceFrame {
  FrameKind kind = FrameKind::command;
  Op op = Op::identify;
  std::uint32_t request_id = 0;
  Bytes body;

  // One whole frame, as produced by serialize() (length prefix included).
  static Result<DeviceFrame> parse(ByteView frame);
  Bytes serialize() const;
};

// Given at least the first 4 bytes of a stream, the total size of the next
// frame (4 + length), or an error when length is below the header or above
// kMaxDeviceFrameBytes. Stream transports read exactly that many bytes.
Result<std::size_t> device_frame_size(ByteView prefix);

// ---------------------------------------------------------------------------
// Bodies. Each: static parse(body) and serialize().

struct IdentifyResponse {
  std::uint16_t protocol_version = kDeviceProtocolVersion;
  std::string firmware_version;  // e.g. "2.9.1"
  std::string serial;            // the PED's serial number
  std::string model;
  Mode mode = Mode::local;
  static Result<IdentifyResponse> parse(ByteView body);
  Bytes serialize() const;
};

struct StatusResponse {
  Mode mode = Mode::local;
  bool remote_session = false;
  KeyType inserted_key = KeyType::blank;  // blank also when no key is inserted
  bool key_inserted = false;
  static Result<StatusResponse> parse(ByteView body);
  Bytes serialize() const;
};

// Tells the PED who it is serving, for its display ("HSM 1234567").
struct SetRemoteSessionRequest {
  bool active = false;
  std::string peer;
  static Result<SetRemoteSessionRequest> parse(ByteView body);
  Bytes serialize() const;
};

// Login: read M distinct splits of a keyset of `key_type`, with their PINs.
struct ReadSecretRequest {
  KeyType key_type = KeyType::blue;
  std::string context;  // first LCD lines, e.g. "SLOT / SO LOGIN..."
  std::uint32_t timeout_ms = kDefaultKeyOperationTimeoutMs;
  static Result<ReadSecretRequest> parse(ByteView body);
  Bytes serialize() const;
};

struct ReadSecretResponse {
  std::uint8_t m = 1;
  std::uint8_t n = 1;
  Bytes keyset_id;     // kKeysetIdBytes
  SecretBytes secret;  // the keyset's secret, recombined from M splits
  static Result<ReadSecretResponse> parse(ByteView body);
  Bytes serialize() const;  // the returned Bytes hold the secret: callers wipe them
};

// Key creation in four stages on the PED: reuse an existing keyset? ->
// M and N -> each key (insert, overwrite confirmation, PIN twice) -> duplicates.
struct CreateKeysetRequest {
  KeyType key_type = KeyType::blue;
  std::string context;
  bool allow_reuse = true;
  SecretBytes secret;  // written to the new keyset; unused when the custodian reuses one
  std::uint32_t timeout_ms = kDefaultKeyOperationTimeoutMs;
  static Result<CreateKeysetRequest> parse(ByteView body);
  Bytes serialize() const;
};

struct CreateKeysetResponse {
  bool reused = false;
  std::uint8_t m = 1;
  std::uint8_t n = 1;
  std::uint8_t duplicate_sets = 0;
  Bytes keyset_id;
  SecretBytes secret;  // the keyset's secret: the requested one, or the reused keyset's
  static Result<CreateKeysetResponse> parse(ByteView body);
  Bytes serialize() const;
};

// RPV initialization: write the RPV (split M of N) with the RPK key pair and
// its certificate to a set of orange keys.
struct CreateRpkKeysetRequest {
  std::uint64_t hsm_serial = 0;
  std::uint64_t rpk_serial = 0;
  SecretBytes rpv;          // channel::kRpvBytes
  SecretBytes rpk_private;  // 66-byte P-521 scalar
  Bytes rpk_certificate;    // DER
  std::uint32_t timeout_ms = kDefaultKeyOperationTimeoutMs;
  static Result<CreateRpkKeysetRequest> parse(ByteView body);
  Bytes serialize() const;
};

struct CreateRpkKeysetResponse {
  std::uint8_t m = 1;
  std::uint8_t n = 1;
  static Result<CreateRpkKeysetResponse> parse(ByteView body);
  Bytes serialize() const;
};

// The public half of the inserted orange key.
struct ReadRpkInfoRequest {
  std::uint32_t timeout_ms = kDefaultKeyOperationTimeoutMs;
  static Result<ReadRpkInfoRequest> parse(ByteView body);
  Bytes serialize() const;
};

struct ReadRpkInfoResponse {
  std::uint64_t hsm_serial = 0;
  std::uint64_t rpk_serial = 0;
  Bytes rpk_certificate;
  static Result<ReadRpkInfoResponse> parse(ByteView body);
  Bytes serialize() const;
};

// The channel's PED-side key-derivation request (docs/protocol.md §1): the PED
// reads the RPV (orange keys, M of N) or has the password typed, does the
// static CDH with the RPK private key and returns the DKM.
struct DeriveSessionKeysRequest {
  channel::KeyDerivationRequest request;
  std::uint32_t timeout_ms = kDefaultKeyOperationTimeoutMs;
  static Result<DeriveSessionKeysRequest> parse(ByteView body);
  Bytes serialize() const;
};

struct DeriveSessionKeysResponse {
  SecretBytes dkm;  // channel::kDkmBytes
  static Result<DeriveSessionKeysResponse> parse(ByteView body);
  Bytes serialize() const;
};

// docs/attestation.md §6: pedserver shows the custodian which HSM asks
// (serial, label, what verified it) and waits for YES/NO before any key
// secret is read or written for it. With `ask` false it is a notice only
// (an HSM that failed verification): shown until a key is pressed or
// timeout_ms passes, answered confirmed = false.
inline constexpr std::size_t kMaxIdentityLines = 5;
struct ConfirmIdentityRequest {
  bool ask = true;
  std::vector<std::string> lines;  // 1..kMaxIdentityLines, each printable ASCII, <= kLcdColumns
  std::uint32_t timeout_ms = kDefaultKeyOperationTimeoutMs;
  static Result<ConfirmIdentityRequest> parse(ByteView body);
  Bytes serialize() const;
};

struct ConfirmIdentityResponse {
  bool confirmed = false;  // YES; NO is confirmed = false (not an error)
  static Result<ConfirmIdentityResponse> parse(ByteView body);
  Bytes serialize() const;
};

struct SelfTestResponse {
  bool passed = false;
  std::string report;
  static Result<SelfTestResponse> parse(ByteView body);
  Bytes serialize() const;
};

// Events
struct ModeChangedEvent {
  Mode mode = Mode::local;
  static Result<ModeChangedEvent> parse(ByteView body);
  Bytes serialize() const;
};

struct DisplayEvent {
  std::array<std::string, kLcdLines> lines;
  static Result<DisplayEvent> parse(ByteView body);
  Bytes serialize() const;
};

// A response body: status, then on success the operation's fields, else a message.
struct ResponseHeader {
  Status status = Status::ok;
  std::string message;  // empty on success; never secret
};
// Splits a response body into its status and the rest (the payload on success).
Result<std::pair<ResponseHeader, ByteView>> parse_response(ByteView body);
Bytes ok_response(ByteView payload);
Bytes error_response(Status status, std::string_view message);

// KeyDerivationRequest on the wire (shared with the HSM emulator's local socket).
Bytes serialize_key_request(const channel::KeyDerivationRequest& request);
Result<channel::KeyDerivationRequest> parse_key_request(ByteView bytes);

}  // namespace rped::ped
