// `<daemon> -mode config`: show or change the stored settings.
//
//   pedserver -mode config -show [settings...]   print the effective settings as TOML
//                                                (defaults < file < the settings given here)
//   pedserver -mode config -set -port 1600 ...   validate, merge into the file's values,
//                                                and replace the file atomically
//
// Thread-safety: touches only the invocation's config file.
#pragma once

#include <string>

#include "rped/config/option_table.h"
#include "rped/config/settings.h"
#include "rped/result.h"

namespace rped::config {

// The effective stored settings as TOML text, each line commented with where
// the value came from; settings without a value appear as comments.
std::string render_effective_settings(const DaemonOptions& table, const Invocation& invocation);

// Runs -show or -set (the parser has ensured exactly one is given). Returns the
// text to print on standard output.
Result<std::string> run_config_command(const DaemonOptions& table, const Invocation& invocation);

}  // namespace rped::config
