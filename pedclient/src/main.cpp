// pedclient: the Remote PED client beside the HSM, with Luna 7's command line.
//
//   pedclient -mode start [-foreground] [settings]        start (in the background unless
//   -foreground) pedclient -mode stop | show [-format json]             talk to the running client
//   (admin interface) pedclient -mode config -show | -set <settings>         the config file
//   pedclient -mode setid -id N -id_ip ADDR [-id_port P]   map PED id N to a PED server
//   pedclient -mode deleteid -id N                         remove that mapping
//   pedclient -mode assignid -id N -id_serialnumber S      assign it to HSM S and connect
//   pedclient -mode releaseid -id N | -id_serialnumber S   release it (and close the connection)
//   pedclient -mode testid -id N                           try the PED server of PED id N
//   pedclient [-mode <command>] -help                      help
//
// docs/pedclient.md is the operator's documentation.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "daemon.h"
#include "ped_ids.h"
#include "pedservers.h"
#include "rped/config/config_command.h"
#include "rped/config/help.h"
#include "rped/config/pedclient_options.h"
#include "rped/config/settings.h"

namespace {

using namespace rped;
using namespace rped::pedclient;
namespace opt = config::pedclient::opt;
namespace cmd = config::pedclient::cmd;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProgram = "pedclient";

int fail(const std::string& message) {
  if (message.starts_with("pedclient: ")) {
    std::fprintf(stderr, "%s\n", message.c_str());
  } else {
    std::fprintf(stderr, "pedclient: %s\n", message.c_str());
  }
  return service::kExitFailure;
}

std::chrono::milliseconds seconds_setting(const config::Settings& settings, std::string_view name) {
  return std::chrono::seconds(settings.integer(name));
}

DaemonConfig daemon_config(const config::Invocation& invocation,
                           const std::filesystem::path& state_dir) {
  const config::Settings& s = invocation.settings;
  DaemonConfig c;
  if (s.has(opt::hsm)) {
    c.hsm_socket = s.path(opt::hsm);
    if (c.hsm_socket.is_relative()) {
      c.hsm_socket = (std::filesystem::current_path() / c.hsm_socket).lexically_normal();
    }
  }
  c.admin_port = s.port(opt::admin);
  c.external_admin = s.boolean(opt::eadmin);
  c.peer_port = s.port(opt::peerport);
  c.external_peer = s.boolean(opt::epeer);
  c.link.socket_read = seconds_setting(s, opt::socketreadtimeout);
  c.link.socket_write = seconds_setting(s, opt::socketwritetimeout);
  c.link.idle = seconds_setting(s, opt::idletimeout);
  c.link.idle_enabled = !s.boolean(opt::ignoreidletimeout);
  c.ped_timeout = seconds_setting(s, opt::pedtimeout);
  c.shutdown = std::chrono::seconds(s.integer(opt::shutdowntimeout));
  c.log.name = "pedclient";
  c.log.file = s.path(opt::logfile);
  c.log.create_parent = s.source(opt::logfile) == config::ValueSource::built_in_default;
  c.log.max_file_bytes = static_cast<std::size_t>(s.integer(opt::maxlogfilesize)) * 1024;
  c.log.info = s.boolean(opt::loginfo);
  c.log.warning = s.boolean(opt::logwarning);
  c.log.error = s.boolean(opt::logerror);
  c.log.trace = s.boolean(opt::logtrace);
  c.audit.directory = s.path(opt::auditdir);
  c.audit.rotate_bytes = static_cast<std::uint64_t>(s.integer(opt::auditrotatesize)) << 20;
  c.audit.rotate_interval = std::chrono::seconds(s.integer(opt::auditrotateinterval));
  c.audit.warn_free_bytes = static_cast<std::uint64_t>(s.integer(opt::auditwarnfree)) << 20;
  c.audit.critical_free_bytes = static_cast<std::uint64_t>(s.integer(opt::auditcriticalfree)) << 20;
  c.state_dir = state_dir;
  return c;
}

int start(const config::Invocation& invocation, const std::vector<std::string>& arguments,
          const std::filesystem::path& state_dir) {
  const config::Settings& settings = invocation.settings;
  if (settings.boolean(opt::winservice)) {
    return fail(
        "-winservice: Windows only (runs pedclient under the Service Control Manager); on "
        "Linux run it with -foreground under systemd (docs/deployment.md)");
  }
  if (!settings.has(opt::hsm)) {
    return fail(
        "-mode start needs -hsm SOCKET: the HSM this client serves (the HSM emulator's "
        "backend socket, STATE_DIR/backend.sock of hsmsim)");
  }
  if (!settings.boolean(opt::foreground)) {
    service::LaunchOptions launch;
    launch.program = std::string(kProgram);
    launch.display_name = "Ped Client";
    launch.version = std::string(kSoftwareVersion);
    launch.arguments = arguments;
    launch.startup_timeout = std::chrono::seconds(settings.integer(opt::pstartuptimeout));
    launch.startup_timeout_option = "-pstartuptimeout";
    launch.log_file = settings.path(opt::logfile);
    launch.degraded_note =
        "The client keeps looking for the HSM and serves it as soon as it is there.";
    return service::launch_background(launch);
  }
  service::ReadinessReporter readiness = service::ReadinessReporter::from_environment();
  DaemonConfig config = daemon_config(invocation, state_dir);
  config.log.to_stderr = !readiness.attached();
  if (readiness.attached() && ::chdir("/") != 0) {
    // Not fatal: every path was made absolute already.
  }
  service::ServiceManager manager = service::ServiceManager::from_environment();
  return run_daemon(config, std::move(readiness), manager);
}

int stop(const config::Invocation& invocation) {
  const config::Settings& settings = invocation.settings;
  auto stopped = service::stop_daemon(service::StopRequest{
      "pedclient", "Ped Client", std::string(kSoftwareVersion), settings.port(opt::admin),
      std::chrono::seconds(settings.integer(opt::pshutdowntimeout)), "-pshutdowntimeout"});
  return stopped.ok() ? service::kExitOk : fail(stopped.error().message);
}

std::string text_of(const nlohmann::json& value) {
  if (value.is_null()) {
    return "-";
  }
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "yes" : "no";
  }
  return value.dump();
}

