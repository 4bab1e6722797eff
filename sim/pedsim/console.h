// pedsim's output: every LCD change as the custodian sees it (a boxed 8-line
// screen with a timestamp) and one-line notes, on stdout, flushed at once so
// demos and logs interleave correctly.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "rped/pedsim/screen.h"

namespace rped::pedsim {

// "12:34:56.789"
std::string timestamp();

class Console final {
 public:
  explicit Console(std::FILE* out) : out_(out) {}
  void screen(const Screen& screen);
  // The current screen, unless a change was printed already (start-up).
  void first_screen(const Screen& screen);
  void note(const std::string& who, const std::string& line);

 private:
  std::mutex mu_;
  std::FILE* out_;
  bool printed_screen_ = false;
};

}  // namespace rped::pedsim
