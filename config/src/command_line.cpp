// Tokenizer choice: a small tokenizer over the option table, not
// Boost.ProgramOptions. Tried with Boost 1.74 (allow_long | long_allow_next |
// allow_long_disguise): `-port -force` takes "-force" as the port's value, an
// unknown `-bogus` and a value after a flag (`-force yes`) both come back as
// positional tokens instead of errors, `-m` needs allow_short (which then splits
// `-mode` into `-m ode`), and its exceptions name options as '--port'. Mapping
// that back onto our one-line messages would need more code than the grammar
// itself, which is just: name, then a value unless the option is a flag.
#include "rped/config/command_line.h"

#include "concat.h"

#include <optional>
#include <utility>

#include "rped/config/option_value.h"

namespace rped::config {
namespace {

constexpr std::string_view kDashlessModeWord = "mode";  // `pedserver mode start`

Error usage_error(const DaemonOptions& table, const std::string& what) {
  return make_error(Errc::invalid_argument, concat({table.daemon, ": ", what}));
}

std::string see_help(const DaemonOptions& table) {
  return concat({"see '", table.daemon, " -help'"});
}

// An argument that is an option rather than a value: a dash followed by a
// letter or a second dash. "-1" stays a value, so `-port -1` reports the range.
bool looks_like_option(std::string_view argument) noexcept {
  if (argument.size() < 2 || argument.front() != '-') {
    return false;
  }
  const char next = argument[1];
  return next == '-' || (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z');
}

struct GivenOption final {
  const OptionSpec* spec;
  std::string spelled;  // "-m", "-logfilename": used in messages
};

}  // namespace

std::string command_display(const DaemonOptions& table, std::string_view command_id) {
  const CommandSpec* const command = find_command(table, command_id);
  if (command == nullptr) {
    return std::string(command_id);
  }
  if (command->selector == command->id) {
    return concat({"-", command->id});
  }
  return concat({"-", command->selector, " ", command->id});
}

Result<CommandLine> parse_command_line(const DaemonOptions& table, int argc,
                                       const char* const* argv) {
  std::vector<std::string_view> arguments;
  for (int i = 1; i < argc; ++i) {
    arguments.emplace_back(argv[i]);
  }
  return parse_command_line(table, arguments);
}

Result<CommandLine> parse_command_line(const DaemonOptions& table,
                                       std::span<const std::string_view> arguments) {
  CommandLine parsed;
  std::vector<GivenOption> given;  // in order, for the checks after tokenizing
  bool follows_flag = false;  // the previous argument was a flag

  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const std::string_view argument = arguments[i];
    std::string_view name;
    std::string spelled;
    if (i == 0 && argument == kDashlessModeWord) {
      name = argument;
      spelled = std::string(argument);
    } else if (!looks_like_option(argument)) {
      if (follows_flag) {
        return usage_error(table, concat({given.back().spelled, ": takes no value (got '",
                                          escape_for_message(argument), "')"}));
      }
      return usage_error(
          table, concat({quote_for_message(argument),
                         ": unexpected argument; options start with '-' (", see_help(table), ")"}));
    } else if (argument.starts_with("--")) {
      const OptionSpec* const spec = find_option(table, argument.substr(2));
      if (spec != nullptr) {
        return usage_error(table, concat({quote_for_message(argument),
                                          ": options take a single dash: -", argument.substr(2)}));
      }
      return usage_error(
          table, concat({quote_for_message(argument), ": unknown option; ", see_help(table)}));
    } else {
      name = argument.substr(1);
      spelled = std::string(argument);
    }
    follows_flag = false;

    const OptionSpec* const spec = find_option(table, name);
    if (spec == nullptr) {
      const std::size_t equals = name.find('=');
      if (equals != std::string_view::npos &&
          find_option(table, name.substr(0, equals)) != nullptr) {
        return usage_error(
            table,
            concat({quote_for_message(argument), ": put the value after a space: -",
                    name.substr(0, equals), " ", quote_for_message(name.substr(equals + 1))}));
      }
      return usage_error(
          table, concat({quote_for_message(argument), ": unknown option; ", see_help(table)}));
    }
    for (const GivenOption& earlier : given) {
      if (earlier.spec == spec) {
        std::string what = concat({spelled, ": given more than once"});
        if (earlier.spelled != spelled) {
          what += concat({" (also as ", earlier.spelled, ")"});
        }
        return usage_error(table, what);
      }
    }
    given.push_back(GivenOption{.spec = spec, .spelled = spelled});

    if (spec->kind == OptionKind::flag) {
      parsed.values.insert_or_assign(std::string(spec->name), OptionValue(true));
      follows_flag = true;
      continue;
    }
    if (i + 1 >= arguments.size() || looks_like_option(arguments[i + 1])) {
      return usage_error(table, concat({spelled, ": missing value"}));
    }
    const std::string_view text = arguments[++i];
    Result<OptionValue> value = parse_option_text(*spec, text);
    if (!value.ok()) {
      return usage_error(
          table, concat({spelled, " ", quote_for_message(text), ": ", value.error().message}));
    }
    parsed.values.insert_or_assign(std::string(spec->name), std::move(value).value());
  }

  parsed.help_requested = parsed.values.contains(kHelpOption);

  // Which command: exactly one selector.
  const GivenOption* selector = nullptr;
  for (const GivenOption& option : given) {
    if (!is_selector(table, option.spec->name)) {
      continue;
    }
    if (selector != nullptr) {
      return usage_error(table,
                         concat({option.spelled, ": cannot be combined with ", selector->spelled}));
    }
    selector = &option;
  }
  if (selector == nullptr) {
    if (parsed.help_requested) {
      return parsed;
    }
    return usage_error(
        table, concat({"missing -", table.commands.front().selector, "; ", see_help(table)}));
  }
  parsed.command = selector->spec->kind == OptionKind::flag
                       ? std::string(selector->spec->name)
                       : std::get<std::string>(parsed.values.at(std::string(selector->spec->name)));
  const std::string shown_command = command_display(table, parsed.command);
  const CommandSpec* const command = find_command(table, parsed.command);
  if (command == nullptr) {
    return make_error(Errc::internal,
                      concat({table.daemon, ": option table has no command ", parsed.command}));
  }

  // Command-line-only options belong to particular commands.
  for (const GivenOption& option : given) {
    const OptionSpec& spec = *option.spec;
    if (spec.storage == Storage::command_line_only && !spec.commands.empty() &&
        !contains_word(spec.commands, parsed.command)) {
      return usage_error(table, concat({option.spelled, ": not used with ", shown_command,
                                        "; see '", table.daemon, " ", shown_command, " -help'"}));
    }
  }
  if (parsed.help_requested) {
    return parsed;  // help for a command does not need the command's required options
  }
  for (const OptionSpec& spec : table.options) {
    if (contains_word(spec.required_in, parsed.command) && !parsed.values.contains(spec.name)) {
      return usage_error(table, concat({shown_command, ": missing -", spec.name}));
    }
  }
  if (!command->one_of.empty()) {
    std::size_t present = 0;
    std::string choices;
    for (const std::string_view name : command->one_of) {
      present += parsed.values.contains(name) ? 1 : 0;
      choices += concat({choices.empty() ? "-" : ", -", name});
    }
    if (present != 1) {
      return usage_error(table, concat({shown_command, ": give exactly one of ", choices}));
    }
  }
  return parsed;
}

}  // namespace rped::config
