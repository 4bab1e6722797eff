#include "rped/config/help.h"

#include "concat.h"

#include <vector>

#include "rped/config/option_value.h"

namespace rped::config {
namespace {

constexpr std::size_t kOptionIndent = 2;
constexpr std::size_t kDescriptionColumn = 26;

std::string join(std::span<const std::string_view> words, std::string_view separator) {
  std::string out;
  for (const std::string_view word : words) {
    out += concat({out.empty() ? "" : separator, word});
  }
  return out;
}

std::string metavariable(const OptionSpec& spec) {
  if (!spec.value_name.empty()) {
    return concat({"<", spec.value_name, ">"});
  }
  switch (spec.kind) {
    case OptionKind::integer:
      return spec.unit.empty() ? "<number>" : concat({"<", spec.unit, ">"});
    case OptionKind::boolean:
      return "<0|1>";
    case OptionKind::enumeration:
      return concat({"<", join(spec.allowed, "|"), ">"});
    case OptionKind::string:
      return "<text>";
    case OptionKind::path:
      return "<file>";
    case OptionKind::host:
      return "<address>";
    case OptionKind::port:
      return "<port>";
    case OptionKind::ped_device:
      return "<device>";
    case OptionKind::flag:
      return "";
    default:
      return "<value>";
  }
}

// Greedy word wrap; continuation lines start at `indent`. A word never breaks.
void append_wrapped_words(std::string& out, std::string_view first_column,
                          const std::vector<std::string>& words, std::size_t indent) {
  std::string line(first_column);
  if (!line.empty() && line.size() + 1 > indent) {
    out += line;
    out += '\n';
    line.assign(indent, ' ');
  } else {
    line.resize(indent, ' ');
  }
  bool line_has_words = false;
  for (const std::string& word : words) {
    if (line_has_words && line.size() + 1 + word.size() > kHelpWidth) {
      out += line;
      out += '\n';
      line.assign(indent, ' ');
      line_has_words = false;
    }
    if (line_has_words) {
      line += ' ';
    }
    line += word;
    line_has_words = true;
  }
  out += line;
  out += '\n';
}

void append_wrapped(std::string& out, std::string_view first_column, std::string_view text,
                    std::size_t indent) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t space = text.find(' ', start);
    const std::size_t stop = space == std::string_view::npos ? text.size() : space;
    if (stop > start) {
      words.emplace_back(text.substr(start, stop - start));
    }
    start = stop + 1;
  }
  append_wrapped_words(out, first_column, words, indent);
}

void append_option(std::string& out, const OptionSpec& spec, const DaemonPaths& paths) {
  std::string column = concat({std::string(kOptionIndent, ' '), "-", spec.name});
  const std::string value = metavariable(spec);
  if (!value.empty()) {
    column += concat({" ", value});
  }
  std::string text = expand_path_placeholders(spec.help, paths);
  if (spec.kind == OptionKind::integer) {
    text += concat({" ", std::to_string(spec.min), " to ", std::to_string(spec.max),
                    spec.unit.empty() ? "" : " ", spec.unit, "."});
  }
  if (!spec.default_value.empty()) {
    text += concat({" Default: ", expand_path_placeholders(spec.default_value, paths), "."});
  }
  if (!spec.aliases.empty()) {
    std::string aliases;
    for (const std::string_view alias : spec.aliases) {
      aliases += concat({aliases.empty() ? "-" : ", -", alias});
    }
    text += concat({" Also ", aliases, "."});
  }
  append_wrapped(out, column, text, kDescriptionColumn);
}

bool is_listed_for(const OptionSpec& spec, const DaemonOptions& table,
                   std::string_view command_id) {
  if (spec.storage != Storage::command_line_only) {
    return false;
  }
  if (is_selector(table, spec.name)) {
    return command_id
        .empty();  // the overview explains the selectors; a command's help is past that choice
  }
  return command_id.empty() || spec.commands.empty() || contains_word(spec.commands, command_id);
}

void append_settings(std::string& out, const DaemonOptions& table, const DaemonPaths& paths) {
  out += concat({"\nSettings (on the command line, or as key = value in ",
                 paths.config_file.string(), "):\n"});
  for (const OptionSpec& spec : table.options) {
    if (spec.storage == Storage::config_file) {
      append_option(out, spec, paths);
    }
  }
}

// The usage of a command as words that must not break: "-ip <address>" stays together.
std::vector<std::string> usage_words(const DaemonOptions& table, const CommandSpec& command) {
  std::vector<std::string> words{std::string(table.daemon), command_display(table, command.id)};
  for (const OptionSpec& spec : table.options) {
    if (contains_word(spec.required_in, command.id)) {
      words.push_back(concat({"-", spec.name, " ", metavariable(spec)}));
    }
  }
  if (!command.one_of.empty()) {
    std::string choices;
    for (const std::string_view name : command.one_of) {
      choices += concat({choices.empty() ? "-" : "|-", name});
    }
    words.push_back(choices);
  }
  words.emplace_back("[options]");
  return words;
}

}  // namespace

std::string render_help(const DaemonOptions& table, std::string_view command_id,
                        const DaemonPaths& paths) {
  std::string out;
  const CommandSpec* const command = command_id.empty() ? nullptr : find_command(table, command_id);
  if (command != nullptr) {
    append_wrapped_words(out, "Usage:", usage_words(table, *command), 7);
    out += "\n";
    append_wrapped(out, "", expand_path_placeholders(command->summary, paths), 0);
    out += "\nOptions:\n";
    for (const OptionSpec& spec : table.options) {
      if (is_listed_for(spec, table, command_id)) {
        append_option(out, spec, paths);
      }
    }
    append_settings(out, table, paths);
    return out;
  }

  append_wrapped(out, "", concat({table.daemon, ": ", table.description}), 0);
  out += "\nUsage:\n";
  std::vector<std::string_view> selectors;
  for (const CommandSpec& each : table.commands) {
    if (contains_word(selectors, each.selector)) {
      continue;
    }
    selectors.push_back(each.selector);
    const OptionSpec* const selector = find_option(table, each.selector);
    const std::string value = selector == nullptr ? "" : metavariable(*selector);
    std::string line = concat(
        {"  ", table.daemon, " -", each.selector, value.empty() ? "" : " ", value, " [options]"});
    if (line.size() > kHelpWidth) {
      line = concat({"  ", table.daemon, " -", each.selector, " <command> [options]"});
    }
    out += line;
    out += '\n';
  }
  out += concat({"  ", table.daemon, " <command> -help   (e.g. ", table.daemon, " ",
                 command_display(table, table.commands.front().id), " -help)\n"});
  out += "\nCommands:\n";
  for (const CommandSpec& each : table.commands) {
    append_wrapped(out, concat({"  ", command_display(table, each.id)}),
                   expand_path_placeholders(each.summary, paths), kDescriptionColumn);
  }
  out += "\nOptions:\n";
  for (const OptionSpec& spec : table.options) {
    if (is_listed_for(spec, table, command_id)) {
      append_option(out, spec, paths);
    }
  }
  append_settings(out, table, paths);
  return out;
}

}  // namespace rped::config
