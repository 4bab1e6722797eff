// The two endpoints of the Remote PED channel as pure state machines
// (docs/protocol.md §3-§7): fed bytes from the network, they return bytes to
// send and events. No I/O, no clocks, no threads: timeouts belong to the
// daemon, which closes the endpoint with AlertCode::timeout.
//
// The operations on long-term secrets are not done here: at the right moment
// an endpoint emits a KeyRequestEvent, the daemon has the device (the HSM on
// the HSM side, the PED on the PED side) answer it, and hands the result back
// through complete_key_request(). The private keys and the RPV or password
// never enter this code.
//
// Handshake (U = PED side, V = HSM side; the HSM always speaks first):
//   V -> U  HsmHello      scheme, HSM serial, QeV or nonce N_V, certificate chain,
//                         label / model / firmware / PKC
//           (U: chain verified -> IdentityEvent; the custodian confirms at the
//            PED before any key is read -> complete_identity())
//   U -> V  PedKeyShare   QeU, RPK serial and certificate (C(2e,2s)), tag_U
//   V -> U  HsmConfirm    tag_V          (only after V verified tag_U)
//   then sealed records in both directions.
//
// The allowed (state, message) pairs are the table kTransitions in
// endpoint.cpp; anything else ends the session with unexpected_message.
//
// Thread-safety: an Endpoint is used by one thread (or strand) at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "rped/bytes.h"
#include "rped/channel/key_schedule.h"
#include "rped/channel/messages.h"
#include "rped/channel/record.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::channel {

// Where fresh ephemeral keys and nonces come from. Defaults to the OpenSSL
// DRBG; the worked examples in docs/protocol.md inject fixed values.
struct EntropySource {
  std::function<Result<crypto::EcKeyPair>()> ephemeral_key;
  std::function<Result<void>(std::span<std::uint8_t>)> nonce;
};

struct HsmEndpointConfig {
  Scheme scheme = Scheme::full_unified;
  std::uint64_t hsm_serial = 0;
  // The HSM static-key certificate, then its HOC (the issuer of RPK
  // certificates), then optionally one more intermediate.
  std::vector<crypto::Certificate> certificate_chain;
  // Label, model, firmware and the static key's PKC, sent in HsmHello for the
  // custodian's confirmation (docs/attestation.md §6).
  HsmIdentity identity;
  std::optional<std::int64_t> verification_time;  // fixed clock for tests
  EntropySource entropy;
};

struct PedEndpointConfig {
  // Anchors for the HSM's chain (the manufacturer root).
  std::optional<crypto::TrustStore> manufacturer_roots;
  // C(2e,2s): the RPK's public half from the orange key. When absent and
  // request_rpk_from_device is set, the endpoint asks for it (RpkRequestEvent)
  // only once the HSM has chosen Full Unified, so the custodian inserts the
  // orange key only when it is needed; when absent and not requested, the PED
  // side refuses Full Unified.
  std::optional<crypto::Certificate> rpk_certificate;
  std::uint64_t rpk_serial = 0;
  bool request_rpk_from_device = false;
  // C(1e,1s): only when the custodian chose remote RPV initialization.
  bool allow_password_mode = false;
  // Pinned-fingerprint mode (docs/attestation.md §6): HSM serial -> the
  // SHA-256 of its HOC. For a pinned serial the HOC in HsmHello must have that
  // fingerprint; the chain is then accepted when it reaches a manufacturer
  // root or, failing that, when the pinned HOC issued the static-key
  // certificate (a partial chain).
  std::map<std::uint64_t, Bytes> pinned_hoc_sha256;
  std::optional<std::int64_t> verification_time;
  EntropySource entropy;
};

enum class State : std::uint8_t {
  hsm_start,            // created; start() sends HsmHello
  hsm_await_key_share,  // HsmHello sent
  hsm_await_device,     // asked the HSM to derive keys and check tag_U
  ped_await_hello,      // created
  ped_await_identity,   // HSM chain verified; waiting for the custodian's YES (complete_identity)
  ped_await_rpk,        // asked the PED for the RPK certificate (orange key)
  ped_await_device,     // asked the PED to derive keys
  ped_await_confirm,    // PedKeyShare sent
  established,
  closed,
};
std::string_view state_name(State state) noexcept;

