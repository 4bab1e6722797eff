// HsmBackend: everything pedclient needs from the HSM it serves, and nothing
// more (issue 6 item 1). The HSM's long-term secrets never cross it: the HSM
// computes the static CDH and the DKM itself and checks tag_U before it
// releases the DKM (docs/protocol.md §1); role secrets are checked inside the
// HSM too. What crosses it:
//
//   pedclient -> HSM   identity()               serial, label, firmware, static-key certificate
//   chain
//                      derive_session_keys()    the channel's HSM-side key derivation
//                      report_ped_connection()  the Remote PED link came up or went away
//   HSM -> pedclient   HsmRequestHandler        open / close the Remote PED connection,
//                                               run a PED operation on it (device form)
//   HSM -> pedclient   on_audit_records()       audit records to make durable (docs/audit-log.md);
//                                               complete_audit_records() acknowledges
//   pedclient -> HSM   audit_resume()           "my last durable record is n": resend from n+1
//
// One implementation talks to the emulator hsmsim over a Unix-domain socket
// (docs/hsm-backend.md): make_socket_hsm_backend(). The interface is narrow
// enough for a PKCS#11-token backend to follow: identity from the token info
// and certificate objects, derivation as an HSM-internal mechanism, the HSM's
// requests as callbacks from the vendor library.
//
// Thread-safety: every HsmBackend method may be called from any thread. The
// blocking calls (identity, derive_session_keys) wait at most their deadline
// and must not be called from inside an HsmRequestHandler callback, nor on an
// event-loop thread that must stay responsive (Asio: post them to a worker).
// HsmRequestHandler callbacks arrive one at a time on the backend's own thread;
// a handler must not block (post the work to its own executor and answer later
// through the complete_* / refuse methods).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rped/channel/key_schedule.h"
#include "rped/crypto/x509.h"
#include "rped/hsm/backend_protocol.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::pedclient {

struct HsmIdentity {
  std::uint64_t serial = 0;
  std::string label;
  std::string firmware_version;
  std::string model;
  bool rpv_initialized = false;
  // HSM static-key certificate, HOC[, intermediate]: HsmEndpointConfig::certificate_chain.
  std::vector<crypto::Certificate> certificate_chain;
  Bytes static_key_pkc;  // DER PKC of the static key; empty when the HSM offers none
};

// What the HSM asks of pedclient. Each request carries the id to answer with.
class HsmRequestHandler {
 public:
  virtual ~HsmRequestHandler() = default;
  // Dial request.host:port and run the channel's HSM side with request.scheme;
  // answer with complete_connect_ped() or refuse().
  virtual void on_connect_ped(std::uint32_t request_id, hsm::ConnectPedRequest request) = 0;
  // Close the Remote PED connection (answer even when none is open).
  virtual void on_disconnect_ped(std::uint32_t request_id) = 0;
  // Run one PED operation: request.device_frame in device form, to be sent in
  // channel form (ped::to_channel_form); answer with the PED's response frame
  // in device form (complete_ped_request) or refuse() (no_ped_connection,
  // connection_lost with the alert, timeout ...).
  virtual void on_ped_request(std::uint32_t request_id, hsm::PedRequest request) = 0;
  // Store the records durably (pedclient's AuditStore) and answer with the
  // highest durable sequence number (complete_audit_records) only after
  // fdatasync; the HSM frees records only then. A full disk: answer later, or
  // with the old durable seq; the HSM keeps the records and resends.
  virtual void on_audit_records(std::uint32_t request_id, hsm::AuditRecords records) = 0;
  // The link to the HSM is gone (HSM restarted, socket closed, protocol
  // error). Every request not yet answered is void. Called once.
  virtual void on_hsm_lost(const Error& why) = 0;
};

class HsmBackend {
 public:
  virtual ~HsmBackend() = default;

  virtual Result<HsmIdentity> identity() = 0;

  // The HSM-side KeyRequestEvent's request (side V). In C(2e,2s) pass the RPK
  // certificate the PED side presented, so the HSM checks its issuer itself.
  // Errc::mac_mismatch means tag_U did not verify (wrong RPV, password or RPK):
  // hand the result to channel::Endpoint::complete_key_request() as it is.
  // Any other error is the HSM refusing (not_allowed, bad_request ...), with
  // the backend status named in the message.
  virtual Result<SecretBytes> derive_session_keys(const channel::KeyDerivationRequest& request,
                                                  const crypto::Certificate* rpk_certificate) = 0;

  // Tells the HSM that the Remote PED link came up or ended (with the alert that ended it).
  virtual Result<void> report_ped_connection(const hsm::PedConnectionState& state) = 0;

  // Answers to HsmRequestHandler requests.
  virtual Result<void> complete_connect_ped(std::uint32_t request_id,
                                            const hsm::ConnectPedResponse& response) = 0;
  virtual Result<void> complete_disconnect_ped(std::uint32_t request_id) = 0;
  virtual Result<void> complete_ped_request(std::uint32_t request_id,
                                            const hsm::PedResponse& response) = 0;
  virtual Result<void> complete_audit_records(std::uint32_t request_id,
                                              std::uint64_t durable_seq) = 0;
  // Blocking (the call timeout): tells the HSM the last record pedclient holds
  // durably; the HSM answers where it will resume and its chain head.
  virtual Result<hsm::AuditResumeResponse> audit_resume(const hsm::AuditResumeRequest& request) = 0;
  // Refuses any of the HSM's requests; `type` names the request being answered.
  virtual Result<void> refuse(hsm::MessageType type, std::uint32_t request_id,
                              const hsm::Failure& failure) = 0;
};

struct SocketHsmBackendOptions {
  // Deadline of identity() and derive_session_keys(): the HSM answers both at
  // once (no custodian involved), so a slow answer means a stuck HSM.
  std::chrono::milliseconds call_timeout{10'000};
  // Deadline of one frame write; a peer that stops reading is dropped.
  std::chrono::milliseconds write_timeout{5'000};
};

// Connects to hsmsim's backend socket and starts the backend's reader thread.
// `handler` must outlive the returned object. Destroying it closes the socket
// and joins the thread (never from inside a handler callback).
Result<std::unique_ptr<HsmBackend>> make_socket_hsm_backend(const std::filesystem::path& socket,
                                                            HsmRequestHandler& handler,
                                                            SocketHsmBackendOptions options = {});

}  // namespace rped::pedclient
