// The option table of pedserver, the custodian-side daemon that serves a local
// PED to remote HSMs. Luna 7 command-line syntax; see option_table.h for the
// meaning of each field and docs for the Luna reference.
//
// Reading of -eserverport (the Luna documentation leaves it implicit): 1 = the
// server port listens on external interfaces (all, or -ip), so HSM appliances
// can connect over the network; 0 = loopback only, for connections that arrive
// through an SSH tunnel. -eadmin is the same switch for the administration port
// and defaults to 0, so only local users can stop or query the server.
//
// Timeout defaults (our choice; Luna does not document all of them) are stated
// in the help text and chosen so that shutdown nests: internal shutdown (10 s)
// < background-process shutdown (25 s).
//
// Thread-safety: constant data.
#pragma once

#include <array>
#include <string_view>

#include "rped/config/daemon_options.h"
#include "rped/config/option_table.h"

namespace rped::config::pedserver {

inline constexpr std::string_view kDaemonName = "pedserver";

// Option names: use these rather than string literals, so a typo does not compile.
namespace opt {
inline constexpr std::string_view mode = "mode";
inline constexpr std::string_view appliance = "appliance";
inline constexpr std::string_view regen = "regen";
inline constexpr std::string_view selftest = "selftest";
inline constexpr std::string_view help = kHelpOption;
inline constexpr std::string_view force = "force";
inline constexpr std::string_view foreground = daemon_options::kForeground.name;
inline constexpr std::string_view configfile = kConfigFileOption;
inline constexpr std::string_view set = kSetOption;
inline constexpr std::string_view show = kShowOption;
inline constexpr std::string_view name = "name";
inline constexpr std::string_view certificate = "certificate";
inline constexpr std::string_view commonname = "commonname";
inline constexpr std::string_view format = "format";
inline constexpr std::string_view ip = "ip";
inline constexpr std::string_view port = "port";
inline constexpr std::string_view admin = "admin";
inline constexpr std::string_view eserverport = "eserverport";
inline constexpr std::string_view eadmin = daemon_options::kEadmin.name;
inline constexpr std::string_view idletimeout = "idletimeout";
inline constexpr std::string_view socketreadtimeout = daemon_options::kSocketReadTimeout.name;
inline constexpr std::string_view socketwritetimeout = daemon_options::kSocketWriteTimeout.name;
inline constexpr std::string_view internalshutdowntimeout = "internalshutdowntimeout";
inline constexpr std::string_view bgprocessstartuptimeout = "bgprocessstartuptimeout";
inline constexpr std::string_view bgprocessshutdowntimeout = "bgprocessshutdowntimeout";
inline constexpr std::string_view logfile = "logfile";
inline constexpr std::string_view loginfo = daemon_options::kLogInfo.name;
inline constexpr std::string_view logwarning = daemon_options::kLogWarning.name;
inline constexpr std::string_view logerror = daemon_options::kLogError.name;
inline constexpr std::string_view logtrace = daemon_options::kLogTrace.name;
inline constexpr std::string_view maxlogfilesize = daemon_options::kMaxLogFileSize.name;
inline constexpr std::string_view pedwritedelay = "pedwritedelay";
inline constexpr std::string_view pinginterval = "pinginterval";
inline constexpr std::string_view pingtimeout = "pingtimeout";
inline constexpr std::string_view ped = "ped";
inline constexpr std::string_view trustdir = "trustdir";
}  // namespace opt

// Command ids (the selector's word, or the flag's name).
namespace cmd {
inline constexpr std::string_view start = "start";
inline constexpr std::string_view stop = "stop";
inline constexpr std::string_view show = "show";
inline constexpr std::string_view config = kConfigCommand;
inline constexpr std::string_view connect = "connect";
inline constexpr std::string_view disconnect = "disconnect";
inline constexpr std::string_view register_appliance = "register";
inline constexpr std::string_view list_appliances = "list";
inline constexpr std::string_view delete_appliance = "delete";
inline constexpr std::string_view regen = "regen";
inline constexpr std::string_view selftest = "selftest";
}  // namespace cmd

namespace table_data {
inline constexpr std::array<std::string_view, 6> kModeWords{
    cmd::start, cmd::stop, cmd::show, cmd::config, cmd::connect, cmd::disconnect};
inline constexpr std::array<std::string_view, 3> kApplianceWords{
    cmd::register_appliance, cmd::list_appliances, cmd::delete_appliance};
inline constexpr std::array<std::string_view, 2> kFormatWords{"text", "json"};
inline constexpr std::array<std::string_view, 1> kModeAliases{"m"};
using daemon_options::kConfigOnly;
using daemon_options::kLogfileAliases;
using daemon_options::kStartOnly;
inline constexpr std::array<std::string_view, 1> kRegisterOnly{cmd::register_appliance};
inline constexpr std::array<std::string_view, 1> kRegenOnly{cmd::regen};
inline constexpr std::array<std::string_view, 4> kNamedAppliance{
    cmd::connect, cmd::disconnect, cmd::register_appliance, cmd::delete_appliance};
inline constexpr std::array<std::string_view, 2> kSetOrShow{opt::set, opt::show};

inline constexpr std::array kOptionSpecs{
    // --- command selectors ---
    OptionSpec{.name = opt::mode,
               .aliases = kModeAliases,
               .kind = OptionKind::enumeration,
               .allowed = kModeWords,
               .help = "The command to run (see Commands). A leading bare word works too: "
                       "pedserver mode start."},
    OptionSpec{.name = opt::appliance,
               .kind = OptionKind::enumeration,
               .allowed = kApplianceWords,
               .help = "Manage the HSM appliances registered for PED-initiated connections."},
    OptionSpec{
        .name = opt::regen,
        .kind = OptionKind::flag,
        .help = "Regenerate the PED server's certificate, with the common name -commonname."},
    OptionSpec{.name = opt::selftest,
               .kind = OptionKind::flag,
               .help = "Run the cryptographic self-tests and exit."},
    // --- per invocation ---
    OptionSpec{.name = opt::help,
               .kind = OptionKind::flag,
               .help = "Print help (for the command, if one is given) and exit."},
    OptionSpec{
        .name = opt::force, .kind = OptionKind::flag, .help = "Do not ask for confirmation."},
    daemon_options::kForeground,
    daemon_options::kConfigFile,
    daemon_options::kSet,
    daemon_options::kShow,
    OptionSpec{.name = opt::name,
               .kind = OptionKind::string,
               .value_name = "appliance",
               .help = "Name of the registered HSM appliance.",
               .commands = kNamedAppliance,
               .required_in = kNamedAppliance},
    OptionSpec{.name = opt::certificate,
               .kind = OptionKind::path,
               .help = "The appliance's certificate (PEM file).",
               .commands = kRegisterOnly,
               .required_in = kRegisterOnly},
    OptionSpec{.name = opt::commonname,
               .kind = OptionKind::string,
               .value_name = "CN",
               .help = "Common name of the regenerated certificate.",
               .commands = kRegenOnly,
               .required_in = kRegenOnly},
    OptionSpec{.name = opt::format,
               .kind = OptionKind::enumeration,
               .allowed = kFormatWords,
               .default_value = "text",
               .help = "Output format of the show and list commands."},
    // --- settings: command line or config file ---
    OptionSpec{.name = opt::ip,
               .kind = OptionKind::host,
               .help = "Address to listen on for HSM connections (IPv4 or IPv6 literal, or host "
                       "name). Default: all "
                       "interfaces with -eserverport 1, the loopback interface with -eserverport "
                       "0. With -appliance "
                       "register: the appliance's address.",
               .storage = Storage::config_file,
               .required_in = kRegisterOnly},
    OptionSpec{.name = opt::port,
               .kind = OptionKind::port,
               .default_value = "1503",
               .help = "TCP port to listen on for HSM connections. With -appliance register: the "
                       "appliance's port.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::admin,
               .kind = OptionKind::port,
               .default_value = "1502",
               .help = "TCP port of the administration interface, through which stop, show and the "
                       "other commands "
                       "reach the running server.",
               .storage = Storage::config_file},
    OptionSpec{
        .name = opt::eserverport,
        .kind = OptionKind::boolean,
        .default_value = "1",
        .help = "1: the server port listens on external interfaces (all, or -ip) so HSMs can "
                "connect over the "
                "network; 0: on the loopback interface only (connections through an SSH tunnel).",
        .storage = Storage::config_file},
    daemon_options::kEadmin,
    OptionSpec{.name = opt::idletimeout,
               .kind = OptionKind::integer,
               .min = 1,
               .max = 86400,
               .unit = "seconds",
               .default_value = "1800",
               .help = "Close an established HSM connection (timeout alert) when no PED command "
                       "has come from the HSM and no answer has gone back for this long. "
                       "Keep-alive pings do not count; the clock stops while the PED works on a "
                       "command (a custodian may take minutes) and restarts when it answers. "
                       "The handshake has its own deadline: -socketreadtimeout per phase on an "
                       "inbound connection, this value in PED-initiated mode.",
               .storage = Storage::config_file},
    daemon_options::kSocketReadTimeout,
    daemon_options::kSocketWriteTimeout,
    OptionSpec{
        .name = opt::internalshutdowntimeout,
        .kind = OptionKind::integer,
        .min = 1,
        .max = 600,
        .unit = "seconds",
        .default_value = "10",
        .help = "At shutdown, time allowed for open connections to close before they are cut.",
        .storage = Storage::config_file},
    OptionSpec{
        .name = opt::bgprocessstartuptimeout,
        .kind = OptionKind::integer,
        .min = 1,
        .max = 600,
        .unit = "seconds",
        .default_value = "10",
        .help =
            "-mode start: time to wait for the background server to report that it is listening.",
        .storage = Storage::config_file},
    OptionSpec{.name = opt::bgprocessshutdowntimeout,
               .kind = OptionKind::integer,
               .min = 1,
               .max = 600,
               .unit = "seconds",
               .default_value = "25",
               .help = "-mode stop: time to wait for the background server to exit.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::logfile,
               .aliases = kLogfileAliases,
               .kind = OptionKind::path,
               .default_value = "{log_dir}/pedserver.log",
               .help = "Log file; its directory must be writable by the user running the server.",
               .storage = Storage::config_file},
    daemon_options::kLogInfo,
    daemon_options::kLogWarning,
    daemon_options::kLogError,
    daemon_options::kLogTrace,
    daemon_options::kMaxLogFileSize,
    OptionSpec{.name = opt::pedwritedelay,
               .kind = OptionKind::integer,
               .min = 0,
               .max = 10000,
               .unit = "microseconds",
               .default_value = "0",
               .help = "USB PEDs only (for PEDs behind slow USB hubs): 0 sends each frame to the "
                       "PED as one bulk transfer; N > 0 sends it in max-packet-size chunks (64 "
                       "bytes on a full-speed PED) and waits N microseconds after each chunk "
                       "before the next. Reads from the PED are not delayed; sim: ignores it.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::pinginterval,
               .kind = OptionKind::integer,
               .min = 1,
               .max = 3600,
               .unit = "seconds",
               .default_value = "30",
               .help = "Send a keep-alive ping to a connected HSM this often.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::pingtimeout,
               .kind = OptionKind::integer,
               .min = 1,
               .max = 600,
               .unit = "seconds",
               .default_value = "10",
               .help = "Drop a connection whose ping is not answered within this time.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::ped,
               .kind = OptionKind::ped_device,
               .default_value = "usb",
               .help = "The PED to serve: usb (the first Luna PED on USB), usb:VID:PID or "
                       "usb:VID:PID:SERIAL (VID "
                       "and PID: 4 hex digits), or sim:SOCKET (the PED simulator's Unix socket).",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::trustdir,
               .kind = OptionKind::path,
               .default_value = "{state_dir}/trust",
               .value_name = "directory",
               .help = "Directory of the manufacturer roots trusted for HSM certificate chains: "
                       "every CERTIFICATE block of every *.pem file in it (at most 64 files). "
                       "Read at start (the server does not start without a root) and again for "
                       "each HSM connection, so a new root needs no restart.",
               .storage = Storage::config_file},
};

inline constexpr std::array kCommands{
    CommandSpec{.id = cmd::start,
                .selector = opt::mode,
                .summary = "Start the PED server: listen for HSM connections and serve the PED."},
    CommandSpec{.id = cmd::stop, .selector = opt::mode, .summary = "Stop the running PED server."},
    CommandSpec{.id = cmd::show,
                .selector = opt::mode,
                .summary = "Show the running server's status and connections."},
    CommandSpec{
        .id = cmd::config,
        .selector = opt::mode,
        .summary =
            "Print (-show) or change (-set) the settings stored in {config_file} (or -configfile).",
        .one_of = kSetOrShow},
    CommandSpec{
        .id = cmd::connect,
        .selector = opt::mode,
        .summary =
            "Connect to the registered appliance -name and offer it the PED (PED-initiated mode)."},
    CommandSpec{.id = cmd::disconnect,
                .selector = opt::mode,
                .summary = "Close the connection to the registered appliance -name."},
    CommandSpec{
        .id = cmd::register_appliance,
        .selector = opt::appliance,
        .summary =
            "Register an HSM appliance for PED-initiated connections: its name, certificate and "
            "address (and -port, its port)."},
    CommandSpec{.id = cmd::list_appliances,
                .selector = opt::appliance,
                .summary = "List the registered appliances."},
    CommandSpec{.id = cmd::delete_appliance,
                .selector = opt::appliance,
                .summary = "Delete the registered appliance -name."},
    CommandSpec{
        .id = cmd::regen,
        .selector = opt::regen,
        .summary =
            "Regenerate the PED server's certificate with the common name -commonname. HSMs that "
            "trusted the old certificate must be given the new one."},
    CommandSpec{.id = cmd::selftest,
                .selector = opt::selftest,
                .summary = "Run the cryptographic self-tests and exit."},
};
}  // namespace table_data

inline constexpr DaemonOptions kOptions{
    .daemon = kDaemonName,
    .description =
        "the Remote PED server. It runs on the custodian's workstation, drives the local PED and "
        "serves it to HSMs over an authenticated, encrypted channel.",
    .options = table_data::kOptionSpecs,
    .commands = table_data::kCommands,
};

static_assert(first_table_defect(kOptions).empty(), "pedserver option table is malformed");

}  // namespace rped::config::pedserver
