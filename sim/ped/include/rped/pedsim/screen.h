// The PED's LCD: 8 lines of 21 columns (ped::kLcdLines x ped::kLcdColumns).
// compose() lays text out the way the firmware does (word wrap, then the
// first 8 lines); lcd_shows() is how scripts and tests wait for a screen.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "rped/ped/device_protocol.h"

namespace rped::pedsim {

using Screen = std::array<std::string, ped::kLcdLines>;

// Each entry is one or more display lines: words wrap at 21 columns, a word
// longer than a line is cut, and an empty entry is an empty line. Lines past
// the eighth are dropped.
Screen compose(const std::vector<std::string>& lines);
std::vector<std::string> wrap_to_lcd(std::string_view text);

// The screen as one string: the non-empty lines joined by single spaces, so a
// phrase wrapped over two lines still reads as one.
std::string screen_text(const Screen& screen);
// Whether the screen shows `text` (a substring of screen_text()).
bool lcd_shows(const Screen& screen, std::string_view text);

// The screen in a box, one line per LCD line, as pedsim prints it.
std::string boxed(const Screen& screen);

}  // namespace rped::pedsim
