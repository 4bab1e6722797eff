// Replacing a file so that readers see either the old or the new contents,
// never a partial file, even across a crash:
//   1. create a temporary file in the target's directory (same file system),
//      mode 0600 from the start (mkstemp), or the old file's mode if replacing one;
//   2. write everything, fsync it, close it (write errors surface here);
//   3. rename() it over the target (atomic on POSIX), then fsync the directory
//      so the rename itself is durable.
// On any failure the temporary file is removed and the target is untouched.
// A symlink at the target is replaced by the regular file, not followed.
//
// Thread-safety: safe for distinct targets; concurrent writers of one target
// each produce a complete file and the last rename wins.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "rped/result.h"

namespace rped::config {

inline constexpr mode_t kNewConfigFileMode = 0600;

// Errors (Errc::internal) read "cannot write <target>: <reason> (<step>)".
Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view contents);

}  // namespace rped::config
