// The PED's flows, each a straight-line function over a Flow (flow.h):
//   login_flows.cpp     read_secret, read_rpk_info, derive_session_keys
//   creation_flows.cpp  create_keyset, create_rpk_keyset
//   admin_flows.cpp     Admin mode (List types, duplicate, self test), the
//                       Remote PED exit confirmation, the log screen
// docs/ped-device.md "Flows and screens" describes what the custodian sees.
//
// Thread-safety: firmware thread only.
#pragma once

#include <deque>
#include <string>

#include "flow.h"
#include "rped/ped/device_protocol.h"

namespace rped::pedsim {

// Host commands.
FlowResult<ped::ReadSecretResponse> read_secret_flow(Flow& flow,
                                                     const ped::ReadSecretRequest& request);
FlowResult<ped::ReadRpkInfoResponse> read_rpk_info_flow(Flow& flow,
                                                        const ped::ReadRpkInfoRequest& request);
FlowResult<ped::DeriveSessionKeysResponse> derive_session_keys_flow(
    Flow& flow, const ped::DeriveSessionKeysRequest& request);
FlowResult<ped::CreateKeysetResponse> create_keyset_flow(Flow& flow,
                                                         const ped::CreateKeysetRequest& request);
FlowResult<ped::CreateRpkKeysetResponse> create_rpk_keyset_flow(
    Flow& flow, const ped::CreateRpkKeysetRequest& request);
ped::SelfTestResponse self_test_flow(Flow& flow);
// docs/attestation.md §6: which HSM asks, YES/NO (or a notice shown until a key or the timeout).
FlowResult<ped::ConfirmIdentityResponse> confirm_identity_flow(
    Flow& flow, const ped::ConfirmIdentityRequest& request);

// Keypad flows.
FlowResult<void> list_types_flow(Flow& flow);
FlowResult<void> duplicate_key_flow(Flow& flow);
FlowResult<void> admin_self_test_flow(Flow& flow);
// True when the custodian confirmed leaving Remote PED mode.
FlowResult<bool> confirm_exit_remote_flow(Flow& flow);
FlowResult<void> log_flow(Flow& flow, const std::deque<std::string>& entries);

}  // namespace rped::pedsim
