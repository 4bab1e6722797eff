// The two daemons' option tables: well formed, every default passes its own
// validation, the documented options exist with the documented kinds and
// defaults, and -help is rendered from them.
#include <gtest/gtest.h>

#include <array>
#include <sstream>
#include <string>
#include <string_view>

#include "rped/config/help.h"
#include "rped/config/ped_device.h"
#include "rped/config/pedclient_options.h"
#include "rped/config/pedserver_options.h"
#include "rped/config/settings.h"
#include "support/result_assertions.h"

namespace rped::config {
namespace {

using rped::test::is_ok;
using rped::test::must;

const DaemonPaths kRootPaths{
    .config_file = "/etc/x.conf", .state_dir = "/var/lib/x", .log_dir = "/var/log"};

TEST(ConfigTables, AreWellFormed) {
  EXPECT_EQ(first_table_defect(pedserver::kOptions), "");
  EXPECT_EQ(first_table_defect(pedclient::kOptions), "");
}

TEST(ConfigTables, SelfCheckFindsDefects) {
  static constexpr std::array<std::string_view, 1> kAlias{"port"};
  static constexpr std::array<std::string_view, 1> kModes{"start"};
  static constexpr std::array<std::string_view, 1> kUnknownCommand{"bogus"};
  static constexpr std::array kCommands{
      CommandSpec{.id = "start", .selector = "mode", .summary = "s"}};
  static constexpr std::array kDuplicateAlias{
      OptionSpec{.name = "mode", .kind = OptionKind::enumeration, .allowed = kModes, .help = "h"},
      OptionSpec{.name = "help", .kind = OptionKind::flag, .help = "h"},
      OptionSpec{.name = "configfile", .kind = OptionKind::path, .help = "h"},
      OptionSpec{
          .name = "port", .kind = OptionKind::port, .help = "h", .storage = Storage::config_file},
      OptionSpec{.name = "admin", .aliases = kAlias, .kind = OptionKind::port, .help = "h"}};
  EXPECT_EQ(first_table_defect(
                DaemonOptions{.daemon = "t", .options = kDuplicateAlias, .commands = kCommands}),
            "an option alias is used twice");
  static constexpr std::array kStoredFlag{
      OptionSpec{.name = "mode", .kind = OptionKind::enumeration, .allowed = kModes, .help = "h"},
      OptionSpec{.name = "help", .kind = OptionKind::flag, .help = "h"},
      OptionSpec{.name = "configfile", .kind = OptionKind::path, .help = "h"},
      OptionSpec{
          .name = "quiet", .kind = OptionKind::flag, .help = "h", .storage = Storage::config_file}};
  EXPECT_EQ(first_table_defect(
                DaemonOptions{.daemon = "t", .options = kStoredFlag, .commands = kCommands}),
            "a flag is command-line only and has no default");
  static constexpr std::array kBadCommand{
      OptionSpec{.name = "mode", .kind = OptionKind::enumeration, .allowed = kModes, .help = "h"},
      OptionSpec{.name = "help", .kind = OptionKind::flag, .help = "h"},
      OptionSpec{.name = "configfile", .kind = OptionKind::path, .help = "h"},
      OptionSpec{.name = "name", .help = "h", .commands = kUnknownCommand}};
  EXPECT_EQ(first_table_defect(
                DaemonOptions{.daemon = "t", .options = kBadCommand, .commands = kCommands}),
            "an option names an unknown command");
  static constexpr std::array kBadRange{
      OptionSpec{.name = "mode", .kind = OptionKind::enumeration, .allowed = kModes, .help = "h"},
      OptionSpec{.name = "help", .kind = OptionKind::flag, .help = "h"},
      OptionSpec{.name = "configfile", .kind = OptionKind::path, .help = "h"},
      OptionSpec{.name = "n", .kind = OptionKind::integer, .min = 5, .max = 1, .help = "h"}};
  EXPECT_EQ(
      first_table_defect(DaemonOptions{.daemon = "t", .options = kBadRange, .commands = kCommands}),
      "an integer option needs min <= max");
}

TEST(ConfigTables, EveryDefaultPassesItsOwnValidation) {
  for (const DaemonOptions* table : {&pedserver::kOptions, &pedclient::kOptions}) {
    const Result<Settings> settings = resolve_settings(*table, kRootPaths, {}, {});
    ASSERT_TRUE(is_ok(settings)) << table->daemon;
    for (const OptionSpec& spec : table->options) {
      EXPECT_EQ(settings->has(spec.name), !spec.default_value.empty()) << spec.name;
    }
  }
}

TEST(ConfigTables, DocumentedServerDefaults) {
  const Settings settings = must(resolve_settings(pedserver::kOptions, kRootPaths, {}, {}));
  namespace opt = pedserver::opt;
  EXPECT_EQ(settings.port(opt::port), 1503);
  EXPECT_EQ(settings.port(opt::admin), 1502);
  EXPECT_TRUE(settings.boolean(opt::eserverport));
  EXPECT_FALSE(settings.boolean(opt::eadmin));
  EXPECT_EQ(settings.integer(opt::idletimeout), 1800);
  EXPECT_EQ(settings.integer(opt::socketreadtimeout), 10);
  EXPECT_EQ(settings.integer(opt::socketwritetimeout), 10);
  EXPECT_LT(settings.integer(opt::internalshutdowntimeout),
            settings.integer(opt::bgprocessshutdowntimeout));
  EXPECT_EQ(settings.integer(opt::pedwritedelay), 0);
  EXPECT_LT(settings.integer(opt::pingtimeout), settings.integer(opt::pinginterval));
  EXPECT_EQ(settings.path(opt::logfile), "/var/log/pedserver.log");
  EXPECT_TRUE(settings.boolean(opt::loginfo));
  EXPECT_TRUE(settings.boolean(opt::logwarning));
  EXPECT_TRUE(settings.boolean(opt::logerror));
  EXPECT_FALSE(settings.boolean(opt::logtrace));
  EXPECT_EQ(settings.integer(opt::maxlogfilesize), 4096);
  EXPECT_EQ(settings.ped_device(opt::ped), PedDevice{});
  EXPECT_EQ(settings.text(opt::format), "text");
}

TEST(ConfigTables, DocumentedClientDefaults) {
  const Settings settings = must(resolve_settings(pedclient::kOptions, kRootPaths, {}, {}));
  namespace opt = pedclient::opt;
  EXPECT_EQ(settings.integer(opt::idletimeout), 1800);
  EXPECT_EQ(settings.port(opt::admin), 1504);
  EXPECT_FALSE(settings.boolean(opt::eadmin));
  EXPECT_LT(settings.integer(opt::shutdowntimeout), settings.integer(opt::pshutdowntimeout));
  EXPECT_EQ(settings.path(opt::logfile), "/var/log/pedclient.log");
  EXPECT_EQ(settings.port(opt::id_port), 1503);
  EXPECT_FALSE(settings.boolean(opt::winservice));
}

TEST(ConfigTables, PerInvocationOptionsAreNeverStored) {
  for (const std::string_view name :
       {"mode", "help", "force", "selftest", "configfile", "regen", "appliance", "name",
        "certificate", "commonname", "set", "show", "foreground", "format"}) {
    const OptionSpec* const spec = find_option(pedserver::kOptions, name);
    ASSERT_NE(spec, nullptr) << name;
    EXPECT_EQ(spec->storage, Storage::command_line_only) << name;
  }
  for (const std::string_view name :
       {"mode", "help", "configfile", "id", "id_ip", "id_port", "id_serialnumber",
        "ignoreidletimeout", "locallogger", "winservice", "foreground"}) {
    const OptionSpec* const spec = find_option(pedclient::kOptions, name);
    ASSERT_NE(spec, nullptr) << name;
    EXPECT_EQ(spec->storage, Storage::command_line_only) << name;
  }
  EXPECT_EQ(find_option(pedserver::kOptions, "logfilename"),
            find_option(pedserver::kOptions, "logfile"));
  EXPECT_EQ(find_option(pedserver::kOptions, "m"), find_option(pedserver::kOptions, "mode"));
}

TEST(ConfigPedDevice, ParsesEachForm) {
  EXPECT_EQ(must(parse_ped_device("usb")), PedDevice{});
  const PedDevice by_id = must(parse_ped_device("usb:1B2c:000f"));
  EXPECT_EQ(by_id.transport, PedDevice::Transport::usb);
  EXPECT_EQ(by_id.vendor_id, std::uint16_t{0x1b2c});
  EXPECT_EQ(by_id.product_id, std::uint16_t{0x000f});
  EXPECT_EQ(by_id.serial_number, "");
  EXPECT_EQ(must(parse_ped_device("usb:ffff:0000:AB12")).serial_number, "AB12");
  const PedDevice simulator = must(parse_ped_device("sim:/run/rped/pedsim.sock"));
  EXPECT_EQ(simulator.transport, PedDevice::Transport::simulator);
  EXPECT_EQ(simulator.socket_path, "/run/rped/pedsim.sock");
  EXPECT_EQ(parse_ped_device("usb:12:34").error().message, "VID and PID are 4 hex digits each");
  EXPECT_EQ(parse_ped_device("usb:1234").error().message,
            "usb: needs both VID and PID (usb:VID:PID)");
  EXPECT_EQ(parse_ped_device("sim:").error().message,
            "sim:SOCKET needs a socket path of 1 to 107 bytes");
  EXPECT_TRUE(is_ok(parse_ped_device(std::string("sim:") + std::string(107, 's'))));
}

// --- -help ---------------------------------------------------------------------

void expect_lines_fit(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find(' ', line.find_first_not_of(' ')) == std::string::npos) {
      continue;  // a single long word cannot be wrapped
    }
    EXPECT_LE(line.size(), kHelpWidth) << line;
  }
}

