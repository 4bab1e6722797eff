// Terminal interaction shared by both daemons' command-line commands
// (-appliance / -pedserver register and delete, -regen / -mode regen).
//
// Thread-safety: process-level; call from main() only.
#pragma once

#include <string>

namespace rped::service {

// Asks `question` on the terminal and returns true for "y", "Y" or "yes".
// Without a terminal on standard input it asks nothing and returns false; the
// caller then says to add -force.
bool confirmed(const std::string& question);

}  // namespace rped::service