std::string render_status_text(const nlohmann::json& status) {
  std::string out;
  const auto line = [&out](std::string_view name, const std::string& value) {
    out += std::string(name) + std::string(name.size() < 34 ? 34 - name.size() : 1, ' ') + ": " +
           value + "\n";
  };
  const nlohmann::json& client = status["client"];
  const nlohmann::json& hsm = status["hsm"];
  const nlohmann::json& link = status["link"];
  out += "Ped Client Version " + text_of(client["software_version"]) + "\n";
  out += "Ped Client launched in status mode.\n\n";
  line("Hostname", text_of(client["hostname"]));
  line("Ped Client Process ID", text_of(client["pid"]));
  line("Admin Port", text_of(client["admin_port"]));
  line("External Admin Interface", text_of(client["external_admin_interface"]));
  line("Client Up Time (Secs)", text_of(client["up_time_s"]));
  line("Idle Timeout Value (Secs)", client["idle_timeout_s"].is_null()
                                        ? std::string("ignored (-ignoreidletimeout)")
                                        : text_of(client["idle_timeout_s"]));
  line("HSM Backend", text_of(hsm["socket"]));
  line("HSM Status",
       hsm["attached"].get<bool>() ? "Attached" : "Not attached: " + text_of(hsm["last_error"]));
  if (hsm["attached"].get<bool>()) {
    line("HSM Serial Number", text_of(hsm["serial"]));
    line("HSM Label", hsm["label"].get<std::string>().empty() ? "-" : text_of(hsm["label"]));
    line("HSM Firmware Version", text_of(hsm["firmware_version"]));
  }
  line("Remote PED Connection Status", link.is_null() ? "Disconnected" : text_of(link["state"]));
  if (!link.is_null()) {
    line("PED Server", text_of(link["pedserver"]));
    line("Scheme", text_of(link["scheme"]));
    line("Opened By", text_of(link["origin"]));
    if (link.contains("rpk_serial")) {
      line("RPK Serial", text_of(link["rpk_serial"]));
    }
    if (link.contains("connection_time_s")) {
      line("Current Connection Time (Secs)", text_of(link["connection_time_s"]));
    }
    if (link.contains("idle_time_s")) {
      line("Current Connection Idle Time (Secs)", text_of(link["idle_time_s"]));
    }
    line("PED Operations", text_of(link["operations"]));
  }
  line("Total Connection Time (Secs)", text_of(status["connections"]["total_connection_time_s"]));
  if (!status["last_end"].is_null()) {
    line("Last Disconnect", text_of(status["last_end"]["reason"]) + " (" +
                                text_of(status["last_end"]["seconds_ago"]) + " s ago)");
  }
  out += "\nPED IDs:\n";
  if (status["ped_ids"].empty()) {
    out += "  (none; pedclient -mode setid -id N -id_ip ADDRESS)\n";
  }
  for (const nlohmann::json& entry : status["ped_ids"]) {
    out += "  " + text_of(entry["id"]) + "  " + text_of(entry["host"]) + ":" +
           text_of(entry["port"]) + "  assigned to HSM " + text_of(entry["assigned_serial"]) +
           (entry["connected"].get<bool>() ? "  (connected)" : "") + "\n";
  }
  return out;
}