// The help text with line wrapping undone, to search for phrases.
std::string flattened(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (space && (out.empty() || out.back() == ' ')) {
      continue;
    }
    out += space ? ' ' : c;
  }
  return out;
}

TEST(ConfigHelp, OverviewListsEveryCommandAndOption) {
  const std::string help = render_help(pedserver::kOptions, "", kRootPaths);
  expect_lines_fit(help);
  EXPECT_TRUE(help.starts_with("pedserver: the Remote PED server.")) << help;
  for (const CommandSpec& command : pedserver::kOptions.commands) {
    std::string listed = "  ";
    listed.append(command_display(pedserver::kOptions, command.id)).append(" ");
    EXPECT_NE(help.find(listed), std::string::npos) << command.id;
  }
  for (const OptionSpec& spec : pedserver::kOptions.options) {
    std::string option = "-";
    option.append(spec.name);
    EXPECT_NE(help.find(option), std::string::npos) << spec.name;
  }
  EXPECT_NE(help.find("Settings (on the command line, or as key = value in /etc/x.conf):"),
            std::string::npos);
  EXPECT_NE(help.find("  -port <port>"), std::string::npos) << help;
  const std::string flat = flattened(help);
  EXPECT_NE(flat.find("the appliance's port. Default: 1503."), std::string::npos) << flat;
  EXPECT_NE(flat.find("1 to 86400 seconds. Default: 1800."), std::string::npos) << flat;
  EXPECT_NE(flat.find("Default: /var/log/pedserver.log. Also -logfilename."), std::string::npos)
      << flat;
  EXPECT_NE(flat.find("instead of /etc/x.conf."), std::string::npos) << flat;
  EXPECT_NE(flat.find("-mode <start|stop|show|config|connect|disconnect> The command to run"),
            std::string::npos)
      << flat;
}

