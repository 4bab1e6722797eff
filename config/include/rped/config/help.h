// -help output, rendered from the option table: the overview (no command) or
// the help of one command (`pedserver -mode start -help`), with each option's
// allowed values, unit, default and aliases. Lines are at most 80 columns
// except where a single word is longer.
//
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>

#include "rped/config/option_table.h"
#include "rped/config/paths.h"

namespace rped::config {

inline constexpr std::size_t kHelpWidth = 80;

// `command_id` empty: the overview. Placeholders in help and defaults are
// expanded with `paths`, so the user sees their real file locations.
std::string render_help(const DaemonOptions& table, std::string_view command_id,
                        const DaemonPaths& paths);

}  // namespace rped::config
