// The declarative option table of a daemon. ONE table per daemon drives the
// command-line parser, the config-file loader and writer, the -help renderer
// and validation; nothing in config/ has code for an individual option.
//
// Luna syntax (so existing runbooks work): single-dash long names, a value in
// the next argument unless the option is a flag (`-port 1503`, `-force`).
// A "command" is chosen by a selector option: an enumeration (`-mode start`,
// `-appliance register`) or a flag (`-regen`).
//
// Options with a built-in meaning, which every table must define:
//   -help        print help (for the command, if one is given) and exit
//   -configfile  the configuration file to read instead of the default
// and, in tables with a `config` command, `-set` and `-show` (see config_command.h).
//
// Thread-safety: constant data and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace rped::config {

enum class OptionKind : std::uint8_t {
  integer,      // decimal, within [min, max], in `unit`
  boolean,      // 0 or 1 (TOML: 0, 1, false or true)
  enumeration,  // one of `allowed`
  string,       // 1..kMaxStringLength bytes, no control characters
  path,         // 1..kMaxPathLength bytes, no control characters; absolute in the config file
  host,         // IPv4 literal, IPv6 literal (optionally with %zone) or RFC 1123 host name
  port,         // TCP port 1..65535
  flag,         // no value; present or not; never stored in the config file
  ped_device,   // usb | usb:VID:PID | usb:VID:PID:SERIAL | sim:SOCKET (see ped_device.h)
};

// Whether an option is a stored setting or belongs to one invocation only.
enum class Storage : std::uint8_t {
  command_line_only,  // mode, help, force, configfile, ...: never in the config file
  config_file,  // a setting: defaults < config file < command line; accepted with every command
};

inline constexpr std::size_t kMaxStringLength = 255;
inline constexpr std::size_t kMaxPathLength = 4095;  // PATH_MAX minus the terminating NUL

inline constexpr std::string_view kHelpOption = "help";
inline constexpr std::string_view kConfigFileOption = "configfile";
inline constexpr std::string_view kSetOption = "set";
inline constexpr std::string_view kShowOption = "show";
inline constexpr std::string_view kConfigCommand = "config";

// Every member has a default so tables can use designated initializers and name
// only what applies to the option.
struct OptionSpec final {
  std::string_view name{};                      // without the dash; also the config-file key
  std::span<const std::string_view> aliases{};  // e.g. "m" for "mode", "logfilename" for "logfile"
  OptionKind kind = OptionKind::string;
  std::int64_t min = 0;     // integer only
  std::int64_t max = 0;     // integer only
  std::string_view unit{};  // integer only, optional: "seconds", "KB", "microseconds"
  std::span<const std::string_view> allowed{};  // enumeration only
  // Text parsed by the option's own validator; empty: no default. May contain
  // the placeholders {log_dir} and {state_dir} (see paths.h).
  std::string_view default_value{};
  std::string_view value_name{};  // help metavariable; empty: derived from the kind
  std::string_view help{};        // may contain {config_file}, {log_dir}, {state_dir}
  Storage storage = Storage::command_line_only;
  // command_line_only options: the command ids that accept the option (empty: all).
  std::span<const std::string_view> commands{};
  // Commands that need the option on the command line; for a stored setting, a
  // value from the file or a default does not count (e.g. -ip for -appliance register).
  std::span<const std::string_view> required_in{};
};

struct CommandSpec final {
  std::string_view id{};  // the selector's enumeration word ("start"), or the flag's name ("regen")
  std::string_view selector{};  // the option that selects the command: "mode", "appliance", "regen"
  std::string_view summary{};
  std::span<const std::string_view> one_of{};  // exactly one of these options must be given
};

struct DaemonOptions final {
  std::string_view daemon{};       // "pedserver": error prefix, default file names
  std::string_view description{};  // first line of -help
  std::span<const OptionSpec> options{};
  std::span<const CommandSpec> commands{};
};

// A validated value. integer, port: int64; boolean, flag: bool; all others: string.
using OptionValue = std::variant<std::int64_t, bool, std::string>;
// Canonical option name -> value. Ordered for deterministic output.
using OptionValues = std::map<std::string, OptionValue, std::less<>>;

// --- table look-ups ---------------------------------------------------------

constexpr bool answers_to(const OptionSpec& spec, std::string_view name_or_alias) noexcept {
  if (spec.name == name_or_alias) {
    return true;
  }
  for (const std::string_view alias : spec.aliases) {
    if (alias == name_or_alias) {
      return true;
    }
  }
  return false;
}

// Index of the option answering to `name_or_alias`; table.options.size() if none.
// (Indices rather than pointers keep the static_assert self-check a constant
// expression under -fsanitize=undefined, where GCC rejects pointer-to-null
// comparisons in constant evaluation.)
constexpr std::size_t option_index(const DaemonOptions& table,
                                   std::string_view name_or_alias) noexcept {
  for (std::size_t i = 0; i < table.options.size(); ++i) {
    if (answers_to(table.options[i], name_or_alias)) {
      return i;
    }
  }
  return table.options.size();
}

constexpr std::size_t command_index(const DaemonOptions& table, std::string_view id) noexcept {
  for (std::size_t i = 0; i < table.commands.size(); ++i) {
    if (table.commands[i].id == id) {
      return i;
    }
  }
  return table.commands.size();
}

constexpr bool has_option(const DaemonOptions& table, std::string_view name_or_alias) noexcept {
  return option_index(table, name_or_alias) < table.options.size();
}

