// Options both daemons take with the same meaning, range and default
// (docs/pedserver.md §3, docs/pedclient.md §3): defined once here and placed
// in both option tables (pedserver_options.h, pedclient_options.h), so the two
// command lines cannot drift apart.
//
// Thread-safety: constants.
#pragma once

#include <array>
#include <string_view>

#include "rped/config/option_table.h"

namespace rped::config::daemon_options {

inline constexpr std::array<std::string_view, 1> kLogfileAliases{"logfilename"};
inline constexpr std::array<std::string_view, 1> kStartOnly{"start"};
inline constexpr std::array<std::string_view, 1> kConfigOnly{kConfigCommand};

inline constexpr OptionSpec kForeground{
    .name = "foreground",
    .kind = OptionKind::flag,
    .help =
        "Stay in the foreground instead of starting a background process (for "
        "systemd and containers).",
    .commands = kStartOnly};
inline constexpr OptionSpec kConfigFile{
    .name = "configfile",
    .kind = OptionKind::path,
    .help = "Read the settings from this file instead of {config_file}."};
inline constexpr OptionSpec kSet{
    .name = "set",
    .kind = OptionKind::flag,
    .help = "Store the settings given on this command line in the config file.",
    .commands = kConfigOnly};
inline constexpr OptionSpec kShow{
    .name = "show",
    .kind = OptionKind::flag,
    .help = "Print the effective settings as TOML, with where each value comes from.",
    .commands = kConfigOnly};
inline constexpr OptionSpec kSocketReadTimeout{
    .name = "socketreadtimeout",
    .kind = OptionKind::integer,
    .min = 1,
    .max = 3600,
    .unit = "seconds",
    .default_value = "10",
    .help = "Fail a network read that makes no progress for this long.",
    .storage = Storage::config_file};
inline constexpr OptionSpec kSocketWriteTimeout{
    .name = "socketwritetimeout",
    .kind = OptionKind::integer,
    .min = 1,
    .max = 3600,
    .unit = "seconds",
    .default_value = "10",
    .help = "Fail a network write that makes no progress for this long.",
    .storage = Storage::config_file};
inline constexpr OptionSpec kEadmin{
    .name = "eadmin",
    .kind = OptionKind::boolean,
    .default_value = "0",
    .help =
        "1: the administration port listens on external interfaces; 0: on the "
        "loopback interface only.",
    .storage = Storage::config_file};
inline constexpr OptionSpec kLogInfo{.name = "loginfo",
                                     .kind = OptionKind::boolean,
                                     .default_value = "1",
                                     .help = "Log informational messages.",
                                     .storage = Storage::config_file};
inline constexpr OptionSpec kLogWarning{.name = "logwarning",
                                        .kind = OptionKind::boolean,
                                        .default_value = "1",
                                        .help = "Log warnings.",
                                        .storage = Storage::config_file};
inline constexpr OptionSpec kLogError{.name = "logerror",
                                      .kind = OptionKind::boolean,
                                      .default_value = "1",
                                      .help = "Log errors.",
                                      .storage = Storage::config_file};
inline constexpr OptionSpec kLogTrace{.name = "logtrace",
                                      .kind = OptionKind::boolean,
                                      .default_value = "0",
                                      .help = "Log trace messages (verbose; for troubleshooting).",
                                      .storage = Storage::config_file};
inline constexpr OptionSpec kMaxLogFileSize{
    .name = "maxlogfilesize",
    .kind = OptionKind::integer,
    .min = 16,
    .max = 1048576,
    .unit = "KB",
    .default_value = "4096",
    .help = "Rotate the log file when it reaches this size.",
    .storage = Storage::config_file};

}  // namespace rped::config::daemon_options
