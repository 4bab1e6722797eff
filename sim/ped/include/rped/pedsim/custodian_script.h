// Custodian scripts: what a person at the PED does, one step per line, for
// pedsim --script, demos and tests. '#' starts a comment; blank lines are skipped.
//
//   insert NAME          put PED key NAME (a file in the key directory) in the port
//   remove               pull the key out
//   press KEY            0-9, yes, no, enter, clear, < (back/exit), > (log)
//   yes | no | enter     press that key
//   pin DIGITS           type the digits, then ENTER (`pin` alone: ENTER only)
//   mode remote|admin|local   select a mode (leaving Remote PED asks YES/NO)
//   exit-remote          leave Remote PED mode and confirm with YES
//   unplug | replug      pull the USB cable / plug it back (the transport's business)
//   wait 2s | 500ms      pause
//   expect TEXT [2s]     wait until the LCD shows TEXT (default 10 s); TEXT may be
//                        "quoted" (then a trailing duration is never part of it)
//   quit                 end the program
//
// expect is what makes scripts race-free: keypresses and key moves queue up
// in order, and an expect matches any screen shown since the step after the
// previous expect began (the screen then current included), so a prompt that
// flashed by while the host answered at once is not missed.
//
// Thread-safety: parsing is pure; running a script drives one PedDevice from
// the calling thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rped/pedsim/device.h"
#include "rped/result.h"

namespace rped::pedsim {

enum class StepKind : std::uint8_t {
  insert,
  remove,
  press,
  pin,
  mode,
  exit_remote,
  unplug,
  replug,
  wait,
  expect,
  quit
};

struct ScriptStep {
  StepKind kind = StepKind::press;
  std::size_t line = 0;                   // 1-based
  std::string source;                     // the line as written, without comment
  std::string text;                       // insert: key name; pin: digits; expect: the text
  Keypad key = Keypad::enter;             // press
  ped::Mode mode = ped::Mode::local;      // mode
  std::chrono::milliseconds duration{0};  // wait; expect: the timeout
};

// "2s", "500ms", "1m" -> milliseconds (at most one hour).
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// One line: a step, or nothing for a blank or comment line.
Result<std::optional<ScriptStep>> parse_script_line(std::string_view line, std::size_t line_number);
Result<std::vector<ScriptStep>> parse_custodian_script(std::string_view text);

// Waits until the LCD shows `text` (see lcd_shows()) on a screen numbered
// `from` or later (PedDevice::display_sequence; by default the screen shown
// now), so a screen that came and went since `from` counts too.
Result<void> expect_lcd(const PedDevice& device, std::string_view text,
                        std::chrono::milliseconds timeout,
                        std::optional<std::uint64_t> from = std::nullopt);

// Steps that belong to the transport rather than to the PED. Without an
// unplug hook, unplug only detaches the host; without a replug hook, replug
// does nothing (the transport attaches the next host).
struct ScriptHooks {
  std::function<void()> unplug;
  std::function<void()> replug;
  std::function<void(const ScriptStep&)> before_step;  // tracing; may be empty
};

enum class ScriptEnd : std::uint8_t { finished, quit };

// Runs the steps in order; the first failing step (a key that does not exist,
// an expect that times out) ends the run with an error naming its line.
Result<ScriptEnd> run_custodian_script(PedDevice& device, std::span<const ScriptStep> steps,
                                       const ScriptHooks& hooks);

}  // namespace rped::pedsim
