#include "console.h"

#include <chrono>
#include <ctime>

namespace rped::pedsim {

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%H:%M:%S", &local);
  std::snprintf(text + length, sizeof text - length, ".%03lld", static_cast<long long>(millis));
  return text;
}

void Console::screen(const Screen& shown) {
  const std::lock_guard lock(mu_);
  printed_screen_ = true;
  std::fprintf(out_, "[%s] LCD\n%s", timestamp().c_str(), boxed(shown).c_str());
  std::fflush(out_);
}

void Console::first_screen(const Screen& shown) {
  const std::lock_guard lock(mu_);
  if (printed_screen_) {
    return;
  }
  printed_screen_ = true;
  std::fprintf(out_, "[%s] LCD\n%s", timestamp().c_str(), boxed(shown).c_str());
  std::fflush(out_);
}

void Console::note(const std::string& who, const std::string& line) {
  const std::lock_guard lock(mu_);
  std::fprintf(out_, "[%s] %s: %s\n", timestamp().c_str(), who.c_str(), line.c_str());
  std::fflush(out_);
}

}  // namespace rped::pedsim
