#include "trust_anchors.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <system_error>

namespace rped::pedserver {

namespace {

// <trust>/pinned/<serial>: one line, 64 hex digits (colons and spaces ignored).
// A missing directory means no pins; a malformed pin file is an error, so a
// typo never silently turns pinning off.
Result<std::map<std::uint64_t, Bytes>> load_pins(const std::filesystem::path& directory) {
  std::map<std::uint64_t, Bytes> pins;
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    return pins;
  }
  std::size_t files = 0;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end;
       it.increment(error)) {
    if (!it->is_regular_file() || ++files > kMaxPinFiles) {
      continue;
    }
    const std::string name = it->path().filename().string();
    std::uint64_t serial = 0;
    const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), serial);
    if (ec != std::errc() || ptr != name.data() + name.size()) {
      continue;  // not a pin file (README, editor backups)
    }
    std::ifstream in(it->path());
    std::string line;
    std::getline(in, line);
    std::string hex;
    for (const char c : line) {
      if (c != ':' && c != ' ' && c != '\r' && c != '\t') {
        hex += c;
      }
    }
    auto digest = from_hex(hex);
    if (!digest.ok() || digest->size() != 32) {
      return make_error(Errc::invalid_argument,
                        it->path().string() +
                            ": a pin is one line with the HOC's SHA-256 (64 hex digits)");
    }
    pins.emplace(serial, std::move(digest).value());
  }
  if (error) {
    return make_error(Errc::invalid_argument,
                      "cannot read the pin directory " + directory.string() + ": " + error.message());
  }
  return pins;
}

}  // namespace

Result<TrustAnchors> load_trust_anchors(const std::filesystem::path& directory) {
  std::error_code error;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end;
       it.increment(error)) {
    if (it->path().extension() == ".pem" && it->is_regular_file()) {
      files.push_back(it->path());
    }
  }
  if (error) {
    return make_error(
        Errc::invalid_argument,
        "cannot read the trust-anchor directory " + directory.string() + ": " + error.message() +
            " (install the HSM manufacturer's root certificate there as a .pem file)");
  }
  if (files.empty()) {
    return make_error(Errc::invalid_argument,
                      "no manufacturer root certificate in " + directory.string() +
                          " (install the HSM manufacturer's root certificate there as a "
                          ".pem file)");
  }
  if (files.size() > kMaxTrustAnchorFiles) {
    return make_error(Errc::invalid_argument, directory.string() + " holds more than " +
                                                  std::to_string(kMaxTrustAnchorFiles) +
                                                  " .pem files");
  }
  std::sort(files.begin(), files.end());
  std::vector<crypto::Certificate> roots;
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return make_error(Errc::invalid_argument, "cannot read " + file.string());
    }
    if (text.str().size() > crypto::kMaxPemBytes) {
      return make_error(Errc::invalid_argument, file.string() + " is larger than 1 MiB");
    }
    auto certificates = crypto::Certificate::from_pem(text.str());
    if (!certificates.ok()) {
      return make_error(Errc::invalid_argument,
                        file.string() + ": " + certificates.error().message);
    }
    for (crypto::Certificate& certificate : certificates.value()) {
      roots.push_back(std::move(certificate));
    }
  }
  auto store = crypto::TrustStore::from_anchors(roots);
  if (!store.ok()) {
    return make_error(Errc::invalid_argument,
                      "the certificates in " + directory.string() +
                          " are not usable as roots: " + store.error().message);
  }
  RPED_TRY_ASSIGN(auto pins, load_pins(directory / "pinned"));
  return TrustAnchors{std::move(store).value(), std::move(roots), std::move(pins)};
}

}  // namespace rped::pedserver
