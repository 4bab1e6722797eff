#include "rped/config/config_command.h"

#include "concat.h"

#include "rped/config/config_file.h"

namespace rped::config {

std::string render_effective_settings(const DaemonOptions& table, const Invocation& invocation) {
  std::string out = concat({"# ", table.daemon, " effective settings: built-in defaults < ",
                            invocation.config_file.string(), " < command line\n"});
  for (const OptionSpec& spec : table.options) {
    if (spec.storage != Storage::config_file) {
      continue;
    }
    const auto found = invocation.settings.values().find(spec.name);
    if (found == invocation.settings.values().end()) {
      out += concat({"# ", spec.name, " is not set\n"});
      continue;
    }
    out += concat({spec.name, " = ", toml_value_text(found->second), "  # ",
                   value_source_name(invocation.settings.source(spec.name)), "\n"});
  }
  return out;
}

Result<std::string> run_config_command(const DaemonOptions& table, const Invocation& invocation) {
  const CommandLine& command_line = invocation.command_line;
  if (command_line.command != kConfigCommand) {
    return make_error(Errc::internal, concat({table.daemon, ": run_config_command called for ",
                                              command_display(table, command_line.command)}));
  }
  if (command_line.values.contains(kShowOption)) {
    return render_effective_settings(table, invocation);
  }
  OptionValues merged = invocation.file_values;
  std::string changed;
  for (const auto& [name, value] : command_line.values) {
    const OptionSpec* const spec = find_option(table, name);
    if (spec == nullptr || spec->storage != Storage::config_file) {
      continue;
    }
    merged.insert_or_assign(name, value);
    changed += concat({changed.empty() ? "" : ", ", name, " = ", toml_value_text(value)});
  }
  if (changed.empty()) {
    return make_error(Errc::invalid_argument,
                      concat({table.daemon, ": -set: no settings given; for example '",
                              table.daemon, " -mode config -set -idletimeout 1800'"}));
  }
  RPED_TRY(write_config_file(table, invocation.config_file, merged));
  return concat({table.daemon, ": wrote ", invocation.config_file.string(), " (", changed, ")\n"});
}

}  // namespace rped::config
