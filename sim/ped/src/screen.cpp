#include "rped/pedsim/screen.h"

namespace rped::pedsim {

std::vector<std::string> wrap_to_lcd(std::string_view text) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t space = text.find(' ', start);
    std::string_view word = text.substr(
        start, space == std::string_view::npos ? std::string_view::npos : space - start);
    start = space == std::string_view::npos ? text.size() + 1 : space + 1;
    if (word.empty()) {
      continue;
    }
    while (word.size() > ped::kLcdColumns) {  // a word longer than a line is cut
      if (!line.empty()) {
        lines.push_back(std::move(line));
        line.clear();
      }
      lines.emplace_back(word.substr(0, ped::kLcdColumns));
      word.remove_prefix(ped::kLcdColumns);
    }
    if (word.empty()) {
      continue;
    }
    if (!line.empty() && line.size() + 1 + word.size() > ped::kLcdColumns) {
      lines.push_back(std::move(line));
      line.clear();
    }
    if (!line.empty()) {
      line += ' ';
    }
    line += word;
  }
  if (!line.empty() || lines.empty()) {
    lines.push_back(std::move(line));
  }
  return lines;
}

Screen compose(const std::vector<std::string>& entries) {
  Screen screen;
  std::size_t row = 0;
  for (const std::string& entry : entries) {
    for (std::string& line : wrap_to_lcd(entry)) {
      if (row == screen.size()) {
        return screen;
      }
      screen[row++] = std::move(line);
    }
  }
  return screen;
}

std::string screen_text(const Screen& screen) {
  std::string text;
  for (const std::string& line : screen) {
    if (line.empty()) {
      continue;
    }
    if (!text.empty()) {
      text += ' ';
    }
    text += line;
  }
  return text;
}

bool lcd_shows(const Screen& screen, std::string_view text) {
  return screen_text(screen).find(text) != std::string::npos;
}

std::string boxed(const Screen& screen) {
  const std::string border = "+" + std::string(ped::kLcdColumns, '-') + "+\n";
  std::string out = border;
  for (const std::string& line : screen) {
    std::string shown = line.substr(0, ped::kLcdColumns);
    shown.resize(ped::kLcdColumns, ' ');
    out += "|" + shown + "|\n";
  }
  out += border;
  return out;
}

}  // namespace rped::pedsim
