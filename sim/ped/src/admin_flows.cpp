// Keypad flows: Admin mode (List types, duplicate a key, self test), the
// Remote PED exit confirmation, the log screen, and the host's self_test.
#include <string>

#include "flows.h"
#include "prompts.h"
#include "rped/selftest.h"
#include "screens.h"

namespace rped::pedsim {

FlowResult<void> list_types_flow(Flow& flow) {
  RPED_FLOW_TRY_ASSIGN(const KeySlot slot, await_key(flow, screens::identify_prompt()));
  RPED_FLOW_TRY_ASSIGN(const PedKeyRecord record, read_key(flow, slot));
  return acknowledge(flow, screens::key_identity(record));
}

// A true copy: the sealed split (and RPK) byte for byte, so the copy opens
// with the same PIN. The custodian proves the PIN of the source first.
FlowResult<void> duplicate_key_flow(Flow& flow) {
  RPED_FLOW_TRY_ASSIGN(const KeySlot source_slot,
                       await_key(flow, screens::duplicate_source_prompt()));
  PedKeyRecord source;
  {
    const HeldKey held(flow, source_slot);
    RPED_FLOW_TRY_ASSIGN(source, read_key(flow, source_slot));
    if (source.is_blank()) {
      RPED_FLOW_TRY(acknowledge(flow, screens::source_blank()));
      return flow_failure(ped::Status::blank_key, "the source key is blank");
    }
    SecretBytes pin;
    if (source.has_pin) {
      RPED_FLOW_TRY_ASSIGN(pin, enter_pin(flow, {"DUPLICATE KEY"}));
    }
    if (!unseal_key(source, pin).ok()) {
      RPED_FLOW_TRY(acknowledge(flow, screens::pin_incorrect()));
      return flow_failure(ped::Status::pin_incorrect, "the source key's PIN was incorrect");
    }
  }
  std::string note;
  for (;;) {
    RPED_FLOW_TRY_ASSIGN(const KeySlot target_slot,
                         await_key(flow, screens::duplicate_target_prompt(note)));
    const HeldKey held(flow, target_slot);
    RPED_FLOW_TRY_ASSIGN(const PedKeyRecord target, read_key(flow, target_slot));
    if (target.serial == source.serial) {
      note = screens::that_is_the_source();
      continue;
    }
    RPED_FLOW_TRY_ASSIGN(const bool overwrite, confirm_overwrite(flow, target, {"DUPLICATE KEY"}));
    if (!overwrite) {
      note = screens::insert_another_key();
      continue;
    }
    RPED_FLOW_TRY(write_key(flow, target_slot, duplicate_key_record(source, target.serial)));
    return acknowledge(flow, screens::duplicate_written());
  }
}

ped::SelfTestResponse self_test_flow(Flow& flow) {
  flow.show(screens::self_test_running());
  const auto outcomes = run_self_tests();
  ped::SelfTestResponse response;
  std::size_t passed = 0;
  std::string failures;
  for (const SelfTestOutcome& outcome : outcomes) {
    if (outcome.passed) {
      ++passed;
    } else {
      failures += (failures.empty() ? "" : "; ") + outcome.name + ": " + outcome.detail;
    }
  }
  response.passed = !outcomes.empty() && passed == outcomes.size();
  response.report = std::to_string(passed) + " of " + std::to_string(outcomes.size()) +
                    " self-tests passed" + (failures.empty() ? "" : " (" + failures + ")");
  flow.show(screens::self_test_result(passed, outcomes.size()));
  return response;
}

FlowResult<void> admin_self_test_flow(Flow& flow) {
  (void)self_test_flow(flow);
  RPED_FLOW_TRY(flow.next_keypress());
  return {};
}

FlowResult<bool> confirm_exit_remote_flow(Flow& flow) {
  return ask_yes_no(flow, screens::exit_remote_confirm());
}

FlowResult<ped::ConfirmIdentityResponse> confirm_identity_flow(
    Flow& flow, const ped::ConfirmIdentityRequest& request) {
  Lines screen = request.lines;
  if (!request.ask) {
    // A notice (an HSM that failed verification): the timeout ends it quietly.
    auto seen = acknowledge(flow, screen);
    if (!seen.ok() && seen.failure().status != ped::Status::timeout) {
      return seen.failure();
    }
    return ped::ConfirmIdentityResponse{false};
  }
  screen.emplace_back("Proceed? YES/NO");
  RPED_FLOW_TRY_ASSIGN(const bool yes, ask_yes_no(flow, screen));
  if (!yes) {
    flow.show({"Refused by custodian"});
  }
  return ped::ConfirmIdentityResponse{yes};
}

FlowResult<void> log_flow(Flow& flow, const std::deque<std::string>& entries) {
  return acknowledge(flow, screens::log(entries));
}

}  // namespace rped::pedsim
