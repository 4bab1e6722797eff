// The HSM backend protocol: the local link between pedclient (the host side)
// and the HSM, here the emulator hsmsim, over a Unix-domain stream socket.
// docs/hsm-backend.md is its specification. This file is the codec only: no
// I/O, no HSM logic.
//
// Every frame: length(4) || version(1) || kind(1) || type(2) || request_id(4) || body,
// where length counts everything after itself (the layout of the PED device
// protocol, docs/ped-device.md §2). Both parties send requests: pedclient asks
// the HSM for its identity and for key derivations; the HSM asks pedclient to
// open and close the Remote PED connection and to run PED operations on it.
// Each side numbers its own requests; a response repeats the id of the request
// it answers; notifications carry id 0 and get no response.
//
// Secrets travel here: the DKM the HSM releases, and PED frames in device form
// (role secrets, RPV, RPK private key in clear). Every body is therefore held in
// SecretBytes, and every serialize() of a body that can hold one returns SecretBytes.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rped/audit/record.h"
#include "rped/bytes.h"
#include "rped/channel/key_schedule.h"
#include "rped/channel/messages.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::hsm {

inline constexpr std::uint8_t kBackendProtocolVersion = 1;
inline constexpr std::size_t kBackendFrameHeaderBytes = 12;  // including the 4-byte length
// A PED frame in device form (at most 64 KiB - 1 here: a u16-length blob) plus
// the fields around it; every other message is far smaller.
inline constexpr std::size_t kMaxBackendFrameBytes = 72 * 1024;
inline constexpr std::size_t kMaxTextBytes = 256;  // labels, addresses, messages
inline constexpr std::size_t kMaxHostBytes = 255;  // a DNS name or an IP literal
inline constexpr std::size_t kMaxPedFrameBytes = 0xFFFF;
inline constexpr std::uint32_t kMaxTimeoutMs = 3'600'000;
inline constexpr std::uint16_t kNoAlert = 0xFFFF;  // "no channel alert" in the alert fields

enum class FrameKind : std::uint8_t { request = 1, response = 2, notification = 3 };

enum class Party : std::uint8_t { pedclient = 1, hsm = 2 };
std::string_view party_name(Party party) noexcept;

enum class MessageType : std::uint16_t {
  // pedclient -> HSM
  get_identity = 0x0001,          // request: serial, label, firmware, certificate chain
  derive_session_keys = 0x0002,   // request: the channel's HSM-side key derivation
  ped_connection_state = 0x0003,  // notification: the Remote PED link came up or went away
  // HSM -> pedclient
  connect_ped = 0x0101,     // request: open the Remote PED connection to a pedserver
  disconnect_ped = 0x0102,  // request: close it
  ped_request = 0x0103,     // request: run one PED operation (device form) on it
  // Audit logging (docs/hsm-backend.md §4.7, docs/audit-log.md).
  audit_records = 0x0201,  // HSM -> pedclient request: records to store; the response acknowledges
  audit_resume = 0x0202,   // pedclient -> HSM request: "my last durable record is n"
};
std::string_view message_type_name(MessageType type) noexcept;
// Whether `type` is a known message type (including the reserved ones).
bool is_known_type(std::uint16_t type) noexcept;
// Who sends the requests (or notifications) of this type; responses go the other way.
Party initiator(MessageType type) noexcept;
bool is_notification_type(MessageType type) noexcept;
// No type is reserved any more (the audit types of version 1 are defined);
// kept so callers written against the reserved types still compile.
bool is_reserved(MessageType type) noexcept;

// First field of every response body.
enum class Status : std::uint16_t {
  ok = 0,
  bad_request = 1,  // the request does not parse or a value is out of range
  unsupported = 2,  // a type this side does not implement (e.g. the reserved audit types)
  not_allowed =
      3,  // the receiver's state forbids it (HSM: no RPV, no one-time password, wrong serial)
  authentication_failed =
      4,                  // tag_U does not verify: wrong RPV, password or RPK (one uniform answer)
  busy = 5,               // a request of this kind is already running
  no_ped_connection = 6,  // pedclient has no Remote PED connection
  connection_lost = 7,    // the Remote PED connection ended during the request (alert: why)
  connect_failed = 8,     // the pedserver could not be reached (message: the address and why)
  handshake_failed = 9,   // the channel handshake failed (alert: why)
  timeout = 10,           // a deadline passed
  internal = 11,
};
std::string_view status_name(Status status) noexcept;

