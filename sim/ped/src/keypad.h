// Keypad names and digits (the public keypad_from_name is in device.h).
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

#include "rped/pedsim/device.h"

namespace rped::pedsim {

// '0'..'9' for a digit key, nothing otherwise.
std::optional<char> keypad_digit(Keypad key) noexcept;
// "0".."9", "yes", "no", "enter", "clear", "<", ">": the inverse of keypad_from_name.
std::string_view keypad_name(Keypad key) noexcept;
// The key for a digit character.
std::optional<Keypad> keypad_for_digit(char digit) noexcept;

}  // namespace rped::pedsim
