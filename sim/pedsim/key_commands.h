// pedsim mint-demo-keys and pedsim show-key.
//
// Thread-safety: single-threaded command-line helpers.
#pragma once

#include <cstdio>
#include <filesystem>

#include "rped/result.h"

namespace rped::pedsim {

// A demo set in an empty (or new) key directory: blue 3 of 5 with PINs
// 1111..5555, black 1 of 1 with PIN 1234, white 1 of 1 and red 1 of 1 without
// PIN, and blank keys for creation. Prints what it made.
Result<void> mint_demo_keys(const std::filesystem::path& directory, std::FILE* out);

// Prints a key file's type, label, M/N/index and whether it has a PIN; never secret bytes.
Result<void> show_key(const std::filesystem::path& file, std::FILE* out);

}  // namespace rped::pedsim
