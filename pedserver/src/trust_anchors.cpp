#include "trust_anchors.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

namespace rped::pedserver {

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
  return TrustAnchors{std::move(store).value(), std::move(roots)};
}

}  // namespace rped::pedserver
