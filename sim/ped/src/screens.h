// Every text the emulated PED shows, in one place. The wording follows the
// product documentation where it gives one ("Insert a / SO / HSM Admin / PED
// Key (BLUE) / Press ENTER.", "Keys read: 01 of 03", "Enter PED PIN:",
// "COMPUTE SESSION KEY.", "Enter PED Password.", "Exiting now will invalidate
// the RPK. Confirm? YES/NO"). Each function returns lines before layout;
// compose() wraps them to 21 columns and keeps the first 8.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "flow.h"
#include "rped/ped/device_protocol.h"
#include "rped/pedsim/key_store.h"

namespace rped::pedsim::screens {

// The host's context text ("SLOT 01 / SO LOGIN..."): lines separated by
// newlines or " / ", at most kMaxContextLines after wrapping.
Lines context_lines(std::string_view context);

// "PED Key (BLUE)"
std::string key_colour_line(ped::KeyType type);
// "Keys read: 01 of 03"
std::string keys_read(std::size_t read, std::size_t m);

// Idle, per mode.
Lines idle(ped::Mode mode, bool remote_session, std::string_view peer);

// Key prompts. `note` is an extra last line ("Keys read: 01 of 03", "Key 2 of 5", a hint).
Lines insert_key(const Lines& context, ped::KeyType type, std::string_view note);
std::string no_key_in_port();

// PINs
Lines enter_pin(const Lines& context);
Lines enter_new_pin(const Lines& context, std::string_view note);
Lines confirm_new_pin(const Lines& context);
std::string pin_rules();
std::string pins_differ();
std::string masked(std::size_t digits);

// Key creation
Lines reuse_keyset(const Lines& context);
Lines enter_m(const Lines& context, std::string_view note);
Lines enter_n(const Lines& context, std::uint8_t m, std::string_view note);
Lines overwrite_blank(const Lines& context);
Lines overwrite_holds(const Lines& context, ped::KeyType type);
Lines overwrite_sure(const Lines& context, ped::KeyType type);
std::string key_number(std::size_t index, std::size_t n);
std::string duplicate_key_number(std::size_t set, std::size_t index, std::size_t n);
std::string key_already_used();
std::string insert_another_key();
Lines key_written(const Lines& context, std::string_view which);
Lines duplicates_wanted(const Lines& context);
Lines duplicate_count(const Lines& context, std::string_view note);
std::string value_out_of_range(unsigned lo, unsigned hi);
Lines rpv_context();

// Remote PED
// {peer or "REMOTE PED", activity}, e.g. {"HSM 1234567", "REMOTE PED LOGIN..."}.
Lines remote_context(std::string_view peer, std::string_view activity);
Lines compute_session_key(std::string_view peer);
Lines enter_password(std::string_view peer, std::string_view note);
std::string password_rules();
Lines exit_remote_confirm();

// Admin mode
Lines identify_prompt();
Lines key_identity(const PedKeyRecord& record);
Lines duplicate_source_prompt();
Lines duplicate_target_prompt(std::string_view note);
std::string that_is_the_source();
Lines source_blank();
Lines pin_incorrect();
Lines duplicate_written();
Lines self_test_running();
Lines self_test_result(std::size_t passed, std::size_t total);
Lines log(const std::deque<std::string>& entries);
Lines flow_ended(ped::Status status);

}  // namespace rped::pedsim::screens
