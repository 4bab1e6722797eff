// Default locations of a daemon's configuration, state and log files.
//
//                 root (effective uid 0)     any other user
//   config file   /etc/<daemon>.conf         $XDG_CONFIG_HOME/<daemon>.conf, else
//   ~/.config/<daemon>.conf state dir     /var/lib/<daemon>          $XDG_STATE_HOME/<daemon>, else
//   ~/.local/state/<daemon> log dir       /var/log                   the state dir (XDG: logs are
//   state)
//
// Under systemd, the unit's directories win when set (absolute; of a
// colon-separated list, the first): $STATE_DIRECTORY (StateDirectory=) is the
// state dir, $LOGS_DIRECTORY (LogsDirectory=) the log dir, and
// $CONFIGURATION_DIRECTORY (ConfigurationDirectory=) holds <daemon>.conf. When
// only $STATE_DIRECTORY is set, a non-root user's logs follow it.
//
// The Luna PED server writes its log into its install directory and so fails for
// a non-root user; ours never points a default at a directory the user cannot own.
// Per the XDG Base Directory spec, an XDG_* variable that is empty or relative is ignored.
//
// Thread-safety: Environment::from_process() reads the process environment
// (getenv, getpwuid_r); everything else is pure or touches only the given path.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "rped/result.h"

namespace rped::config {

// What the defaults depend on; tests build one by hand.
struct Environment final {
  bool is_root = false;
  std::string home{};             // $HOME, else the passwd entry's home directory; may be empty
  std::string xdg_config_home{};  // may be empty
  std::string xdg_state_home{};   // may be empty
  // systemd's $STATE_DIRECTORY, $LOGS_DIRECTORY, $CONFIGURATION_DIRECTORY; may be empty
  std::string systemd_state_directory{};
  std::string systemd_logs_directory{};
  std::string systemd_configuration_directory{};
  std::filesystem::path
      working_directory{};  // relative command-line paths are made absolute against it

  static Result<Environment> from_process();
};

struct DaemonPaths final {
  std::filesystem::path config_file{};
  std::filesystem::path state_dir{};
  std::filesystem::path log_dir{};
};

// Fails (Errc::invalid_argument) for a non-root user when neither HOME nor the
// needed XDG variable gives an absolute directory.
Result<DaemonPaths> default_paths(std::string_view daemon, const Environment& environment);

// Replaces {config_file}, {state_dir} and {log_dir} in `text`.
std::string expand_path_placeholders(std::string_view text, const DaemonPaths& paths);

// mkdir -p: creates the missing directories of `directory` with mode 0700 (and
// leaves existing ones alone). For the state and log directories and the parent
// of a new config file.
Result<void> ensure_private_directory(const std::filesystem::path& directory);

}  // namespace rped::config
