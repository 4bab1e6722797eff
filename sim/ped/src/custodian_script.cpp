#include "rped/pedsim/custodian_script.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include "keypad.h"
#include "rped/pedsim/constants.h"
#include "rped/pedsim/key_store.h"
#include "rped/pedsim/screen.h"

namespace rped::pedsim {

namespace {

constexpr std::chrono::milliseconds kMaxDuration{3'600'000};
constexpr std::string_view kStepNames =
    "insert, remove, press, pin, yes, no, enter, mode, exit-remote, unplug, replug, wait, expect, "
    "quit";

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

Error line_error(std::size_t line, const std::string& what) {
  return make_error(Errc::invalid_argument, "line " + std::to_string(line) + ": " + what);
}

Result<ped::Mode> parse_mode(std::string_view name) {
  if (name == "remote") {
    return ped::Mode::remote;
  }
  if (name == "admin") {
    return ped::Mode::admin;
  }
  if (name == "local") {
    return ped::Mode::local;
  }
  return make_error(Errc::invalid_argument,
                    "mode \"" + std::string(name) + "\" is not remote, admin or local");
}

// expect TEXT [duration] / expect "TEXT" [duration]
Result<void> parse_expect(std::string_view rest, ScriptStep& step) {
  step.duration = kDefaultExpectTimeout;
  if (!rest.empty() && rest.front() == '"') {
    const std::size_t close = rest.find('"', 1);
    if (close == std::string_view::npos) {
      return make_error(Errc::invalid_argument, "expect: the quoted text has no closing quote");
    }
    step.text = std::string(rest.substr(1, close - 1));
    const std::string_view after = trim(rest.substr(close + 1));
    if (!after.empty()) {
      RPED_TRY_ASSIGN(step.duration, parse_duration(after));
    }
  } else {
    const std::size_t last_space = rest.find_last_of(" \t");
    if (last_space != std::string_view::npos) {
      if (auto timeout = parse_duration(rest.substr(last_space + 1)); timeout.ok()) {
        step.duration = timeout.value();
        rest = trim(rest.substr(0, last_space));
      }
    }
    step.text = std::string(rest);
  }
  if (step.text.empty()) {
    return make_error(Errc::invalid_argument, "expect needs the text to wait for");
  }
  return {};
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  const std::string_view unit = text.substr(digits);
  if (digits == 0 || digits > 7 || (unit != "ms" && unit != "s" && unit != "m")) {
    return make_error(Errc::invalid_argument,
                      "duration \"" + std::string(text) +
                          "\" is not a number followed by ms, s or m (e.g. 2s, 500ms)");
  }
  const long long value = std::stoll(std::string(text.substr(0, digits)));
  const long long scale = unit == "ms" ? 1 : unit == "s" ? 1000 : 60'000;
  const std::chrono::milliseconds duration{value * scale};
  if (duration > kMaxDuration) {
    return make_error(Errc::invalid_argument,
                      "duration \"" + std::string(text) + "\" is longer than one hour");
  }
  return duration;
}

Result<std::optional<ScriptStep>> parse_script_line(std::string_view line,
                                                    std::size_t line_number) {
  if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
    // A '#' inside an expect's quotes is text, not a comment.
    const std::size_t quote = line.find('"');
    if (quote == std::string_view::npos || hash < quote) {
      line = line.substr(0, hash);
    }
  }
  line = trim(line);
  if (line.empty()) {
    return std::optional<ScriptStep>{};
  }
  const std::size_t space = line.find_first_of(" \t");
  const std::string_view verb = line.substr(0, space);
  const std::string_view rest =
      space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
  ScriptStep step;
  step.line = line_number;
  step.source = std::string(line);
  const auto no_argument = [&](StepKind kind) -> Result<std::optional<ScriptStep>> {
    if (!rest.empty()) {
      return line_error(line_number, std::string(verb) + " takes no argument");
    }
    step.kind = kind;
    return std::optional<ScriptStep>(step);
  };
  if (verb == "insert") {
    if (auto name = KeyDirectory::check_key_name(rest); !name.ok()) {
      return line_error(line_number, "insert: " + name.error().message);
    }
    step.kind = StepKind::insert;
    step.text = std::string(rest);
    return std::optional<ScriptStep>(step);
  }
  if (verb == "remove") {
    return no_argument(StepKind::remove);
  }
  if (verb == "press") {
    const auto key = keypad_from_name(rest);
    if (!key) {
      return line_error(line_number, "press: key \"" + std::string(rest) +
                                         "\" is not one of 0-9, yes, no, enter, clear, <, >");
    }
    step.kind = StepKind::press;
    step.key = *key;
    return std::optional<ScriptStep>(step);
  }
  if (verb == "yes" || verb == "no" || verb == "enter") {
    auto parsed = no_argument(StepKind::press);
    if (parsed.ok()) {
      parsed.value()->key = *keypad_from_name(verb);
    }
    return parsed;
  }
  if (verb == "pin") {
    const bool digits =
        std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || rest.size() > kMaxPinDigits) {
      return line_error(line_number, "pin: \"" + std::string(rest) + "\" is not 0 to 48 digits");
    }
    step.kind = StepKind::pin;
    step.text = std::string(rest);
    return std::optional<ScriptStep>(step);
  }
  if (verb == "mode") {
    auto mode = parse_mode(rest);
    if (!mode.ok()) {
      return line_error(line_number, mode.error().message);
    }
    step.kind = StepKind::mode;
    step.mode = mode.value();
    return std::optional<ScriptStep>(step);
  }
  if (verb == "exit-remote") {
    return no_argument(StepKind::exit_remote);
  }
  if (verb == "unplug") {
    return no_argument(StepKind::unplug);
  }
  if (verb == "replug") {
    return no_argument(StepKind::replug);
  }
  if (verb == "wait") {
    auto duration = parse_duration(rest);
    if (!duration.ok()) {
      return line_error(line_number, "wait: " + duration.error().message);
    }
    step.kind = StepKind::wait;
    step.duration = duration.value();
    return std::optional<ScriptStep>(step);
  }
  if (verb == "expect") {
    step.kind = StepKind::expect;
    if (auto parsed = parse_expect(rest, step); !parsed.ok()) {
      return line_error(line_number, parsed.error().message);
    }
    return std::optional<ScriptStep>(step);
  }
  if (verb == "quit") {
    return no_argument(StepKind::quit);
  }
  return line_error(line_number, "unknown step \"" + std::string(verb) +
                                     "\" (steps: " + std::string(kStepNames) + ")");
}

