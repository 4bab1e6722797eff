#include "rped/hsmsim/hsm.h"
#include "rped/hsmsim/pkc.h"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cctype>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

#include "rped/channel/limits.h"
#include "rped/crypto/symmetric.h"
#include "rped/hsmsim/certificate_issuer.h"
#include "secret_writer.h"

namespace rped::hsmsim {

namespace firmware_detail {

using channel::Scheme;

// The link's state as the HSM sees it.
struct LinkState {
  enum class Phase : std::uint8_t { down, connecting, up };
  Phase phase = Phase::down;
  Scheme scheme = Scheme::full_unified;
  std::string pedserver;
  std::uint64_t rpk_serial = 0;
  std::string peer_subject;
  std::int64_t since = 0;
  std::optional<channel::AlertCode> last_reason;
  std::string last_detail;
  bool ever_ended = false;
};

// The outcome of one PED operation.
struct PedOutcome {
  ResultCode code = ResultCode::ok;
  std::string message;
  std::optional<ped::Status> device_status;  // the PED answered with this error
  SecretBytes payload;                       // ok: the response's fields (may hold a CSP)
  bool ok() const noexcept { return code == ResultCode::ok; }
};

}  // namespace firmware_detail

namespace {

using channel::Scheme;
using firmware_detail::LinkState;
using firmware_detail::PedOutcome;
using hsm::MessageType;

constexpr std::size_t kRoleSecretBytes = 32;  // fresh credentials the HSM sends to new PED keys

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::string time_text(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

CommandResult fail(ResultCode code, std::string message) {
  return CommandResult{code, std::move(message)};
}

std::string scheme_text(Scheme scheme) {
  return scheme == Scheme::full_unified ? "Full Unified C(2e,2s), orange key"
                                        : "one-pass C(1e,1s), one-time password";
}

std::string address(const std::string& host, std::uint16_t port) {
  return host + ":" + std::to_string(port);
}

bool is_eight_digits(std::string_view text) {
  return text.size() == channel::kPasswordDigits &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_label(std::string_view label) {
  return !label.empty() && label.size() <= kMaxLabelBytes &&
         std::all_of(label.begin(), label.end(),
                     [](char c) { return std::isprint(static_cast<unsigned char>(c)) != 0; });
}

std::string purpose_of(Role role) {
  return std::string(role_short_name(role));
}

// What the PED shows while it asks for a role's keys: whose keys, for what
// ("HSM 1234567 / HSM SO LOGIN"), so the custodian picks the right ones.
std::string ped_context(const HsmState& state, Role role, std::string_view action) {
  std::string name(role_long_name(role));
  for (char& c : name) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  const bool hsm_role = role == Role::so || role == Role::auditor;
  std::string context = hsm_role ? "HSM " + std::to_string(state.manufacturing.serial)
                                 : "PARTITION " + state.partition.label;
  context += " / ";
  if (action == "new") {
    context += "NEW ";
  }
  context += name;
  if (action == "login") {
    context += " LOGIN";
  }
  return context;
}

// LunaCM's confirmation for destructive commands.
bool confirmed(Console& out, std::string_view warning) {
  out.line(warning);
  const std::optional<std::string> answer =
      out.ask("Type 'proceed' to continue, or 'quit' to quit now -> ");
  if (!answer) {
    return false;
  }
  std::string word = *answer;
  while (!word.empty() && std::isspace(static_cast<unsigned char>(word.back())) != 0) {
    word.pop_back();
  }
  return word == "proceed";
}

CommandResult aborted() {
  return fail(ResultCode::function_canceled, "Command aborted.");
}

// A Bytes buffer that held a CSP, moved into a wiping container and wiped.
SecretBytes into_secret(Bytes&& bytes) {
  SecretBytes out = SecretBytes::copy_of(bytes);
  secure_wipe(bytes.data(), bytes.size());
  bytes.clear();
  return out;
}

std::string alert_text(const std::optional<channel::AlertCode>& alert) {
  return alert ? std::string(channel::alert_name(*alert)) : std::string("no alert");
}

PedOutcome ped_failure(ResultCode code, std::string message,
                       std::optional<ped::Status> status = std::nullopt) {
  PedOutcome o;
  o.code = code;
  o.message = std::move(message);
  o.device_status = status;
  return o;
}

// docs/hsmsim.md §Result codes: what a PED's error status becomes.
PedOutcome from_device_status(ped::Status status, const std::string& message) {
  const std::string detail =
      "PED: " + std::string(ped::status_name(status)) + (message.empty() ? "" : ": " + message);
  switch (status) {
    case ped::Status::timeout:
      return ped_failure(ResultCode::timeout, detail, status);
    case ped::Status::cancelled:
      return ped_failure(ResultCode::function_canceled, detail, status);
    case ped::Status::pin_incorrect:
    case ped::Status::keyset_mismatch:
      return ped_failure(ResultCode::pin_incorrect, detail, status);
    case ped::Status::ok:
    case ped::Status::wrong_key_type:
    case ped::Status::key_removed:
    case ped::Status::duplicate_split:
    case ped::Status::not_in_remote_mode:
    case ped::Status::busy:
    case ped::Status::bad_request:
    case ped::Status::blank_key:
    case ped::Status::internal:
    default:
      return ped_failure(ResultCode::callback_error, detail, status);
  }
}

}  // namespace

struct Hsm::Impl {
  Impl(StateDirectory dir, HsmKeys k, HsmTimings t, Logger l)
      : directory(std::move(dir)), keys(std::move(k)), timings(t), log(std::move(l)) {}

  StateDirectory directory;
  const HsmKeys keys;
  const HsmTimings timings;
  const Logger log;

  mutable std::mutex mu;  // everything below
  HsmState state;
  PedclientLink* link = nullptr;
  bool pedclient_attached = false;
  std::optional<Role> logged_in;
  LinkState ped;
  std::optional<channel::OneTimePasswordGuard> otp;
  unsigned auth_failures = 0;  // tag_U failures since the current `ped connect` began
  std::uint32_t device_request_id = 0;

  void say(const std::string& text) const {
    if (log) {
      log(text);
    }
  }

  std::string serial_text() const { return std::to_string(state.manufacturing.serial); }

  // Transactional update (ENGINEERING.md convention 6): the change is applied
  // to a copy, the copy is written, and only then does it replace the state.
  template <typename Change>
  Result<void> commit_locked(Change&& change) {
    HsmState next = state.clone();
    change(next);
    RPED_TRY(directory.save(next));
    state = std::move(next);
    return {};
  }

  static CommandResult save_failed(const Error& e) {
    return fail(ResultCode::device_error, "cannot write the HSM state: " + e.message);
  }

  // Preconditions of every PED operation; nullopt when it may go ahead.
  std::optional<CommandResult> ped_unavailable_locked(bool allow_one_pass) const {
    if (link == nullptr || !pedclient_attached) {
      return fail(ResultCode::ped_client_not_running,
                  "pedclient is not attached to this HSM's backend socket: start pedclient");
    }
    if (ped.phase != LinkState::Phase::up) {
      return fail(ResultCode::ped_unplugged,
                  "no Remote PED connection: run 'ped connect' first (hsmsim does not emulate a "
                  "local PED)");
    }
    if (ped.scheme == Scheme::one_pass_password && !allow_one_pass) {
      return fail(ResultCode::operation_not_allowed,
                  "the one-time-password connection serves only 'ped vector init'; connect with "
                  "the orange key");
    }
    return std::nullopt;
  }

  void mark_down_locked(std::optional<channel::AlertCode> reason, std::string detail) {
    if (ped.phase != LinkState::Phase::down) {
      say("Remote PED connection to " + ped.pedserver + " ended: " + alert_text(reason) +
          (detail.empty() ? "" : " (" + detail + ")"));
    }
    ped.phase = LinkState::Phase::down;
    ped.last_reason = reason;
    ped.last_detail = std::move(detail);
    ped.ever_ended = true;
  }

  // Runs one PED command through pedclient. `body` is the command's body in
  // device form (it may hold a CSP).
  PedOutcome run_ped(ped::Op op, const SecretBytes& body, bool allow_one_pass = false) {
    PedclientLink* l = nullptr;
    std::uint32_t id = 0;
    {
      const std::lock_guard lock(mu);
      if (const auto refused = ped_unavailable_locked(allow_one_pass)) {
        return ped_failure(refused->code, refused->message);
      }
      l = link;
      id = ++device_request_id;
      if (id == 0) {
        id = ++device_request_id;
      }
    }
    // The device frame (docs/ped-device.md §2), built in wiping buffers.
    SecretWriter frame;
    frame.u32(static_cast<std::uint32_t>(ped::kDeviceFrameHeaderBytes - 4 + body.size()));
    frame.u8(ped::kDeviceProtocolVersion);
    frame.u8(static_cast<std::uint8_t>(ped::FrameKind::command));
    frame.u16(static_cast<std::uint16_t>(op));
    frame.u32(id);
    frame.bytes(body.reveal());
    hsm::PedRequest request;
    request.timeout_ms = timings.ped_operation_timeout_ms;
    request.device_frame = frame.take();
    const SecretBytes wire = request.serialize();
    const auto deadline =
        std::chrono::milliseconds(timings.ped_operation_timeout_ms) + timings.margin;
    LinkReply reply = l->call(MessageType::ped_request, wire.reveal(), deadline);
    return interpret(op, id, std::move(reply));
  }

  PedOutcome interpret(ped::Op op, std::uint32_t id, LinkReply reply) {
    switch (reply.kind) {
      case LinkReply::Kind::ok:
        break;
      case LinkReply::Kind::not_running:
      case LinkReply::Kind::lost: {
        const std::lock_guard lock(mu);
        mark_down_locked(std::nullopt, "pedclient went away");
        return ped_failure(ResultCode::ped_client_not_running,
                           "pedclient went away during the PED operation");
      }
      case LinkReply::Kind::timed_out:
        return ped_failure(ResultCode::timeout,
                           "no answer from the PED within " +
                               std::to_string(timings.ped_operation_timeout_ms / 1000) + " s");
      case LinkReply::Kind::refused:
      default: {
        const hsm::Failure& f = reply.failure;
        switch (f.status) {
          case hsm::Status::no_ped_connection:
          case hsm::Status::connection_lost: {
            const std::lock_guard lock(mu);
            mark_down_locked(f.alert, f.message);
            return ped_failure(ResultCode::ped_unplugged,
                               "the Remote PED connection is gone (" + alert_text(f.alert) +
                                   (f.message.empty() ? "" : ": " + f.message) + ")");
          }
          case hsm::Status::timeout:
            return ped_failure(ResultCode::timeout, "pedclient: " + f.message);
          default:
            return ped_failure(
                ResultCode::callback_error,
                "pedclient: " + std::string(hsm::status_name(f.status)) + ": " + f.message);
        }
      }
    }
    auto response = hsm::PedResponse::parse(reply.payload.reveal());
    if (!response.ok()) {
      return ped_failure(ResultCode::callback_error,
                         "bad PED response from pedclient: " + response.error().message);
    }
    auto frame = ped::DeviceFrame::parse(response->device_frame.reveal());
    if (!frame.ok()) {
      return ped_failure(ResultCode::callback_error,
                         "bad PED response frame: " + frame.error().message);
    }
    const SecretBytes body = into_secret(std::move(frame->body));
    if (frame->op != op || frame->request_id != id) {
      return ped_failure(
          ResultCode::callback_error,
          "the PED's response does not answer the HSM's " + std::string(ped::op_name(op)));
    }
    auto parsed = ped::parse_response(body.reveal());
    if (!parsed.ok()) {
      return ped_failure(ResultCode::callback_error, "bad PED response: " + parsed.error().message);
    }
    if (parsed->first.status != ped::Status::ok) {
      return from_device_status(parsed->first.status, parsed->first.message);
    }
    PedOutcome ok;
    ok.payload = SecretBytes::copy_of(parsed->second);
    return ok;
  }

  struct Keyset {
    SecretBytes secret;
    std::uint8_t m = 1;
    std::uint8_t n = 1;
    Bytes keyset_id;
  };

  // hsm init and partition init: a blue keyset (the SO of the HSM or of the
  // partition) and a red domain keyset, both created on the PED, enrolled as
  // verifiers. Nothing is enrolled unless both were created.
  struct EnrolledPair {
    PedSecretRecord blue;
    PedSecretRecord red;
    std::uint8_t m = 1;  // of the blue keyset
    std::uint8_t n = 1;
  };
  std::variant<EnrolledPair, CommandResult> create_blue_and_red(const std::string& owner,
                                                                std::string_view blue_purpose,
                                                                std::string_view blue_name,
                                                                std::string_view red_purpose,
                                                                std::string_view red_name) {
    auto blue = create_keyset(ped::KeyType::blue, owner + " / " + std::string(blue_name), true);
    if (auto* failed = std::get_if<CommandResult>(&blue)) {
      return *failed;
    }
    auto red = create_keyset(ped::KeyType::red, owner + " / " + std::string(red_name), true);
    if (auto* failed = std::get_if<CommandResult>(&red)) {
      return *failed;
    }
    const Keyset& blue_keys = std::get<Keyset>(blue);
    const Keyset& red_keys = std::get<Keyset>(red);
    auto blue_record = PedSecretRecord::create(blue_purpose, blue_keys.secret.reveal(), blue_keys.m,
                                               blue_keys.n, blue_keys.keyset_id);
    auto red_record = PedSecretRecord::create(red_purpose, red_keys.secret.reveal(), red_keys.m,
                                              red_keys.n, red_keys.keyset_id);
    if (!blue_record.ok() || !red_record.ok()) {
      return fail(ResultCode::general_error, "the HSM could not enroll the new credentials");
    }
    return EnrolledPair{std::move(blue_record).value(), std::move(red_record).value(), blue_keys.m,
                        blue_keys.n};
  }

  // create_keyset: the PED writes `secret` (or, if the custodian reuses a
  // keyset, keeps that keyset's own); the HSM gets back the secret in the keyset.
  std::variant<Keyset, CommandResult> create_keyset(ped::KeyType type, std::string context,
                                                    bool allow_reuse) {
    auto secret = crypto::random_secret(kRoleSecretBytes);
    if (!secret.ok()) {
      return fail(ResultCode::general_error, "random generator: " + secret.error().message);
    }
    ped::CreateKeysetRequest request;
    request.key_type = type;
    request.context = std::move(context);
    request.allow_reuse = allow_reuse;
    request.secret = std::move(secret).value();
    request.timeout_ms = timings.ped_operation_timeout_ms;
    const PedOutcome outcome = run_ped(ped::Op::create_keyset, into_secret(request.serialize()));
    if (!outcome.ok()) {
      return fail(outcome.code, outcome.message);
    }
    auto response = ped::CreateKeysetResponse::parse(outcome.payload.reveal());
    if (!response.ok()) {
      return fail(ResultCode::callback_error,
                  "the PED's create_keyset answer does not parse: " + response.error().message);
    }
    if (response->secret.empty()) {
      return fail(ResultCode::callback_error, "the PED returned an empty keyset secret");
    }
    return Keyset{std::move(response->secret), response->m, response->n,
                  std::move(response->keyset_id)};
  }

  // A role's credential read from the PED and checked, with the failed-login
  // policy applied (docs/hsmsim.md §Failed logins). Returns ok when verified.
  CommandResult authenticate(Role role, Console& out) {
    std::string context;
    {
      const std::lock_guard lock(mu);
      context = ped_context(state, role, "login");
    }
    out.line("Please attend to the PED.");
    ped::ReadSecretRequest request;
    request.key_type = role_key_type(role);
    request.context = context;
    request.timeout_ms = timings.ped_operation_timeout_ms;
    const Bytes body = request.serialize();
    PedOutcome outcome = run_ped(ped::Op::read_secret, SecretBytes::copy_of(body));

    bool verified = false;
    if (outcome.ok()) {
      auto response = ped::ReadSecretResponse::parse(outcome.payload.reveal());
      if (!response.ok()) {
        return fail(ResultCode::callback_error,
                    "the PED's read_secret answer does not parse: " + response.error().message);
      }
      const std::lock_guard lock(mu);
      verified = state.role_record(role).verifies(purpose_of(role), response->secret.reveal());
      if (!verified) {
        outcome = ped_failure(
            ResultCode::pin_incorrect,
            "the PED key does not hold the " + std::string(role_long_name(role)) + " credential");
      }
    } else if (outcome.device_status != ped::Status::pin_incorrect &&
               outcome.device_status != ped::Status::keyset_mismatch) {
      // Luna: a missing key, a wrong key colour, a timeout or a cancel is not a failed attempt.
      return fail(outcome.code, outcome.message);
    }

    const std::lock_guard lock(mu);
    if (verified) {
      if (auto saved = commit_locked([&](HsmState& s) {
            PedSecretRecord& r = s.role_record(role);
            r.failed_logins = 0;
            r.locked_until = 0;
          });
          !saved.ok()) {
        return save_failed(saved.error());
      }
      return {};
    }
    return count_failed_login_locked(role, outcome.message, out);
  }

  CommandResult count_failed_login_locked(Role role, const std::string& why, Console& out) {
    const std::uint32_t limit = role_login_limit(role);
    const std::uint32_t failed = state.role_record(role).failed_logins + 1;
    const std::string name(role_long_name(role));
    say(name + " login failed (" + std::to_string(failed) + " of " + std::to_string(limit) +
        "): " + why);
    if (failed >= limit) {
      Result<void> saved;
      CommandResult result;
      switch (role) {
        case Role::so:
          // Luna: three failed HSM SO logins zeroize the HSM; the number is not adjustable.
          saved = commit_locked([](HsmState& s) { s.zeroize(); });
          logged_in.reset();
          result =
              fail(ResultCode::so_login_failure_threshold,
                   "The HSM SO failed-login limit (3) was reached: the HSM has been zeroized.");
          break;
        case Role::partition_so:
          saved = commit_locked([](HsmState& s) { s.zeroize_partition(); });
          if (logged_in && *logged_in != Role::so && *logged_in != Role::auditor) {
            logged_in.reset();
          }
          result = fail(ResultCode::pin_incorrect,
                        "The Partition SO failed-login limit (" + std::to_string(limit) +
                            ") was reached: the partition has been zeroized.");
          break;
        case Role::auditor: {
          const std::int64_t until = unix_now() + timings.auditor_lockout.count();
          saved = commit_locked([&](HsmState& s) {
            s.auditor.failed_logins = failed;
            s.auditor.locked_until = until;
          });
          result =
              fail(ResultCode::audit_login_failure_threshold,
                   "The Auditor failed-login limit (" + std::to_string(limit) +
                       ") was reached: the role is locked out until " + time_text(until) + ".");
          break;
        }
        case Role::crypto_officer:
        case Role::crypto_user:
        default:
          saved = commit_locked([&](HsmState& s) {
            s.role_record(role).failed_logins = failed;
            s.role_record(role).locked_until = PedSecretRecord::kLockedUntilReset;
          });
          result = fail(ResultCode::pin_incorrect, "The " + name + " failed-login limit (" +
                                                       std::to_string(limit) +
                                                       ") was reached: the role is locked out.");
          break;
      }
      if (!saved.ok()) {
        return save_failed(saved.error());
      }
      say(result.message);
      return result;
    }
    if (auto saved =
            commit_locked([&](HsmState& s) { s.role_record(role).failed_logins = failed; });
        !saved.ok()) {
      return save_failed(saved.error());
    }
    const std::uint32_t left = limit - failed;
    std::string warning = "Caution:  You have only " + std::to_string(left) + " " +
                          purpose_of(role) + " login attempts left.";
    if (role == Role::so) {
      warning += " If you fail " + std::to_string(left) +
                 " more login attempts, the HSM will be zeroized.";
    }
    out.line(warning);
    return fail(ResultCode::pin_incorrect, why);
  }

  // Whether `role` can try to log in now; nullopt when it may.
  std::optional<CommandResult> login_refused_locked(Role role) {
    if ((role == Role::so || role == Role::auditor) ? false : !state.partition.initialized) {
      return fail(ResultCode::user_pin_not_initialized,
                  "the partition is not initialized: run 'partition init'");
    }
    PedSecretRecord& record = state.role_record(role);
    if (!record.initialized) {
      return fail(ResultCode::user_pin_not_initialized,
                  "the " + std::string(role_long_name(role)) + " role is not initialized");
    }
    if (logged_in == role) {
      return fail(ResultCode::user_already_logged_in,
                  "the " + std::string(role_long_name(role)) + " is already logged in");
    }
    if (logged_in) {
      return fail(ResultCode::user_another_already_logged_in,
                  "the " + std::string(role_long_name(*logged_in)) +
                      " is logged in: run 'role logout' first");
    }
    if (record.locked_until != 0) {
      if (record.locked_until == PedSecretRecord::kLockedUntilReset) {
        return fail(ResultCode::pin_locked, "the " + std::string(role_long_name(role)) +
                                                " is locked out after too many failed logins");
      }
      if (record.locked_until > unix_now()) {
        return fail(role == Role::auditor ? ResultCode::audit_login_failure_threshold
                                          : ResultCode::pin_locked,
                    "the " + std::string(role_long_name(role)) + " is locked out until " +
                        time_text(record.locked_until));
      }
      // The lockout has passed: the count starts again.
      if (auto saved = commit_locked([&](HsmState& s) {
            s.role_record(role).locked_until = 0;
            s.role_record(role).failed_logins = 0;
          });
          !saved.ok()) {
        return save_failed(saved.error());
      }
    }
    return std::nullopt;
  }

  // The request to pedclient to end the Remote PED connection (best effort).
  void disconnect_quietly() {
    PedclientLink* l = nullptr;
    {
      const std::lock_guard lock(mu);
      l = pedclient_attached ? link : nullptr;
    }
    if (l != nullptr) {
      static_cast<void>(l->call(MessageType::disconnect_ped, {}, timings.disconnect_timeout));
    }
    const std::lock_guard lock(mu);
    mark_down_locked(channel::AlertCode::close_notify, "closed by the HSM");
  }

  CommandResult check_rpk_certificate(const crypto::Certificate& certificate,
                                      const channel::KeyDerivationRequest& request) const;

  // --- audit log (docs/hsmsim.md §Audit log) --------------------------------
  std::unique_ptr<AuditLog> audit;

  // Whether `audit config` asks for this record (unconditional events always).
  bool wants_locked(audit::Category category, bool success) const {
    if (category == audit::Category::unconditional) {
      return true;
    }
    const std::uint8_t setting = state.audit.categories[static_cast<std::size_t>(category)];
    return (setting & (success ? kAuditOnSuccess : kAuditOnFailure)) != 0;
  }

  // Writes one record: S/N, who, what, the result (docs/audit-log.md §3).
  void record(audit::Event event, audit::Category category, std::optional<Role> who,
              const std::string& what, ResultCode result, bool reserved,
              std::array<std::uint8_t, 14> detail = {}) {
    audit::AuditEvent e;
    e.category = category;
    e.event = event;
    e.result = static_cast<std::uint32_t>(result);
    e.role = who ? static_cast<std::uint8_t>(*who) : 0;
    e.success = result == ResultCode::ok;
    e.detail = detail;
    std::string serial;
    {
      const std::lock_guard lock(mu);
      if (!wants_locked(category, e.success)) {
        return;
      }
      e.hsm_serial = state.manufacturing.serial;
      serial = serial_text();
    }
    char code[16];
    std::snprintf(code, sizeof code, "0x%08X", static_cast<unsigned>(result));
    const std::string text = "S/N " + serial + " role " +
                             (who ? std::string(role_short_name(*who)) : std::string("none")) +
                             " " + std::string(audit::event_name(event)) +
                             (what.empty() ? "" : " " + what) + " returned " +
                             std::string(result_name(result)) + "(" + code + ")";
    auto appended = audit->append(e, text, reserved);
    if (!appended.ok()) {
      // Only the auditor's and logouts get here when full (the gate refused the rest).
      say("audit: record not written (" + std::string(audit::event_name(event)) +
          "): " + appended.error().message);
      return;
    }
    if (audit->full()) {
      say("audit: the log is full (" + std::to_string(audit->status().unacknowledged) +
          " records wait for pedclient): operations are refused with CKR_LOG_FULL");
    }
  }

  // The log-full gate and the record around one command.
  template <typename Body>
  CommandResult audited(audit::Event event, audit::Category category, bool auditor_allowed,
                        const std::string& what, Body&& body) {
    const std::optional<Role> who = [&] {
      const std::lock_guard lock(mu);
      return logged_in;
    }();
    if (!auditor_allowed && audit->full()) {
      return fail(ResultCode::log_full,
                  "the HSM's audit log is full: pedclient must store the records before the HSM "
                  "does anything else (only the auditor's commands are allowed)");
    }
    CommandResult result = body();
    record(event, category, who, what, result.code, auditor_allowed);
    return result;
  }
};

Hsm::Hsm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Hsm::~Hsm() = default;

Result<std::unique_ptr<Hsm>> Hsm::create(StateDirectory directory, HsmTimings timings, Logger log) {
  HsmState probe = directory.take_loaded_state();
  RPED_TRY_ASSIGN(HsmKeys keys, StateDirectory::load_keys(probe.manufacturing));
  auto impl =
      std::make_unique<Impl>(std::move(directory), std::move(keys), timings, std::move(log));
  impl->state = std::move(probe);
  // The 256-bit log secret: created once (the first start after manufacturing,
  // or the first start of an older state file) and never changed.
  if (impl->state.audit.secret.size() != audit::kLogSecretBytes) {
    SecretBytes secret(audit::kLogSecretBytes);
    RPED_TRY(crypto::random_bytes(secret.reveal_mutable()));
    RPED_TRY(impl->commit_locked([&](HsmState& next) { next.audit.secret = std::move(secret); }));
  }
  audit::LogSecret log_secret =
      audit::LogSecret::copy_of(impl->state.audit.secret.reveal().first<audit::kLogSecretBytes>());
  RPED_TRY_ASSIGN(impl->audit,
                  AuditLog::open(impl->directory.path() / "audit.buffer", std::move(log_secret),
                                 timings.audit_capacity, impl->log));
  return std::unique_ptr<Hsm>(new Hsm(std::move(impl)));
}

// ---------------------------------------------------------------------------
// pedclient's side

void Hsm::set_link(PedclientLink* link) {
  impl_->audit->set_link(link);  // waits for a batch in flight on the old link
  const std::lock_guard lock(impl_->mu);
  impl_->link = link;
}

hsm::AuditResumeResponse Hsm::on_audit_resume(const hsm::AuditResumeRequest& request) {
  hsm::AuditResumeResponse response = impl_->audit->on_resume(request);
  const std::lock_guard lock(impl_->mu);
  response.rotation_interval_s = impl_->state.audit.rotation_interval_s;
  response.rotation_bytes = impl_->state.audit.rotation_bytes;
  impl_->say("pedclient resumes the audit stream after record " + std::to_string(request.last_seq) +
             "; the newest is " + std::to_string(response.head_seq));
  return response;
}

void Hsm::on_pedclient_attached() {
  const std::lock_guard lock(impl_->mu);
  impl_->pedclient_attached = true;
  impl_->say("pedclient attached");
}

void Hsm::on_pedclient_detached(std::string_view why) {
  impl_->audit->on_detached();
  const std::lock_guard lock(impl_->mu);
  impl_->pedclient_attached = false;
  impl_->otp.reset();
  impl_->mark_down_locked(std::nullopt, "pedclient detached");
  impl_->say("pedclient detached: " + std::string(why));
}

hsm::IdentityResponse Hsm::identity() const {
  const std::lock_guard lock(impl_->mu);
  hsm::IdentityResponse id;
  id.serial = impl_->state.manufacturing.serial;
  id.label = impl_->state.label;
  id.firmware_version = impl_->state.manufacturing.firmware_version;
  id.model = impl_->state.manufacturing.model;
  id.rpv_initialized = impl_->state.rpv.initialized;
  id.certificate_chain = {impl_->keys.static_certificate, impl_->keys.hoc};
  // docs/attestation.md §6: the static key's PKC, for the custodian's PED.
  if (auto pkc =
          make_pkc(impl_->state, kStaticKeyHandle, static_cast<std::int64_t>(std::time(nullptr)));
      pkc.ok()) {
    id.static_key_pkc = std::move(pkc).value();
    // Test hook (an emulator only): a PKC damaged in transit, for the tests of
    // pedserver's refusal (docs/attestation.md §6).
    if (std::getenv("RPED_HSMSIM_CORRUPT_PKC") != nullptr && !id.static_key_pkc.empty()) {
      id.static_key_pkc[id.static_key_pkc.size() / 2] ^= 0x01;
    }
  }
  return id;
}

CommandResult Hsm::Impl::check_rpk_certificate(const crypto::Certificate& certificate,
                                               const channel::KeyDerivationRequest& request) const {
  // docs/protocol.md §3.5 step 2, checked here too: issued by this HSM's own
  // HOC (the only anchor), keyAgreement, serialNumber = rpk_serial, and the key
  // the HSM is asked to agree with.
  auto trust = crypto::TrustStore::from_issuer(keys.hoc);
  if (!trust.ok() || !trust->verify(certificate, {}).ok()) {
    return fail(ResultCode::operation_not_allowed,
                "the RPK certificate was not issued by this HSM's HOC");
  }
  if (!certificate.allows_key_agreement() ||
      certificate.subject_serial_number() != std::to_string(request.transcript.rpk_serial)) {
    return fail(ResultCode::operation_not_allowed,
                "the RPK certificate does not name RPK serial " +
                    std::to_string(request.transcript.rpk_serial) + " with keyAgreement");
  }
  auto key = certificate.ec_public_key();
  if (!key.ok() || !request.device_peer_key || !(key.value() == *request.device_peer_key)) {
    return fail(ResultCode::operation_not_allowed,
                "the RPK certificate does not certify the key in the request");
  }
  return {};
}

std::variant<SecretBytes, hsm::Failure> Hsm::derive_session_keys(
    const hsm::DeriveSessionKeysRequest& message) {
  Impl& m = *impl_;
  const channel::KeyDerivationRequest& request = message.key_request;
  const auto refuse = [](hsm::Status status, std::string text) {
    return hsm::Failure{status, std::nullopt, std::move(text)};
  };
  const std::lock_guard lock(m.mu);
  if (request.side != channel::Side::hsm) {
    return refuse(hsm::Status::bad_request, "the HSM answers only HSM-side (V) key requests");
  }
  if (request.transcript.hsm_serial != m.state.manufacturing.serial) {
    return refuse(hsm::Status::not_allowed, "the key request names HSM " +
                                                std::to_string(request.transcript.hsm_serial) +
                                                "; this is HSM " + m.serial_text());
  }
  if (m.state.policy(PolicyId::allow_remote_ped) == 0) {
    return refuse(hsm::Status::not_allowed, "HSM policy 25 (Allow Remote PED usage) is off");
  }
  Result<SecretBytes> dkm = make_error(Errc::internal, "unreachable");
  if (request.transcript.scheme == Scheme::full_unified) {
    if (!m.state.rpv.initialized) {
      return refuse(hsm::Status::not_allowed, "this HSM has no Remote PED Vector");
    }
    if (message.rpk_certificate) {
      if (const CommandResult checked = m.check_rpk_certificate(*message.rpk_certificate, request);
          !checked.ok()) {
        m.say("key derivation refused: " + checked.message);
        return refuse(hsm::Status::not_allowed, checked.message);
      }
    }
    dkm = channel::derive_dkm(request, &m.keys.static_key, m.state.rpv.rpv.reveal());
  } else {
    if (!m.otp) {
      return refuse(hsm::Status::not_allowed,
                    "no one-time password is active ('ped connect -password' issues one)");
    }
    if (m.otp->exhausted()) {
      return refuse(hsm::Status::not_allowed, "the one-time password is used up");
    }
    dkm = m.otp->derive(request, m.keys.static_key);
  }
  if (!dkm.ok()) {
    if (dkm.error().code == Errc::mac_mismatch) {
      ++m.auth_failures;
      if (request.transcript.scheme == Scheme::one_pass_password) {
        m.say("one-time password: tag_U did not verify (" +
              std::to_string(m.otp->failed_attempts()) + " of " +
              std::to_string(m.timings.one_time_password_attempts) + " attempts used)");
      } else {
        m.say("Full Unified: tag_U did not verify (wrong orange key or RPK)");
      }
      // One answer for a wrong RPV, password or RPK (docs/protocol.md §7).
      return refuse(hsm::Status::authentication_failed,
                    "the PED's key-confirmation tag does not verify");
    }
    return refuse(hsm::Status::bad_request, "key derivation: " + dkm.error().message);
  }
  if (request.transcript.scheme == Scheme::one_pass_password) {
    m.otp.reset();  // one-time: used once it has produced a session
    m.say("one-time password accepted; it is now used up");
  }
  return std::move(dkm).value();
}

void Hsm::on_ped_connection_state(const hsm::PedConnectionState& s) {
  Impl& m = *impl_;
  if (!s.connected) {
    // The link ended without the HSM asking (the PED went away, the custodian left ...).
    m.record(audit::Event::ped_disconnect, audit::Category::hsm_management, std::nullopt,
             "link to " + s.pedserver + " ended: " + alert_text(s.reason), ResultCode::ok, true);
  }
  const std::lock_guard lock(m.mu);
  if (s.connected) {
    const bool was_up = m.ped.phase == LinkState::Phase::up;
    m.ped.phase = LinkState::Phase::up;
    m.ped.scheme = s.scheme;
    m.ped.pedserver = s.pedserver;
    m.ped.rpk_serial = s.rpk_serial;
    m.ped.since = unix_now();
    if (!was_up) {
      m.say("Remote PED connection up: " + s.pedserver + " (" + scheme_text(s.scheme) + ")");
    }
  } else {
    m.mark_down_locked(s.reason, s.detail);
  }
}

// ---------------------------------------------------------------------------
// ped commands

CommandResult Hsm::ped_connect_body(const PedConnectArgs& args, Console& out) {
  Impl& m = *impl_;
  hsm::ConnectPedRequest request;
  PedclientLink* link = nullptr;
  {
    const std::lock_guard lock(m.mu);
    if (m.state.policy(PolicyId::allow_remote_ped) == 0) {
      return fail(ResultCode::operation_not_allowed,
                  "HSM policy 25 (Allow Remote PED usage) is off");
    }
    if (m.link == nullptr || !m.pedclient_attached) {
      return fail(ResultCode::ped_client_not_running,
                  "pedclient is not attached to this HSM's backend socket: start pedclient");
    }
    if (m.ped.phase != LinkState::Phase::down) {
      return fail(ResultCode::operation_not_allowed,
                  "a Remote PED connection to " + m.ped.pedserver +
                      " is already open: run 'ped disconnect' first");
    }
    request.host = args.host.value_or(m.state.ped.host);
    request.port = args.port.value_or(m.state.ped.port);
    if (request.host.empty()) {
      return fail(ResultCode::arguments_bad,
                  "no PED server: give -ip and -port, or set them with 'ped set'");
    }
    if (request.host.size() > hsm::kMaxHostBytes || request.port == 0) {
      return fail(ResultCode::arguments_bad, "the PED server address is not valid");
    }
    request.scheme = args.one_time_password ? Scheme::one_pass_password : Scheme::full_unified;
    request.timeout_ms = m.timings.connect_timeout_ms;
    if (request.scheme == Scheme::one_pass_password) {
      if (m.state.initialized) {
        return fail(ResultCode::operation_not_allowed,
                    "one-time-password connections are for the remote RPV initialization of a "
                    "zeroized HSM; "
                    "this HSM is initialized: connect with the orange key");
      }
      SecretBytes password;
      if (args.one_time_password_digits) {
        if (!is_eight_digits(*args.one_time_password_digits)) {
          return fail(ResultCode::arguments_bad, "a one-time password is exactly 8 digits");
        }
        password = SecretBytes::copy_of(
            ByteView(reinterpret_cast<const std::uint8_t*>(args.one_time_password_digits->data()),
                     channel::kPasswordDigits));
      } else {
        auto fresh = channel::generate_one_time_password();
        if (!fresh.ok()) {
          return fail(ResultCode::general_error, "random generator: " + fresh.error().message);
        }
        password = std::move(fresh).value();
      }
      // The HSM shows the password to its operator; the custodian types it on the PED.
      out.secret_line("        One-time password for the PED: ", password, "");
      out.line("        Type it on the PED when it shows 'Enter PED Password.' It allows " +
               std::to_string(m.timings.one_time_password_attempts) + " attempts.");
      auto guard = channel::OneTimePasswordGuard::create(std::move(password),
                                                         m.timings.one_time_password_attempts);
      if (!guard.ok()) {
        return fail(ResultCode::general_error, guard.error().message);
      }
      m.otp = std::move(guard).value();
    } else if (!m.state.rpv.initialized) {
      return fail(
          ResultCode::operation_not_allowed,
          "this HSM has no Remote PED Vector: initialize it with 'ped vector init' (remotely: "
          "'ped connect -password' on the zeroized HSM)");
    }
    m.ped.phase = LinkState::Phase::connecting;
    m.ped.scheme = request.scheme;
    m.ped.pedserver = address(request.host, request.port);
    m.auth_failures = 0;
    link = m.link;
  }
  out.line("        Connecting to the PED server at " + address(request.host, request.port) +
           " ...");
  const Bytes body = request.serialize();
  const auto deadline = std::chrono::milliseconds(request.timeout_ms) + m.timings.margin;
  LinkReply reply = link->call(MessageType::connect_ped, body, deadline);

  if (reply.kind == LinkReply::Kind::timed_out) {
    m.disconnect_quietly();
  }
  const std::lock_guard lock(m.mu);
  const std::string where = address(request.host, request.port);
  const bool one_pass = request.scheme == Scheme::one_pass_password;
  if (reply.kind == LinkReply::Kind::ok) {
    auto response = hsm::ConnectPedResponse::parse(reply.payload.reveal());
    if (!response.ok()) {
      m.mark_down_locked(std::nullopt, "bad connect answer");
      return fail(ResultCode::callback_error,
                  "pedclient's connect answer does not parse: " + response.error().message);
    }
    if (m.ped.phase != LinkState::Phase::up) {
      m.say("Remote PED connection up: " + where + " (" + scheme_text(request.scheme) + ")");
      m.ped.since = unix_now();
    }
    m.ped.phase = LinkState::Phase::up;
    m.ped.rpk_serial = response->rpk_serial;
    m.ped.peer_subject = response->peer_subject;
    out.line("        Remote PED connection established with " + where + " (" +
             scheme_text(request.scheme) +
             (one_pass ? "" : ", RPK serial " + std::to_string(response->rpk_serial)) + ").");
    if (one_pass) {
      out.line("        This connection serves only 'ped vector init'.");
    }
    return {};
  }

  // The connect failed: nothing stays open, and no password outlives it.
  const unsigned failed_tags = m.auth_failures;
  const bool password_used_up = one_pass && m.otp && m.otp->exhausted();
  m.otp.reset();
  m.mark_down_locked(reply.kind == LinkReply::Kind::refused ? reply.failure.alert : std::nullopt,
                     reply.failure.message);
  if (failed_tags > 0) {
    // The HSM saw tag_U fail itself: say so plainly, whatever pedclient reports.
    std::string text =
        one_pass ? "wrong one-time password: the PED's proof did not verify"
                 : "the orange key on the PED at " + where +
                       " does not hold this HSM's Remote PED Vector (or its RPK was not issued by "
                       "this HSM): authentication failed";
    if (password_used_up) {
      text += "; the one-time password is used up";
    }
    return fail(ResultCode::pin_incorrect, text);
  }
  switch (reply.kind) {
    case LinkReply::Kind::not_running:
    case LinkReply::Kind::lost:
      return fail(ResultCode::ped_client_not_running,
                  "pedclient went away while connecting to " + where);
    case LinkReply::Kind::timed_out:
      return fail(ResultCode::timeout, "no Remote PED connection to " + where + " within " +
                                           std::to_string(request.timeout_ms / 1000) + " s");
    case LinkReply::Kind::refused:
    case LinkReply::Kind::ok:
    default:
      break;
  }
  const hsm::Failure& f = reply.failure;
  const std::string detail =
      f.message.empty() ? std::string(hsm::status_name(f.status)) : f.message;
  switch (f.status) {
    case hsm::Status::connect_failed:
      // pedclient's message already names the address (docs/hsm-backend.md): do
      // not say it twice; a bare status name still gets the address.
      return fail(ResultCode::unable_to_connect,
                  detail.find(where) != std::string::npos
                      ? detail
                      : "cannot connect to the PED server at " + where + ": " + detail);
    case hsm::Status::timeout:
      return fail(ResultCode::timeout, "connecting to " + where + " timed out: " + detail);
    case hsm::Status::busy:
      return fail(ResultCode::operation_not_allowed,
                  "pedclient is busy with another connection: " + detail);
    case hsm::Status::handshake_failed:
    case hsm::Status::connection_lost:
      if (f.alert == channel::AlertCode::authentication_failed) {
        return fail(ResultCode::pin_incorrect,
                    "authentication with the PED at " + where + " failed: " + detail);
      }
      if (f.alert == channel::AlertCode::ped_busy) {
        return fail(ResultCode::unable_to_connect,
                    "the PED server at " + where + " is serving another HSM");
      }
      if (f.alert == channel::AlertCode::timeout) {
        return fail(ResultCode::timeout, "the handshake with " + where + " timed out: " + detail);
      }
      if (f.alert == channel::AlertCode::ped_unplugged ||
          f.alert == channel::AlertCode::remote_mode_exited) {
        return fail(ResultCode::ped_unplugged,
                    "the PED at " + where + " is not available (" + alert_text(f.alert) + ")");
      }
      return fail(ResultCode::unable_to_connect, "the handshake with " + where + " failed (" +
                                                     alert_text(f.alert) + "): " + detail);
    default:
      return fail(ResultCode::callback_error, "pedclient could not connect to " + where + " (" +
                                                  std::string(hsm::status_name(f.status)) +
                                                  "): " + detail);
  }
}

CommandResult Hsm::ped_disconnect_body(Console& out) {
  Impl& m = *impl_;
  PedclientLink* link = nullptr;
  {
    const std::lock_guard lock(m.mu);
    if (m.link == nullptr || !m.pedclient_attached) {
      return fail(ResultCode::ped_client_not_running,
                  "pedclient is not attached to this HSM's backend socket");
    }
    if (m.ped.phase == LinkState::Phase::down) {
      out.line("        No Remote PED connection is open.");
      return {};
    }
    link = m.link;
  }
  const LinkReply reply = link->call(MessageType::disconnect_ped, {}, m.timings.disconnect_timeout);
  const std::lock_guard lock(m.mu);
  const std::string where = m.ped.pedserver;
  m.otp.reset();
  m.mark_down_locked(channel::AlertCode::close_notify, "ped disconnect");
  switch (reply.kind) {
    case LinkReply::Kind::ok:
    case LinkReply::Kind::refused:  // pedclient had nothing open: the goal is reached
      out.line("        The Remote PED connection to " + where + " is closed.");
      return {};
    case LinkReply::Kind::timed_out:
      return fail(ResultCode::timeout, "pedclient did not confirm the disconnect");
    case LinkReply::Kind::not_running:
    case LinkReply::Kind::lost:
    default:
      return fail(ResultCode::ped_client_not_running, "pedclient went away");
  }
}

CommandResult Hsm::ped_set_body(std::optional<std::string> host, std::optional<std::uint16_t> port,
                                Console& out) {
  Impl& m = *impl_;
  if (!host && !port) {
    return fail(ResultCode::arguments_bad, "give -ip and/or -port");
  }
  if ((host && (host->empty() || host->size() > hsm::kMaxHostBytes)) || (port && *port == 0)) {
    return fail(ResultCode::arguments_bad, "the PED server address is not valid");
  }
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([&](HsmState& s) {
        if (host) {
          s.ped.host = *host;
        }
        if (port) {
          s.ped.port = *port;
        }
      });
      !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  out.line("        Remote PED server: " + address(m.state.ped.host, m.state.ped.port));
  return {};
}

CommandResult Hsm::ped_get_status() {
  // get_status has an empty body and works in every PED mode (docs/ped-device.md).
  const PedOutcome outcome = impl_->run_ped(ped::Op::get_status, SecretBytes{});
  return CommandResult{outcome.code, outcome.message};
}

CommandResult Hsm::ped_show(Console& out) {
  const Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  const HsmState& s = m.state;
  out.line("        Configured PED server:   " +
           (s.ped.host.empty() ? "none" : address(s.ped.host, s.ped.port)));
  out.line(std::string("        pedclient:               ") +
           (m.link != nullptr && m.pedclient_attached ? "running" : "not running"));
  switch (m.ped.phase) {
    case LinkState::Phase::up:
      out.line("        Remote PED connection:   connected to " + m.ped.pedserver + " since " +
               time_text(m.ped.since));
      out.line("        Scheme:                  " + scheme_text(m.ped.scheme));
      if (m.ped.scheme == Scheme::full_unified) {
        out.line("        RPK serial:              " + std::to_string(m.ped.rpk_serial));
      }
      break;
    case LinkState::Phase::connecting:
      out.line("        Remote PED connection:   connecting to " + m.ped.pedserver);
      break;
    case LinkState::Phase::down:
    default:
      out.line("        Remote PED connection:   none");
      break;
  }
  if (m.ped.ever_ended) {
    out.line("        Last disconnect:         " + alert_text(m.ped.last_reason) +
             (m.ped.last_detail.empty() ? "" : " (" + m.ped.last_detail + ")"));
  }
  if (m.otp) {
    out.line("        One-time password:       active, " +
             std::to_string(m.otp->failed_attempts()) + " of " +
             std::to_string(m.timings.one_time_password_attempts) + " attempts used");
  }
  out.line("        Remote PED Vector:       " +
           (s.rpv.initialized ? "initialized " + time_text(s.rpv.created_at) + ", RPK serial " +
                                    std::to_string(s.rpv.rpk_serial) + ", orange keys " +
                                    std::to_string(s.rpv.m) + " of " + std::to_string(s.rpv.n)
                              : std::string("not initialized")));
  return {};
}

CommandResult Hsm::ped_vector_init_body(const VectorInitArgs& args, Console& out) {
  Impl& m = *impl_;
  bool rotation = false;
  bool connected = false;
  {
    const std::lock_guard lock(m.mu);
    if (m.state.initialized && m.logged_in != Role::so) {
      return fail(ResultCode::user_not_logged_in,
                  "the HSM is initialized: log in as HSM SO ('role login -name so')");
    }
    if (m.state.policy(PolicyId::allow_remote_ped) == 0) {
      return fail(ResultCode::operation_not_allowed,
                  "HSM policy 25 (Allow Remote PED usage) is off");
    }
    rotation = m.state.rpv.initialized;
    connected = m.ped.phase == LinkState::Phase::up;
  }
  if (rotation && !args.force &&
      !confirmed(out,
                 "        A new Remote PED Vector replaces the current one: the existing orange "
                 "keys will no "
                 "longer connect to this HSM.")) {
    return aborted();
  }
  if (!connected) {
    bool initialized = false;
    std::string configured;
    {
      const std::lock_guard lock(m.mu);
      initialized = m.state.initialized;
      configured = m.state.ped.host;
    }
    if (initialized) {
      return fail(ResultCode::ped_unplugged,
                  "no Remote PED connection: run 'ped connect' first (hsmsim does not emulate a "
                  "local PED)");
    }
    if (!args.host && configured.empty()) {
      return fail(
          ResultCode::ped_unplugged,
          "hsmsim does not emulate a local PED: for a remote RPV initialization give -ip and -port "
          "(or 'ped set'), and the HSM opens a one-time-password connection");
    }
    PedConnectArgs connect;
    connect.host = args.host;
    connect.port = args.port;
    connect.one_time_password = true;
    if (const CommandResult opened = ped_connect(connect, out); !opened.ok()) {
      return opened;
    }
  }

  bool one_pass = false;
  std::uint64_t serial = 0;
  {
    const std::lock_guard lock(m.mu);
    one_pass = m.ped.scheme == Scheme::one_pass_password;
    serial = m.state.manufacturing.serial;
  }
  // The new RPV and RPK (docs/protocol.md §1: the RPK is the PED side's static
  // key in C(2e,2s); the HSM issues its certificate under its HOC).
  auto rpv = crypto::random_secret(channel::kRpvBytes);
  auto rpk_key = crypto::EcKeyPair::generate();
  std::array<std::uint8_t, 4> raw{};
  const bool drawn = crypto::random_bytes(raw).ok();
  if (!rpv.ok() || !rpk_key.ok() || !drawn) {
    return fail(ResultCode::general_error, "the HSM could not generate the RPV and RPK");
  }
  // Ten decimal digits, for the certificate's serialNumber and the PED's display.
  const std::uint64_t rpk_serial =
      1'000'000'000ULL + ((std::uint64_t{raw[0]} << 24) | (std::uint64_t{raw[1]} << 16) |
                          (std::uint64_t{raw[2]} << 8) | raw[3]) %
                             9'000'000'000ULL;
  auto certificate =
      issue_certificate(rpk_key->public_key(), m.keys.hoc, m.keys.hoc_key,
                        demo_profile(CertificateRole::key_agreement,
                                     "RPED hsmsim Remote PED Key for HSM " + std::to_string(serial),
                                     std::to_string(rpk_serial)));
  auto rpk_private = rpk_key->export_private_scalar();
  if (!certificate.ok() || !rpk_private.ok()) {
    return fail(ResultCode::general_error, "the HSM could not issue the RPK certificate");
  }
  ped::CreateRpkKeysetRequest request;
  request.hsm_serial = serial;
  request.rpk_serial = rpk_serial;
  request.rpv = rpv->clone();
  request.rpk_private = std::move(rpk_private).value();
  request.rpk_certificate = certificate->der();
  request.timeout_ms = m.timings.ped_operation_timeout_ms;
  out.line("Please attend to the PED.");
  const PedOutcome outcome =
      m.run_ped(ped::Op::create_rpk_keyset, into_secret(request.serialize()), true);
  if (one_pass) {
    // A one-time-password session has done its only job (or failed at it).
    m.disconnect_quietly();
  }
  if (!outcome.ok()) {
    return fail(outcome.code, outcome.message);
  }
  auto response = ped::CreateRpkKeysetResponse::parse(outcome.payload.reveal());
  if (!response.ok()) {
    return fail(ResultCode::callback_error, "the PED's create_rpk_keyset answer does not parse");
  }
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([&](HsmState& s) {
        s.rpv.initialized = true;
        s.rpv.rpv = rpv->clone();
        s.rpv.rpk_serial = rpk_serial;
        s.rpv.m = response->m;
        s.rpv.n = response->n;
        s.rpv.created_at = unix_now();
      });
      !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  m.say(std::string(rotation ? "Remote PED Vector replaced" : "Remote PED Vector initialized") +
        ", RPK serial " + std::to_string(rpk_serial));
  out.line("        Remote PED Vector " + std::string(rotation ? "replaced" : "initialized") +
           ": orange keys " + std::to_string(response->m) + " of " + std::to_string(response->n) +
           ", RPK serial " + std::to_string(rpk_serial) + ".");
  if (one_pass) {
    out.line(
        "        The one-time-password connection is closed; connect with the orange key: 'ped "
        "connect'.");
  }
  return {};
}

CommandResult Hsm::ped_vector_erase_body(bool force, Console& out) {
  Impl& m = *impl_;
  {
    const std::lock_guard lock(m.mu);
    if (m.state.initialized && m.logged_in != Role::so) {
      return fail(ResultCode::user_not_logged_in, "log in as HSM SO first");
    }
    if (!m.state.rpv.initialized) {
      out.line("        This HSM has no Remote PED Vector.");
      return {};
    }
  }
  if (!force &&
      !confirmed(out,
                 "        Erasing the Remote PED Vector ends all Remote PED use of this HSM.")) {
    return aborted();
  }
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([](HsmState& s) { s.rpv = {}; }); !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  m.say("Remote PED Vector erased");
  out.line("        The Remote PED Vector is erased.");
  return {};
}

// ---------------------------------------------------------------------------
// hsm commands

CommandResult Hsm::hsm_init_body(const std::string& label, bool force, Console& out) {
  Impl& m = *impl_;
  if (!valid_label(label)) {
    return fail(ResultCode::arguments_bad, "the label must be 1 to 32 printable characters");
  }
  bool reinit = false;
  std::string serial;
  {
    const std::lock_guard lock(m.mu);
    reinit = m.state.initialized;
    serial = m.serial_text();
    if (reinit && m.logged_in != Role::so) {
      return fail(ResultCode::user_not_logged_in,
                  "the HSM is initialized: log in as HSM SO to re-initialize it");
    }
    if (const auto refused = m.ped_unavailable_locked(false)) {
      return *refused;
    }
  }
  if (reinit && !force &&
      !confirmed(out,
                 "        You are about to re-initialize the HSM. All partitions and objects will "
                 "be destroyed.")) {
    return aborted();
  }
  out.line("Please attend to the PED.");
  auto enrolled =
      m.create_blue_and_red("HSM " + serial, "so", "HSM SO", "hsm-domain", "HSM DOMAIN");
  if (auto* failed = std::get_if<CommandResult>(&enrolled)) {
    return *failed;
  }
  const Impl::EnrolledPair& keys = std::get<Impl::EnrolledPair>(enrolled);
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([&](HsmState& s) {
        s.zeroize();
        s.initialized = true;
        s.label = label;
        s.so = keys.blue.clone();
        s.hsm_domain = keys.red.clone();
      });
      !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  m.logged_in.reset();
  m.say("HSM initialized, label '" + label + "', SO keys " + std::to_string(keys.m) + " of " +
        std::to_string(keys.n));
  out.line("        HSM initialized: label '" + label + "', SO keyset " + std::to_string(keys.m) +
           " of " + std::to_string(keys.n) + ".");
  return {};
}

CommandResult Hsm::hsm_zeroize_body(bool force, Console& out) {
  Impl& m = *impl_;
  if (!force &&
      !confirmed(
          out,
          "        You are about to zeroize the HSM. All partitions, objects and credentials will "
          "be destroyed; the Remote PED Vector and the Auditor remain.")) {
    return aborted();
  }
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([](HsmState& s) { s.zeroize(); }); !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  m.logged_in.reset();
  m.say("HSM zeroized");
  out.line("        The HSM is zeroized.");
  return {};
}

CommandResult Hsm::hsm_factory_reset_body(bool force, Console& out) {
  Impl& m = *impl_;
  if (!force &&
      !confirmed(
          out,
          "        You are about to reset the HSM to its factory state. Everything, including "
          "the Remote PED Vector and the Auditor, will be erased.")) {
    return aborted();
  }
  bool connected = false;
  {
    const std::lock_guard lock(m.mu);
    if (auto saved = m.commit_locked([](HsmState& s) { s.factory_reset(); }); !saved.ok()) {
      return Impl::save_failed(saved.error());
    }
    m.logged_in.reset();
    m.otp.reset();
    connected = m.ped.phase != LinkState::Phase::down;
    m.say("HSM factory reset");
  }
  if (connected) {
    // Without its RPV the HSM cannot keep a Remote PED session (as after the
    // restart a real factory reset implies).
    m.disconnect_quietly();
  }
  out.line("        The HSM is reset to its factory state.");
  return {};
}

CommandResult Hsm::hsm_show(Console& out) {
  const Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  const HsmState& s = m.state;
  out.line("        HSM serial:              " + std::to_string(s.manufacturing.serial));
  out.line("        Model:                   " + s.manufacturing.model);
  out.line("        Firmware version:        " + s.manufacturing.firmware_version);
  out.line("        Label:                   " +
           (s.label.empty() ? std::string("(none)") : s.label));
  out.line(std::string("        State:                   ") +
           (s.initialized ? "Initialized" : "Zeroized"));
  out.line(std::string("        Remote PED Vector:       ") +
           (s.rpv.initialized ? "initialized" : "not initialized"));
  out.line("        Logged in:               " +
           (m.logged_in ? std::string(role_long_name(*m.logged_in)) : std::string("none")));
  out.line("        SO failed logins:        " + std::to_string(s.so.failed_logins) + " of " +
           std::to_string(role_login_limit(Role::so)));
  out.line(std::string("        Auditor:                 ") +
           (s.auditor.initialized ? "initialized" : "not initialized"));
  out.line(std::string("        Partition:               ") +
           (!s.partition.created      ? "none"
            : s.partition.initialized ? "initialized, label '" + s.partition.label + "'"
                                      : "created, not initialized"));
  return {};
}

CommandResult Hsm::hsm_show_policies(Console& out) {
  const Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  out.line("        Policy  Value  Description");
  for (const PolicyInfo& p : known_policies()) {
    const std::string id = std::to_string(static_cast<unsigned>(p.id));
    out.line("        " + id + std::string(8 - id.size(), ' ') +
             std::to_string(m.state.policy(p.id)) + "      " + std::string(p.description));
  }
  return {};
}

CommandResult Hsm::hsm_change_policy_body(std::uint16_t policy, std::uint32_t value, Console& out) {
  Impl& m = *impl_;
  const auto known =
      std::find_if(known_policies().begin(), known_policies().end(),
                   [&](const PolicyInfo& p) { return static_cast<std::uint16_t>(p.id) == policy; });
  if (known == known_policies().end()) {
    return fail(ResultCode::arguments_bad,
                "policy " + std::to_string(policy) + " is not one hsmsim knows");
  }
  if (value > 1) {
    return fail(ResultCode::arguments_bad, "the policy value must be 0 or 1");
  }
  const std::lock_guard lock(m.mu);
  if (m.logged_in != Role::so) {
    return fail(ResultCode::user_not_logged_in, "log in as HSM SO first");
  }
  if (auto saved = m.commit_locked([&](HsmState& s) { s.policies[policy] = value; }); !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  out.line("        Policy " + std::to_string(policy) + " (" + std::string(known->description) +
           ") is now " + std::to_string(value) + ".");
  return {};
}

// ---------------------------------------------------------------------------
// role commands

CommandResult Hsm::role_init_body(Role role, Console& out) {
  Impl& m = *impl_;
  std::string context;
  {
    const std::lock_guard lock(m.mu);
    switch (role) {
      case Role::so:
        return fail(ResultCode::user_type_invalid, "the HSM SO is created by 'hsm init'");
      case Role::partition_so:
        return fail(ResultCode::user_type_invalid,
                    "the Partition SO is created by 'partition init'");
      case Role::auditor:
        // Luna: the Auditor cannot be initialized by another role.
        if (m.logged_in) {
          return fail(ResultCode::user_another_already_logged_in,
                      "the Auditor cannot be initialized by another role: run 'role logout' first");
        }
        context = ped_context(m.state, role, "create");
        break;
      case Role::crypto_officer:
        if (!m.state.partition.initialized) {
          return fail(ResultCode::operation_not_allowed,
                      "the partition is not initialized: run 'partition init'");
        }
        if (m.logged_in != Role::partition_so) {
          return fail(ResultCode::user_not_logged_in,
                      "the Partition SO initializes the Crypto Officer: log in as po");
        }
        context = ped_context(m.state, role, "create");
        break;
      case Role::crypto_user:
      default:
        if (!m.state.partition.initialized) {
          return fail(ResultCode::operation_not_allowed,
                      "the partition is not initialized: run 'partition init'");
        }
        if (m.logged_in != Role::crypto_officer) {
          return fail(ResultCode::user_not_logged_in,
                      "the Crypto Officer initializes the Crypto User: log in as co");
        }
        context = ped_context(m.state, role, "create");
        break;
    }
    if (const auto refused = m.ped_unavailable_locked(false)) {
      return *refused;
    }
  }
  out.line("Please attend to the PED.");
  auto keys = m.create_keyset(role_key_type(role), context, true);
  if (auto* failed = std::get_if<CommandResult>(&keys)) {
    return *failed;
  }
  const Impl::Keyset& k = std::get<Impl::Keyset>(keys);
  auto record = PedSecretRecord::create(purpose_of(role), k.secret.reveal(), k.m, k.n, k.keyset_id);
  if (!record.ok()) {
    return fail(ResultCode::general_error, "the HSM could not enroll the credential");
  }
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([&](HsmState& s) { s.role_record(role) = record->clone(); });
      !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  m.say(std::string(role_long_name(role)) + " role initialized, keys " + std::to_string(k.m) +
        " of " + std::to_string(k.n));
  return {};
}

CommandResult Hsm::role_login_body(Role role, Console& out) {
  Impl& m = *impl_;
  {
    const std::lock_guard lock(m.mu);
    if (const auto refused = m.login_refused_locked(role)) {
      return *refused;
    }
    if (const auto refused = m.ped_unavailable_locked(false)) {
      return *refused;
    }
  }
  CommandResult result = m.authenticate(role, out);
  if (result.ok()) {
    const std::lock_guard lock(m.mu);
    m.logged_in = role;
    m.say(std::string(role_long_name(role)) + " logged in");
  }
  return result;
}

CommandResult Hsm::role_change_pw_body(Role role, Console& out) {
  Impl& m = *impl_;
  std::string context;
  {
    const std::lock_guard lock(m.mu);
    if (m.logged_in != role) {
      return fail(ResultCode::user_not_logged_in,
                  "log in as " + std::string(role_long_name(role)) + " to change its credential");
    }
    if (const auto refused = m.ped_unavailable_locked(false)) {
      return *refused;
    }
    context = ped_context(m.state, role, "new");
  }
  // The current credential first (a failure counts as a failed login), then a new keyset.
  if (CommandResult current = m.authenticate(role, out); !current.ok()) {
    const std::lock_guard lock(m.mu);
    if (!m.state.role_record(role).initialized) {
      m.logged_in.reset();  // the failed attempt zeroized what the role belonged to
    }
    return current;
  }
  auto keys = m.create_keyset(role_key_type(role), context, false);
  if (auto* failed = std::get_if<CommandResult>(&keys)) {
    return *failed;
  }
  const Impl::Keyset& k = std::get<Impl::Keyset>(keys);
  auto record = PedSecretRecord::create(purpose_of(role), k.secret.reveal(), k.m, k.n, k.keyset_id);
  if (!record.ok()) {
    return fail(ResultCode::general_error, "the HSM could not enroll the credential");
  }
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([&](HsmState& s) { s.role_record(role) = record->clone(); });
      !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  m.say(std::string(role_long_name(role)) + " credential changed");
  return {};
}

CommandResult Hsm::role_logout_body(Console& out) {
  Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  if (!m.logged_in) {
    return fail(ResultCode::user_not_logged_in, "no role is logged in");
  }
  out.line("        " + std::string(role_long_name(*m.logged_in)) + " logged out.");
  m.say(std::string(role_long_name(*m.logged_in)) + " logged out");
  m.logged_in.reset();
  return {};
}

CommandResult Hsm::role_show(Console& out) {
  const Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  for (const Role role :
       {Role::so, Role::auditor, Role::partition_so, Role::crypto_officer, Role::crypto_user}) {
    const PedSecretRecord& r = m.state.role_record(role);
    std::string status =
        r.initialized ? "initialized, keys " + std::to_string(r.m) + " of " + std::to_string(r.n)
                      : std::string("not initialized");
    if (r.initialized) {
      status += ", failed logins " + std::to_string(r.failed_logins) + " of " +
                std::to_string(role_login_limit(role));
      if (r.locked_until != 0 &&
          (r.locked_until == PedSecretRecord::kLockedUntilReset || r.locked_until > unix_now())) {
        status += ", Locked out";
      }
    }
    if (m.logged_in == role) {
      status += ", logged in";
    }
    const std::string name(role_long_name(role));
    out.line("        " + std::string(role_short_name(role)) + "  " + name +
             std::string(16 - name.size(), ' ') + status);
  }
  return {};
}

// ---------------------------------------------------------------------------
// partition commands (one application partition)

CommandResult Hsm::partition_create_body(Console& out) {
  Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  if (m.logged_in != Role::so) {
    return fail(ResultCode::user_not_logged_in, "log in as HSM SO first");
  }
  if (m.state.partition.created) {
    return fail(ResultCode::operation_not_allowed,
                "hsmsim emulates one application partition, and it exists");
  }
  if (auto saved = m.commit_locked([](HsmState& s) { s.partition.created = true; }); !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  out.line("        Partition created; initialize it with 'partition init -label L'.");
  return {};
}

CommandResult Hsm::partition_init_body(const std::string& label, bool force, Console& out) {
  Impl& m = *impl_;
  if (!valid_label(label)) {
    return fail(ResultCode::arguments_bad, "the label must be 1 to 32 printable characters");
  }
  bool reinit = false;
  {
    const std::lock_guard lock(m.mu);
    if (!m.state.partition.created) {
      return fail(ResultCode::operation_not_allowed,
                  "no partition exists: the HSM SO creates it ('partition create')");
    }
    reinit = m.state.partition.initialized;
    if (reinit && m.logged_in != Role::partition_so) {
      return fail(ResultCode::user_not_logged_in,
                  "the partition is initialized: log in as Partition SO to re-initialize it");
    }
    if (const auto refused = m.ped_unavailable_locked(false)) {
      return *refused;
    }
  }
  if (reinit && !force &&
      !confirmed(out,
                 "        You are about to re-initialize the partition. All its objects will be "
                 "destroyed.")) {
    return aborted();
  }
  out.line("Please attend to the PED.");
  auto enrolled = m.create_blue_and_red("PARTITION " + label, "po", "PARTITION SO",
                                        "partition-domain", "DOMAIN");
  if (auto* failed = std::get_if<CommandResult>(&enrolled)) {
    return *failed;
  }
  const Impl::EnrolledPair& keys = std::get<Impl::EnrolledPair>(enrolled);
  const std::lock_guard lock(m.mu);
  if (auto saved = m.commit_locked([&](HsmState& s) {
        s.zeroize_partition();
        s.partition.initialized = true;
        s.partition.label = label;
        s.partition.partition_so = keys.blue.clone();
        s.partition.domain = keys.red.clone();
      });
      !saved.ok()) {
    return Impl::save_failed(saved.error());
  }
  if (m.logged_in && *m.logged_in != Role::so && *m.logged_in != Role::auditor) {
    m.logged_in.reset();
  }
  out.line("        Partition initialized: label '" + label + "'.");
  return {};
}

CommandResult Hsm::partition_show(Console& out) {
  const Impl& m = *impl_;
  const std::lock_guard lock(m.mu);
  const PartitionRecord& p = m.state.partition;
  out.line(std::string("        Partition:               ") + (!p.created ? "none"
                                                               : p.initialized
                                                                   ? "initialized"
                                                                   : "created, not initialized"));
  if (p.initialized) {
    out.line("        Label:                   " + p.label);
    for (const Role role : {Role::partition_so, Role::crypto_officer, Role::crypto_user}) {
      out.line("        " + std::string(role_long_name(role)) + ":" +
               std::string(25 - role_long_name(role).size() - 1, ' ') +
               (m.state.role_record(role).initialized ? "initialized" : "not initialized"));
    }
  }
  return {};
}

// ---------------------------------------------------------------------------

Result<void> Hsm::update_state(const std::function<Result<void>(HsmState&)>& change) {
  const std::lock_guard lock(impl_->mu);
  HsmState next = impl_->state.clone();
  RPED_TRY(change(next));
  RPED_TRY(impl_->directory.save(next));
  impl_->state = std::move(next);
  return {};
}

const std::filesystem::path& Hsm::state_directory() const {
  return impl_->directory.path();
}

HsmState Hsm::snapshot() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->state.clone();
}

std::optional<Role> Hsm::logged_in() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->logged_in;
}

bool Hsm::ped_connected() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->ped.phase == LinkState::Phase::up;
}

// ---------------------------------------------------------------------------
// Audited commands: the log-full gate, then the command, then its record
// (docs/hsmsim.md §Audit log). Luna logs unconditionally: zeroization, SO
// creation (hsm init), audit role creation.

using audit::Category;
using audit::Event;

CommandResult Hsm::ped_connect(const PedConnectArgs& args, Console& out) {
  const std::string what = args.one_time_password ? "one-time password" : "orange key";
  return impl_->audited(Event::ped_connect, Category::hsm_management, false, what,
                        [&] { return ped_connect_body(args, out); });
}
CommandResult Hsm::ped_disconnect(Console& out) {
  return impl_->audited(Event::ped_disconnect, Category::hsm_management, true, "",
                        [&] { return ped_disconnect_body(out); });
}
CommandResult Hsm::ped_set(std::optional<std::string> host, std::optional<std::uint16_t> port,
                           Console& out) {
  return impl_->audited(Event::ped_connect, Category::hsm_management, false, "set server",
                        [&] { return ped_set_body(std::move(host), port, out); });
}
CommandResult Hsm::ped_vector_init(const VectorInitArgs& args, Console& out) {
  return impl_->audited(Event::rpv_init, Category::hsm_management, false, "",
                        [&] { return ped_vector_init_body(args, out); });
}
CommandResult Hsm::ped_vector_erase(bool force, Console& out) {
  return impl_->audited(Event::rpv_erase, Category::hsm_management, false, "",
                        [&] { return ped_vector_erase_body(force, out); });
}
CommandResult Hsm::hsm_init(const std::string& label, bool force, Console& out) {
  return impl_->audited(Event::hsm_init, Category::unconditional, false, "",
                        [&] { return hsm_init_body(label, force, out); });
}
CommandResult Hsm::hsm_zeroize(bool force, Console& out) {
  return impl_->audited(Event::zeroize, Category::unconditional, false, "",
                        [&] { return hsm_zeroize_body(force, out); });
}
CommandResult Hsm::hsm_factory_reset(bool force, Console& out) {
  return impl_->audited(Event::factory_reset, Category::unconditional, false, "",
                        [&] { return hsm_factory_reset_body(force, out); });
}
CommandResult Hsm::hsm_change_policy(std::uint16_t policy, std::uint32_t value, Console& out) {
  return impl_->audited(Event::policy_change, Category::hsm_management, false,
                        "policy " + std::to_string(policy) + " value " + std::to_string(value),
                        [&] { return hsm_change_policy_body(policy, value, out); });
}
CommandResult Hsm::role_init(Role role, Console& out) {
  const Category category =
      role == Role::auditor ? Category::unconditional : Category::hsm_management;
  return impl_->audited(Event::role_init, category, role == Role::auditor,
                        "-name " + std::string(role_short_name(role)),
                        [&] { return role_init_body(role, out); });
}
CommandResult Hsm::role_login(Role role, Console& out) {
  return impl_->audited(Event::login, Category::access, role == Role::auditor,
                        "-name " + std::string(role_short_name(role)),
                        [&] { return role_login_body(role, out); });
}
CommandResult Hsm::role_change_pw(Role role, Console& out) {
  return impl_->audited(Event::role_change_pw, Category::access, role == Role::auditor,
                        "-name " + std::string(role_short_name(role)),
                        [&] { return role_change_pw_body(role, out); });
}
CommandResult Hsm::role_logout(Console& out) {
  // Luna: a logout proceeds even when its record cannot be written.
  return impl_->audited(Event::logout, Category::access, true, "",
                        [&] { return role_logout_body(out); });
}
CommandResult Hsm::partition_create(Console& out) {
  return impl_->audited(Event::partition_create, Category::hsm_management, false, "",
                        [&] { return partition_create_body(out); });
}
CommandResult Hsm::partition_init(const std::string& label, bool force, Console& out) {
  return impl_->audited(Event::partition_init, Category::hsm_management, false, "",
                        [&] { return partition_init_body(label, force, out); });
}

// ---------------------------------------------------------------------------
// audit commands

namespace {

const char* setting_name(std::uint8_t setting) {
  switch (setting) {
    case kAuditOnSuccess:
      return "success";
    case kAuditOnFailure:
      return "failure";
    case kAuditOnSuccess | kAuditOnFailure:
      return "both";
    default:
      return "none";
  }
}

}  // namespace

AuditLogStatus Hsm::audit_status() const {
  return impl_->audit->status();
}

CommandResult Hsm::audit_show(Console& out) {
  const AuditLogStatus status = impl_->audit->status();
  HsmState state = snapshot();
  out.line("        Audit log (records chained with HMAC-SHA256 under the HSM's log secret)");
  for (std::uint8_t i = 1; i < audit::kCategoryCount; ++i) {
    out.line("          " + std::string(audit::category_name(static_cast<Category>(i))) + ": " +
             setting_name(state.audit.categories[i]));
  }
  out.line("          unconditional: both (tamper, zeroization, SO and auditor creation)");
  out.line("          host rotation interval: " +
           (state.audit.rotation_interval_s == 0
                ? std::string("never")
                : std::to_string(state.audit.rotation_interval_s) + " s"));
  out.line("          host rotation size: " +
           (state.audit.rotation_bytes == 0
                ? std::string("pedclient's setting")
                : std::to_string(state.audit.rotation_bytes) + " bytes"));
  out.line("          newest record: " + std::to_string(status.head.seq));
  out.line("          acknowledged by pedclient: " + std::to_string(status.acknowledged));
  out.line("          waiting for pedclient: " + std::to_string(status.unacknowledged) + " of " +
           std::to_string(status.capacity) + (status.full ? " (FULL)" : ""));
  out.line(std::string("          streaming to pedclient: ") + (status.streaming ? "yes" : "no"));
  return {};
}

CommandResult Hsm::audit_head(Console& out) {
  const AuditLogStatus status = impl_->audit->status();
  out.line("        Audit chain head: " + status.head.to_string());
  out.line(
      "        Keep it outside the log file; 'pedaudit verify -head' checks a log against it.");
  return {};
}

CommandResult Hsm::audit_config(const std::string& parameter, const std::string& value,
                                Console& out) {
  Impl& m = *impl_;
  std::string param = parameter;
  for (char& c : param) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto body = [&]() -> CommandResult {
    {
      const std::lock_guard lock(m.mu);
      if (m.logged_in != Role::auditor) {
        return fail(ResultCode::user_not_logged_in,
                    "audit config needs the auditor: role login -name au");
      }
    }
    std::function<void(HsmState&)> change;
    if (const auto category = audit::category_from_name(param);
        category && *category != Category::unconditional) {
      std::uint8_t setting = 0;
      if (value == "success") {
        setting = kAuditOnSuccess;
      } else if (value == "failure") {
        setting = kAuditOnFailure;
      } else if (value == "both") {
        setting = kAuditOnSuccess | kAuditOnFailure;
      } else if (value != "none") {
        return fail(ResultCode::arguments_bad,
                    "-value for a category is success, failure, both or none");
      }
      const auto index = static_cast<std::size_t>(*category);
      change = [index, setting](HsmState& next) { next.audit.categories[index] = setting; };
    } else if (param == "rotation_interval" || param == "rotation_size") {
      std::uint64_t number = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
      const std::uint64_t max = param == "rotation_interval" ? 366ULL * 86'400 : (1ULL << 40);
      if (ec != std::errc{} || end != value.data() + value.size() || number > max) {
        return fail(
            ResultCode::arguments_bad,
            "-value for " + param + " is a number of " +
                (param == "rotation_interval" ? "seconds (0: never, at most 1 year)"
                                              : "bytes (0: pedclient's setting, at most 1 TiB)"));
      }
      if (param == "rotation_interval") {
        change = [number](HsmState& next) {
          next.audit.rotation_interval_s = static_cast<std::uint32_t>(number);
        };
      } else {
        change = [number](HsmState& next) { next.audit.rotation_bytes = number; };
      }
    } else {
      return fail(ResultCode::arguments_bad,
                  "unknown -parameter '" + parameter +
                      "'; parameters: logins, hsm_management, key_management, key_usage, "
                      "external, log_management, rotation_interval, rotation_size");
    }
    const std::lock_guard lock(m.mu);
    if (auto saved = m.commit_locked(change); !saved.ok()) {
      return Impl::save_failed(saved.error());
    }
    out.line("        Audit configuration: " + param + " = " + value);
    return {};
  };
  return m.audited(Event::audit_config, Category::log_management, true,
                   "-parameter " + param + " -value " + value.substr(0, 32), body);
}

CommandResult Hsm::audit_secret_export(const std::string& file, Console& out) {
  Impl& m = *impl_;
  const auto body = [&]() -> CommandResult {
    SecretBytes hex(audit::kLogSecretBytes * 2 + 1);
    {
      const std::lock_guard lock(m.mu);
      if (m.logged_in != Role::auditor) {
        return fail(ResultCode::user_not_logged_in,
                    "audit secret export needs the auditor: role login -name au");
      }
      static constexpr char kDigits[] = "0123456789abcdef";
      const ByteView secret = m.state.audit.secret.reveal();
      std::span<std::uint8_t> text = hex.reveal_mutable();
      for (std::size_t i = 0; i < secret.size(); ++i) {
        text[2 * i] = static_cast<std::uint8_t>(kDigits[secret[i] >> 4]);
        text[2 * i + 1] = static_cast<std::uint8_t>(kDigits[secret[i] & 0x0F]);
      }
      text[text.size() - 1] = '\n';
    }
    const std::filesystem::path path(file);
    if (!path.is_absolute()) {
      return fail(ResultCode::arguments_bad,
                  "-file must be an absolute path (the emulator writes it)");
    }
    // docs/hsmsim.md §Audit log: a new file only (O_EXCL: never over another
    // file, never through a symlink), owner-only from its creation.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      return fail(ResultCode::device_error,
                  "cannot create " + file + ": " + std::strerror(errno) + " (it must not exist)");
    }
    const ByteView bytes = hex.reveal();
    const bool written =
        ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
        ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
      ::unlink(path.c_str());
      return fail(ResultCode::device_error, "cannot write " + file);
    }
    out.line("        The audit log secret was written to " + file + " (mode 0600).");
    out.line("        Move it to the auditor's safe: anyone holding it can re-seal a log.");
    return {};
  };
  return m.audited(Event::audit_secret_export, Category::log_management, true, "", body);
}

}  // namespace rped::hsmsim
