#include "admin_protocol.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "rped/config/atomic_file.h"
#include "rped/crypto/symmetric.h"
#include "rped/secret.h"

namespace rped::pedserver {

std::filesystem::path token_file_path(const std::filesystem::path& state_dir,
                                      std::uint16_t admin_port) {
  return state_dir / ("admin-" + std::to_string(admin_port) + ".token");
}

Result<std::string> new_admin_token() {
  std::array<std::uint8_t, kAdminTokenBytes> random{};
  RPED_TRY(crypto::random_bytes(random));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * random.size());
  for (const std::uint8_t byte : random) {
    token.push_back(kHex[byte >> 4U]);
    token.push_back(kHex[byte & 0x0fU]);
  }
  secure_wipe(random.data(), random.size());
  return token;
}

Result<void> write_token_file(const std::filesystem::path& file, const TokenFile& contents) {
  const nlohmann::json document = {
      {"admin_port", contents.admin_port}, {"pid", contents.pid}, {"token", contents.token}};
  RPED_TRY(config::write_file_atomically(file, document.dump() + "\n"));
  if (::chmod(file.c_str(), 0600) != 0) {
    return make_error(Errc::internal,
                      "cannot make " + file.string() + " private: " + std::strerror(errno));
  }
  return {};
}

Result<TokenFile> read_token_file(const std::filesystem::path& file) {
  constexpr std::size_t kMaxTokenFileBytes = 4096;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int error = errno;
    if (error == EACCES || error == EPERM) {
      return make_error(Errc::invalid_argument, "permission denied");
    }
    return make_error(Errc::internal, "cannot read " + file.string() + ": " + std::strerror(error));
  }
  std::string text(kMaxTokenFileBytes, '\0');
  std::size_t have = 0;
  for (;;) {
    const ssize_t n = ::read(fd, text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    have += static_cast<std::size_t>(n);
    if (have == text.size()) {
      break;
    }
  }
  ::close(fd);
  text.resize(have);
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (!document.is_object() || !document.contains("admin_port") ||
      !document["admin_port"].is_number_unsigned() || !document.contains("pid") ||
      !document["pid"].is_number_integer() || !document.contains("token") ||
      !document["token"].is_string()) {
    return make_error(Errc::invalid_encoding,
                      file.string() + " is not a pedserver admin token file");
  }
  TokenFile contents;
  contents.admin_port = document["admin_port"].get<std::uint16_t>();
  contents.pid = document["pid"].get<pid_t>();
  contents.token = document["token"].get<std::string>();
  return contents;
}

bool token_matches(std::string_view expected, std::string_view given) noexcept {
  return constant_time_equal(
      std::span(reinterpret_cast<const std::uint8_t*>(expected.data()), expected.size()),
      std::span(reinterpret_cast<const std::uint8_t*>(given.data()), given.size()));
}

}  // namespace rped::pedserver