Result<std::vector<ScriptStep>> parse_custodian_script(std::string_view text) {
  std::vector<ScriptStep> steps;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    ++line_number;
    RPED_TRY_ASSIGN(auto step, parse_script_line(line, line_number));
    if (step) {
      steps.push_back(std::move(*step));
    }
  }
  return steps;
}

Result<void> expect_lcd(const PedDevice& device, std::string_view text,
                        std::chrono::milliseconds timeout, std::optional<std::uint64_t> from) {
  const std::uint64_t first = from.value_or(device.display_sequence());
  const auto shown = device.wait_for_screen(
      first, [text](const Screen& screen) { return lcd_shows(screen, text); }, timeout);
  if (shown) {
    return {};
  }
  return make_error(Errc::invalid_argument,
                    "expect \"" + std::string(text) + "\" timed out after " +
                        std::to_string(timeout.count()) + " ms; the LCD shows \"" +
                        screen_text(device.lcd()) + "\"");
}

Result<ScriptEnd> run_custodian_script(PedDevice& device, std::span<const ScriptStep> steps,
                                       const ScriptHooks& hooks) {
  // The screens an expect may match: from the one current when the first
  // step after the previous expect began.
  std::optional<std::uint64_t> window;
  for (const ScriptStep& step : steps) {
    if (hooks.before_step) {
      hooks.before_step(step);
    }
    if (step.kind == StepKind::expect) {
      const auto from = window;
      window.reset();
      if (auto shown = expect_lcd(device, step.text, step.duration, from); !shown.ok()) {
        return line_error(step.line, shown.error().message);
      }
      continue;
    }
    if (!window) {
      window = device.display_sequence();
    }
    switch (step.kind) {
      case StepKind::insert:
        if (auto inserted = device.insert_key(step.text); !inserted.ok()) {
          return line_error(step.line, "insert: " + inserted.error().message);
        }
        break;
      case StepKind::remove:
        device.remove_key();
        break;
      case StepKind::press:
        device.press(step.key);
        break;
      case StepKind::pin:
        for (const char digit : step.text) {
          device.press(*keypad_for_digit(digit));
        }
        device.press(Keypad::enter);
        break;
      case StepKind::mode:
        device.select_mode(step.mode);
        break;
      case StepKind::exit_remote: {
        const std::uint64_t before = device.display_sequence();
        device.select_mode(ped::Mode::local);
        if (auto shown = expect_lcd(device, "Exiting now will invalidate the RPK",
                                    kDefaultExpectTimeout, before);
            !shown.ok()) {
          return line_error(step.line, "exit-remote: " + shown.error().message);
        }
        device.press(Keypad::yes);
        break;
      }
      case StepKind::unplug:
        if (hooks.unplug) {
          hooks.unplug();
        } else {
          device.detach_host();  // no transport to tell: the PED loses power all the same
        }
        break;
      case StepKind::replug:
        if (hooks.replug) {
          hooks.replug();
        }
        break;
      case StepKind::wait:
        std::this_thread::sleep_for(step.duration);
        break;
      case StepKind::quit:
        return ScriptEnd::quit;
      default:
        return line_error(step.line, "unknown step");
    }
  }
  return ScriptEnd::finished;
}

}  // namespace rped::pedsim
