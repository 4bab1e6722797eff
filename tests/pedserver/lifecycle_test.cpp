// Starting and stopping the real daemon: the documented lines, show in text
// and JSON, precise start failures, a PED that appears after the start, and a
// non-root user with the default paths.
#include "harness.h"

namespace rped::pedserver::test {
namespace {

using PedServerLifecycle = PedServerTest;

TEST_F(PedServerLifecycle, StartShowStopInTextAndJson) {
  start_pedsim();
  const Ran started = start_server();
  ASSERT_EQ(started.exit_code, 0) << started.out << started.err;
  for (const char* line : {"Ped Server Version 0.1.0", "Ped Server launched in startup mode.",
                           "Starting background process", "Background process started",
                           "Ped Server Process created, exiting this process."}) {
    EXPECT_NE(started.out.find(line), std::string::npos) << started.out;
  }
  EXPECT_TRUE(std::filesystem::exists(state_ / ("admin-" + std::to_string(admin_) + ".token")));
  EXPECT_EQ(std::filesystem::status(state_ / ("admin-" + std::to_string(admin_) + ".token"))
                    .permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  const Ran text = admin({"-mode", "show"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* field : {"Hostname:",
                            "IP:",
                            "Firmware Version:",
                            "2.9.1-sim",
                            "Ped2 Protocol Version:",
                            "Software Version:",
                            "Ped2 Connection Status:            Connected",
                            "Ped2 RPK Count:",
                            "Ped2 RPK Serial Numbers:",
                            "Client Information:",
                            "Not Available",
                            "Server Port:",
                            "External Server Interface:",
                            "Admin Port:",
                            "External Admin Interface:",
                            "Server Up Time:",
                            "Server Idle Time:",
                            "Idle Timeout Value:",
                            "1800 (secs)",
                            "Current Connection Time:",
                            "Total Connection Time:",
                            "Show command passed."}) {
    EXPECT_NE(text.out.find(field), std::string::npos) << field << "\n" << text.out;
  }
  const Ran same_with_m = pedserver({"-m", "show", "-admin", std::to_string(admin_)});
  EXPECT_EQ(same_with_m.exit_code, 0);
  const Ran dashless = pedserver({"mode", "show", "-admin", std::to_string(admin_)});
  EXPECT_EQ(dashless.exit_code, 0);

  const nlohmann::json status = show_json();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["server"]["server_port"], port_);
  EXPECT_EQ(status["server"]["admin_port"], admin_);
  EXPECT_EQ(status["server"]["external_server_interface"], true);
  EXPECT_EQ(status["server"]["external_admin_interface"], false);
  EXPECT_EQ(status["server"]["software_version"], "0.1.0");
  EXPECT_EQ(status["server"]["idle_timeout_s"], 1800);
  EXPECT_TRUE(status["server"]["hostname"].is_string());
  EXPECT_EQ(status["ped"]["connection_status"], "Connected");
  EXPECT_EQ(status["ped"]["firmware_version"], "2.9.1-sim");
  EXPECT_EQ(status["ped"]["protocol_version"], 1);
  EXPECT_EQ(status["ped"]["serial"], "PED0000001");
  EXPECT_EQ(status["ped"]["rpk_count"], 0);
  EXPECT_TRUE(status["client"].is_null());
  EXPECT_TRUE(status["connections"]["total_connection_time_s"].is_number());
  const pid_t pid = status["server"]["pid"].get<pid_t>();

  const Ran stopped = admin({"-mode", "stop"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_NE(stopped.out.find("Ped Server stopped."), std::string::npos) << stopped.out;
  started_ = false;
  EXPECT_TRUE(wait_until([pid] {
    ::waitpid(pid, nullptr, WNOHANG);
    return ::kill(pid, 0) != 0;
  }));
  EXPECT_FALSE(std::filesystem::exists(state_ / ("admin-" + std::to_string(admin_) + ".token")));
  const Ran again = admin({"-mode", "stop"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("not running"), std::string::npos) << again.err;
  const std::string log = slurp(log_);
  EXPECT_NE(log.find("power-on self-test passed"), std::string::npos) << log;
  EXPECT_NE(log.find("pedserver stopped"), std::string::npos) << log;
}

TEST_F(PedServerLifecycle, ForegroundRunsUntilSigterm) {
  start_pedsim();
  std::vector<std::string> args{"-mode", "start", "-foreground"};
  for (const std::string& a : server_options()) {
    args.push_back(a);
  }
  Child server(kPedserver, args, dir_.path(), root_env());
  ASSERT_TRUE(wait_until([&] { return ped_connected(); })) << server.err();
  server.terminate();
  EXPECT_EQ(server.wait(), 0) << server.err();
  EXPECT_NE(slurp(log_).find("stopping (signal SIGTERM)"), std::string::npos);
}

TEST_F(PedServerLifecycle, StartFailuresSayWhy) {
  start_pedsim();
  // The port is taken.
  const int blocker = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(port_);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  Ran ran = start_server();
  ::close(blocker);
  EXPECT_EQ(ran.exit_code, 1) << ran.out;
  EXPECT_NE(ran.err.find("Address already in use"), std::string::npos) << ran.err;
  EXPECT_NE(ran.err.find("-port"), std::string::npos) << ran.err;

  // The log cannot be written.
  ran = start_server({"-logfile", (dir_.path() / "no-such-dir" / "x.log").string()});
  EXPECT_EQ(ran.exit_code, 1);
  EXPECT_NE(ran.err.find("cannot write the log file"), std::string::npos) << ran.err;
  const std::string not_a_file = dir_.path().string();
  ran = start_server({"-logfile", not_a_file});
  EXPECT_EQ(ran.exit_code, 1);
  EXPECT_NE(ran.err.find("it is a directory"), std::string::npos) << ran.err;

  // No manufacturer root installed.
  std::filesystem::remove(state_ / "trust" / "root.pem");
  ran = start_server();
  EXPECT_EQ(ran.exit_code, 1);
  EXPECT_NE(ran.err.find("no manufacturer root certificate"), std::string::npos) << ran.err;

  // -ip that is not loopback with -eserverport 0.
  write_text(state_ / "trust" / "root.pem", world_.pki.root.pem());
  ran = start_server({"-ip", "192.0.2.1", "-eserverport", "0"});
  EXPECT_EQ(ran.exit_code, 1);
  EXPECT_NE(ran.err.find("loopback"), std::string::npos) << ran.err;
  started_ = false;
}

TEST_F(PedServerLifecycle, StartWithoutThePedExitsThreeAndServesItOnceItAppears) {
  const Ran started = start_server();
  ASSERT_EQ(started.exit_code, 3) << started.out << started.err;
  EXPECT_NE(started.out.find("PED not found"), std::string::npos) << started.out;
  EXPECT_NE(started.out.find("Ped Server Process created"), std::string::npos) << started.out;
  nlohmann::json status = show_json();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["ped"]["connection_status"], "Disconnected");

  // Meanwhile an HSM is told the PED is not there.
  auto wire = tcp_wire(port_);
  ASSERT_TRUE(wire);
  EXPECT_EQ(read_alert(*wire), channel::AlertCode::ped_unplugged);

  start_pedsim();
  EXPECT_TRUE(wait_until([&] { return ped_connected(); })) << slurp(log_);
}

// -bgprocessstartuptimeout: a PED that accepts the connection but never
// answers the identify probe keeps the background process from reporting
// (pedserver waits kPedIdentifyTimeout, 5 s, for the PED). -mode start gives up
// after 1 s, stops the background process and says why.
TEST_F(PedServerLifecycle, StartupTimeoutStopsABackgroundProcessThatIsNotReady) {
  const int mute = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(mute, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(mute, 4), 0);  // connections wait in the backlog, unanswered

  const auto before = Clock::now();
  const Ran ran = start_server({"-bgprocessstartuptimeout", "1"});
  const auto took = Clock::now() - before;
  ::close(mute);
  EXPECT_EQ(ran.exit_code, 1) << ran.out << ran.err;
  EXPECT_NE(ran.err.find("did not report that it was ready within 1 s "
                         "(-bgprocessstartuptimeout); it was stopped"),
            std::string::npos)
      << ran.err;
  EXPECT_LT(took, 4500ms) << "it did not wait for the PED's identify timeout";
  // Nothing is left running: no admin port, no server port, no token.
  EXPECT_NE(admin({"-mode", "show"}).exit_code, 0);
  EXPECT_EQ(tcp_wire(port_), nullptr);
  EXPECT_FALSE(std::filesystem::exists(state_ / ("admin-" + std::to_string(admin_) + ".token")));
  started_ = false;
}

// -trustdir: the manufacturer roots from a directory of the operator's choice
// (default <state dir>/trust).
TEST_F(PedServerLifecycle, TrustDirPointsAtTheManufacturerRoots) {
  start_pedsim(kPasswordEntry);
  const auto roots = dir_.path() / "roots";
  std::filesystem::create_directories(roots);
  std::filesystem::rename(state_ / "trust" / "root.pem", roots / "vendor.pem");

  // The default directory is empty now: the start fails and names it.
  Ran ran = start_server();
  EXPECT_EQ(ran.exit_code, 1);
  EXPECT_NE(ran.err.find("no manufacturer root certificate in " + (state_ / "trust").string()),
            std::string::npos)
      << ran.err;
  started_ = false;

  ran = start_server({"-trustdir", roots.string()});
  ASSERT_EQ(ran.exit_code, 0) << ran.out << ran.err;
  EXPECT_NE(slurp(log_).find("1 manufacturer root(s) trusted from " + roots.string()),
            std::string::npos);
  HsmPeer hsm(tcp_wire(port_), world_, channel::Scheme::one_pass_password);
  EXPECT_TRUE(hsm.handshake()) << "the HSM's chain verifies against the root in -trustdir";
}

TEST_F(PedServerLifecycle, TrustDirIsAConfigFileKey) {
  const auto file = dir_.path() / "p.conf";
  const auto roots = dir_.path() / "roots";
  const Ran set = pedserver(
      {"-mode", "config", "-set", "-configfile", file.string(), "-trustdir", roots.string()});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(slurp(file).find("trustdir = "), std::string::npos) << slurp(file);
  const Ran shown = pedserver({"-mode", "config", "-show", "-configfile", file.string()});
  EXPECT_NE(shown.out.find(roots.string()), std::string::npos) << shown.out;
  const Ran help = pedserver({"-mode", "start", "-help"});
  EXPECT_NE(help.out.find((state_ / "trust").string()), std::string::npos)
      << "the default follows $STATE_DIRECTORY\n"
      << help.out;
}

// systemd's StateDirectory=, LogsDirectory= and ConfigurationDirectory= set
// $STATE_DIRECTORY, $LOGS_DIRECTORY, $CONFIGURATION_DIRECTORY: the defaults
// follow them (config/paths.h).
TEST_F(PedServerLifecycle, SystemdDirectoriesGiveTheDefaultPaths) {
  start_pedsim();
  const auto logs = dir_.path() / "logs";
  const auto conf = dir_.path() / "conf";
  std::filesystem::create_directories(logs);
  std::filesystem::create_directories(conf);
  write_text(conf / "pedserver.conf", "idletimeout = 77\n");
  const SpawnOptions systemd{{{"STATE_DIRECTORY", state_.string()},
                              {"LOGS_DIRECTORY", logs.string()},
                              {"CONFIGURATION_DIRECTORY", conf.string()}},
                             {},
                             {},
                             {},
                             {}};
  const Ran started = pedserver({"-mode", "start", "-ped", "sim:" + socket_.string(), "-port",
                                 std::to_string(port_), "-admin", std::to_string(admin_)},
                                systemd);
  started_ = started.exit_code == 0;
  ASSERT_EQ(started.exit_code, 0) << started.out << started.err;
  EXPECT_TRUE(std::filesystem::exists(logs / "pedserver.log")) << "the log is in LOGS_DIRECTORY";
  EXPECT_TRUE(std::filesystem::exists(state_ / ("admin-" + std::to_string(admin_) + ".token")))
      << "the state is in STATE_DIRECTORY";
  const nlohmann::json status = show_json();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["server"]["idle_timeout_s"], 77) << "the config file is read from "
                                                       "CONFIGURATION_DIRECTORY";
  EXPECT_EQ(status["server"]["log_file"], (logs / "pedserver.log").string());
}

TEST_F(PedServerLifecycle, NonRootUserWithDefaultPaths) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to run pedserver as another user (nobody)";
  }
  // HOME for nobody, with the manufacturer root in the default state directory.
  const auto home = dir_.path() / "home";
  const auto state = home / ".local" / "state" / "pedserver";
  std::filesystem::create_directories(state / "trust");
  write_text(state / "trust" / "root.pem", world_.pki.root.pem());
  for (const auto& entry : std::filesystem::recursive_directory_iterator(home)) {
    ASSERT_EQ(::chown(entry.path().c_str(), kNobody, kNogroup), 0);
  }
  ASSERT_EQ(::chown(home.c_str(), kNobody, kNogroup), 0);
  start_pedsim();
  ::chmod(socket_.c_str(), 0777);  // nobody connects to root's emulator
  SpawnOptions nobody{
      {{"HOME", home.string()}}, {"XDG_CONFIG_HOME", "XDG_STATE_HOME"}, kNobody, kNogroup, {}};

  const Ran started = pedserver({"-mode", "start", "-ped", "sim:" + socket_.string(), "-port",
                                 std::to_string(port_), "-admin", std::to_string(admin_)},
                                nobody);
  started_ = started.exit_code == 0;  // TearDown stops it as root if the test fails on the way
  ASSERT_EQ(started.exit_code, 0) << started.out << started.err;
  const auto log = state / "pedserver.log";
  EXPECT_TRUE(std::filesystem::exists(log)) << "the default log is in the user's state directory";
  EXPECT_TRUE(std::filesystem::exists(state / ("admin-" + std::to_string(admin_) + ".token")));

  const Ran shown = admin({"-mode", "show", "-format", "json"}, nobody);
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  const nlohmann::json status = nlohmann::json::parse(shown.out, nullptr, false);
  ASSERT_TRUE(status.is_object()) << shown.out;
  EXPECT_EQ(status["server"]["owner_uid"], kNobody);
  EXPECT_EQ(status["server"]["log_file"], log.string());
  EXPECT_EQ(status["ped"]["connection_status"], "Connected");

  // root may query it too; nobody stops it.
  EXPECT_EQ(admin({"-mode", "show"}).exit_code, 0);
  const Ran stopped = admin({"-mode", "stop"}, nobody);
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  started_ = stopped.exit_code != 0;
  if (HasFailure()) {
    std::cerr << slurp(log);
  }
}

}  // namespace
}  // namespace rped::pedserver::test

