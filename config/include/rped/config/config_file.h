// The daemon's configuration file: TOML whose keys are the stored settings'
// option names without the dash (aliases accepted), e.g.
//
//   port = 1503
//   logfile = "/var/log/pedserver.log"
//   loginfo = 1
//
// Loading validates every key against the option table with the same rules as
// the command line; an error is one line naming the FILE, LINE and KEY, the
// value and what is allowed:
//   pedserver: /etc/pedserver.conf:3: key 'port' = 70000: must be an integer from 1 to 65535
// Unknown keys, command-line-only keys, tables and arrays are errors. Paths in
// the file must be absolute (there is no meaningful directory to resolve them in).
//
// Writing renders the values in table order and replaces the file atomically
// (atomic_file.h). Comments in an existing file are not preserved.
//
// Thread-safety: pure functions except load/write, which touch only the given path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "rped/config/option_table.h"
#include "rped/result.h"

namespace rped::config {

inline constexpr std::size_t kMaxConfigFileSize = 1U << 20U;  // 1 MiB: far above any real file

enum class MissingFile : std::uint8_t { is_error, is_empty };

// Errors: Errc::invalid_encoding for TOML syntax, Errc::invalid_argument for a
// key or value the table rejects, Errc::internal for I/O.
Result<OptionValues> load_config_file(const DaemonOptions& table, const std::filesystem::path& file,
                                      MissingFile missing);

// `source_name` is the file name used in messages.
Result<OptionValues> parse_config_text(const DaemonOptions& table, std::string_view text,
                                       std::string_view source_name);

// TOML text of the stored settings in `values` (others are skipped), in table order.
std::string render_config_file(const DaemonOptions& table, const OptionValues& values);

// A value as TOML: 1503, "text" (booleans as 0/1, as on the command line).
std::string toml_value_text(const OptionValue& value);

// Renders, checks that the text reads back to exactly `values`, creates the
// directory if needed (0700) and writes atomically (new files: mode 0600).
Result<void> write_config_file(const DaemonOptions& table, const std::filesystem::path& file,
                               const OptionValues& values);

}  // namespace rped::config
