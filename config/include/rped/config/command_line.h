// The Luna-style command line of a daemon, parsed against its option table.
//
//   pedserver -mode start -ip 10.0.0.5 -port 1503 -logfile /var/log/x.log -loginfo 1 -force
//   pedserver -m start ...          (-m is an alias of -mode)
//   pedserver mode start ...        (a leading bare "mode" word means -mode)
//   pedserver -mode start -help     (help for one command; -help alone: the overview)
//
// All or nothing: a CommandLine exists only when every argument validated.
// Every error is ONE line that names the option, the value and what is allowed:
//   pedserver: -port 70000: must be an integer from 1 to 65535
//   pedserver: -bogus: unknown option; see 'pedserver -help'
//
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rped/config/option_table.h"
#include "rped/result.h"

namespace rped::config {

struct CommandLine final {
  std::string command{};        // a CommandSpec id; empty only when -help came without a command
  bool help_requested = false;  // -help: print render_help(table, command, ...) and exit
  OptionValues values{};  // only what was given; flags as true. Paths as typed (see settings.h)
};

// `arguments` excludes the program name (argv[0]).
Result<CommandLine> parse_command_line(const DaemonOptions& table,
                                       std::span<const std::string_view> arguments);
Result<CommandLine> parse_command_line(const DaemonOptions& table, int argc,
                                       const char* const* argv);

}  // namespace rped::config
