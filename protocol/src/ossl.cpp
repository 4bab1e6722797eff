#include "ossl.h"

#include <openssl/err.h>

namespace rped::ossl {

Error error(Errc code, std::string_view what) {
  std::string message(what);
  const unsigned long first = ERR_get_error();
  if (first != 0) {
    char reason[256];
    ERR_error_string_n(first, reason, sizeof reason);
    message += " (";
    message += reason;
    message += ")";
  }
  ERR_clear_error();
  return Error(code, std::move(message));
}

void clear_errors() noexcept { ERR_clear_error(); }

}  // namespace rped::ossl
