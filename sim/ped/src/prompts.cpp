#include "prompts.h"

#include "keypad.h"
#include "rped/pedsim/constants.h"
#include "screens.h"

namespace rped::pedsim {

FlowResult<KeySlot> await_key(Flow& flow, const Lines& prompt) {
  flow.show(prompt);
  for (;;) {
    RPED_FLOW_TRY_ASSIGN(const Keypad key, flow.next_keypress());
    switch (key) {
      case Keypad::enter: {
        if (auto slot = flow.inserted_key()) {
          return std::move(*slot);
        }
        Lines again = prompt;
        again.push_back(screens::no_key_in_port());
        flow.show(again);
        break;
      }
      case Keypad::back:
      case Keypad::no:
        return flow_failure(ped::Status::cancelled, "the custodian cancelled at the PED");
      default:
        break;  // other keys do nothing here
    }
  }
}

FlowResult<bool> ask_yes_no(Flow& flow, const Lines& question) {
  flow.show(question);
  for (;;) {
    RPED_FLOW_TRY_ASSIGN(const Keypad key, flow.next_keypress());
    switch (key) {
      case Keypad::yes:
        return true;
      case Keypad::no:
        return false;
      case Keypad::back:
        return flow_failure(ped::Status::cancelled, "the custodian cancelled at the PED");
      default:
        break;
    }
  }
}

FlowResult<void> acknowledge(Flow& flow, const Lines& screen) {
  flow.show(screen);
  RPED_FLOW_TRY(flow.next_keypress());
  return {};
}

FlowResult<SecretBytes> enter_digits(Flow& flow, const Lines& prompt, std::size_t max_digits,
                                     Echo echo) {
  SecretBytes digits;
  for (;;) {
    Lines screen = prompt;
    if (echo == Echo::masked) {
      screen.push_back(screens::masked(digits.size()));
    } else {
      screen.emplace_back(digits.reveal().begin(), digits.reveal().end());
    }
    flow.show(screen);
    RPED_FLOW_TRY_ASSIGN(const Keypad key, flow.next_keypress());
    if (const auto digit = keypad_digit(key)) {
      if (digits.size() < max_digits) {
        const std::uint8_t c = *digit;
        digits.append(std::span(&c, 1));
      }
      continue;
    }
    switch (key) {
      case Keypad::enter:
        return digits;
      case Keypad::clear:
        digits.clear();
        break;
      case Keypad::back:
      case Keypad::no:
        return flow_failure(ped::Status::cancelled, "the custodian cancelled at the PED");
      default:
        break;
    }
  }
}

std::uint8_t parse_small_number(const SecretBytes& digits) {
  unsigned value = 0;
  for (const std::uint8_t c : digits.reveal()) {
    value = value * 10 + (c - '0');
  }
  return value > 255 ? 0 : static_cast<std::uint8_t>(value);
}

FlowResult<SecretBytes> enter_pin(Flow& flow, const Lines& context) {
  return enter_digits(flow, screens::enter_pin(context), kMaxPinDigits, Echo::masked);
}

FlowResult<SecretBytes> enter_new_pin(Flow& flow, const Lines& context) {
  std::string note;
  for (;;) {
    RPED_FLOW_TRY_ASSIGN(SecretBytes pin, enter_digits(flow, screens::enter_new_pin(context, note),
                                                       kMaxPinDigits, Echo::masked));
    if (pin.empty()) {
      return pin;  // no PIN on this key
    }
    const auto digits = pin.reveal();
    if (digits.size() < kMinPinDigits || digits.front() == '0') {
      note = screens::pin_rules();
      continue;
    }
    RPED_FLOW_TRY_ASSIGN(
        const SecretBytes again,
        enter_digits(flow, screens::confirm_new_pin(context), kMaxPinDigits, Echo::masked));
    if (again == pin) {
      return pin;
    }
    note = screens::pins_differ();
  }
}

FlowResult<bool> confirm_overwrite(Flow& flow, const PedKeyRecord& record, const Lines& context) {
  if (record.is_blank()) {
    return ask_yes_no(flow, screens::overwrite_blank(context));
  }
  RPED_FLOW_TRY_ASSIGN(const bool first,
                       ask_yes_no(flow, screens::overwrite_holds(context, record.type)));
  if (!first) {
    return false;
  }
  return ask_yes_no(flow, screens::overwrite_sure(context, record.type));
}

FlowResult<PedKeyRecord> read_key(Flow& flow, const KeySlot& slot) {
  auto record = flow.keys().load(slot.name);
  if (!record.ok()) {
    return flow_failure(ped::Status::internal,
                        "the PED key cannot be read: " + record.error().message);
  }
  return std::move(record).value();
}

FlowResult<void> write_key(Flow& flow, const KeySlot& slot, const PedKeyRecord& record) {
  if (!flow.holding()) {
    return flow_failure(ped::Status::key_removed, "the PED key was removed before it was written");
  }
  auto stored = flow.keys().store(slot.name, record);
  if (!stored.ok()) {
    return flow_failure(ped::Status::internal,
                        "the PED key cannot be written: " + stored.error().message);
  }
  return {};
}

}  // namespace rped::pedsim
