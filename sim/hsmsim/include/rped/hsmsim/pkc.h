// hsmsim's key attestation (docs/attestation.md §5, docs/hsmsim.md §3):
// the attestation key made at manufacturing, the PKC of a key handle, and the
// minimal key objects `key generate` makes so "any key it generates" can be
// attested.
//
//   handle 1      the HSM static ECDH key (kStaticKeyHandle), made at manufacturing
//   handle 16 ... key pairs made by `key generate` (kFirstGeneratedHandle), never reused
//
// Commands (dispatched by command_line.cpp):
//   pkc get -handle N -outputfile F        mirrors `cmu getpkc`; F relative: to the state directory
//   key generate [-label L] [-usage sign|derive] [-extractable]
//   key list
//
// Thread-safety: the command functions take the HSM's state lock through
// Hsm::snapshot / Hsm::update_state; the others are pure.
#pragma once

#include <cstdint>
#include <string>

#include "rped/attestation/pkc.h"
#include "rped/hsmsim/hsm.h"
#include "rped/hsmsim/hsm_state.h"
#include "rped/result.h"

namespace rped::hsmsim {

// Makes the attestation key and its certificate (issued by the HOC) when the
// manufacturing data lacks them (the first start, or a state file written
// before attestation existed), and otherwise checks them: the key matches the
// certificate, the HOC issued it, it names the HSM's serial.
Result<void> ensure_attestation_key(Manufacturing& manufacturing);

// The statement the HSM makes about `handle` at `now`.
Result<attestation::KeyAttestation> attestation_statement(const HsmState& state,
                                                          std::uint32_t handle, std::int64_t now);
// The DER PKC bundle of `handle`, signed with the attestation key.
Result<Bytes> make_pkc(const HsmState& state, std::uint32_t handle, std::int64_t now);

// The operator commands.
CommandResult pkc_get(Hsm& hsm, std::uint32_t handle, const std::string& output_file,
                      Console& out);
CommandResult key_generate(Hsm& hsm, const std::string& label, std::uint16_t key_usage,
                           bool extractable, Console& out);
CommandResult key_list(Hsm& hsm, Console& out);

}  // namespace rped::hsmsim