namespace rped::pedserver::test {
namespace {

using PedServerLogging = PedServerTest;

TEST_F(PedServerLogging, TheLogRotatesAtMaxLogFileSize) {
  start_pedsim();
  ASSERT_EQ(start_server({"-maxlogfilesize", "16"}).exit_code, 0);
  auto holder = tcp_wire(port_);  // the PED is busy from now on
  ASSERT_TRUE(holder);
  ASSERT_TRUE(wait_until([&] {
    const nlohmann::json s = show_json();
    return s.is_object() && s["client"].is_object();
  }));
  const auto rotated = dir_.path() / "pedserver.1.log";
  for (int i = 0; i < 400 && !std::filesystem::exists(rotated); ++i) {
    auto refused = tcp_wire(port_);
    ASSERT_TRUE(refused);
    ASSERT_EQ(read_alert(*refused), channel::AlertCode::ped_busy);
  }
  EXPECT_TRUE(std::filesystem::exists(rotated));
  EXPECT_LE(std::filesystem::file_size(rotated), 16u * 1024u);
}

TEST_F(PedServerLogging, LevelSwitchesAreIndependent) {
  // No PED: the start logs a warning. -loginfo 0 keeps warnings and errors only.
  ASSERT_EQ(start_server({"-loginfo", "0"}).exit_code, 3);
  std::string log = slurp(log_);
  EXPECT_NE(log.find(" warning "), std::string::npos) << log;
  EXPECT_EQ(log.find(" info "), std::string::npos) << log;
  stop_server_if_running();

  // -logwarning 0 -logtrace 1: information and trace, no warnings.
  std::filesystem::remove(log_);
  ASSERT_EQ(start_server({"-logwarning", "0", "-logtrace", "1"}).exit_code, 3);
  log = slurp(log_);
  EXPECT_NE(log.find(" info "), std::string::npos) << log;
  EXPECT_EQ(log.find(" warning "), std::string::npos) << log;
}

}  // namespace
}  // namespace rped::pedserver::test