int show(const config::Invocation& invocation) {
  const config::Settings& settings = invocation.settings;
  auto session =
      service::open_admin_session(kProgram, settings.port(opt::admin), "query it (-mode show)");
  if (!session.ok()) {
    return fail(session.error().message);
  }
  auto answer = service::admin_command_call(session.value(), admin_command::show, nullptr,
                                            service::kAdminIoTimeout);
  if (!answer.ok()) {
    return fail(answer.error().message);
  }
  const nlohmann::json& document = answer.value();
  if (!document.contains("status") || !document["status"].is_object()) {
    return fail("the client's answer has no status");
  }
  if (settings.text(opt::format) == "json") {
    std::printf("%s\n", document["status"].dump(2).c_str());
  } else {
    std::fputs(render_status_text(document["status"]).c_str(), stdout);
  }
  return service::kExitOk;
}

std::uint32_t id_setting(const config::Settings& settings) {
  return static_cast<std::uint32_t>(settings.integer(opt::id));
}

// setid and deleteid change the table on disk; a running client reads it when
// it needs it.
int edit_ids(const config::Invocation& invocation, const std::filesystem::path& state_dir,
             std::string_view command) {
  const config::Settings& settings = invocation.settings;
  if (auto made = config::ensure_private_directory(state_dir); !made.ok()) {
    return fail(made.error().message);
  }
  const std::filesystem::path file = state_dir / kPedIdsFileName;
  auto table = PedIdTable::load(file);
  if (!table.ok()) {
    return fail(table.error().message);
  }
  const std::uint32_t id = id_setting(settings);
  if (command == cmd::setid) {
    const std::uint16_t port = settings.port(opt::id_port);
    if (auto set = table->set(id, settings.text(opt::id_ip), port); !set.ok()) {
      return fail(set.error().message);
    }
    if (auto saved = table->save(file); !saved.ok()) {
      return fail(saved.error().message);
    }
    std::printf("PED id %u is served by the PED server at %s:%u.\n", id,
                settings.text(opt::id_ip).c_str(), port);
    return service::kExitOk;
  }
  if (auto erased = table->erase(id); !erased.ok()) {
    return fail(erased.error().message);
  }
  if (auto saved = table->save(file); !saved.ok()) {
    return fail(saved.error().message);
  }
  std::printf("PED id %u deleted.\n", id);
  return service::kExitOk;
}

