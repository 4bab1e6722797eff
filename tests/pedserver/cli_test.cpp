// pedserver's command line through the real binary: help for every command,
// one-line errors with exit status 1 for every kind of bad value, nothing
// half-applied, -selftest, and -mode config.
#include "harness.h"

namespace rped::pedserver::test {
namespace {

using PedServerCommandLine = PedServerTest;

TEST_F(PedServerCommandLine, HelpForEveryCommand) {
  const Ran overview = pedserver({"-help"});
  EXPECT_EQ(overview.exit_code, 0) << overview.err;
  EXPECT_NE(overview.out.find("-mode start"), std::string::npos) << overview.out;
  const std::vector<std::vector<std::string>> commands = {{"-mode", "start"},
                                                          {"-mode", "stop"},
                                                          {"-mode", "show"},
                                                          {"-mode", "config"},
                                                          {"-mode", "connect"},
                                                          {"-mode", "disconnect"},
                                                          {"-appliance", "register"},
                                                          {"-appliance", "list"},
                                                          {"-appliance", "delete"},
                                                          {"-regen"},
                                                          {"-selftest"},
                                                          {"mode", "start"},
                                                          {"-m", "show"}};
  for (std::vector<std::string> command : commands) {
    command.push_back("-help");
    const Ran help = pedserver(command);
    EXPECT_EQ(help.exit_code, 0) << command[0] << " " << help.err;
    EXPECT_FALSE(help.out.empty()) << command[0];
    EXPECT_TRUE(help.err.empty()) << help.err;
  }
  // The timing options say what the code does (the idle clock ignores pings
  // and stops during a PED operation; the write delay is per USB packet).
  const Ran start = pedserver({"-mode", "start", "-help"});
  for (const char* text : {"Keep-alive pings", "do not count", "stops while the PED",
                           "max-packet-size chunks", "-trustdir <directory>"}) {
    EXPECT_NE(start.out.find(text), std::string::npos) << text << "\n" << start.out;
  }
}

// Each kind of option (integer, port, boolean, enumeration, string, path,
// host, flag, PED device) with a bad value: exit status 1 and one line that
// names the option and says what is allowed.
TEST_F(PedServerCommandLine, BadValuesExitOneWithOneLineNamingTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {{"-mode", "start", "-port", "70000"}, "-port 70000"},
      {{"-mode", "start", "-port", "http"}, "-port http"},
      {{"-mode", "start", "-admin", "0"}, "-admin 0"},
      {{"-mode", "start", "-idletimeout", "0"}, "-idletimeout 0"},
      {{"-mode", "start", "-socketreadtimeout", "x"}, "-socketreadtimeout x"},
      {{"-mode", "start", "-pedwritedelay", "10001"}, "-pedwritedelay 10001"},
      {{"-mode", "start", "-maxlogfilesize", "1"}, "-maxlogfilesize 1"},
      {{"-mode", "start", "-pinginterval", "-5"}, "-pinginterval -5"},
      {{"-mode", "start", "-eadmin", "2"}, "-eadmin 2"},
      {{"-mode", "start", "-eserverport", "yes"}, "-eserverport yes"},
      {{"-mode", "start", "-loginfo", "true"}, "-loginfo true"},
      {{"-mode", "show", "-format", "xml"}, "-format xml"},
      {{"-mode", "reboot"}, "-mode reboot"},
      {{"-mode", "start", "-ip", "not a host!"}, "-ip"},
      {{"-mode", "start", "-ped", "serial:/dev/ttyS0"}, "-ped"},
      {{"-mode", "start", "-ped", "usb:12:34"}, "-ped"},
      {{"-mode", "start", "-logfile", ""}, "-logfile"},
      {{"-mode", "start", "-bogus"}, "-bogus"},
      {{"-mode", "start", "-port"}, "-port"},
      {{"-mode", "stop", "-foreground"}, "-foreground"},
      {{"-mode", "start", "-force", "yes"}, "-force"},
      {{"-appliance", "register", "-name", "hsm1"}, "-certificate"},
      {{"-regen"}, "-commonname"},
      {{"-mode", "connect"}, "-name"},
      {{"-mode", "config"}, "-set"},
      {{}, "-mode"},
  };
  for (const Case& c : cases) {
    const Ran ran = pedserver(c.args);
    std::string shown;
    for (const std::string& a : c.args) {
      shown += a + " ";
    }
    EXPECT_EQ(ran.exit_code, 1) << shown << ran.err;
    EXPECT_EQ(line_count(ran.err), 1u) << shown << ran.err;
    EXPECT_NE(ran.err.find(c.mentions), std::string::npos) << shown << ran.err;
    EXPECT_TRUE(ran.err.starts_with("pedserver: ")) << ran.err;
    EXPECT_TRUE(ran.out.empty()) << shown << ran.out;
  }
}

TEST_F(PedServerCommandLine, ConfigSetIsAllOrNothingAndShowReadsItBack) {
  const std::string file = (dir_.path() / "pedserver.conf").string();
  const Ran bad = pedserver(
      {"-mode", "config", "-set", "-configfile", file, "-port", "1600", "-idletimeout", "0"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(file)) << "nothing half-applied";

  const Ran set = pedserver(
      {"-mode", "config", "-set", "-configfile", file, "-port", "1600", "-idletimeout", "60"});
  EXPECT_EQ(set.exit_code, 0) << set.err;
  const Ran shown = pedserver({"-mode", "config", "-show", "-configfile", file});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("port = 1600"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("idletimeout = 60"), std::string::npos) << shown.out;

  write_text(file, "port = 99999\n");
  const Ran broken = pedserver({"-mode", "show", "-configfile", file});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find(":1:"), std::string::npos) << "file, line and key: " << broken.err;
  EXPECT_NE(broken.err.find("port"), std::string::npos) << broken.err;
}

TEST_F(PedServerCommandLine, SelftestPrintsEveryKnownAnswerTest) {
  const Ran ran = pedserver({"-selftest"});
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_NE(ran.out.find("self-test: PASSED (0 failed)"), std::string::npos) << ran.out;
  EXPECT_GT(line_count(ran.out), 5u);
}

TEST_F(PedServerCommandLine, StopAndShowWithoutAServerSayNotRunning) {
  for (const char* mode : {"stop", "show"}) {
    const Ran ran = admin({"-mode", mode});
    EXPECT_EQ(ran.exit_code, 1) << mode;
    EXPECT_NE(ran.err.find("pedserver is not running"), std::string::npos) << ran.err;
    EXPECT_EQ(line_count(ran.err), 1u) << ran.err;
  }
}

}  // namespace
}  // namespace rped::pedserver::test
