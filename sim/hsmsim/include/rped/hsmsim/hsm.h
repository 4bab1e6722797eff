// The emulated HSM's firmware: its persistent state, the answers it gives
// pedclient over the backend socket, and the operator commands (LunaCM's
// `ped`, `hsm`, `role` and `partition` commands) with their documented
// result codes. docs/hsmsim.md is the operator's view of it.
//
// The device boundary (docs/protocol.md §1) is kept here: the HSM static key,
// the RPV and the one-time password are used only inside
// derive_session_keys(), which verifies tag_U before it releases the DKM and
// counts failed one-time-password attempts (OneTimePasswordGuard). Role
// secrets come from the PED through pedclient and are checked against
// verifiers; the secrets themselves are never stored.
//
// Thread-safety: all methods may be called from any thread. The pedclient-side
// methods answer at once. Operator commands may wait minutes for the PED (they
// never hold the state lock while waiting) and must be serialized by the
// caller with command_mutex(): an HSM runs one PED operation at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "rped/channel/endpoint.h"
#include "rped/hsm/backend_protocol.h"
#include "rped/hsmsim/audit_log.h"
#include "rped/hsmsim/hsm_state.h"
#include "rped/hsmsim/result_code.h"
#include "rped/hsmsim/state_directory.h"
#include "rped/ped/device_protocol.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::hsmsim {

// pedclient's answer to one of the HSM's requests.
struct LinkReply {
  enum class Kind : std::uint8_t {
    ok,           // payload: the response's fields
    refused,      // failure: pedclient's error response
    not_running,  // no pedclient is attached to the backend socket
    lost,         // pedclient went away before answering
    timed_out,    // no answer within the deadline
  };
  Kind kind = Kind::not_running;
  SecretBytes payload;
  hsm::Failure failure;
};

// The HSM's side of the backend socket (BackendServer; tests substitute their own).
class PedclientLink {
 public:
  virtual ~PedclientLink() = default;
  virtual bool attached() const = 0;
  // Sends a request to pedclient and waits for its answer (blocking).
  virtual LinkReply call(hsm::MessageType type, ByteView body,
                         std::chrono::milliseconds timeout) = 0;
};

// Where an operator command's output goes, and how it asks for confirmation.
// line() and secret_line() must not block: the HSM may call them with its
// state lock held (implementations queue the output).
class Console {
 public:
  virtual ~Console() = default;
  virtual void line(std::string_view text) = 0;
  // A line that shows a secret to the operator (the one-time password):
  // prefix || secret || suffix, assembled only in wiping buffers.
  virtual void secret_line(std::string_view prefix, const SecretBytes& secret,
                           std::string_view suffix) = 0;
  // Asks the operator; nullopt when nobody can answer.
  virtual std::optional<std::string> ask(std::string_view prompt) = 0;
};

struct CommandResult {
  ResultCode code = ResultCode::ok;
  std::string message;  // shown above the result line; never secret
  bool ok() const noexcept { return code == ResultCode::ok; }
};

