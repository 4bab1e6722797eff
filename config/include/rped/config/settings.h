// The effective settings of one invocation:
//   built-in defaults < config file < command line
// plus the command-line-only options of the invocation (mode, force, name, ...).
//
// Typical use in a daemon's main():
//
//   auto environment = Environment::from_process();           // check .ok()
//   auto invocation = prepare_invocation(pedserver::kOptions, arguments, *environment);
//   if (!invocation.ok()) { print invocation.error().message; exit 2; }
//   if (invocation->command_line.help_requested) { print render_help(...); exit 0; }
//   const Settings& settings = invocation->settings;
//   settings.port(pedserver::opt::port) ...
//
// Thread-safety: Settings is an immutable value after construction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "rped/config/command_line.h"
#include "rped/config/option_table.h"
#include "rped/config/paths.h"
#include "rped/config/ped_device.h"
#include "rped/result.h"

namespace rped::config {

enum class ValueSource : std::uint8_t { built_in_default, config_file, command_line };

// "default", "config file", "command line"
std::string_view value_source_name(ValueSource source) noexcept;

class Settings final {
 public:
  Settings() = default;

  // A value exists when it was given or has a default; flags exist only when given.
  bool has(std::string_view name) const noexcept;
  ValueSource source(std::string_view name) const;

  // Typed access. Asking for a name that is not in the table, for the wrong
  // kind, or (except boolean) for an absent value is a bug in the caller and
  // aborts with a message; check has() first for options without a default.
  std::int64_t integer(std::string_view name) const;     // integer
  std::uint16_t port(std::string_view name) const;       // port
  bool boolean(std::string_view name) const;             // boolean; flag: false when not given
  const std::string& text(std::string_view name) const;  // enumeration, string, host
  std::filesystem::path path(
      std::string_view name) const;  // path (absolute when it came from the command line)
  PedDevice ped_device(std::string_view name) const;  // ped_device

  const OptionValues& values() const noexcept { return values_; }

 private:
  friend Result<Settings> resolve_settings(const DaemonOptions&, const DaemonPaths&,
                                           const OptionValues&, const OptionValues&);
  const OptionValue& checked(std::string_view name, std::span<const OptionKind> kinds) const;

  const DaemonOptions* table_ = nullptr;
  OptionValues values_;
  std::map<std::string, ValueSource, std::less<>> sources_;
};

// Merges the three layers. The defaults' {log_dir} and {state_dir} come from
// `paths`; a default that fails its own validation is a table bug (Errc::internal).
Result<Settings> resolve_settings(const DaemonOptions& table, const DaemonPaths& paths,
                                  const OptionValues& file_values,
                                  const OptionValues& command_line_values);

// Relative `path` options made absolute against `working_directory` (a daemon
// that detaches changes directory to /, so `-logfile x.log` would move).
OptionValues absolutize_paths(const DaemonOptions& table, OptionValues values,
                              const std::filesystem::path& working_directory);

struct Invocation final {
  CommandLine command_line{};
  DaemonPaths paths{};
  std::filesystem::path config_file{};  // the file read (-configfile, else the default path)
  OptionValues file_values{};           // what the file holds (empty if it does not exist)
  Settings settings{};                  // empty when help was requested
};

// Parses the command line, finds the paths, reads the config file and merges.
// With -help only the command line is parsed (a broken config file must not
// hide the help). The default config file may be missing; one named with
// -configfile must exist, except for `-mode config -set`, which creates it.
Result<Invocation> prepare_invocation(const DaemonOptions& table,
                                      std::span<const std::string_view> arguments,
                                      const Environment& environment);

// The opening of a daemon's main(): prepare_invocation() with the process's
// own arguments (argv without the program name) and environment.
Result<Invocation> prepare_invocation(const DaemonOptions& table, int argc,
                                      const char* const* argv);

}  // namespace rped::config
