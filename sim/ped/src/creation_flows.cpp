// Key creation in the documented four stages:
//   1. reuse an existing keyset? (YES reads it; NO makes a new one)
//   2. M value (1-16), then N value (M-16)
//   3. each key: insert, overwrite confirmation (twice when the key is not
//      blank, naming what it holds), new PIN twice (or ENTER for none)
//   4. duplicate sets? each duplicate key gets its own PIN
// Orange keysets (RPV initialization) skip stage 1: the host brings the RPV
// and the RPK, and every orange key carries the RPK besides its RPV split.
#include <algorithm>
#include <optional>
#include <vector>

#include "flows.h"
#include "prompts.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/symmetric.h"
#include "rped/crypto/x509.h"
#include "rped/pedsim/constants.h"
#include "rped/pedsim/shamir.h"
#include "screens.h"

namespace rped::pedsim {

namespace {

struct Quorum {
  std::uint8_t m = 1;
  std::uint8_t n = 1;
};

// The keyset being written: its splits and what every key carries.
struct KeysetPlan {
  ped::KeyType type = ped::KeyType::blue;
  Lines context;
  Bytes keyset_id;
  Quorum quorum;
  std::vector<ShamirShare> splits;
  const RpkMaterial* rpk = nullptr;          // orange keysets
  std::vector<std::string> written_serials;  // keys of this keyset so far: never written twice
};

// Stage 2.
FlowResult<Quorum> choose_quorum(Flow& flow, const Lines& context) {
  const auto m_prompt = [&](const std::string& note) { return screens::enter_m(context, note); };
  RPED_FLOW_TRY_ASSIGN(const std::uint8_t m, enter_number(flow, m_prompt, 1, ped::kMaxQuorum));
  const auto n_prompt = [&](const std::string& note) { return screens::enter_n(context, m, note); };
  RPED_FLOW_TRY_ASSIGN(const std::uint8_t n, enter_number(flow, n_prompt, m, ped::kMaxQuorum));
  return Quorum{m, n};
}

FlowResult<KeysetPlan> plan_keyset(ped::KeyType type, Lines context, Quorum quorum,
                                   const SecretBytes& secret, const RpkMaterial* rpk) {
  KeysetPlan plan;
  plan.type = type;
  plan.context = std::move(context);
  plan.quorum = quorum;
  plan.rpk = rpk;
  plan.keyset_id.resize(ped::kKeysetIdBytes);
  RPED_FLOW_TRY(or_internal(crypto::random_bytes(plan.keyset_id)));
  RPED_FLOW_TRY_ASSIGN(plan.splits, or_internal(shamir_split(secret, quorum.m, quorum.n)));
  return plan;
}

// Stage 3 (and 4): one split onto one key the custodian picks.
FlowResult<void> write_split(Flow& flow, KeysetPlan& plan, const ShamirShare& split,
                             const std::string& which) {
  std::string note = which;
  for (;;) {
    RPED_FLOW_TRY_ASSIGN(const KeySlot slot,
                         await_key(flow, screens::insert_key(plan.context, plan.type, note)));
    const HeldKey held(flow, slot);
    RPED_FLOW_TRY_ASSIGN(const PedKeyRecord current, read_key(flow, slot));
    const auto& written = plan.written_serials;
    if (std::find(written.begin(), written.end(), current.serial) != written.end()) {
      note = screens::key_already_used();
      continue;
    }
    RPED_FLOW_TRY_ASSIGN(const bool overwrite, confirm_overwrite(flow, current, plan.context));
    if (!overwrite) {
      note = screens::insert_another_key();
      continue;
    }
    RPED_FLOW_TRY_ASSIGN(const SecretBytes pin, enter_new_pin(flow, plan.context));
    KeyContents contents;
    contents.type = plan.type;
    contents.label = default_label(plan.type, split.x, plan.quorum.n);
    contents.keyset_id = plan.keyset_id;
    contents.m = plan.quorum.m;
    contents.n = plan.quorum.n;
    contents.split_index = split.x;
    contents.split = split.y.clone();
    if (plan.rpk != nullptr) {
      contents.rpk = RpkMaterial{plan.rpk->hsm_serial, plan.rpk->rpk_serial,
                                 plan.rpk->rpk_private.clone(), plan.rpk->rpk_certificate};
    }
    RPED_FLOW_TRY_ASSIGN(const PedKeyRecord sealed,
                         or_internal(seal_key(contents, pin, current.serial)));
    RPED_FLOW_TRY(write_key(flow, slot, sealed));
    plan.written_serials.push_back(current.serial);
    flow.show(screens::key_written(plan.context, which));
    return {};
  }
}

FlowResult<void> write_keyset_keys(Flow& flow, KeysetPlan& plan) {
  for (const ShamirShare& split : plan.splits) {
    RPED_FLOW_TRY(write_split(flow, plan, split, screens::key_number(split.x, plan.quorum.n)));
  }
  return {};
}

// Stage 4: returns how many duplicate sets were written.
FlowResult<std::uint8_t> write_duplicate_sets(Flow& flow, KeysetPlan& plan) {
  RPED_FLOW_TRY_ASSIGN(const bool wanted,
                       ask_yes_no(flow, screens::duplicates_wanted(plan.context)));
  if (!wanted) {
    return std::uint8_t{0};
  }
  const auto count_prompt = [&](const std::string& note) {
    return screens::duplicate_count(plan.context, note);
  };
  RPED_FLOW_TRY_ASSIGN(const std::uint8_t sets,
                       enter_number(flow, count_prompt, 1, kMaxDuplicateSets));
  for (std::uint8_t set = 1; set <= sets; ++set) {
    for (const ShamirShare& split : plan.splits) {
      RPED_FLOW_TRY(write_split(flow, plan, split,
                                screens::duplicate_key_number(set, split.x, plan.quorum.n)));
    }
  }
  return sets;
}

// The host's RPK must be a valid P-521 scalar whose public key the certificate certifies.
FlowResult<void> check_rpk(const ped::CreateRpkKeysetRequest& request) {
  auto pair = crypto::EcKeyPair::from_private(crypto::Curve::p521, request.rpk_private.reveal());
  if (!pair.ok()) {
    return flow_failure(ped::Status::bad_request,
                        "rpk_private is not a P-521 private key: " + pair.error().message);
  }
  auto certificate = crypto::Certificate::from_der(request.rpk_certificate);
  if (!certificate.ok()) {
    return flow_failure(ped::Status::bad_request,
                        "rpk_certificate: " + certificate.error().message);
  }
  auto certified = certificate->ec_public_key();
  if (!certified.ok() || !(certified.value() == pair->public_key())) {
    return flow_failure(ped::Status::bad_request,
                        "rpk_certificate does not certify the RPK public key");
  }
  return {};
}

}  // namespace

FlowResult<ped::CreateKeysetResponse> create_keyset_flow(Flow& flow,
                                                         const ped::CreateKeysetRequest& request) {
  const Lines context = screens::context_lines(request.context);
  ped::CreateKeysetResponse response;
  // Stage 1.
  if (request.allow_reuse) {
    RPED_FLOW_TRY_ASSIGN(const bool reuse, ask_yes_no(flow, screens::reuse_keyset(context)));
    if (reuse) {
      RPED_FLOW_TRY_ASSIGN(
          ped::ReadSecretResponse existing,
          read_secret_flow(
              flow, ped::ReadSecretRequest{request.key_type, request.context, request.timeout_ms}));
      response.reused = true;
      response.m = existing.m;
      response.n = existing.n;
      response.keyset_id = existing.keyset_id;
      response.secret = std::move(existing.secret);
      return response;
    }
  }
  // Stages 2-4.
  RPED_FLOW_TRY_ASSIGN(const Quorum quorum, choose_quorum(flow, context));
  RPED_FLOW_TRY_ASSIGN(KeysetPlan plan,
                       plan_keyset(request.key_type, context, quorum, request.secret, nullptr));
  RPED_FLOW_TRY(write_keyset_keys(flow, plan));
  RPED_FLOW_TRY_ASSIGN(response.duplicate_sets, write_duplicate_sets(flow, plan));
  response.m = quorum.m;
  response.n = quorum.n;
  response.keyset_id = plan.keyset_id;
  response.secret = request.secret.clone();
  return response;
}

FlowResult<ped::CreateRpkKeysetResponse> create_rpk_keyset_flow(
    Flow& flow, const ped::CreateRpkKeysetRequest& request) {
  RPED_FLOW_TRY(check_rpk(request));
  const RpkMaterial rpk{request.hsm_serial, request.rpk_serial, request.rpk_private.clone(),
                        request.rpk_certificate};
  const Lines context = screens::rpv_context();
  RPED_FLOW_TRY_ASSIGN(const Quorum quorum, choose_quorum(flow, context));
  RPED_FLOW_TRY_ASSIGN(KeysetPlan plan,
                       plan_keyset(ped::KeyType::orange, context, quorum, request.rpv, &rpk));
  RPED_FLOW_TRY(write_keyset_keys(flow, plan));
  RPED_FLOW_TRY(write_duplicate_sets(flow, plan));
  ped::CreateRpkKeysetResponse response;
  response.m = quorum.m;
  response.n = quorum.n;
  return response;
}

}  // namespace rped::pedsim