struct HsmTimings {
  // timeout_ms the HSM puts in PED commands: the custodian's time to act
  // (the documented PED key operation timeout is 200 s).
  std::uint32_t ped_operation_timeout_ms = ped::kDefaultKeyOperationTimeoutMs;
  // The whole `ped connect`, custodian included (the orange key is read then).
  std::uint32_t connect_timeout_ms = 200'000;
  // Added on the HSM side before it stops waiting for pedclient.
  std::chrono::milliseconds margin{15'000};
  std::chrono::milliseconds disconnect_timeout{10'000};
  // Failed tags one one-time password survives (docs/protocol.md §4.5).
  unsigned one_time_password_attempts = 3;
  std::chrono::seconds auditor_lockout{600};
  // Unacknowledged audit records the HSM holds before it refuses operations
  // with CKR_LOG_FULL (docs/hsmsim.md §Audit log). Not a timing, but a limit
  // tests set small.
  std::size_t audit_capacity = kDefaultAuditCapacity;
};

struct PedConnectArgs {
  std::optional<std::string> host;
  std::optional<std::uint16_t> port;
  bool one_time_password = false;  // -password
  std::optional<std::string>
      one_time_password_digits;  // -password 12345678 (the operator's choice)
};

struct VectorInitArgs {
  std::optional<std::string> host;  // for a remote RPV initialization that opens its own connection
  std::optional<std::uint16_t> port;
  bool force = false;
};

using Logger = std::function<void(std::string_view)>;

class Hsm final {
 public:
  static Result<std::unique_ptr<Hsm>> create(StateDirectory directory, HsmTimings timings,
                                             Logger log);
  ~Hsm();
  Hsm(const Hsm&) = delete;
  Hsm& operator=(const Hsm&) = delete;

  // --- pedclient's side (backend socket) --------------------------------------
  void set_link(PedclientLink* link);
  hsm::IdentityResponse identity() const;
  // The HSM-side key derivation (docs/protocol.md §1): the DKM, or why not.
  std::variant<SecretBytes, hsm::Failure> derive_session_keys(
      const hsm::DeriveSessionKeysRequest& request);
  void on_ped_connection_state(const hsm::PedConnectionState& state);
  void on_pedclient_attached();
  void on_pedclient_detached(std::string_view why);
  // audit_resume: pedclient holds records up to request.last_seq; streaming starts.
  hsm::AuditResumeResponse on_audit_resume(const hsm::AuditResumeRequest& request);

  // --- operator commands ------------------------------------------------------
  std::mutex& command_mutex() noexcept { return command_mu_; }

  CommandResult ped_connect(const PedConnectArgs& args, Console& out);
  CommandResult ped_disconnect(Console& out);
  CommandResult ped_set(std::optional<std::string> host, std::optional<std::uint16_t> port,
                        Console& out);
  CommandResult ped_show(Console& out);
  CommandResult ped_vector_init(const VectorInitArgs& args, Console& out);
  CommandResult ped_vector_erase(bool force, Console& out);
  // One get_status through pedclient, pedserver and the PED and back, for
  // `ped ping` (ped_ping.h, the PED round trip in bench/). Prints nothing.
  CommandResult ped_get_status();

  CommandResult hsm_init(const std::string& label, bool force, Console& out);
  CommandResult hsm_zeroize(bool force, Console& out);
  CommandResult hsm_factory_reset(bool force, Console& out);
  CommandResult hsm_show(Console& out);
  CommandResult hsm_show_policies(Console& out);
  CommandResult hsm_change_policy(std::uint16_t policy, std::uint32_t value, Console& out);

  CommandResult role_init(Role role, Console& out);
  CommandResult role_login(Role role, Console& out);
  CommandResult role_change_pw(Role role, Console& out);
  CommandResult role_logout(Console& out);
  CommandResult role_show(Console& out);

  CommandResult partition_create(Console& out);
  CommandResult partition_init(const std::string& label, bool force, Console& out);
  CommandResult partition_show(Console& out);

  // --- for firmware features in their own files (pkc.cpp) ---------------------
  // Transactional: `change` edits a copy of the state; when it succeeds the
  // copy is saved and replaces the state. Under the state lock.
  Result<void> update_state(const std::function<Result<void>(HsmState&)>& change);
  const std::filesystem::path& state_directory() const;

  // audit commands (docs/hsmsim.md §Audit log). show and head: anyone; config
  // and secret export: the logged-in auditor.
  CommandResult audit_show(Console& out);
  CommandResult audit_config(const std::string& parameter, const std::string& value, Console& out);
  CommandResult audit_secret_export(const std::string& file, Console& out);
  CommandResult audit_head(Console& out);

  // --- for tests and `hsmsim show` --------------------------------------------
  HsmState snapshot() const;
  std::optional<Role> logged_in() const;
  bool ped_connected() const;
  AuditLogStatus audit_status() const;

  struct Impl;

 private:
  // The commands themselves; the public ones above add the audit record and the log-full gate.
  CommandResult ped_connect_body(const PedConnectArgs& args, Console& out);
  CommandResult ped_disconnect_body(Console& out);
  CommandResult ped_set_body(std::optional<std::string> host, std::optional<std::uint16_t> port,
                             Console& out);
  CommandResult ped_vector_init_body(const VectorInitArgs& args, Console& out);
  CommandResult ped_vector_erase_body(bool force, Console& out);
  CommandResult hsm_init_body(const std::string& label, bool force, Console& out);
  CommandResult hsm_zeroize_body(bool force, Console& out);
  CommandResult hsm_factory_reset_body(bool force, Console& out);
  CommandResult hsm_change_policy_body(std::uint16_t policy, std::uint32_t value, Console& out);
  CommandResult role_init_body(Role role, Console& out);
  CommandResult role_login_body(Role role, Console& out);
  CommandResult role_change_pw_body(Role role, Console& out);
  CommandResult role_logout_body(Console& out);
  CommandResult partition_create_body(Console& out);
  CommandResult partition_init_body(const std::string& label, bool force, Console& out);

  explicit Hsm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::mutex command_mu_;
};

}  // namespace rped::hsmsim
