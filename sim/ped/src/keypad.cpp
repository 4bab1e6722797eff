#include "keypad.h"

#include <array>
#include <utility>

namespace rped::pedsim {

namespace {

constexpr std::array<std::pair<std::string_view, Keypad>, 16> kKeyNames{{
    {"0", Keypad::d0},
    {"1", Keypad::d1},
    {"2", Keypad::d2},
    {"3", Keypad::d3},
    {"4", Keypad::d4},
    {"5", Keypad::d5},
    {"6", Keypad::d6},
    {"7", Keypad::d7},
    {"8", Keypad::d8},
    {"9", Keypad::d9},
    {"yes", Keypad::yes},
    {"no", Keypad::no},
    {"enter", Keypad::enter},
    {"clear", Keypad::clear},
    {"<", Keypad::back},
    {">", Keypad::log},
}};

}  // namespace

std::optional<Keypad> keypad_from_name(std::string_view name) noexcept {
  for (const auto& [key_name, key] : kKeyNames) {
    if (key_name == name) {
      return key;
    }
  }
  return std::nullopt;
}

std::string_view keypad_name(Keypad key) noexcept {
  for (const auto& [key_name, named] : kKeyNames) {
    if (named == key) {
      return key_name;
    }
  }
  return "?";
}

std::optional<char> keypad_digit(Keypad key) noexcept {
  const auto value = static_cast<std::uint8_t>(key);
  if (value <= static_cast<std::uint8_t>(Keypad::d9)) {
    return static_cast<char>('0' + value);
  }
  return std::nullopt;
}

std::optional<Keypad> keypad_for_digit(char digit) noexcept {
  if (digit < '0' || digit > '9') {
    return std::nullopt;
  }
  return static_cast<Keypad>(digit - '0');
}

}  // namespace rped::pedsim