int admin_id_command(const config::Invocation& invocation, std::string_view command) {
  const config::Settings& settings = invocation.settings;
  nlohmann::json body = nlohmann::json::object();
  if (settings.has(opt::id)) {
    body["id"] = id_setting(settings);
  }
  if (settings.has(opt::id_serialnumber)) {
    auto serial = parse_hsm_serial(settings.text(opt::id_serialnumber));
    if (!serial.ok()) {
      return fail(serial.error().message);
    }
    body["serial"] = serial.value();
  }
  auto session =
      service::open_admin_session(kProgram, settings.port(opt::admin), "change PED id assignments");
  if (!session.ok()) {
    return fail(session.error().message);
  }
  if (command == admin_command::assignid) {
    std::printf("Connecting PED id %u; the custodian presents the orange key at the PED...\n",
                id_setting(settings));
    std::fflush(stdout);
  }
  const auto timeout =
      command == admin_command::releaseid
          ? service::kAdminIoTimeout
          : std::chrono::duration_cast<std::chrono::milliseconds>(
                seconds_setting(settings, opt::pedtimeout) + std::chrono::seconds(30));
  auto answer = service::admin_command_call(session.value(), command, body, timeout);
  if (!answer.ok()) {
    return fail(answer.error().message);
  }
  if (command == admin_command::testid) {
    const nlohmann::json& result = answer.value();
    if (settings.text(opt::format) == "json") {
      std::printf("%s\n", result.dump(2).c_str());
    } else {
      std::printf("PED id %s (%s): PASSED\n  %s\n  TCP round trip: %.3f ms\n",
                  text_of(result["id"]).c_str(), text_of(result["pedserver"]).c_str(),
                  text_of(result["message"]).c_str(),
                  static_cast<double>(result.value("round_trip_us", std::int64_t{0})) / 1000.0);
    }
    return service::kExitOk;
  }
  std::printf("%s\n", answer->value("message", std::string("done")).c_str());
  return service::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> arguments(argv + 1, argv + argc);  // relaunched by -mode start
  auto prepared = config::prepare_invocation(config::pedclient::kOptions, argc, argv);
  if (!prepared.ok()) {
    return fail(prepared.error().message);
  }
  const config::Invocation& invocation = prepared.value();
  const std::string& command = invocation.command_line.command;
  if (invocation.command_line.help_requested) {
    std::fputs(config::render_help(config::pedclient::kOptions, command, invocation.paths).c_str(),
               stdout);
    return service::kExitOk;
  }
  // Default paths already follow systemd's STATE_DIRECTORY (config/paths.h).
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
    auto output = config::run_config_command(config::pedclient::kOptions, invocation);
    if (!output.ok()) {
      return fail(output.error().message);
    }
    std::fputs(output->c_str(), stdout);
    return service::kExitOk;
  }
  if (command == cmd::setid || command == cmd::deleteid) {
    return edit_ids(invocation, state_dir, command);
  }
  if (command == cmd::assignid || command == cmd::releaseid || command == cmd::testid) {
    return admin_id_command(invocation, command);
  }
  if (command == cmd::regen) {
    return run_regen(invocation, state_dir);
  }
  if (command == cmd::register_pedserver) {
    return run_register_pedserver(invocation, state_dir);
  }
  if (command == cmd::list_pedservers) {
    return run_list_pedservers(invocation, state_dir);
  }
  if (command == cmd::delete_pedserver) {
    return run_delete_pedserver(invocation, state_dir);
  }
  return fail(
      "no command given: use -mode start|stop|show|config|setid|assignid|releaseid|"
      "deleteid|testid|regen, or -pedserver register|list|delete (pedclient -help)");
}
