// Default config, state and log locations for root and for other users: never
// the install directory, so a non-root user can run the daemons.
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "rped/config/paths.h"
#include "support/result_assertions.h"

namespace rped::config {
namespace {

using rped::test::is_ok;
using rped::test::must;

TEST(ConfigPaths, RootUsesEtcVarLibAndVarLog) {
  const DaemonPaths paths =
      must(default_paths("pedserver", Environment{.is_root = true, .home = "/root"}));
  EXPECT_EQ(paths.config_file, "/etc/pedserver.conf");
  EXPECT_EQ(paths.state_dir, "/var/lib/pedserver");
  EXPECT_EQ(paths.log_dir, "/var/log");
}

TEST(ConfigPaths, UserWithXdgVariables) {
  const Environment environment{
      .is_root = false, .home = "/home/ops", .xdg_config_home = "/cfg", .xdg_state_home = "/state"};
  const DaemonPaths paths = must(default_paths("pedclient", environment));
  EXPECT_EQ(paths.config_file, "/cfg/pedclient.conf");
  EXPECT_EQ(paths.state_dir, "/state/pedclient");
  EXPECT_EQ(paths.log_dir, "/state/pedclient");
}

TEST(ConfigPaths, UserWithoutXdgFallsBackToHome) {
  const DaemonPaths paths =
      must(default_paths("pedserver", Environment{.is_root = false, .home = "/home/ops"}));
  EXPECT_EQ(paths.config_file, "/home/ops/.config/pedserver.conf");
  EXPECT_EQ(paths.state_dir, "/home/ops/.local/state/pedserver");
  EXPECT_EQ(paths.log_dir, "/home/ops/.local/state/pedserver");
}

TEST(ConfigPaths, RelativeXdgVariablesAreIgnored) {
  // XDG Base Directory spec: a relative path in these variables is invalid.
  const Environment environment{
      .is_root = false, .home = "/home/ops", .xdg_config_home = "cfg", .xdg_state_home = "./state"};
  const DaemonPaths paths = must(default_paths("pedserver", environment));
  EXPECT_EQ(paths.config_file, "/home/ops/.config/pedserver.conf");
  EXPECT_EQ(paths.state_dir, "/home/ops/.local/state/pedserver");
}

TEST(ConfigPaths, UserWithoutUsableHomeIsAnError) {
  for (const Environment& environment :
       {Environment{.is_root = false}, Environment{.is_root = false, .home = "relative/home"},
        Environment{.is_root = false, .xdg_config_home = "/cfg"}}) {
    const Result<DaemonPaths> paths = default_paths("pedserver", environment);
    ASSERT_FALSE(paths.ok());
    EXPECT_EQ(
        paths.error().message,
        "pedserver: cannot find the home directory: HOME is not an absolute path; set HOME, or "
        "XDG_CONFIG_HOME and XDG_STATE_HOME");
  }
  // Both XDG variables are enough without HOME.
  EXPECT_TRUE(is_ok(default_paths(
      "pedserver",
      Environment{.is_root = false, .xdg_config_home = "/cfg", .xdg_state_home = "/state"})));
}

// systemd's StateDirectory=, LogsDirectory=, ConfigurationDirectory= (config/paths.h).
TEST(ConfigPaths, SystemdDirectoriesWin) {
  const Environment user{.is_root = false,
                         .home = "/home/ops",
                         .systemd_state_directory = "/var/lib/pedserver:/var/lib/other",
                         .systemd_logs_directory = "/var/log/pedserver",
                         .systemd_configuration_directory = "/etc/pedserver"};
  const DaemonPaths paths = must(default_paths("pedserver", user));
  EXPECT_EQ(paths.state_dir, "/var/lib/pedserver");  // the first of a list
  EXPECT_EQ(paths.log_dir, "/var/log/pedserver");
  EXPECT_EQ(paths.config_file, "/etc/pedserver/pedserver.conf");

  const DaemonPaths root = must(default_paths(
      "pedclient", Environment{.is_root = true, .systemd_state_directory = "/srv/state"}));
  EXPECT_EQ(root.state_dir, "/srv/state");
  EXPECT_EQ(root.log_dir, "/var/log");
  EXPECT_EQ(root.config_file, "/etc/pedclient.conf");

  // A user's logs follow the state directory when only StateDirectory= is set.
  const DaemonPaths state_only = must(default_paths(
      "pedserver",
      Environment{
          .is_root = false, .home = "/home/ops", .systemd_state_directory = "/var/lib/pedserver"}));
  EXPECT_EQ(state_only.log_dir, "/var/lib/pedserver");
  EXPECT_EQ(state_only.config_file, "/home/ops/.config/pedserver.conf");

  // systemd's directories are enough without HOME.
  EXPECT_TRUE(
      is_ok(default_paths("pedserver", Environment{.is_root = false,
                                                   .systemd_state_directory = "/s",
                                                   .systemd_configuration_directory = "/c"})));
}

TEST(ConfigPaths, RelativeSystemdDirectoriesAreIgnored) {
  const DaemonPaths paths =
      must(default_paths("pedserver", Environment{.is_root = false,
                                                  .home = "/home/ops",
                                                  .systemd_state_directory = "state",
                                                  .systemd_logs_directory = "",
                                                  .systemd_configuration_directory = ":/etc/x"}));
  EXPECT_EQ(paths.state_dir, "/home/ops/.local/state/pedserver");
  EXPECT_EQ(paths.log_dir, "/home/ops/.local/state/pedserver");
  EXPECT_EQ(paths.config_file, "/home/ops/.config/pedserver.conf");
}

TEST(ConfigPaths, PlaceholdersExpand) {
  const DaemonPaths paths{.config_file = "/c/p.conf", .state_dir = "/s/p", .log_dir = "/l"};
  EXPECT_EQ(expand_path_placeholders("{log_dir}/p.log {state_dir} {config_file} {log_dir}", paths),
            "/l/p.log /s/p /c/p.conf /l");
  EXPECT_EQ(expand_path_placeholders("no placeholders", paths), "no placeholders");
}

TEST(ConfigPaths, EnvironmentFromProcess) {
  const Environment environment = must(Environment::from_process());
  EXPECT_TRUE(environment.working_directory.is_absolute());
}

TEST(ConfigPaths, EnsurePrivateDirectoryCreatesMissingLevelsOnly) {
  std::string name = "rped-config-paths-test.";
  name += std::to_string(::getpid());
  const std::filesystem::path base = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(base);
  ASSERT_TRUE(is_ok(ensure_private_directory(base / "a" / "b")));
  EXPECT_TRUE(std::filesystem::is_directory(base / "a" / "b"));
  EXPECT_EQ(std::filesystem::status(base / "a" / "b").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  ASSERT_TRUE(is_ok(ensure_private_directory(base / "a" / "b")));  // idempotent
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace rped::config
