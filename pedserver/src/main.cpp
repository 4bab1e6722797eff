// pedserver: the Remote PED server, with Luna 7's command line.
//
//   pedserver -mode start [-foreground] [settings]   start (in the background unless -foreground)
//   pedserver -mode stop | show [-format json]        talk to the running server (admin interface)
//   pedserver -mode config -show | -set <settings>    the config file
//   pedserver -mode connect | disconnect -name N      PED-initiated mode
//   pedserver -appliance register | list | delete     registered appliances
//   pedserver -regen -commonname CN [-force]          this host's TLS certificate
//   pedserver -selftest                               the cryptographic self-tests
//   pedserver [-mode <command>] -help                 help
//
// docs/pedserver.md is the operator's documentation of every command, option,
// file and exit status.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "appliances.h"
#include "daemon.h"
#include "rped/config/config_command.h"
#include "rped/config/help.h"
#include "rped/config/pedserver_options.h"
#include "rped/config/settings.h"
#include "rped/selftest.h"
#include "status.h"
#include "version.h"

namespace {

using namespace rped;
using namespace rped::pedserver;
namespace opt = config::pedserver::opt;
namespace cmd = config::pedserver::cmd;
using Clock = std::chrono::steady_clock;

// Longest a -mode connect may take: every dial attempt and back-off.
constexpr std::chrono::minutes kConnectAnswerTimeout{15};

int fail(const std::string& message) {
  if (message.starts_with("pedserver: ")) {
    std::fprintf(stderr, "%s\n", message.c_str());
  } else {
    std::fprintf(stderr, "pedserver: %s\n", message.c_str());
  }
  return kExitFailure;
}

std::chrono::milliseconds seconds_setting(const config::Settings& settings, std::string_view name) {
  return std::chrono::seconds(settings.integer(name));
}

DaemonConfig daemon_config(const config::Invocation& invocation,
                           const std::filesystem::path& state_dir) {
  const config::Settings& s = invocation.settings;
  DaemonConfig c;
  if (s.has(opt::ip)) {
    c.ip = s.text(opt::ip);
  }
  c.port = s.port(opt::port);
  c.admin_port = s.port(opt::admin);
  c.external_server = s.boolean(opt::eserverport);
  c.external_admin = s.boolean(opt::eadmin);
  c.session.socket_read = seconds_setting(s, opt::socketreadtimeout);
  c.session.socket_write = seconds_setting(s, opt::socketwritetimeout);
  c.session.idle = seconds_setting(s, opt::idletimeout);
  c.session.ping_interval = seconds_setting(s, opt::pinginterval);
  c.session.ping_timeout = seconds_setting(s, opt::pingtimeout);
  c.session.handshake_deadline = c.session.socket_read;
  c.internal_shutdown = std::chrono::seconds(s.integer(opt::internalshutdowntimeout));
  c.ped = s.ped_device(opt::ped);
  if (c.ped.transport == config::PedDevice::Transport::simulator &&
      std::filesystem::path(c.ped.socket_path).is_relative()) {
    c.ped.socket_path =
        (std::filesystem::current_path() / c.ped.socket_path).lexically_normal().string();
  }
  c.ped_write_delay = std::chrono::microseconds(s.integer(opt::pedwritedelay));
  c.log.file = s.path(opt::logfile);
  c.log.name = "pedserver";
  c.log.create_parent = s.source(opt::logfile) == config::ValueSource::built_in_default;
  c.log.max_file_bytes = static_cast<std::size_t>(s.integer(opt::maxlogfilesize)) * 1024;
  c.log.info = s.boolean(opt::loginfo);
  c.log.warning = s.boolean(opt::logwarning);
  c.log.error = s.boolean(opt::logerror);
  c.log.trace = s.boolean(opt::logtrace);
  c.state_dir = state_dir;
  c.trust_dir = s.path(opt::trustdir);
  return c;
}

int start(const config::Invocation& invocation, const std::vector<std::string>& arguments,
          const std::filesystem::path& state_dir) {
  const config::Settings& settings = invocation.settings;
  if (!settings.boolean(opt::foreground)) {
    service::LaunchOptions launch;
    launch.program = "pedserver";
    launch.display_name = "Ped Server";
    launch.version = std::string(kSoftwareVersion);
    launch.arguments = arguments;
    launch.startup_timeout = std::chrono::seconds(settings.integer(opt::bgprocessstartuptimeout));
    launch.startup_timeout_option = "-bgprocessstartuptimeout";
    launch.log_file = settings.path(opt::logfile);
    launch.degraded_note =
        "The server keeps looking for the PED and serves it as soon as it is connected.";
    return service::launch_background(launch);
  }
  // systemd's environment (NOTIFY_SOCKET, WATCHDOG_USEC, LISTEN_FDS), read once, first.
  service::ServiceManager manager = service::ServiceManager::from_environment();
  service::ReadinessReporter readiness = service::ReadinessReporter::from_environment();
  DaemonConfig config = daemon_config(invocation, state_dir);
  config.log.to_stderr = !readiness.attached();
  if (readiness.attached() && ::chdir("/") != 0) {
    // Not fatal: every path was made absolute already.
  }
  return run_daemon(config, std::move(readiness), manager);
}

int stop(const config::Invocation& invocation) {
  const config::Settings& settings = invocation.settings;
  auto stopped = service::stop_daemon(service::StopRequest{
      "pedserver", "Ped Server", std::string(kSoftwareVersion), settings.port(opt::admin),
      std::chrono::seconds(settings.integer(opt::bgprocessshutdowntimeout)), "-bgprocessshutdowntimeout"});
  return stopped.ok() ? service::kExitOk : fail(stopped.error().message);
}

int show(const config::Invocation& invocation) {
  const config::Settings& settings = invocation.settings;
  auto session =
      service::open_admin_session("pedserver", settings.port(opt::admin), "query it (-mode show)");
  if (!session.ok()) {
    return fail(session.error().message);
  }
  auto answer = service::admin_command_call(session.value(), rped::pedserver::admin_command::show,
                                            nullptr, service::kAdminIoTimeout);
  if (!answer.ok()) {
    return fail(answer.error().message);
  }
  const nlohmann::json& document = answer.value();
  if (!document.contains("status") || !document["status"].is_object()) {
    return fail("the server's answer has no status");
  }
  const nlohmann::json& status = document["status"];
  if (settings.text(opt::format) == "json") {
    std::printf("%s\n", status.dump(2).c_str());
  } else {
    std::fputs(render_status_text(status).c_str(), stdout);
  }
  return kExitOk;
}

int peer_command(const config::Invocation& invocation, std::string_view command) {
  const config::Settings& settings = invocation.settings;
  const std::string name = settings.text(opt::name);
  auto session = service::open_admin_session("pedserver", settings.port(opt::admin),
                                             std::string(command) + " appliances");
  if (!session.ok()) {
    return fail(session.error().message);
  }
  if (command == rped::pedserver::admin_command::connect) {
    std::printf("Connecting to appliance '%s' (up to %u attempts)...\n", name.c_str(),
                kMaxDialAttempts);
    std::fflush(stdout);
  }
  auto answer = service::admin_command_call(
      session.value(), command, nlohmann::json{{"name", name}},
      command == rped::pedserver::admin_command::connect
          ? std::chrono::duration_cast<std::chrono::milliseconds>(kConnectAnswerTimeout)
          : service::kAdminIoTimeout);
  if (!answer.ok()) {
    return fail(answer.error().message);
  }
  std::printf("%s\n", answer->value("message", std::string("done")).c_str());
  return kExitOk;
}

int selftest() {
  int failures = 0;
  for (const SelfTestOutcome& outcome : run_self_tests()) {
    std::printf("%-52s %s\n", outcome.name.c_str(), outcome.passed ? "PASS" : "FAIL");
    if (!outcome.passed) {
      ++failures;
      std::printf("    %s\n", outcome.detail.c_str());
    }
  }
  std::printf("self-test: %s (%d failed)\n", failures == 0 ? "PASSED" : "FAILED", failures);
  return failures == 0 ? kExitOk : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> arguments(argv + 1, argv + argc);  // relaunched by -mode start
  auto prepared = config::prepare_invocation(config::pedserver::kOptions, argc, argv);
  if (!prepared.ok()) {
    return fail(prepared.error().message);
  }
  const config::Invocation& invocation = prepared.value();
  const std::string& command = invocation.command_line.command;
  if (invocation.command_line.help_requested) {
    std::fputs(config::render_help(config::pedserver::kOptions, command, invocation.paths).c_str(),
               stdout);
    return kExitOk;
  }
  // $STATE_DIRECTORY (systemd) is already in the defaults (config/paths.h).
  const std::filesystem::path& state_dir = invocation.paths.state_dir;
  if (command == cmd::start) {
    return start(invocation, arguments, state_dir);
  }
  if (command == cmd::stop) {
    return stop(invocation);
  }
  if (command == cmd::show) {
    return show(invocation);
  }
  if (command == cmd::config) {
    auto output = config::run_config_command(config::pedserver::kOptions, invocation);
    if (!output.ok()) {
      return fail(output.error().message);
    }
    std::fputs(output->c_str(), stdout);
    return kExitOk;
  }
  if (command == cmd::connect || command == cmd::disconnect) {
    return peer_command(invocation, command);
  }
  if (command == cmd::register_appliance) {
    return run_register_appliance(invocation, state_dir);
  }
  if (command == cmd::list_appliances) {
    return run_list_appliances(invocation, state_dir);
  }
  if (command == cmd::delete_appliance) {
    return run_delete_appliance(invocation, state_dir);
  }
  if (command == cmd::regen) {
    return run_regen(invocation, state_dir);
  }
  if (command == cmd::selftest) {
    return selftest();
  }
  return fail("unknown command '" + command + "'; see 'pedserver -help'");
}
