// The TOML config file: loading (errors name file, line and key), precedence
// defaults < file < command line, atomic writing, and the -mode config
// -set / -show round trip.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rped/config/atomic_file.h"
#include "rped/config/config_command.h"
#include "rped/config/config_file.h"
#include "rped/config/pedclient_options.h"
#include "rped/config/pedserver_options.h"
#include "rped/config/settings.h"
#include "support/result_assertions.h"

namespace rped::config {
namespace {

using rped::test::fails_with;
using rped::test::is_ok;
using rped::test::must;

namespace fs = std::filesystem;

// A private directory under the test temp dir, removed afterwards.
class ScratchDirectory final {
 public:
  ScratchDirectory() {
    std::string pattern = (fs::temp_directory_path() / "rped-config-test.XXXXXX").string();
    const char* const made = ::mkdtemp(pattern.data());
    if (made == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = made;
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const fs::path& file, std::string_view text, mode_t mode = 0600) {
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ::chmod(file.c_str(), mode);
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

mode_t mode_of(const fs::path& file) {
  struct stat status {};
  EXPECT_EQ(::stat(file.c_str(), &status), 0);
  return status.st_mode & 07777;
}

std::vector<std::string> directory_entries(const fs::path& directory) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

template <typename T>
std::string error_line(const Result<T>& result) {
  return result.ok() ? std::string("<succeeded>") : result.error().message;
}

Result<OptionValues> server_text(std::string_view text) {
  return parse_config_text(pedserver::kOptions, text, "/etc/pedserver.conf");
}

Environment user_environment(const fs::path& home) {
  return Environment{.is_root = false, .home = home.string(), .working_directory = home / "work"};
}

Result<Invocation> server_invocation(std::initializer_list<std::string_view> arguments,
                                     const Environment& environment) {
  const std::vector<std::string_view> list(arguments);
  return prepare_invocation(pedserver::kOptions, list, environment);
}

// --- loading -------------------------------------------------------------------

TEST(ConfigFile, ReadsEveryValueKindAndAliases) {
  const Result<OptionValues> values = server_text(
      "# comment\n"
      "port = 1600\n"
      "ip = \"2001:db8::5\"\n"
      "logfilename = \"/var/log/ped.log\"\n"
      "loginfo = 0\n"
      "logtrace = true\n"
      "ped = \"usb:1b2c:0a0f\"\n"
      "idletimeout = 600\n");
  ASSERT_TRUE(is_ok(values));
  const OptionValues expected{{"port", std::int64_t{1600}},
                              {"ip", std::string("2001:db8::5")},
                              {"logfile", std::string("/var/log/ped.log")},
                              {"loginfo", false},
                              {"logtrace", true},
                              {"ped", std::string("usb:1b2c:0a0f")},
                              {"idletimeout", std::int64_t{600}}};
  EXPECT_EQ(values.value(), expected);
  EXPECT_TRUE(server_text("").value().empty());
}

TEST(ConfigFile, BadValueNamesFileLineKeyValueAndWhatIsAllowed) {
  EXPECT_EQ(
      error_line(server_text("admin = 1502\n\nport = 70000\n")),
      "pedserver: /etc/pedserver.conf:3: key 'port' = 70000: must be an integer from 1 to 65535");
  EXPECT_EQ(error_line(server_text("port = \"1503\"\n")),
            "pedserver: /etc/pedserver.conf:1: key 'port' = \"1503\": must be an integer from 1 to "
            "65535");
  EXPECT_EQ(error_line(server_text("loginfo = 2\n")),
            "pedserver: /etc/pedserver.conf:1: key 'loginfo' = 2: must be 0 or 1");
  EXPECT_EQ(error_line(server_text("loginfo = \"yes\"\n")),
            "pedserver: /etc/pedserver.conf:1: key 'loginfo' = \"yes\": must be 0 or 1");
  EXPECT_EQ(error_line(server_text("idletimeout = 1.5\n")),
            "pedserver: /etc/pedserver.conf:1: key 'idletimeout' = (a float): must be an integer "
            "from 1 to 86400 "
            "(seconds)");
  EXPECT_EQ(error_line(server_text("ip = \"10.0.0.256\"\n")),
            "pedserver: /etc/pedserver.conf:1: key 'ip' = \"10.0.0.256\": must be an IPv4 address, "
            "an IPv6 address "
            "or a host name");
  EXPECT_EQ(error_line(server_text("ip = [\"10.0.0.1\"]\n")),
            "pedserver: /etc/pedserver.conf:1: key 'ip' = (an array): must be an IPv4 address, an "
            "IPv6 address or a "
            "host name");
  EXPECT_EQ(
      error_line(server_text("ped = \"usb:1:2\"\n")),
      "pedserver: /etc/pedserver.conf:1: key 'ped' = \"usb:1:2\": must be usb, usb:VID:PID or "
      "usb:VID:PID:SERIAL (VID and PID: 4 hex digits), or sim:SOCKET");
  EXPECT_EQ(error_line(server_text("logfile = \"pedserver.log\"\n")),
            "pedserver: /etc/pedserver.conf:1: key 'logfile' = \"pedserver.log\": must be an "
            "absolute path in the "
            "config file");
  EXPECT_EQ(error_line(server_text("logfile = \"/var/log/a\\nb\"\n")),
            "pedserver: /etc/pedserver.conf:1: key 'logfile' = \"/var/log/a\\nb\": must be a path "
            "of 1 to 4095 "
            "characters without control characters");
}

TEST(ConfigFile, UnknownCommandLineOnlyAndDuplicateKeysAreErrors) {
  EXPECT_EQ(error_line(server_text("port = 1503\nbogus = 1\n")),
            "pedserver: /etc/pedserver.conf:2: key 'bogus': unknown key; see 'pedserver -help'");
  EXPECT_EQ(error_line(server_text("mode = \"start\"\n")),
            "pedserver: /etc/pedserver.conf:1: key 'mode': command-line only; not allowed in the "
            "config file");
  EXPECT_EQ(error_line(server_text("force = true\n")),
            "pedserver: /etc/pedserver.conf:1: key 'force': command-line only; not allowed in the "
            "config file");
  EXPECT_EQ(error_line(server_text("[server]\nport = 1503\n")),
            "pedserver: /etc/pedserver.conf:1: key 'server': unknown key; see 'pedserver -help'");
  EXPECT_EQ(error_line(server_text("logfile = \"/a.log\"\nlogfilename = \"/b.log\"\n")),
            "pedserver: /etc/pedserver.conf:2: key 'logfilename': same setting as key 'logfile' "
            "(line 1)");
  EXPECT_EQ(
      error_line(parse_config_text(pedclient::kOptions, "ped = \"usb\"\n", "/etc/pedclient.conf")),
      "pedclient: /etc/pedclient.conf:1: key 'ped': unknown key; see 'pedclient -help'");
  // The first problem in file order is reported, whatever toml++'s key order.
  EXPECT_EQ(error_line(server_text("zzz = 1\naaa = 2\n")),
            "pedserver: /etc/pedserver.conf:1: key 'zzz': unknown key; see 'pedserver -help'");
}

TEST(ConfigFile, TomlSyntaxErrorsNameFileLineAndColumn) {
  const Result<OptionValues> repeated = server_text("port = 1503\nport = 1504\n");
  EXPECT_TRUE(fails_with(repeated, Errc::invalid_encoding));
  EXPECT_TRUE(error_line(repeated).starts_with("pedserver: /etc/pedserver.conf:2:"))
      << error_line(repeated);
  EXPECT_NE(error_line(repeated).find("port"), std::string::npos);

  const Result<OptionValues> no_value = server_text("admin = 1502\nport =\n");
  EXPECT_TRUE(fails_with(no_value, Errc::invalid_encoding));
  EXPECT_TRUE(error_line(no_value).starts_with("pedserver: /etc/pedserver.conf:2:"))
      << error_line(no_value);
  EXPECT_EQ(error_line(no_value).find('\n'), std::string::npos);
}

TEST(ConfigFile, LoadFromDiskMissingWorldWritableAndNotAFile) {
  const ScratchDirectory scratch;
  const fs::path file = scratch.path() / "pedserver.conf";
  EXPECT_TRUE(is_ok(load_config_file(pedserver::kOptions, file, MissingFile::is_empty)));
  EXPECT_TRUE(load_config_file(pedserver::kOptions, file, MissingFile::is_empty).value().empty());
  EXPECT_EQ(
      error_line(load_config_file(pedserver::kOptions, file, MissingFile::is_error)),
      std::string("pedserver: ") + file.string() + ": cannot read: No such file or directory");

  write_text(file, "port = 1600\nport2 = 1\n");
  EXPECT_EQ(error_line(load_config_file(pedserver::kOptions, file, MissingFile::is_error)),
            std::string("pedserver: ") + file.string() +
                ":2: key 'port2': unknown key; see 'pedserver -help'");

  write_text(file, "port = 1600\n", 0666);
  EXPECT_EQ(error_line(load_config_file(pedserver::kOptions, file, MissingFile::is_error)),
            std::string("pedserver: ") + file.string() +
                ": refusing a world-writable configuration file (mode 0666); run chmod o-w on it");
  ::chmod(file.c_str(), 0644);
  EXPECT_EQ(load_config_file(pedserver::kOptions, file, MissingFile::is_error).value().at("port"),
            OptionValue(std::int64_t{1600}));

  EXPECT_EQ(
      error_line(load_config_file(pedserver::kOptions, scratch.path(), MissingFile::is_error)),
      std::string("pedserver: ") + scratch.path().string() + ": not a regular file");
}

// --- precedence ------------------------------------------------------------------

TEST(ConfigFile, PrecedenceIsDefaultsThenFileThenCommandLine) {
  const ScratchDirectory scratch;
  const Environment environment = user_environment(scratch.path());
  const fs::path file = scratch.path() / ".config" / "pedserver.conf";
  fs::create_directories(file.parent_path());
  write_text(file, "port = 1600\nidletimeout = 600\nlogtrace = 1\n");

  const Result<Invocation> invocation =
      server_invocation({"-mode", "start", "-port", "1700", "-logtrace", "0"}, environment);
  ASSERT_TRUE(is_ok(invocation));
  const Settings& settings = invocation->settings;
  EXPECT_EQ(invocation->config_file, file);
  EXPECT_EQ(settings.port(pedserver::opt::port), 1700);
  EXPECT_EQ(settings.source(pedserver::opt::port), ValueSource::command_line);
  EXPECT_FALSE(settings.boolean(pedserver::opt::logtrace));
  EXPECT_EQ(settings.source(pedserver::opt::logtrace), ValueSource::command_line);
  EXPECT_EQ(settings.integer(pedserver::opt::idletimeout), 600);
  EXPECT_EQ(settings.source(pedserver::opt::idletimeout), ValueSource::config_file);
  EXPECT_EQ(settings.port(pedserver::opt::admin), 1502);
  EXPECT_EQ(settings.source(pedserver::opt::admin), ValueSource::built_in_default);
  EXPECT_TRUE(settings.boolean(pedserver::opt::eserverport));
  EXPECT_FALSE(settings.boolean(pedserver::opt::eadmin));
  EXPECT_EQ(settings.text(pedserver::opt::format), "text");
  EXPECT_EQ(settings.path(pedserver::opt::logfile),
            scratch.path() / ".local/state/pedserver/pedserver.log");
  EXPECT_EQ(settings.ped_device(pedserver::opt::ped), PedDevice{});
  EXPECT_FALSE(settings.has(pedserver::opt::ip));
  EXPECT_FALSE(settings.boolean(pedserver::opt::foreground));
  EXPECT_EQ(invocation->command_line.command, "start");
}

TEST(ConfigFile, ExplicitConfigFileAndRelativeCommandLinePaths) {
  const ScratchDirectory scratch;
  const Environment environment = user_environment(scratch.path());
  const fs::path file = scratch.path() / "custom.conf";
  write_text(file, "pinginterval = 5\n");

  const Result<Invocation> invocation = server_invocation(
      {"-mode", "start", "-configfile", file.string(), "-logfile", "logs/../ped.log"}, environment);
  ASSERT_TRUE(is_ok(invocation));
  EXPECT_EQ(invocation->config_file, file);
  EXPECT_EQ(invocation->settings.integer(pedserver::opt::pinginterval), 5);
  // A detaching daemon changes directory to /, so relative paths are resolved now.
  EXPECT_EQ(invocation->settings.path(pedserver::opt::logfile), scratch.path() / "work/ped.log");

  EXPECT_EQ(
      error_line(server_invocation({"-mode", "start", "-configfile", "missing.conf"}, environment)),
      std::string("pedserver: ") + (scratch.path() / "work/missing.conf").string() +
          ": cannot read: No such file or directory");
  // A broken file stops every command except -help.
  write_text(file, "pinginterval = 0\n");
  EXPECT_EQ(
      error_line(server_invocation({"-mode", "stop", "-configfile", file.string()}, environment)),
      std::string("pedserver: ") + file.string() +
          ":1: key 'pinginterval' = 0: must be an integer from 1 to 3600 (seconds)");
  EXPECT_TRUE(is_ok(
      server_invocation({"-mode", "stop", "-configfile", file.string(), "-help"}, environment)));
}

TEST(ConfigFile, BadCommandLineStopsBeforeTheFileIsRead) {
  const ScratchDirectory scratch;
  const Result<Invocation> invocation =
      server_invocation({"-mode", "start", "-port", "70000"}, user_environment(scratch.path()));
  EXPECT_EQ(error_line(invocation), "pedserver: -port 70000: must be an integer from 1 to 65535");
}

// --- atomic write --------------------------------------------------------------------

TEST(ConfigFileWrite, NewFileIsMode0600AndHoldsExactlyTheText) {
  const ScratchDirectory scratch;
  const fs::path file = scratch.path() / "new.conf";
  const mode_t old_umask = ::umask(0);  // the mode must not depend on the caller's umask
  const Result<void> written = write_file_atomically(file, "port = 1600\n");
  ::umask(old_umask);
  ASSERT_TRUE(is_ok(written));
  EXPECT_EQ(read_text(file), "port = 1600\n");
  EXPECT_EQ(mode_of(file), 0600U);
  EXPECT_EQ(directory_entries(scratch.path()), std::vector<std::string>{"new.conf"});
}

TEST(ConfigFileWrite, ReplacingKeepsTheOldFilesMode) {
  const ScratchDirectory scratch;
  const fs::path file = scratch.path() / "old.conf";
  write_text(file, "port = 1\n", 0640);
  ASSERT_TRUE(is_ok(write_file_atomically(file, "port = 2\n")));
  EXPECT_EQ(read_text(file), "port = 2\n");
  EXPECT_EQ(mode_of(file), 0640U);
  EXPECT_EQ(directory_entries(scratch.path()), std::vector<std::string>{"old.conf"});
}

TEST(ConfigFileWrite, FailedWriteLeavesTheOldFileIntactAndNoTemporaryFile) {
  // A write that fails half way: RLIMIT_FSIZE makes write() return EFBIG after
  // 4 KiB. This works for root too, which ignores directory permissions.
  const ScratchDirectory scratch;
  const fs::path file = scratch.path() / "pedserver.conf";
  const std::string old_text = "port = 1503\n";
  write_text(file, old_text);
  const std::string huge(64 * 1024, '#');

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  const Result<void> written = write_file_atomically(file, huge);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);

  ASSERT_TRUE(fails_with(written, Errc::internal));
  EXPECT_EQ(written.error().message, std::string("cannot write ") + file.string() +
                                         ": File too large (writing the temporary file)");
  EXPECT_EQ(read_text(file), old_text);
  EXPECT_EQ(directory_entries(scratch.path()), std::vector<std::string>{"pedserver.conf"});
}

TEST(ConfigFileWrite, ReadOnlyDirectoryLeavesTheOldFileIntact) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root ignores directory permissions; FailedWriteLeavesTheOldFileIntact covers "
                    "a failed write";
  }
  const ScratchDirectory scratch;
  const fs::path directory = scratch.path() / "etc";
  fs::create_directory(directory);
  const fs::path file = directory / "pedserver.conf";
  write_text(file, "port = 1503\n");
  ::chmod(directory.c_str(), 0500);
  const Result<void> written = write_file_atomically(file, "port = 1600\n");
  ::chmod(directory.c_str(), 0700);
  ASSERT_TRUE(fails_with(written, Errc::internal));
  EXPECT_EQ(written.error().message, std::string("cannot write ") + file.string() +
                                         ": Permission denied (creating a temporary file in " +
                                         directory.string() + ")");
  EXPECT_EQ(read_text(file), "port = 1503\n");
}

TEST(ConfigFileWrite, MissingDirectoryIsCreatedPrivate) {
  const ScratchDirectory scratch;
  const fs::path file = scratch.path() / "xdg" / "config" / "pedclient.conf";
  const OptionValues values{{"admin", std::int64_t{1600}}};
  ASSERT_TRUE(is_ok(write_config_file(pedclient::kOptions, file, values)));
  EXPECT_EQ(mode_of(file.parent_path()) & 0777U, 0700U);
  EXPECT_EQ(mode_of(file), 0600U);
  EXPECT_EQ(must(load_config_file(pedclient::kOptions, file, MissingFile::is_error)), values);
}

TEST(ConfigFileWrite, RendersInTableOrderAndRefusesWhatWouldNotReadBack) {
  const OptionValues values{{"logtrace", true},
                            {"port", std::int64_t{1600}},
                            {"logfile", std::string("/var/log/\"quoted\" \\ ped.log")},
                            {"force", true}};
  const std::string text = render_config_file(pedserver::kOptions, values);
  EXPECT_NE(
      text.find("port = 1600\nlogfile = \"/var/log/\\\"quoted\\\" \\\\ ped.log\"\nlogtrace = 1\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("force"), std::string::npos);  // command-line only: never stored
  OptionValues stored = values;
  stored.erase("force");
  EXPECT_EQ(must(server_text(text)), stored);

  const ScratchDirectory scratch;
  const fs::path file = scratch.path() / "pedserver.conf";
  const OptionValues not_utf8{{"logfile", std::string("/var/log/\xff.log")}};
  const Result<void> refused = write_config_file(pedserver::kOptions, file, not_utf8);
  ASSERT_TRUE(fails_with(refused, Errc::invalid_argument));
  EXPECT_TRUE(refused.error().message.starts_with("pedserver: refusing to write " + file.string() +
                                                  ": it would not read back: "))
      << refused.error().message;
  EXPECT_FALSE(fs::exists(file));
}

// --- -mode config -set / -show -----------------------------------------------------------

TEST(ConfigCommand, SetMergesIntoTheFileAndShowPrintsTheEffectiveSettings) {
  const ScratchDirectory scratch;
  const Environment environment = user_environment(scratch.path());
  const fs::path file = scratch.path() / ".config" / "pedserver.conf";

  // First -set creates the file (and its directory).
  const Invocation first = must(server_invocation(
      {"-mode", "config", "-set", "-port", "1600", "-loginfo", "0"}, environment));
  EXPECT_EQ(must(run_config_command(pedserver::kOptions, first)),
            std::string("pedserver: wrote ") + file.string() + " (loginfo = 0, port = 1600)\n");
  EXPECT_EQ(mode_of(file), 0600U);

  // A second -set merges: the earlier values stay.
  const Invocation second = must(server_invocation(
      {"mode", "config", "-set", "-logfilename", "/var/log/rped/pedserver.log", "-port", "1601"},
      environment));
  ASSERT_TRUE(is_ok(run_config_command(pedserver::kOptions, second)));
  const OptionValues expected_file{{"port", std::int64_t{1601}},
                                   {"loginfo", false},
                                   {"logfile", std::string("/var/log/rped/pedserver.log")}};
  EXPECT_EQ(must(load_config_file(pedserver::kOptions, file, MissingFile::is_error)),
            expected_file);

  // -show prints TOML that reads back to the effective stored settings.
  const Invocation show =
      must(server_invocation({"-m", "config", "-show", "-idletimeout", "900"}, environment));
  const std::string shown = must(run_config_command(pedserver::kOptions, show));
  EXPECT_NE(shown.find("port = 1601  # config file\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("idletimeout = 900  # command line\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("admin = 1502  # default\n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("# ip is not set\n"), std::string::npos) << shown;
  OptionValues stored_effective;
  for (const auto& [name, value] : show.settings.values()) {
    if (find_option(pedserver::kOptions, name)->storage == Storage::config_file) {
      stored_effective.insert_or_assign(name, value);
    }
  }
  EXPECT_EQ(must(parse_config_text(pedserver::kOptions, shown, "<show>")), stored_effective);
  // -show never writes.
  EXPECT_EQ(must(load_config_file(pedserver::kOptions, file, MissingFile::is_error)),
            expected_file);
}

TEST(ConfigCommand, SetNeedsSettingsAndAValidExistingFile) {
  const ScratchDirectory scratch;
  const Environment environment = user_environment(scratch.path());
  const Invocation nothing =
      must(server_invocation({"-mode", "config", "-set", "-force"}, environment));
  EXPECT_EQ(error_line(run_config_command(pedserver::kOptions, nothing)),
            "pedserver: -set: no settings given; for example 'pedserver -mode config -set "
            "-idletimeout 1800'");

  const fs::path file = scratch.path() / "broken.conf";
  write_text(file, "port = 0\n");
  EXPECT_EQ(
      error_line(server_invocation(
          {"-mode", "config", "-set", "-configfile", file.string(), "-port", "1600"}, environment)),
      std::string("pedserver: ") + file.string() +
          ":1: key 'port' = 0: must be an integer from 1 to 65535");
  EXPECT_EQ(read_text(file), "port = 0\n");

  // -set with -configfile naming a new file creates it.
  const fs::path fresh = scratch.path() / "fresh.conf";
  const Invocation create = must(server_invocation(
      {"-mode", "config", "-set", "-configfile", fresh.string(), "-pedwritedelay", "250"},
      environment));
  ASSERT_TRUE(is_ok(run_config_command(pedserver::kOptions, create)));
  EXPECT_EQ(must(load_config_file(pedserver::kOptions, fresh, MissingFile::is_error)),
            (OptionValues{{"pedwritedelay", std::int64_t{250}}}));
}

}  // namespace
}  // namespace rped::config
