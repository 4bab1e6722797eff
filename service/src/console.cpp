#include "rped/service/console.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace rped::service {

bool confirmed(const std::string& question) {
  if (::isatty(STDIN_FILENO) == 0) {
    return false;
  }
  std::printf("%s (y/n) ", question.c_str());
  std::fflush(stdout);
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace rped::service