// ---------------------------------------------------------------------------
// Framing

struct BackendFrame {
  FrameKind kind = FrameKind::request;
  MessageType type = MessageType::get_identity;
  std::uint32_t request_id = 0;
  SecretBytes body;

  // One whole frame, as produced by serialize() (length prefix included).
  // Checks the version, kind, type, and that requests and responses carry a
  // non-zero id, notifications id 0, and that the kind suits the type.
  static Result<BackendFrame> parse(ByteView frame);
  SecretBytes serialize() const;
};

// Given at least the first 4 bytes of a stream, the total size of the next
// frame (4 + length), or an error when length is below the header or above
// kMaxBackendFrameBytes. Stream transports read exactly that many bytes.
Result<std::size_t> backend_frame_size(ByteView prefix);

// Whether `sender` may send this frame: requests and notifications only of the
// types it initiates, responses only to the other party's requests.
Result<void> check_sender(const BackendFrame& frame, Party sender);

// ---------------------------------------------------------------------------
// Responses: status(2), then on ok the message's fields, else
// alert(2) (a channel::AlertCode, or kNoAlert) and message (text, never secret).

struct Failure {
  Status status = Status::internal;
  std::optional<channel::AlertCode> alert;
  std::string message;
};

SecretBytes ok_response(ByteView payload);
Bytes error_response(const Failure& failure);
// Splits a response body: the failure, or the payload of an ok response (a view into `body`).
Result<std::pair<std::optional<Failure>, ByteView>> parse_response(ByteView body);

// ---------------------------------------------------------------------------
// Bodies. Each: static parse(body) and serialize(). Requests and
// notifications are the whole body; responses are the payload of an ok response.

// get_identity: the request body is empty.
struct IdentityResponse {
  std::uint64_t serial = 0;
  std::string label;             // empty until `hsm init`
  std::string firmware_version;  // e.g. "7.8.4"
  std::string model;
  bool rpv_initialized = false;
  // The HSM static-key certificate, its HOC, optionally one more intermediate
  // (channel::kMaxHsmChainCertificates): what pedclient puts in HsmHello.
  std::vector<crypto::Certificate> certificate_chain;
  // Optional trailing field (older HSMs end the body before it): the DER PKC
  // of the static key, which pedclient passes on in HsmIdentity
  // (docs/attestation.md §6). Empty: none offered.
  Bytes static_key_pkc;
  static Result<IdentityResponse> parse(ByteView body);
  Bytes serialize() const;
};

// derive_session_keys: the HSM-side KeyDerivationRequest (its wire form is
// ped::serialize_key_request, docs/ped-device.md §3.1), and in C(2e,2s) the
// RPK certificate the PED side presented, so the HSM can check for itself that
// its own HOC issued it for the key it is asked to agree with.
struct DeriveSessionKeysRequest {
  channel::KeyDerivationRequest key_request;
  std::optional<crypto::Certificate>
      rpk_certificate;  // C(2e,2s) only; absent: the HSM relies on pedclient's check
  static Result<DeriveSessionKeysRequest> parse(ByteView body);
  SecretBytes serialize() const;  // holds Ze
};

struct DeriveSessionKeysResponse {
  SecretBytes dkm;  // channel::kDkmBytes
  static Result<DeriveSessionKeysResponse> parse(ByteView body);
  SecretBytes serialize() const;
};

// ped_connection_state (notification, pedclient -> HSM).
struct PedConnectionState {
  bool connected = false;
  channel::Scheme scheme = channel::Scheme::full_unified;
  std::string pedserver;                     // "host:port" of the pedserver
  std::uint64_t rpk_serial = 0;              // C(2e,2s); 0 otherwise
  std::optional<channel::AlertCode> reason;  // disconnected: the alert that ended the link
  std::string detail;                        // for the HSM's log; never secret
  static Result<PedConnectionState> parse(ByteView body);
  Bytes serialize() const;
};

