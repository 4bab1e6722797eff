// The Luna-style command line: every option kind's good and bad values with the
// exact one-line error, unknown / duplicate / missing-value / value-for-flag
// errors, -m and the dash-less `mode start`, commands and their options.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "rped/config/command_line.h"
#include "rped/config/option_value.h"
#include "rped/config/pedclient_options.h"
#include "rped/config/pedserver_options.h"
#include "support/result_assertions.h"

namespace rped::config {
namespace {

using rped::test::is_ok;

Result<CommandLine> server(std::initializer_list<std::string_view> arguments) {
  const std::vector<std::string_view> list(arguments);
  return parse_command_line(pedserver::kOptions, list);
}

Result<CommandLine> client(std::initializer_list<std::string_view> arguments) {
  const std::vector<std::string_view> list(arguments);
  return parse_command_line(pedclient::kOptions, list);
}

// The error line of a parse that must fail ("<succeeded>" otherwise).
template <typename T>
std::string error_line(const Result<T>& result) {
  return result.ok() ? std::string("<succeeded>") : result.error().message;
}

TEST(ConfigCommandLine, LunaRunbookLineParsesIntoTypedValues) {
  const Result<CommandLine> parsed =
      server({"-mode", "start", "-ip", "10.0.0.5", "-port", "1503", "-idletimeout", "1800",
              "-logfile", "/var/log/x.log", "-loginfo", "1", "-force"});
  ASSERT_TRUE(is_ok(parsed));
  EXPECT_EQ(parsed->command, "start");
  EXPECT_FALSE(parsed->help_requested);
  const OptionValues expected{{"mode", std::string("start")},
                              {"ip", std::string("10.0.0.5")},
                              {"port", std::int64_t{1503}},
                              {"idletimeout", std::int64_t{1800}},
                              {"logfile", std::string("/var/log/x.log")},
                              {"loginfo", true},
                              {"force", true}};
  EXPECT_EQ(parsed->values, expected);
}

TEST(ConfigCommandLine, ShortAliasAndDashlessModeWordSelectTheCommand) {
  for (const Result<CommandLine>& parsed :
       {server({"-m", "start"}), server({"mode", "start"}), server({"-mode", "start"})}) {
    ASSERT_TRUE(is_ok(parsed));
    EXPECT_EQ(parsed->command, "start");
    EXPECT_EQ(parsed->values.at("mode"), OptionValue(std::string("start")));
  }
  EXPECT_EQ(client({"mode", "stop"})->command, "stop");
  // Only a leading bare "mode" is the dash-less form.
  EXPECT_EQ(error_line(server({"-port", "1503", "mode", "start"})),
            "pedserver: mode: unexpected argument; options start with '-' (see 'pedserver -help')");
  EXPECT_EQ(
      error_line(server({"-m", "begin"})),
      "pedserver: -m begin: allowed values are start, stop, show, config, connect, disconnect");
  EXPECT_EQ(
      error_line(server({"mode", "begin"})),
      "pedserver: mode begin: allowed values are start, stop, show, config, connect, disconnect");
}

TEST(ConfigCommandLine, UnknownOptionIsAnError) {
  EXPECT_EQ(error_line(server({"-mode", "start", "-bogus", "1"})),
            "pedserver: -bogus: unknown option; see 'pedserver -help'");
  EXPECT_EQ(error_line(server({"-mode", "start", "-por", "1"})),
            "pedserver: -por: unknown option; see 'pedserver -help'");  // no prefix guessing
  EXPECT_EQ(error_line(server({"-mode", "start", "-Port", "1"})),
            "pedserver: -Port: unknown option; see 'pedserver -help'");
  EXPECT_EQ(error_line(client({"-mode", "start", "-regen"})),
            "pedclient: -regen: unknown option; see 'pedclient -help'");
  EXPECT_EQ(error_line(server({"-mode", "start", "--bogus"})),
            "pedserver: --bogus: unknown option; see 'pedserver -help'");
  EXPECT_EQ(error_line(server({"-mode", "start", "--port", "1"})),
            "pedserver: --port: options take a single dash: -port");
  EXPECT_EQ(error_line(server({"-mode", "start", "-port=1503"})),
            "pedserver: -port=1503: put the value after a space: -port 1503");
}

TEST(ConfigCommandLine, DuplicateOptionIsAnErrorAlsoThroughAnAlias) {
  EXPECT_EQ(error_line(server({"-mode", "start", "-port", "1503", "-port", "1504"})),
            "pedserver: -port: given more than once");
  EXPECT_EQ(error_line(server({"-mode", "start", "-logfile", "/a.log", "-logfilename", "/b.log"})),
            "pedserver: -logfilename: given more than once (also as -logfile)");
  EXPECT_EQ(error_line(server({"-mode", "start", "-m", "stop"})),
            "pedserver: -m: given more than once (also as -mode)");
  EXPECT_EQ(error_line(server({"-mode", "start", "-force", "-force"})),
            "pedserver: -force: given more than once");
}

TEST(ConfigCommandLine, MissingValueIsAnError) {
  EXPECT_EQ(error_line(server({"-mode", "start", "-port"})), "pedserver: -port: missing value");
  EXPECT_EQ(error_line(server({"-mode", "start", "-port", "-force"})),
            "pedserver: -port: missing value");
  EXPECT_EQ(error_line(server({"-mode"})), "pedserver: -mode: missing value");
  EXPECT_EQ(error_line(server({"-mode", "start", "-logfile", "--x"})),
            "pedserver: -logfile: missing value");
  // A dash followed by a digit is a value, so the range is what gets reported.
  EXPECT_EQ(error_line(server({"-mode", "start", "-port", "-1"})),
            "pedserver: -port -1: must be an integer from 1 to 65535");
}

TEST(ConfigCommandLine, ValueAfterAFlagIsAnError) {
  EXPECT_EQ(error_line(server({"-mode", "start", "-force", "yes"})),
            "pedserver: -force: takes no value (got 'yes')");
  EXPECT_EQ(error_line(server({"-mode", "start", "-foreground", "1"})),
            "pedserver: -foreground: takes no value (got '1')");
  EXPECT_EQ(
      error_line(server({"-mode", "start", "stray"})),
      "pedserver: stray: unexpected argument; options start with '-' (see 'pedserver -help')");
}

TEST(ConfigCommandLine, IntegerOption) {
  EXPECT_EQ(server({"-mode", "start", "-idletimeout", "1"})->values.at("idletimeout"),
            OptionValue(std::int64_t{1}));
  EXPECT_EQ(server({"-mode", "start", "-idletimeout", "86400"})->values.at("idletimeout"),
            OptionValue(std::int64_t{86400}));
  EXPECT_EQ(server({"-mode", "start", "-pedwritedelay", "0"})->values.at("pedwritedelay"),
            OptionValue(std::int64_t{0}));
  const std::string allowed = "must be an integer from 1 to 86400 (seconds)";
  for (const std::string_view bad :
       {"0", "86401", "abc", "1e3", "+5", "0x10", "5s", "1.5", "99999999999999999999"}) {
    EXPECT_EQ(
        error_line(server({"-mode", "start", "-idletimeout", bad})),
        std::string("pedserver: -idletimeout ") + std::string(bad) + std::string(": ") + allowed);
  }
  EXPECT_EQ(error_line(server({"-mode", "start", "-idletimeout", " 5"})),
            std::string("pedserver: -idletimeout ' 5': ") + allowed);
  EXPECT_EQ(error_line(server({"-mode", "start", "-idletimeout", ""})),
            std::string("pedserver: -idletimeout '': ") + allowed);
  EXPECT_EQ(error_line(server({"-mode", "start", "-pedwritedelay", "10001"})),
            "pedserver: -pedwritedelay 10001: must be an integer from 0 to 10000 (microseconds)");
  EXPECT_EQ(error_line(server({"-mode", "start", "-maxlogfilesize", "8"})),
            "pedserver: -maxlogfilesize 8: must be an integer from 16 to 1048576 (KB)");
  EXPECT_EQ(error_line(client({"-mode", "deleteid", "-id", "65535"})),
            "pedclient: -id 65535: must be an integer from 0 to 65534");
  EXPECT_EQ(client({"-mode", "deleteid", "-id", "0"})->values.at("id"),
            OptionValue(std::int64_t{0}));
}

TEST(ConfigCommandLine, PortOption) {
  EXPECT_EQ(server({"-mode", "start", "-port", "1"})->values.at("port"),
            OptionValue(std::int64_t{1}));
  EXPECT_EQ(server({"-mode", "start", "-port", "65535"})->values.at("port"),
            OptionValue(std::int64_t{65535}));
  EXPECT_EQ(error_line(server({"-mode", "start", "-port", "70000"})),
            "pedserver: -port 70000: must be an integer from 1 to 65535");
  EXPECT_EQ(error_line(server({"-mode", "start", "-port", "0"})),
            "pedserver: -port 0: must be an integer from 1 to 65535");
  EXPECT_EQ(error_line(server({"-mode", "start", "-admin", "http"})),
            "pedserver: -admin http: must be an integer from 1 to 65535");
}

TEST(ConfigCommandLine, BooleanOption) {
  EXPECT_EQ(server({"-mode", "start", "-loginfo", "0"})->values.at("loginfo"), OptionValue(false));
  EXPECT_EQ(server({"-mode", "start", "-eadmin", "1"})->values.at("eadmin"), OptionValue(true));
  for (const std::string_view bad : {"2", "true", "yes", "-1", "01x"}) {
    EXPECT_EQ(error_line(server({"-mode", "start", "-logtrace", bad})),
              std::string("pedserver: -logtrace ") + std::string(bad) + ": must be 0 or 1");
  }
}

TEST(ConfigCommandLine, EnumerationOption) {
  EXPECT_EQ(server({"-mode", "show", "-format", "json"})->values.at("format"),
            OptionValue(std::string("json")));
  EXPECT_EQ(error_line(server({"-mode", "show", "-format", "xml"})),
            "pedserver: -format xml: allowed values are text, json");
  EXPECT_EQ(error_line(server({"-mode", "show", "-format", "JSON"})),
            "pedserver: -format JSON: allowed values are text, json");
  EXPECT_EQ(error_line(server({"-appliance", "remove"})),
            "pedserver: -appliance remove: allowed values are register, list, delete");
}

TEST(ConfigCommandLine, StringOption) {
  EXPECT_EQ(server({"-regen", "-commonname", "PED server 7"})->values.at("commonname"),
            OptionValue(std::string("PED server 7")));
  const std::string allowed = "must be 1 to 255 characters without control characters";
  EXPECT_EQ(error_line(server({"-regen", "-commonname", ""})),
            std::string("pedserver: -commonname '': ") + allowed);
  EXPECT_EQ(error_line(server({"-regen", "-commonname", "a\nb"})),
            std::string("pedserver: -commonname a\\x0ab: ") + allowed);
  const std::string longest(255, 'c');
  EXPECT_TRUE(is_ok(server({"-regen", "-commonname", longest})));
  const std::string too_long(256, 'c');
  EXPECT_EQ(error_line(server({"-regen", "-commonname", too_long})),
            std::string("pedserver: -commonname ") + too_long + std::string(": ") + allowed);
}

TEST(ConfigCommandLine, PathOption) {
  EXPECT_EQ(server({"-mode", "start", "-logfile", "relative/x.log"})->values.at("logfile"),
            OptionValue(std::string("relative/x.log")));  // made absolute by prepare_invocation
  const std::string allowed = "must be a path of 1 to 4095 characters without control characters";
  EXPECT_EQ(error_line(server({"-mode", "start", "-logfile", ""})),
            std::string("pedserver: -logfile '': ") + allowed);
  EXPECT_EQ(error_line(server({"-mode", "start", "-logfile", "/tmp/a\tb"})),
            std::string("pedserver: -logfile /tmp/a\\x09b: ") + allowed);
  EXPECT_EQ(
      error_line(server({"-mode", "start", "-logfile", std::string(4096, 'p')})),
      std::string("pedserver: -logfile ") + std::string(4096, 'p') + std::string(": ") + allowed);
}

TEST(ConfigCommandLine, HostOptionAcceptsIpLiteralsAndHostNames) {
  for (const std::string_view good :
       {"10.0.0.5", "0.0.0.0", "::1", "::", "2001:db8::5", "fe80::1%eth0", "::ffff:192.0.2.1",
        "localhost", "ped-server.example.com", "a", "host1"}) {
    const Result<CommandLine> parsed = server({"-mode", "start", "-ip", good});
    ASSERT_TRUE(is_ok(parsed)) << good;
    EXPECT_EQ(parsed->values.at("ip"), OptionValue(std::string(good)));
  }
  const std::string allowed = "must be an IPv4 address, an IPv6 address or a host name";
  for (const std::string_view bad :
       {"10.0.0.256", "10.0.0", "1.2.3.4.5", "::g", "[::1]", "2001:db8::5%", "fe80::1%a/b",
        "under_score.example", "host-.example", "a..b", "example.com.", "x y"}) {
    EXPECT_EQ(
        error_line(server({"-mode", "start", "-ip", bad})),
        std::string("pedserver: -ip ") + quote_for_message(bad) + std::string(": ") + allowed);
  }
  EXPECT_EQ(
      error_line(server({"-mode", "start", "-ip", std::string(64, 'l') + ".example"})),
      std::string("pedserver: -ip ") + std::string(64, 'l') + std::string(".example: ") + allowed);
  EXPECT_EQ(error_line(client({"-mode", "setid", "-id", "3", "-id_ip", "300.1.1.1"})),
            std::string("pedclient: -id_ip 300.1.1.1: ") + allowed);
}

TEST(ConfigCommandLine, PedDeviceOption) {
  for (const std::string_view good : {"usb", "usb:1b2c:0a0F", "usb:1B2C:0A0F:SN-1234.5",
                                      "sim:/run/pedsim.sock", "sim:relative.sock"}) {
    const Result<CommandLine> parsed = server({"-mode", "start", "-ped", good});
    ASSERT_TRUE(is_ok(parsed)) << good;
    EXPECT_EQ(parsed->values.at("ped"), OptionValue(std::string(good)));
  }
  const std::string allowed =
      "must be usb, usb:VID:PID or usb:VID:PID:SERIAL (VID and PID: 4 hex digits), or sim:SOCKET";
  for (const std::string_view bad :
       {"usb:", "usb:1234", "usb:123:0001", "usb:12345:0001", "usb:zzzz:0001", "usb:0x12:0001",
        "usb:1234:5678:", "usb:1234:5678:a:b", "usb:1234:5678:a b", "usbx", "USB",
        "sim:", "serial:/dev/ttyS0", ""}) {
    EXPECT_EQ(
        error_line(server({"-mode", "start", "-ped", bad})),
        std::string("pedserver: -ped ") + quote_for_message(bad) + std::string(": ") + allowed);
  }
  EXPECT_EQ(
      error_line(server({"-mode", "start", "-ped", std::string("sim:/") + std::string(107, 's')})),
      std::string("pedserver: -ped sim:/") + std::string(107, 's') + std::string(": ") + allowed);
}

TEST(ConfigCommandLine, FlagOption) {
  const Result<CommandLine> parsed = server({"-mode", "start", "-foreground", "-force"});
  ASSERT_TRUE(is_ok(parsed));
  EXPECT_EQ(parsed->values.at("foreground"), OptionValue(true));
  EXPECT_EQ(parsed->values.at("force"), OptionValue(true));
  EXPECT_FALSE(parsed->values.contains("selftest"));
}

TEST(ConfigCommandLine, ExactlyOneCommandSelector) {
  EXPECT_EQ(error_line(server({"-port", "1503"})),
            "pedserver: missing -mode; see 'pedserver -help'");
  EXPECT_EQ(error_line(server({})), "pedserver: missing -mode; see 'pedserver -help'");
  EXPECT_EQ(error_line(server({"-mode", "start", "-regen"})),
            "pedserver: -regen: cannot be combined with -mode");
  EXPECT_EQ(error_line(server({"-appliance", "list", "-m", "stop"})),
            "pedserver: -m: cannot be combined with -appliance");
  EXPECT_EQ(server({"-regen", "-commonname", "cn"})->command, "regen");
  EXPECT_EQ(server({"-selftest"})->command, "selftest");
  EXPECT_EQ(server({"-appliance", "list"})->command, "list");
}

TEST(ConfigCommandLine, CommandLineOnlyOptionsBelongToTheirCommands) {
  EXPECT_EQ(error_line(server({"-mode", "start", "-name", "hsm1"})),
            "pedserver: -name: not used with -mode start; see 'pedserver -mode start -help'");
  EXPECT_EQ(error_line(server({"-mode", "stop", "-foreground"})),
            "pedserver: -foreground: not used with -mode stop; see 'pedserver -mode stop -help'");
  EXPECT_EQ(
      error_line(server({"-appliance", "list", "-set"})),
      "pedserver: -set: not used with -appliance list; see 'pedserver -appliance list -help'");
  // Settings are accepted with every command (they apply to the invocation).
  EXPECT_TRUE(is_ok(server({"-mode", "stop", "-admin", "1600", "-force"})));
  EXPECT_TRUE(
      is_ok(server({"-appliance", "list", "-format", "json", "-configfile", "/etc/x.conf"})));
}

TEST(ConfigCommandLine, RequiredOptionsOfACommand) {
  EXPECT_EQ(error_line(server({"-appliance", "register", "-name", "hsm1", "-ip", "10.0.0.9"})),
            "pedserver: -appliance register: missing -certificate");
  EXPECT_EQ(
      error_line(server({"-appliance", "register", "-name", "hsm1", "-certificate", "/c.pem"})),
      "pedserver: -appliance register: missing -ip");
  EXPECT_TRUE(is_ok(server({"-appliance", "register", "-name", "hsm1", "-certificate", "/c.pem",
                            "-ip", "2001:db8::9", "-port", "1503"})));
  EXPECT_EQ(error_line(server({"-mode", "connect"})), "pedserver: -mode connect: missing -name");
  EXPECT_EQ(error_line(server({"-regen"})), "pedserver: -regen: missing -commonname");
  EXPECT_EQ(error_line(client({"-mode", "setid", "-id", "1"})),
            "pedclient: -mode setid: missing -id_ip");
  EXPECT_EQ(error_line(client({"-mode", "assignid", "-id", "1"})),
            "pedclient: -mode assignid: missing -id_serialnumber");
  EXPECT_EQ(error_line(client({"-mode", "releaseid"})),
            "pedclient: -mode releaseid: give exactly one of -id, -id_serialnumber");
  EXPECT_TRUE(is_ok(client({"-mode", "releaseid", "-id_serialnumber", "1234567"})));
  EXPECT_EQ(error_line(server({"-mode", "config"})),
            "pedserver: -mode config: give exactly one of -set, -show");
  EXPECT_EQ(error_line(server({"-mode", "config", "-set", "-show"})),
            "pedserver: -mode config: give exactly one of -set, -show");
}

TEST(ConfigCommandLine, HelpAloneOrAfterAnyCommand) {
  const Result<CommandLine> overview = server({"-help"});
  ASSERT_TRUE(is_ok(overview));
  EXPECT_TRUE(overview->help_requested);
  EXPECT_EQ(overview->command, "");

  const Result<CommandLine> for_start = server({"-mode", "start", "-help"});
  ASSERT_TRUE(is_ok(for_start));
  EXPECT_TRUE(for_start->help_requested);
  EXPECT_EQ(for_start->command, "start");

  // Help for a command does not need the command's required options.
  EXPECT_EQ(server({"-appliance", "register", "-help"})->command, "register");
  EXPECT_EQ(server({"mode", "config", "-help"})->command, "config");
  EXPECT_EQ(client({"-help", "-m", "setid"})->command, "setid");
  // Bad values are still errors.
  EXPECT_EQ(
      error_line(server({"-mode", "begin", "-help"})),
      "pedserver: -mode begin: allowed values are start, stop, show, config, connect, disconnect");
}

TEST(ConfigCommandLine, ArgvOverloadSkipsTheProgramName) {
  const char* const argv[] = {"/usr/sbin/pedserver", "-m", "start", "-port", "1600"};
  const Result<CommandLine> parsed = parse_command_line(pedserver::kOptions, 5, argv);
  ASSERT_TRUE(is_ok(parsed));
  EXPECT_EQ(parsed->values.at("port"), OptionValue(std::int64_t{1600}));
}

TEST(ConfigCommandLine, ClientTableAcceptsItsDocumentedOptions) {
  const Result<CommandLine> parsed = client({"-mode",
                                             "start",
                                             "-idletimeout",
                                             "600",
                                             "-ignoreidletimeout",
                                             "-socketreadtimeout",
                                             "5",
                                             "-socketwritetimeout",
                                             "5",
                                             "-shutdowntimeout",
                                             "9",
                                             "-pstartuptimeout",
                                             "8",
                                             "-pshutdowntimeout",
                                             "30",
                                             "-admin",
                                             "1504",
                                             "-eadmin",
                                             "0",
                                             "-logfilename",
                                             "/var/log/c.log",
                                             "-loginfo",
                                             "1",
                                             "-logwarning",
                                             "1",
                                             "-logerror",
                                             "1",
                                             "-logtrace",
                                             "0",
                                             "-maxlogfilesize",
                                             "2048",
                                             "-locallogger",
                                             "-winservice",
                                             "-configfile",
                                             "/etc/c.conf",
                                             "-foreground",
                                             "-format",
                                             "json"});
  ASSERT_TRUE(is_ok(parsed));
  EXPECT_EQ(parsed->values.at("logfile"), OptionValue(std::string("/var/log/c.log")));
  EXPECT_TRUE(
      is_ok(client({"-mode", "setid", "-id", "7", "-id_ip", "fe80::2%eth1", "-id_port", "1503"})));
  EXPECT_TRUE(is_ok(client({"-mode", "assignid", "-id", "7", "-id_serialnumber", "1234567"})));
  EXPECT_TRUE(is_ok(client({"-mode", "testid", "-id", "7"})));
}

}  // namespace
}  // namespace rped::config
