// Reading secrets off PED keys: login (M of N splits with PINs), the public
// RPK info of an orange key, and the PED side of the channel's key derivation.
#include <algorithm>
#include <optional>
#include <vector>

#include "flows.h"
#include "prompts.h"
#include "rped/channel/key_schedule.h"
#include "rped/crypto/ec.h"
#include "rped/pedsim/constants.h"
#include "rped/pedsim/shamir.h"
#include "screens.h"

namespace rped::pedsim {

namespace {

// A keyset recombined from M of its splits.
struct QuorumSecret {
  std::uint8_t m = 1;
  std::uint8_t n = 1;
  Bytes keyset_id;
  SecretBytes secret;
  // Orange keysets: the RPK every key carries.
  std::uint64_t hsm_serial = 0;
  std::uint64_t rpk_serial = 0;
  SecretBytes rpk_private;
};

std::string holds(ped::KeyType type) {
  return "a " + std::string(ped::key_type_holder(type)) + " secret (" +
         std::string(ped::key_type_name(type)) + ")";
}

bool same_keyset(const PedKeyRecord& a, const PedKeyRecord& b) {
  return a.keyset_id == b.keyset_id && a.m == b.m && a.n == b.n && a.hsm_serial == b.hsm_serial &&
         a.rpk_serial == b.rpk_serial;
}

// Login: M distinct splits of one keyset of `type`, each opened with its PIN.
// Wrong type, another keyset and a repeated split end the login at once; a
// wrong PIN is remembered and reported only after all M keys were read, so a
// custodian cannot tell which key's PIN was wrong.
FlowResult<QuorumSecret> read_quorum(Flow& flow, ped::KeyType type, const Lines& context) {
  std::optional<PedKeyRecord> first;
  std::vector<ShamirShare> shares;
  std::vector<std::uint8_t> presented;
  SecretBytes rpk_private;
  bool every_key_opened = true;
  std::string note;
  while (!first || presented.size() < first->m) {
    RPED_FLOW_TRY_ASSIGN(const KeySlot slot,
                         await_key(flow, screens::insert_key(context, type, note)));
    const HeldKey held(flow, slot);
    RPED_FLOW_TRY_ASSIGN(const PedKeyRecord record, read_key(flow, slot));
    if (record.is_blank()) {
      return flow_failure(ped::Status::blank_key, "the inserted PED key is blank");
    }
    if (record.type != type) {
      return flow_failure(ped::Status::wrong_key_type, "the inserted PED key holds " +
                                                           holds(record.type) +
                                                           "; this operation reads " + holds(type));
    }
    if (first) {
      if (!same_keyset(record, *first)) {
        return flow_failure(
            ped::Status::keyset_mismatch,
            "the inserted PED key belongs to another keyset than the first key of this login");
      }
      if (std::find(presented.begin(), presented.end(), record.split_index) != presented.end()) {
        return flow_failure(ped::Status::duplicate_split,
                            "split " + std::to_string(record.split_index) + " of " +
                                std::to_string(record.n) + " was already presented in this login");
      }
    }
    SecretBytes pin;
    if (record.has_pin) {
      RPED_FLOW_TRY_ASSIGN(pin, enter_pin(flow, context));
    }
    auto opened = unseal_key(record, pin);
    if (opened.ok()) {
      shares.push_back(ShamirShare{record.split_index, std::move(opened->split)});
      if (rpk_private.empty()) {
        rpk_private = std::move(opened->rpk_private);
      }
    } else {
      every_key_opened = false;
    }
    presented.push_back(record.split_index);
    if (!first) {
      first = record;
    }
    note = screens::keys_read(presented.size(), first->m);
  }
  Lines done = context;
  done.emplace_back();
  done.push_back(note);
  flow.show(done);
  if (!every_key_opened) {
    return flow_failure(ped::Status::pin_incorrect, "a PED PIN was incorrect");
  }
  RPED_FLOW_TRY_ASSIGN(SecretBytes secret, or_internal(shamir_combine(shares)));
  QuorumSecret quorum{
      first->m,          first->n,          first->keyset_id,      std::move(secret),
      first->hsm_serial, first->rpk_serial, std::move(rpk_private)};
  return quorum;
}

FlowResult<SecretBytes> enter_password(Flow& flow) {
  std::string note;
  for (;;) {
    RPED_FLOW_TRY_ASSIGN(SecretBytes password,
                         enter_digits(flow, screens::enter_password(flow.remote_peer(), note),
                                      kPasswordDigits, Echo::masked));
    if (password.size() == kPasswordDigits) {
      return password;
    }
    note = screens::password_rules();
  }
}

}  // namespace

FlowResult<ped::ReadSecretResponse> read_secret_flow(Flow& flow,
                                                     const ped::ReadSecretRequest& request) {
  if (request.key_type == ped::KeyType::orange) {
    // The RPV is used inside the PED only (derive_session_keys); it never goes to the host.
    return flow_failure(ped::Status::bad_request,
                        "orange keys are read by derive_session_keys, not read_secret");
  }
  const Lines context = screens::context_lines(request.context);
  RPED_FLOW_TRY_ASSIGN(QuorumSecret quorum, read_quorum(flow, request.key_type, context));
  ped::ReadSecretResponse response;
  response.m = quorum.m;
  response.n = quorum.n;
  response.keyset_id = quorum.keyset_id;
  response.secret = std::move(quorum.secret);
  return response;
}

FlowResult<ped::ReadRpkInfoResponse> read_rpk_info_flow(Flow& flow,
                                                        const ped::ReadRpkInfoRequest&) {
  const Lines context = screens::remote_context(flow.remote_peer(), "READ RPK...");
  RPED_FLOW_TRY_ASSIGN(const KeySlot slot,
                       await_key(flow, screens::insert_key(context, ped::KeyType::orange, "")));
  const HeldKey held(flow, slot);
  RPED_FLOW_TRY_ASSIGN(const PedKeyRecord record, read_key(flow, slot));
  if (record.is_blank()) {
    return flow_failure(ped::Status::blank_key, "the inserted PED key is blank");
  }
  if (record.type != ped::KeyType::orange) {
    return flow_failure(
        ped::Status::wrong_key_type,
        "the inserted PED key holds " + holds(record.type) + "; the RPK is on an orange key");
  }
  ped::ReadRpkInfoResponse response;
  response.hsm_serial = record.hsm_serial;
  response.rpk_serial = record.rpk_serial;
  response.rpk_certificate = record.rpk_certificate;
  return response;
}

FlowResult<ped::DeriveSessionKeysResponse> derive_session_keys_flow(
    Flow& flow, const ped::DeriveSessionKeysRequest& request) {
  const channel::KeyDerivationRequest& key_request = request.request;
  if (key_request.side != channel::Side::ped) {
    return flow_failure(ped::Status::bad_request,
                        "the PED answers key requests for the PED side (U) only");
  }
  ped::DeriveSessionKeysResponse response;
  if (key_request.transcript.scheme == channel::Scheme::full_unified) {
    // C(2e,2s): Zs with the RPK static key, the RPV recombined from M orange splits as
    // SuppPrivInfo.
    const Lines context = screens::remote_context(flow.remote_peer(), "REMOTE PED LOGIN...");
    RPED_FLOW_TRY_ASSIGN(const QuorumSecret quorum,
                         read_quorum(flow, ped::KeyType::orange, context));
    if (quorum.rpk_serial != key_request.transcript.rpk_serial ||
        (quorum.hsm_serial != 0 && quorum.hsm_serial != key_request.transcript.hsm_serial)) {
      return flow_failure(ped::Status::keyset_mismatch,
                          "the orange keys hold RPK " + std::to_string(quorum.rpk_serial) +
                              " for HSM " + std::to_string(quorum.hsm_serial) +
                              "; the session is with RPK " +
                              std::to_string(key_request.transcript.rpk_serial) + " and HSM " +
                              std::to_string(key_request.transcript.hsm_serial));
    }
    flow.show(screens::compute_session_key(flow.remote_peer()));
    RPED_FLOW_TRY_ASSIGN(const crypto::EcKeyPair rpk,
                         or_internal(crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                                     quorum.rpk_private.reveal())));
    RPED_FLOW_TRY_ASSIGN(
        response.dkm, or_internal(channel::derive_dkm(key_request, &rpk, quorum.secret.reveal())));
    return response;
  }
  // C(1e,1s): no device key; the one-time password typed on the keypad is SuppPrivInfo.
  RPED_FLOW_TRY_ASSIGN(const SecretBytes password, enter_password(flow));
  flow.show(screens::compute_session_key(flow.remote_peer()));
  RPED_FLOW_TRY_ASSIGN(response.dkm,
                       or_internal(channel::derive_dkm(key_request, nullptr, password.reveal())));
  return response;
}

}  // namespace rped::pedsim
