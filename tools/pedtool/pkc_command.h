// pedtool pkc: verify and show HSM public key confirmations (docs/attestation.md §4).
//
//   pedtool pkc verify -inputfile F [-root ROOT.pem] [-csr REQ.pem] [-pin SHA256]
//   pedtool pkc show   -inputfile F
//
// File I/O and printing only; the checks are rped/attestation/pkc.h.
#pragma once

#include <span>
#include <string>

namespace rped::pedtool {

// Exit codes: 0 verified (show: printed), 1 a check failed or the file is not
// a PKC, 2 usage error or unreadable file.
int run_pkc(std::span<const std::string> args);

}  // namespace rped::pedtool
