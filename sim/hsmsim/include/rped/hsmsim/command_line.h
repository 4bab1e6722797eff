// The operator command line of hsmsim, modelled on LunaCM: one command per
// line, `group verb [-option [value]] ...`, e.g.
//
//   ped connect -ip 127.0.0.1 -port 1503 [-password [12345678]]
//   role login -name so
//
// Option names are case-insensitive and may be abbreviated to any unique
// prefix, as in LunaCM. docs/hsmsim.md lists the commands.
//
// Thread-safety: run_command() serializes commands on the HSM's command mutex.
#pragma once

#include <span>
#include <string>

#include "rped/hsmsim/hsm.h"

namespace rped::hsmsim {

// Runs one command (already split into words). Unknown commands and bad
// options are CKR_ARGUMENTS_BAD with a message saying what is allowed.
CommandResult run_command(Hsm& hsm, std::span<const std::string> words, Console& out);

// Splits a command line into words: blanks separate, double quotes group.
std::vector<std::string> split_command_line(std::string_view line);

// The command summary printed by `help`.
std::string command_help();

}  // namespace rped::hsmsim
