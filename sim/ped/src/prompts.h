// The PED's prompts, shared by every flow: wait for a key and ENTER, YES/NO,
// digits, numbers, PINs, overwrite confirmation. '<' (and NO where it is not
// an answer) cancels; CLEAR empties a digit entry.
//
// Thread-safety: firmware thread only (they run inside a Flow).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "flow.h"
#include "rped/pedsim/key_store.h"
#include "rped/secret.h"
#include "screens.h"

namespace rped::pedsim {

// Shows `prompt` and waits for ENTER while a key is in the port; returns that key.
FlowResult<KeySlot> await_key(Flow& flow, const Lines& prompt);

// YES -> true, NO -> false.
FlowResult<bool> ask_yes_no(Flow& flow, const Lines& question);

// Shows `screen` and waits for any keypress.
FlowResult<void> acknowledge(Flow& flow, const Lines& screen);

enum class Echo : std::uint8_t { digits, masked };
// Digits until ENTER (at most max_digits; more are ignored), echoed under the prompt.
FlowResult<SecretBytes> enter_digits(Flow& flow, const Lines& prompt, std::size_t max_digits,
                                     Echo echo);

// A number in [lo, hi]; out-of-range entries ask again. `prompt_for(note)` builds the screen.
template <typename PromptFor>
FlowResult<std::uint8_t> enter_number(Flow& flow, PromptFor prompt_for, unsigned lo, unsigned hi);

// The PIN of an existing key (any length up to 48; the unwrap judges it).
FlowResult<SecretBytes> enter_pin(Flow& flow, const Lines& context);
// A new PIN, typed twice: empty (ENTER alone) for no PIN, else 4-48 digits not starting with 0.
FlowResult<SecretBytes> enter_new_pin(Flow& flow, const Lines& context);

// Before writing over a key: once for a blank key, twice for a key that holds
// a secret (naming what it holds). True when the custodian confirmed.
FlowResult<bool> confirm_overwrite(Flow& flow, const PedKeyRecord& record, const Lines& context);

// Reads the file of the key in `slot`; a missing or damaged file is internal.
FlowResult<PedKeyRecord> read_key(Flow& flow, const KeySlot& slot);

// Writes `record` onto the key in `slot`, which must still be in the port.
FlowResult<void> write_key(Flow& flow, const KeySlot& slot, const PedKeyRecord& record);

// ---------------------------------------------------------------------------

std::uint8_t parse_small_number(const SecretBytes& digits);

template <typename PromptFor>
FlowResult<std::uint8_t> enter_number(Flow& flow, PromptFor prompt_for, unsigned lo, unsigned hi) {
  std::string note;
  for (;;) {
    RPED_FLOW_TRY_ASSIGN(const SecretBytes digits,
                         enter_digits(flow, prompt_for(note), 2, Echo::digits));
    const std::uint8_t value = parse_small_number(digits);
    if (!digits.empty() && value >= lo && value <= hi) {
      return value;
    }
    note = screens::value_out_of_range(lo, hi);
  }
}

}  // namespace rped::pedsim
