// The option table of pedclient, the HSM-side daemon that connects the HSM to
// a PED server and maps PED ids to servers. Luna 7 command-line syntax; see
// option_table.h for the fields.
//
// -admin defaults to 1504 (pedserver's is 1502) so both daemons can run on one
// host. -winservice is accepted for runbook compatibility; the daemon refuses it
// on Linux ("Windows only"). Timeout defaults are ours, stated in the help text,
// and nest like pedserver's: shutdown (10 s) < process shutdown (25 s).
//
// Thread-safety: constant data.
#pragma once

#include <array>
#include <string_view>

#include "rped/config/daemon_options.h"
#include "rped/config/option_table.h"

namespace rped::config::pedclient {

inline constexpr std::string_view kDaemonName = "pedclient";

namespace opt {
inline constexpr std::string_view mode = "mode";
inline constexpr std::string_view help = kHelpOption;
inline constexpr std::string_view foreground = daemon_options::kForeground.name;
inline constexpr std::string_view configfile = kConfigFileOption;
inline constexpr std::string_view set = kSetOption;
inline constexpr std::string_view show = kShowOption;
inline constexpr std::string_view format = "format";
inline constexpr std::string_view ignoreidletimeout = "ignoreidletimeout";
inline constexpr std::string_view locallogger = "locallogger";
inline constexpr std::string_view winservice = "winservice";
inline constexpr std::string_view id = "id";
inline constexpr std::string_view id_ip = "id_ip";
inline constexpr std::string_view id_port = "id_port";
inline constexpr std::string_view id_serialnumber = "id_serialnumber";
inline constexpr std::string_view idletimeout = "idletimeout";
inline constexpr std::string_view socketreadtimeout = daemon_options::kSocketReadTimeout.name;
inline constexpr std::string_view socketwritetimeout = daemon_options::kSocketWriteTimeout.name;
inline constexpr std::string_view shutdowntimeout = "shutdowntimeout";
inline constexpr std::string_view pstartuptimeout = "pstartuptimeout";
inline constexpr std::string_view pshutdowntimeout = "pshutdowntimeout";
inline constexpr std::string_view admin = "admin";
inline constexpr std::string_view eadmin = daemon_options::kEadmin.name;
inline constexpr std::string_view logfile = "logfile";
inline constexpr std::string_view loginfo = daemon_options::kLogInfo.name;
inline constexpr std::string_view logwarning = daemon_options::kLogWarning.name;
inline constexpr std::string_view logerror = daemon_options::kLogError.name;
inline constexpr std::string_view logtrace = daemon_options::kLogTrace.name;
inline constexpr std::string_view maxlogfilesize = daemon_options::kMaxLogFileSize.name;
inline constexpr std::string_view hsm = "hsm";
inline constexpr std::string_view pedtimeout = "pedtimeout";
inline constexpr std::string_view auditdir = "auditdir";
inline constexpr std::string_view auditrotatesize = "auditrotatesize";
inline constexpr std::string_view auditrotateinterval = "auditrotateinterval";
inline constexpr std::string_view auditwarnfree = "auditwarnfree";
inline constexpr std::string_view auditcriticalfree = "auditcriticalfree";
// PED-initiated mode (docs/pedclient.md §9).
inline constexpr std::string_view pedserver = "pedserver";
inline constexpr std::string_view name = "name";
inline constexpr std::string_view certificate = "certificate";
inline constexpr std::string_view commonname = "commonname";
inline constexpr std::string_view force = "force";
inline constexpr std::string_view peerport = "peerport";
inline constexpr std::string_view epeer = "epeer";
}  // namespace opt

namespace cmd {
inline constexpr std::string_view start = "start";
inline constexpr std::string_view stop = "stop";
inline constexpr std::string_view show = "show";
inline constexpr std::string_view config = kConfigCommand;
inline constexpr std::string_view setid = "setid";
inline constexpr std::string_view assignid = "assignid";
inline constexpr std::string_view releaseid = "releaseid";
inline constexpr std::string_view deleteid = "deleteid";
inline constexpr std::string_view testid = "testid";
inline constexpr std::string_view regen = "regen";
// -pedserver register|list|delete: the PED servers pinned for PED-initiated mode.
inline constexpr std::string_view register_pedserver = "register";
inline constexpr std::string_view list_pedservers = "list";
inline constexpr std::string_view delete_pedserver = "delete";
}  // namespace cmd

namespace table_data {
inline constexpr std::array<std::string_view, 10> kModeWords{
    cmd::start,    cmd::stop,      cmd::show,     cmd::config, cmd::setid,
    cmd::assignid, cmd::releaseid, cmd::deleteid, cmd::testid, cmd::regen};
inline constexpr std::array<std::string_view, 3> kPedserverWords{
    cmd::register_pedserver, cmd::list_pedservers, cmd::delete_pedserver};
inline constexpr std::array<std::string_view, 2> kNamedPedserver{cmd::register_pedserver,
                                                                 cmd::delete_pedserver};
inline constexpr std::array<std::string_view, 1> kRegisterOnly{cmd::register_pedserver};
inline constexpr std::array<std::string_view, 1> kRegenOnly{cmd::regen};
inline constexpr std::array<std::string_view, 3> kForceCommands{
    cmd::regen, cmd::register_pedserver, cmd::delete_pedserver};
inline constexpr std::array<std::string_view, 2> kFormatWords{"text", "json"};
inline constexpr std::array<std::string_view, 1> kModeAliases{"m"};
using daemon_options::kConfigOnly;
using daemon_options::kLogfileAliases;
using daemon_options::kStartOnly;
inline constexpr std::array<std::string_view, 1> kSetIdOnly{cmd::setid};
inline constexpr std::array<std::string_view, 5> kIdCommands{
    cmd::setid, cmd::assignid, cmd::releaseid, cmd::deleteid, cmd::testid};
inline constexpr std::array<std::string_view, 4> kIdRequired{cmd::setid, cmd::assignid,
                                                             cmd::deleteid, cmd::testid};
inline constexpr std::array<std::string_view, 2> kSerialCommands{cmd::assignid, cmd::releaseid};
inline constexpr std::array<std::string_view, 1> kSerialRequired{cmd::assignid};
inline constexpr std::array<std::string_view, 2> kSetOrShow{opt::set, opt::show};
inline constexpr std::array<std::string_view, 2> kIdOrSerial{opt::id, opt::id_serialnumber};

inline constexpr std::array kOptionSpecs{
    // --- command selector ---
    OptionSpec{.name = opt::mode,
               .aliases = kModeAliases,
               .kind = OptionKind::enumeration,
               .allowed = kModeWords,
               .help = "The command to run (see Commands). A leading bare word works too: "
                       "pedclient mode start."},
    OptionSpec{.name = opt::pedserver,
               .kind = OptionKind::enumeration,
               .allowed = kPedserverWords,
               .help = "Manage the PED servers pinned for PED-initiated connections (the PED "
                       "server dials this client)."},
    // --- per invocation ---
    OptionSpec{.name = opt::help,
               .kind = OptionKind::flag,
               .help = "Print help (for the command, if one is given) and exit."},
    daemon_options::kForeground,
    daemon_options::kConfigFile,
    daemon_options::kSet,
    daemon_options::kShow,
    OptionSpec{.name = opt::format,
               .kind = OptionKind::enumeration,
               .allowed = kFormatWords,
               .default_value = "text",
               .help = "Output format of the show, testid and -pedserver list commands."},
    OptionSpec{.name = opt::name,
               .kind = OptionKind::string,
               .value_name = "pedserver",
               .help = "Name of the pinned PED server.",
               .commands = kNamedPedserver,
               .required_in = kNamedPedserver},
    OptionSpec{.name = opt::certificate,
               .kind = OptionKind::path,
               .help = "The PED server's certificate (PEM file, P-521), made there with "
                       "'pedserver -regen'.",
               .commands = kRegisterOnly,
               .required_in = kRegisterOnly},
    OptionSpec{.name = opt::commonname,
               .kind = OptionKind::string,
               .value_name = "CN",
               .help = "Common name of this client's new certificate.",
               .commands = kRegenOnly,
               .required_in = kRegenOnly},
    OptionSpec{.name = opt::force,
               .kind = OptionKind::flag,
               .help = "Do not ask for confirmation.",
               .commands = kForceCommands},
    OptionSpec{
        .name = opt::ignoreidletimeout,
        .kind = OptionKind::flag,
        .help = "Keep PED connections open however long they are idle (overrides -idletimeout).",
        .commands = kStartOnly},
    OptionSpec{
        .name = opt::locallogger,
        .kind = OptionKind::flag,
        .help = "Write the log directly to -logfile instead of through the audit-log daemon.",
        .commands = kStartOnly},
    OptionSpec{
        .name = opt::winservice,
        .kind = OptionKind::flag,
        .help =
            "Windows only: run as a Windows service. Accepted for compatibility; refused on Linux.",
        .commands = kStartOnly},
    OptionSpec{.name = opt::id,
               .kind = OptionKind::integer,
               .min = 0,
               .max = 65534,
               .value_name = "id",
               .help = "The PED id.",
               .commands = kIdCommands,
               .required_in = kIdRequired},
    OptionSpec{.name = opt::id_ip,
               .kind = OptionKind::host,
               .help = "Address of the PED server that serves this PED id (IPv4 or IPv6 literal, "
                       "or host name).",
               .commands = kSetIdOnly,
               .required_in = kSetIdOnly},
    OptionSpec{.name = opt::id_port,
               .kind = OptionKind::port,
               .default_value = "1503",
               .help = "TCP port of that PED server.",
               .commands = kSetIdOnly},
    OptionSpec{.name = opt::id_serialnumber,
               .kind = OptionKind::string,
               .value_name = "serial",
               .help = "Serial number of the HSM.",
               .commands = kSerialCommands,
               .required_in = kSerialRequired},
    // --- settings: command line or config file ---
    OptionSpec{.name = opt::hsm,
               .kind = OptionKind::path,
               .value_name = "socket",
               .help = "The HSM this client serves: the backend socket of the HSM emulator "
                       "(hsmsim's STATE_DIR/backend.sock). Needed by start.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::pedtimeout,
               .kind = OptionKind::integer,
               .min = 1,
               .max = 3600,
               .unit = "seconds",
               .default_value = "200",
               .help = "assignid and testid: time allowed for the whole connection, the "
                       "custodian's orange key included (the HSM gives its own for ped connect).",
               .storage = Storage::config_file},
    // The HSM audit log (docs/audit-log.md §4).
    OptionSpec{.name = opt::auditdir,
               .kind = OptionKind::path,
               .default_value = "{log_dir}/hsm-audit",
               .help = "Directory of the HSM audit log: records are acknowledged to the HSM only "
                       "once they are durable here.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::auditrotatesize,
               .kind = OptionKind::integer,
               .min = 0,
               .max = 1048576,
               .unit = "MB",
               .default_value = "100",
               .help = "Start a new audit log file at this size (0: never by size), unless the "
                       "HSM's `audit config` sets one.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::auditrotateinterval,
               .kind = OptionKind::integer,
               .min = 0,
               .max = 31536000,
               .unit = "seconds",
               .default_value = "86400",
               .help = "Start a new audit log file after this long (0: never by age), unless the "
                       "HSM's `audit config` sets one.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::auditwarnfree,
               .kind = OptionKind::integer,
               .min = 0,
               .max = 1048576,
               .unit = "MB",
               .default_value = "1024",
               .help = "Warn when the audit directory's file system has less free space than "
                       "this (or 10 %).",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::auditcriticalfree,
               .kind = OptionKind::integer,
               .min = 0,
               .max = 1048576,
               .unit = "MB",
               .default_value = "256",
               .help = "Log at error level and report it to systemd when free space falls below "
                       "this (or 5 %); at a full disk records stay in the HSM until space returns.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::peerport,
               .kind = OptionKind::port,
               .default_value = "9697",
               .help = "TCP port of the listener for PED-initiated connections (TLS 1.3, pinned "
                       "certificates). It listens only once this client has a certificate "
                       "(-mode regen).",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::epeer,
               .kind = OptionKind::boolean,
               .default_value = "1",
               .help = "1: the PED-initiated listener is on all interfaces; 0: on the loopback "
                       "interface only (PED servers behind an SSH tunnel).",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::idletimeout,
               .kind = OptionKind::integer,
               .min = 1,
               .max = 86400,
               .unit = "seconds",
               .default_value = "1800",
               .help = "Close the Remote PED connection after this long without a PED operation "
                       "(keep-alive pings do not count).",
               .storage = Storage::config_file},
    daemon_options::kSocketReadTimeout,
    daemon_options::kSocketWriteTimeout,
    OptionSpec{
        .name = opt::shutdowntimeout,
        .kind = OptionKind::integer,
        .min = 1,
        .max = 600,
        .unit = "seconds",
        .default_value = "10",
        .help = "At shutdown, time allowed for open connections to close before they are cut.",
        .storage = Storage::config_file},
    OptionSpec{
        .name = opt::pstartuptimeout,
        .kind = OptionKind::integer,
        .min = 1,
        .max = 600,
        .unit = "seconds",
        .default_value = "10",
        .help = "-mode start: time to wait for the background process to report that it is ready.",
        .storage = Storage::config_file},
    OptionSpec{.name = opt::pshutdowntimeout,
               .kind = OptionKind::integer,
               .min = 1,
               .max = 600,
               .unit = "seconds",
               .default_value = "25",
               .help = "-mode stop: time to wait for the background process to exit.",
               .storage = Storage::config_file},
    OptionSpec{.name = opt::admin,
               .kind = OptionKind::port,
               .default_value = "1504",
               .help = "TCP port of the administration interface, through which stop, show and the "
                       "id commands reach "
                       "the running client.",
               .storage = Storage::config_file},
    daemon_options::kEadmin,
    OptionSpec{.name = opt::logfile,
               .aliases = kLogfileAliases,
               .kind = OptionKind::path,
               .default_value = "{log_dir}/pedclient.log",
               .help = "Log file; its directory must be writable by the user running the client.",
               .storage = Storage::config_file},
    daemon_options::kLogInfo,
    daemon_options::kLogWarning,
    daemon_options::kLogError,
    daemon_options::kLogTrace,
    daemon_options::kMaxLogFileSize,
};

inline constexpr std::array kCommands{
    CommandSpec{
        .id = cmd::start,
        .selector = opt::mode,
        .summary =
            "Start the PED client: serve the HSM's requests for PEDs through the PED servers."},
    CommandSpec{.id = cmd::stop, .selector = opt::mode, .summary = "Stop the running PED client."},
    CommandSpec{.id = cmd::show,
                .selector = opt::mode,
                .summary = "Show the running client's status, PED ids and connections."},
    CommandSpec{
        .id = cmd::config,
        .selector = opt::mode,
        .summary =
            "Print (-show) or change (-set) the settings stored in {config_file} (or -configfile).",
        .one_of = kSetOrShow},
    CommandSpec{.id = cmd::setid,
                .selector = opt::mode,
                .summary = "Map PED id -id to the PED server at -id_ip and -id_port."},
    CommandSpec{.id = cmd::assignid,
                .selector = opt::mode,
                .summary = "Assign PED id -id to the HSM with serial number -id_serialnumber."},
    CommandSpec{
        .id = cmd::releaseid,
        .selector = opt::mode,
        .summary = "Release the PED id assigned to an HSM, named by -id or by -id_serialnumber.",
        .one_of = kIdOrSerial},
    CommandSpec{
        .id = cmd::deleteid, .selector = opt::mode, .summary = "Delete the mapping of PED id -id."},
    CommandSpec{.id = cmd::testid,
                .selector = opt::mode,
                .summary = "Test the connection to the PED server of PED id -id."},
    CommandSpec{.id = cmd::regen,
                .selector = opt::mode,
                .summary = "Make this client's P-521 key and self-signed certificate for "
                           "PED-initiated connections, with the common name -commonname. PED "
                           "servers that pinned the old certificate must be given the new one."},
    CommandSpec{.id = cmd::register_pedserver,
                .selector = opt::pedserver,
                .summary = "Pin the certificate -certificate of the PED server -name: it may then "
                           "dial this client (PED-initiated mode)."},
    CommandSpec{.id = cmd::list_pedservers,
                .selector = opt::pedserver,
                .summary = "List the pinned PED servers."},
    CommandSpec{.id = cmd::delete_pedserver,
                .selector = opt::pedserver,
                .summary = "Unpin the PED server -name."},
};
}  // namespace table_data

inline constexpr DaemonOptions kOptions{
    .daemon = kDaemonName,
    .description =
        "the Remote PED client. It runs next to the HSM and connects the HSM's PED requests to "
        "the PED server that holds the PED.",
    .options = table_data::kOptionSpecs,
    .commands = table_data::kCommands,
};

static_assert(first_table_defect(kOptions).empty(), "pedclient option table is malformed");

}  // namespace rped::config::pedclient
