// Validation of one option value against its OptionSpec, shared by the
// command-line parser and the config-file loader so both accept exactly the
// same values and describe them with the same words.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rped/config/option_table.h"
#include "rped/result.h"

namespace rped::config {

// What the option accepts, as the tail of a one-line error:
// "must be an integer from 1 to 65535", "allowed values are text, json", "must be 0 or 1".
std::string describe_allowed(const OptionSpec& spec);

// The value of a command-line argument (or a default's text). Fails with
// Errc::invalid_argument and the message describe_allowed(spec); callers put
// the option and the value in front of it.
Result<OptionValue> parse_option_text(const OptionSpec& spec, std::string_view text);

// Checks of values that arrive already typed (from TOML). Same rules as above.
bool integer_is_allowed(const OptionSpec& spec,
                        std::int64_t value) noexcept;  // integer, port, boolean
Result<OptionValue> parse_option_integer(const OptionSpec& spec, std::int64_t value);

// The value as a command-line argument: "1503", "1", "/var/log/x.log".
std::string option_value_text(const OptionValue& value);

// Text quoted for a one-line message: as is when it is plain; in single quotes
// when empty or containing spaces or quotes; control and non-ASCII bytes as \xNN
// so a message is always exactly one printable line.
std::string quote_for_message(std::string_view text);

// Only the escaping of quote_for_message (control and non-ASCII bytes as \xNN).
std::string escape_for_message(std::string_view text);

}  // namespace rped::config