struct KeyRequestEvent {
  KeyDerivationRequest request;
  // HSM side, C(2e,2s): the RPK certificate the PED presented (already checked
  // against the HOC here), so the HSM can check its issuer itself too
  // (docs/hsm-backend.md §4.2). Empty otherwise.
  std::optional<crypto::Certificate> peer_rpk_certificate;
};
// PED side, C(2e,2s): read the RPK serial and certificate from the orange key.
struct RpkRequestEvent {
  std::uint64_t hsm_serial;  // the HSM that asks, for the PED's display
};
struct RpkInfo {
  crypto::Certificate certificate;
  std::uint64_t serial = 0;
};
struct EstablishedEvent {
  Scheme scheme;
  std::uint64_t hsm_serial;
  std::uint64_t rpk_serial;
  std::string peer_certificate_subject;  // the HSM's static-key cert (PED side) or the RPK cert (HSM side)
  // PED side: what vouched for the HSM's chain, for the custodian's display:
  // the manufacturer root's common name, or "pinned HOC FE57..E9BC".
  std::string verified_by;
  Bytes hoc_sha256;  // PED side: the fingerprint of the HOC in HsmHello
  std::optional<crypto::Certificate> hsm_certificate;  // PED side: the verified static-key certificate
};
// PED side: the HSM's chain is verified (against a manufacturer root or a
// pin). Before anything is asked of the PED's keys, the daemon checks the
// offered PKC and has the custodian confirm who asks, then answers with
// complete_identity() (docs/attestation.md §6). Everything here came in
// HsmHello, whose digest enters the key derivation: an HSM that is not the one
// shown cannot complete the handshake.
struct IdentityEvent {
  Scheme scheme;
  std::uint64_t hsm_serial;
  HsmIdentity identity;      // as the HSM states it; its PKC is not yet checked
  std::string verified_by;   // the manufacturer root's common name, or "pinned HOC FE57..E9BC"
  Bytes hoc_sha256;
  std::optional<crypto::Certificate> hsm_certificate;  // the verified static-key certificate
};
struct DataEvent {
  Bytes payload;
};
struct PongEvent {
  Bytes payload;
};
struct ClosedEvent {
  AlertCode code;
  bool by_peer;
  std::string detail;  // for logs; never contains secret bytes
};
using Event = std::variant<KeyRequestEvent, RpkRequestEvent, EstablishedEvent, IdentityEvent, DataEvent,
                           PongEvent, ClosedEvent>;

struct Output {
  Bytes send;  // bytes for the peer, in order
  std::vector<Event> events;
};

class Endpoint final {
 public:
  static Result<Endpoint> hsm(HsmEndpointConfig config);
  static Result<Endpoint> ped(PedEndpointConfig config);

  Endpoint(Endpoint&&) noexcept;
  Endpoint& operator=(Endpoint&&) noexcept;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint();

  // HSM side: emits HsmHello. PED side: nothing to do (it waits for HsmHello).
  Output start();
  // Bytes from the network, any split.
  Output receive(ByteView bytes);
  // The device's answer to the last KeyRequestEvent (the DKM, or why not).
  Output complete_key_request(Result<SecretBytes> dkm);
  // The PED's answer to an RpkRequestEvent.
  Output complete_rpk_request(Result<RpkInfo> rpk);
  // PED side: the answer to the IdentityEvent. Success lets the handshake go on
  // (the orange key or the password next); an error ends it with
  // identity_refused and the error's message as the detail.
  Output complete_identity(Result<void> confirmed);
  // Application data; only when established (else invalid_argument).
  Result<Output> send(ByteView payload);
  Result<Output> ping(ByteView payload);
  // Local close: a sealed close record when established, a clear Alert before.
  Output close(AlertCode code, std::string detail = {});

  // CSPs inside records are wrapped with AES-256-KWP under the sender's CWK
  // (docs/protocol.md §6). Only when established.
  Result<Bytes> wrap_csp(ByteView secret) const;
  Result<SecretBytes> unwrap_csp(ByteView wrapped) const;

  Side side() const noexcept;
  State state() const noexcept;
  // PED side: the serial the last parsed HsmHello stated (0 before one). It is
  // verified only once the endpoint emitted its IdentityEvent; before that it
  // serves to name the HSM in a refusal (docs/attestation.md §6).
  std::uint64_t stated_hsm_serial() const noexcept;
  // True while any session key, MacKey or ephemeral key is held.
  bool holds_key_material() const noexcept;

  struct Impl;

 private:
  explicit Endpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The device-side guard for one-time passwords (C(1e,1s)): answers key
// requests with the password and refuses every request once `max_attempts`
// tags have failed, so an online attacker gets only that many guesses, or once
// the password has opened a session (it is one-time).
class OneTimePasswordGuard final {
 public:
  static Result<OneTimePasswordGuard> create(SecretBytes password, unsigned max_attempts);
  Result<SecretBytes> derive(const KeyDerivationRequest& request, const crypto::EcKeyPair& hsm_static);
  unsigned failed_attempts() const noexcept { return failed_; }
  bool exhausted() const noexcept { return used_ || failed_ >= max_attempts_; }
  bool used() const noexcept { return used_; }

 private:
  OneTimePasswordGuard(SecretBytes password, unsigned max_attempts)
      : password_(std::move(password)), max_attempts_(max_attempts) {}
  SecretBytes password_;
  unsigned max_attempts_;
  unsigned failed_ = 0;
  bool used_ = false;
};

// A fresh 8-digit one-time password, uniformly distributed (rejection sampling).
Result<SecretBytes> generate_one_time_password();

}  // namespace rped::channel