TEST(ConfigHelp, PerCommandHelpListsOnlyThatCommandsOptions) {
  const std::string start = render_help(pedserver::kOptions, "start", kRootPaths);
  expect_lines_fit(start);
  EXPECT_TRUE(start.starts_with("Usage: pedserver -mode start [options]\n")) << start;
  EXPECT_NE(start.find("  -foreground "), std::string::npos);
  EXPECT_NE(start.find("  -force "), std::string::npos);
  EXPECT_EQ(start.find("\n  -name "), std::string::npos);
  EXPECT_EQ(start.find("\n  -commonname "), std::string::npos);
  EXPECT_NE(start.find("  -idletimeout <seconds>"), std::string::npos);

  const std::string register_help = render_help(pedserver::kOptions, "register", kRootPaths);
  EXPECT_TRUE(register_help.starts_with(
      "Usage: pedserver -appliance register -name <appliance> -certificate <file>\n"
      "       -ip <address> [options]\n"))
      << register_help;
  expect_lines_fit(register_help);
  EXPECT_EQ(register_help.find("\n  -mode "), std::string::npos);
  const std::string config_help = render_help(pedclient::kOptions, "config", kRootPaths);
  EXPECT_TRUE(config_help.starts_with("Usage: pedclient -mode config -set|-show [options]\n"))
      << config_help;
  const std::string setid = render_help(pedclient::kOptions, "setid", kRootPaths);
  EXPECT_NE(setid.find("  -id_port <port>"), std::string::npos) << setid;
  EXPECT_NE(setid.find("  -id <id>"), std::string::npos) << setid;
  expect_lines_fit(render_help(pedclient::kOptions, "", kRootPaths));
}

}  // namespace
}  // namespace rped::config