constexpr bool has_command(const DaemonOptions& table, std::string_view id) noexcept {
  return command_index(table, id) < table.commands.size();
}

// nullptr when the table has no such option / command.
constexpr const OptionSpec* find_option(const DaemonOptions& table,
                                        std::string_view name_or_alias) noexcept {
  const std::size_t i = option_index(table, name_or_alias);
  return i < table.options.size() ? &table.options[i] : nullptr;
}

constexpr const CommandSpec* find_command(const DaemonOptions& table,
                                          std::string_view id) noexcept {
  const std::size_t i = command_index(table, id);
  return i < table.commands.size() ? &table.commands[i] : nullptr;
}

constexpr bool contains_word(std::span<const std::string_view> words,
                             std::string_view word) noexcept {
  for (const std::string_view candidate : words) {
    if (candidate == word) {
      return true;
    }
  }
  return false;
}

constexpr bool is_selector(const DaemonOptions& table, std::string_view name) noexcept {
  for (const CommandSpec& command : table.commands) {
    if (command.selector == name) {
      return true;
    }
  }
  return false;
}

// --- table self-check ---------------------------------------------------------

// The first defect of a table, or "" when it is well formed. Evaluated by a
// static_assert next to each table and printed by a unit test.
constexpr std::string_view first_table_defect(const DaemonOptions& table) noexcept {
  if (table.daemon.empty() || table.options.empty() || table.commands.empty()) {
    return "daemon name, options and commands are required";
  }
  for (std::size_t i = 0; i < table.options.size(); ++i) {
    const OptionSpec& spec = table.options[i];
    if (spec.name.empty() || spec.help.empty()) {
      return "every option needs a name and help text";
    }
    if (spec.name.front() == '-') {
      return "option names are written without the dash";
    }
    for (std::size_t j = 0; j < i; ++j) {
      const OptionSpec& earlier = table.options[j];
      if (answers_to(earlier, spec.name)) {
        return "an option name is used twice";
      }
      for (const std::string_view alias : spec.aliases) {
        if (answers_to(earlier, alias)) {
          return "an option alias is used twice";
        }
      }
    }
    if (spec.kind == OptionKind::integer && spec.min > spec.max) {
      return "an integer option needs min <= max";
    }
    if (spec.kind == OptionKind::enumeration && spec.allowed.empty()) {
      return "an enumeration option needs allowed words";
    }
    if (spec.kind == OptionKind::flag &&
        (spec.storage == Storage::config_file || !spec.default_value.empty())) {
      return "a flag is command-line only and has no default";
    }
    if (spec.storage == Storage::config_file && !spec.commands.empty()) {
      return "a stored setting applies to every command";
    }
    for (const std::string_view id : spec.commands) {
      if (!has_command(table, id)) {
        return "an option names an unknown command";
      }
    }
    for (const std::string_view id : spec.required_in) {
      if (!has_command(table, id)) {
        return "an option is required in an unknown command";
      }
      if (!spec.commands.empty() && !contains_word(spec.commands, id)) {
        return "an option is required in a command that does not accept it";
      }
    }
  }
  for (std::size_t i = 0; i < table.commands.size(); ++i) {
    const CommandSpec& command = table.commands[i];
    if (command.id.empty() || command.summary.empty()) {
      return "every command needs an id and a summary";
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (table.commands[j].id == command.id) {
        return "a command id is used twice";
      }
    }
    const std::size_t selector_index = option_index(table, command.selector);
    if (selector_index == table.options.size() ||
        table.options[selector_index].storage != Storage::command_line_only) {
      return "a command's selector must be a command-line-only option of the table";
    }
    const OptionSpec& selector = table.options[selector_index];
    if (selector.kind == OptionKind::flag && command.id != selector.name) {
      return "a flag selector's command id is the flag's name";
    }
    if (selector.kind == OptionKind::enumeration && !contains_word(selector.allowed, command.id)) {
      return "an enumeration selector's command id must be one of its words";
    }
    if (selector.kind != OptionKind::flag && selector.kind != OptionKind::enumeration) {
      return "a selector is a flag or an enumeration";
    }
    for (const std::string_view name : command.one_of) {
      if (!has_option(table, name)) {
        return "a command's one_of names an unknown option";
      }
    }
  }
  for (const OptionSpec& spec : table.options) {
    if (is_selector(table, spec.name) && spec.kind == OptionKind::enumeration) {
      for (const std::string_view word : spec.allowed) {
        if (!has_command(table, word)) {
          return "every word of a selector enumeration needs a command";
        }
      }
    }
  }
  const auto has_option_of = [&table](std::string_view name, OptionKind kind) {
    const std::size_t i = option_index(table, name);
    return i < table.options.size() && table.options[i].kind == kind &&
           table.options[i].storage == Storage::command_line_only;
  };
  if (!has_option_of(kHelpOption, OptionKind::flag) ||
      !has_option_of(kConfigFileOption, OptionKind::path)) {
    return "the table needs the flag -help and the command-line path -configfile";
  }
  if (has_command(table, kConfigCommand) && (!has_option_of(kSetOption, OptionKind::flag) ||
                                             !has_option_of(kShowOption, OptionKind::flag))) {
    return "a table with a config command needs the flags -set and -show";
  }
  return {};
}

// "-mode start", "-appliance register", "-regen": how a command is written.
std::string command_display(const DaemonOptions& table, std::string_view command_id);

}  // namespace rped::config
