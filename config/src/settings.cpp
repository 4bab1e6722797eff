#include "rped/config/settings.h"

#include "concat.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "rped/config/config_file.h"
#include "rped/config/option_value.h"

namespace rped::config {
namespace {

[[noreturn]] void settings_access_bug(std::string_view name, std::string_view what) {
  std::fprintf(stderr, "rped::config::Settings: option '%.*s': %.*s (a bug in the caller)\n",
               static_cast<int>(name.size()), name.data(), static_cast<int>(what.size()),
               what.data());
  std::abort();
}

constexpr std::array kIntegerKinds{OptionKind::integer};
constexpr std::array kPortKinds{OptionKind::port};
constexpr std::array kTextKinds{OptionKind::enumeration, OptionKind::string, OptionKind::host};
constexpr std::array kPathKinds{OptionKind::path};
constexpr std::array kPedKinds{OptionKind::ped_device};

}  // namespace

std::string_view value_source_name(ValueSource source) noexcept {
  switch (source) {
    case ValueSource::built_in_default:
      return "default";
    case ValueSource::config_file:
      return "config file";
    case ValueSource::command_line:
      return "command line";
    default:
      return "unknown";
  }
}

bool Settings::has(std::string_view name) const noexcept {
  return values_.contains(name);
}

ValueSource Settings::source(std::string_view name) const {
  const auto found = sources_.find(name);
  if (found == sources_.end()) {
    settings_access_bug(name, "has no value");
  }
  return found->second;
}

const OptionValue& Settings::checked(std::string_view name,
                                     std::span<const OptionKind> kinds) const {
  const OptionSpec* const spec = table_ == nullptr ? nullptr : find_option(*table_, name);
  if (spec == nullptr || spec->name != name) {
    settings_access_bug(name, "is not an option name of this table");
  }
  bool kind_matches = false;
  for (const OptionKind kind : kinds) {
    kind_matches = kind_matches || kind == spec->kind;
  }
  if (!kind_matches) {
    settings_access_bug(name, "read as the wrong kind");
  }
  const auto found = values_.find(name);
  if (found == values_.end()) {
    settings_access_bug(name, "has no value; check has() first");
  }
  return found->second;
}

std::int64_t Settings::integer(std::string_view name) const {
  return std::get<std::int64_t>(checked(name, kIntegerKinds));
}

std::uint16_t Settings::port(std::string_view name) const {
  // Validated to 1..65535 when parsed.
  return static_cast<std::uint16_t>(std::get<std::int64_t>(checked(name, kPortKinds)));
}

bool Settings::boolean(std::string_view name) const {
  const OptionSpec* const spec = table_ == nullptr ? nullptr : find_option(*table_, name);
  if (spec == nullptr || spec->name != name) {
    settings_access_bug(name, "is not an option name of this table");
  }
  if (spec->kind == OptionKind::flag) {
    return values_.contains(name);
  }
  constexpr std::array kBooleanKinds{OptionKind::boolean};
  return std::get<bool>(checked(name, kBooleanKinds));
}

const std::string& Settings::text(std::string_view name) const {
  return std::get<std::string>(checked(name, kTextKinds));
}

std::filesystem::path Settings::path(std::string_view name) const {
  return std::filesystem::path(std::get<std::string>(checked(name, kPathKinds)));
}

PedDevice Settings::ped_device(std::string_view name) const {
  Result<PedDevice> device = parse_ped_device(std::get<std::string>(checked(name, kPedKinds)));
  if (!device.ok()) {
    settings_access_bug(name, "holds an invalid PED (validated at parse time)");
  }
  return std::move(device).value();
}

Result<Settings> resolve_settings(const DaemonOptions& table, const DaemonPaths& paths,
                                  const OptionValues& file_values,
                                  const OptionValues& command_line_values) {
  Settings settings;
  settings.table_ = &table;
  for (const OptionSpec& spec : table.options) {
    if (spec.default_value.empty()) {
      continue;
    }
    const std::string text = expand_path_placeholders(spec.default_value, paths);
    Result<OptionValue> value = parse_option_text(spec, text);
    if (!value.ok()) {
      return make_error(Errc::internal,
                        concat({table.daemon, ": option table: default of -", spec.name, " ",
                                quote_for_message(text), " ", value.error().message}));
    }
    settings.values_.insert_or_assign(std::string(spec.name), std::move(value).value());
    settings.sources_.insert_or_assign(std::string(spec.name), ValueSource::built_in_default);
  }
  const std::array layers{std::pair{&file_values, ValueSource::config_file},
                          std::pair{&command_line_values, ValueSource::command_line}};
  for (const auto& [layer, source] : layers) {
    for (const auto& [name, value] : *layer) {
      const OptionSpec* const spec = find_option(table, name);
      if (spec == nullptr || spec->name != name) {
        return make_error(Errc::internal, concat({table.daemon, ": unknown option name ", name}));
      }
      if (source == ValueSource::config_file && spec->storage != Storage::config_file) {
        return make_error(Errc::internal,
                          concat({table.daemon, ": -", name, " cannot come from a file"}));
      }
      settings.values_.insert_or_assign(name, value);
      settings.sources_.insert_or_assign(name, source);
    }
  }
  return settings;
}

OptionValues absolutize_paths(const DaemonOptions& table, OptionValues values,
                              const std::filesystem::path& working_directory) {
  for (auto& [name, value] : values) {
    const OptionSpec* const spec = find_option(table, name);
    auto* const text = std::get_if<std::string>(&value);
    if (spec == nullptr || spec->kind != OptionKind::path || text == nullptr) {
      continue;
    }
    const std::filesystem::path typed(*text);
    if (typed.is_relative()) {
      *text = (working_directory / typed).lexically_normal().string();
    }
  }
  return values;
}

Result<Invocation> prepare_invocation(const DaemonOptions& table,
                                      std::span<const std::string_view> arguments,
                                      const Environment& environment) {
  RPED_TRY_ASSIGN(CommandLine command_line, parse_command_line(table, arguments));
  Invocation invocation;
  Result<DaemonPaths> paths = default_paths(table.daemon, environment);
  if (command_line.help_requested) {
    if (paths.ok()) {
      invocation.paths = std::move(paths).value();
    } else {
      // Help must not fail; show where the files would go.
      const std::string name(table.daemon);
      invocation.paths = DaemonPaths{.config_file = concat({"$XDG_CONFIG_HOME/", name, ".conf"}),
                                     .state_dir = concat({"$XDG_STATE_HOME/", name}),
                                     .log_dir = concat({"$XDG_STATE_HOME/", name})};
    }
    invocation.command_line = std::move(command_line);
    return invocation;
  }
  if (!paths.ok()) {
    return std::move(paths).error();
  }
  invocation.paths = std::move(paths).value();
  command_line.values =
      absolutize_paths(table, std::move(command_line.values), environment.working_directory);

  const auto explicit_file = command_line.values.find(kConfigFileOption);
  const bool named_file = explicit_file != command_line.values.end();
  invocation.config_file = named_file
                               ? std::filesystem::path(std::get<std::string>(explicit_file->second))
                               : invocation.paths.config_file;
  const bool creates_file =
      command_line.command == kConfigCommand && command_line.values.contains(kSetOption);
  const MissingFile missing =
      named_file && !creates_file ? MissingFile::is_error : MissingFile::is_empty;
  RPED_TRY_ASSIGN(invocation.file_values, load_config_file(table, invocation.config_file, missing));
  RPED_TRY_ASSIGN(
      invocation.settings,
      resolve_settings(table, invocation.paths, invocation.file_values, command_line.values));
  invocation.command_line = std::move(command_line);
  return invocation;
}

Result<Invocation> prepare_invocation(const DaemonOptions& table, int argc,
                                      const char* const* argv) {
  RPED_TRY_ASSIGN(const Environment environment, Environment::from_process());
  const std::vector<std::string_view> arguments(argv + 1, argv + argc);
  return prepare_invocation(table, arguments, environment);
}

}  // namespace rped::config
