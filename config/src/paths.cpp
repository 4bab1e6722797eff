#include "rped/config/paths.h"

#include "concat.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <vector>

namespace rped::config {
namespace {

constexpr mode_t kPrivateDirectoryMode = 0700;

std::string environment_variable(const char* name) {
  const char* const value =
      std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read once at start-up
  return value == nullptr ? std::string() : std::string(value);
}

std::string home_from_passwd(uid_t uid) {
  long size_hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  if (size_hint <= 0) {
    size_hint = 16384;
  }
  std::vector<char> buffer(static_cast<std::size_t>(size_hint));
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr ||
      found->pw_dir == nullptr) {
    return {};
  }
  return found->pw_dir;
}

// XDG Base Directory spec: "If an implementation encounters a relative path in
// any of these variables it should consider the path invalid and ignore it."
std::filesystem::path xdg_base(const std::string& variable, const std::string& home,
                               std::string_view fallback) {
  if (!variable.empty() && std::filesystem::path(variable).is_absolute()) {
    return std::filesystem::path(variable);
  }
  if (!home.empty() && std::filesystem::path(home).is_absolute()) {
    return std::filesystem::path(home) / fallback;
  }
  return {};
}

// systemd sets these to a colon-separated list when the unit names several
// directories; the daemon's own is the first. Relative or empty: ignored.
std::filesystem::path systemd_directory(const std::string& variable) {
  const std::filesystem::path first = variable.substr(0, variable.find(':'));
  return first.is_absolute() ? first : std::filesystem::path();
}

void replace_all(std::string& text, std::string_view placeholder, const std::string& value) {
  std::size_t at = text.find(placeholder);
  while (at != std::string::npos) {
    text.replace(at, placeholder.size(), value);
    at = text.find(placeholder, at + value.size());
  }
}

}  // namespace

Result<Environment> Environment::from_process() {
  Environment environment;
  environment.is_root = geteuid() == 0;
  environment.home = environment_variable("HOME");
  if (environment.home.empty()) {
    environment.home = home_from_passwd(geteuid());
  }
  environment.xdg_config_home = environment_variable("XDG_CONFIG_HOME");
  environment.xdg_state_home = environment_variable("XDG_STATE_HOME");
  environment.systemd_state_directory = environment_variable("STATE_DIRECTORY");
  environment.systemd_logs_directory = environment_variable("LOGS_DIRECTORY");
  environment.systemd_configuration_directory = environment_variable("CONFIGURATION_DIRECTORY");
  std::error_code error;
  environment.working_directory = std::filesystem::current_path(error);
  if (error) {
    return make_error(Errc::internal,
                      concat({"cannot determine the working directory: ", error.message()}));
  }
  return environment;
}

Result<DaemonPaths> default_paths(std::string_view daemon, const Environment& environment) {
  const std::string name(daemon);
  const std::filesystem::path systemd_state =
      systemd_directory(environment.systemd_state_directory);
  const std::filesystem::path systemd_logs = systemd_directory(environment.systemd_logs_directory);
  const std::filesystem::path systemd_config =
      systemd_directory(environment.systemd_configuration_directory);
  DaemonPaths paths;
  if (environment.is_root) {
    paths = DaemonPaths{.config_file = std::filesystem::path("/etc") / concat({name, ".conf"}),
                        .state_dir = std::filesystem::path("/var/lib") / name,
                        .log_dir = std::filesystem::path("/var/log")};
  } else {
    const std::filesystem::path config_base =
        xdg_base(environment.xdg_config_home, environment.home, ".config");
    const std::filesystem::path state_base =
        xdg_base(environment.xdg_state_home, environment.home, ".local/state");
    if ((config_base.empty() && systemd_config.empty()) ||
        (state_base.empty() && systemd_state.empty())) {
      return make_error(
          Errc::invalid_argument,
          concat({name,
                  ": cannot find the home directory: HOME is not an absolute path; set HOME, or "
                  "XDG_CONFIG_HOME and XDG_STATE_HOME"}));
    }
    const std::filesystem::path state_dir =
        systemd_state.empty() ? state_base / name : systemd_state;
    paths = DaemonPaths{.config_file = config_base.empty() ? std::filesystem::path()
                                                           : config_base / concat({name, ".conf"}),
                        .state_dir = state_dir,
                        .log_dir = state_dir};
  }
  if (!systemd_state.empty()) {
    paths.state_dir = systemd_state;
  }
  if (!systemd_logs.empty()) {
    paths.log_dir = systemd_logs;
  }
  if (!systemd_config.empty()) {
    paths.config_file = systemd_config / concat({name, ".conf"});
  }
  return paths;
}

std::string expand_path_placeholders(std::string_view text, const DaemonPaths& paths) {
  std::string out(text);
  replace_all(out, "{config_file}", paths.config_file.string());
  replace_all(out, "{state_dir}", paths.state_dir.string());
  replace_all(out, "{log_dir}", paths.log_dir.string());
  return out;
}

Result<void> ensure_private_directory(const std::filesystem::path& directory) {
  if (directory.empty()) {
    return {};
  }
  std::filesystem::path partial;
  for (const std::filesystem::path& component : directory) {
    partial /= component;
    if (::mkdir(partial.c_str(), kPrivateDirectoryMode) == 0) {
      continue;
    }
    const int error = errno;
    struct stat status {};
    if (error == EEXIST && ::stat(partial.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) {
      continue;
    }
    return make_error(Errc::internal, concat({"cannot create directory ", partial.string(), ": ",
                                              std::strerror(error)}));
  }
  return {};
}

}  // namespace rped::config