// connect_ped: pedclient dials the pedserver and runs the channel's HSM side
// with the given scheme, asking this HSM for the key derivation.
struct ConnectPedRequest {
  std::string host;  // 1..kMaxHostBytes
  std::uint16_t port = 1503;
  channel::Scheme scheme = channel::Scheme::full_unified;
  std::uint32_t timeout_ms = 200'000;  // the whole connect, custodian included
  static Result<ConnectPedRequest> parse(ByteView body);
  Bytes serialize() const;
};

struct ConnectPedResponse {
  std::uint64_t rpk_serial = 0;
  std::string pedserver;     // "host:port" as connected
  std::string peer_subject;  // the RPK certificate's subject (C(2e,2s)); empty otherwise
  static Result<ConnectPedResponse> parse(ByteView body);
  Bytes serialize() const;
};

// disconnect_ped: request and response bodies are empty.

// ped_request: one command frame of the PED device protocol in device form
// (CSPs in clear), of an op allowed over the channel (ped::allowed_over_channel);
// pedclient converts it to channel form (ped/remote_ops.h).
struct PedRequest {
  std::uint32_t timeout_ms = 0;  // how long pedclient waits for the PED's answer
  SecretBytes device_frame;
  static Result<PedRequest> parse(ByteView body);
  SecretBytes serialize() const;
};

// The PED's response frame, in device form.
struct PedResponse {
  SecretBytes device_frame;
  static Result<PedResponse> parse(ByteView body);
  SecretBytes serialize() const;
};

// audit_records (HSM -> pedclient): consecutive audit records, oldest first.
//   count  u16   1 .. kMaxAuditBatch
//   count times: one record line, audit::kRecordBytes bytes, '\n' included
// Each line must parse (audit::AuditRecord::parse: format only, the chain is
// not checked here: pedclient has no log secret) and the sequence numbers must
// follow one another.
inline constexpr std::size_t kMaxAuditBatch = 128;  // 57 KiB: inside kMaxBackendFrameBytes
struct AuditRecords {
  std::vector<audit::RecordLine> records;
  std::uint64_t first_seq = 0;  // of records.front(), set by parse and by the HSM
  std::uint64_t last_seq() const noexcept {
    return records.empty() ? 0 : first_seq + records.size() - 1;
  }
  static Result<AuditRecords> parse(ByteView body);
  Bytes serialize() const;
};

// The response: the highest sequence number pedclient holds durably (written
// and fdatasync'd). It may be lower than the batch's last when the disk is
// full; the HSM frees records up to it only.
struct AuditRecordsResponse {
  std::uint64_t durable_seq = 0;
  static Result<AuditRecordsResponse> parse(ByteView body);
  Bytes serialize() const;
};

// audit_resume (pedclient -> HSM): after pedclient starts (or the disk has
// room again), the last record it holds durably; 0 and zeros: none.
struct AuditResumeRequest {
  std::uint64_t last_seq = 0;
  audit::HmacTag last_prev_hmac{};  // the previous-HMAC field of that record (for the HSM's log)
  static Result<AuditResumeRequest> parse(ByteView body);
  Bytes serialize() const;
};

// The HSM's answer: it resends from next_seq; head is its newest record and
// HMAC. next_seq > last_seq + 1 means records were freed that pedclient does
// not hold (a log file lost on the host): pedclient reports the gap.
struct AuditResumeResponse {
  std::uint64_t next_seq = 1;
  std::uint64_t head_seq = 0;
  audit::HmacTag head_hmac{};
  // `audit config` rotation for the host: 0 leaves pedclient's own setting.
  std::uint32_t rotation_interval_s = 0;
  std::uint64_t rotation_bytes = 0;
  static Result<AuditResumeResponse> parse(ByteView body);
  Bytes serialize() const;
};

}  // namespace rped::hsm
