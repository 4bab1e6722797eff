// PKC bundle parsing and verification (docs/attestation.md §4) with OpenSSL's
// CMS and X509 APIs. Every check is reported by name so an auditor sees which
// one a forged bundle fails.
#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "ossl.h"
#include "rped/attestation/pkc.h"

namespace rped::attestation {

namespace {

using Cms = std::unique_ptr<CMS_ContentInfo, ossl::Deleter<CMS_ContentInfo_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>>;
using Req = std::unique_ptr<X509_REQ, ossl::Deleter<X509_REQ_free>>;
using Obj = std::unique_ptr<ASN1_OBJECT, ossl::Deleter<ASN1_OBJECT_free>>;
using Time = std::unique_ptr<ASN1_TIME, ossl::Deleter<ASN1_TIME_free>>;

Error bad(std::string message) {
  return make_error(Errc::invalid_encoding, "PKC: " + std::move(message));
}

std::string oid_text(const ASN1_OBJECT* obj) {
  if (obj == nullptr) {
    return "(none)";
  }
  char text[256];
  const int n = OBJ_obj2txt(text, sizeof text, obj, 1);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof text) {
    ossl::clear_errors();
    return "(unreadable OID)";
  }
  return text;
}

std::string algorithm_name(const X509_ALGOR* alg) {
  if (alg == nullptr) {
    return "(none)";
  }
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
  const int nid = OBJ_obj2nid(obj);
  return nid != NID_undef ? OBJ_nid2sn(nid) : oid_text(obj);
}

crypto::Certificate share(X509* cert) {
  X509_up_ref(cert);
  return crypto::Certificate(std::shared_ptr<X509>(cert, X509_free));
}

std::optional<std::int64_t> unix_time_of(const ASN1_TIME* t) {
  Time epoch(ASN1_TIME_set(nullptr, 0));
  int days = 0;
  int secs = 0;
  if (!epoch || ASN1_TIME_diff(&days, &secs, epoch.get(), t) != 1) {
    ossl::clear_errors();
    return std::nullopt;
  }
  return std::int64_t{days} * 86400 + secs;
}

// The parsed ContentInfo, kept for verification.
struct Parsed {
  Cms cms;
  CMS_SignerInfo* signer = nullptr;  // owned by cms
  PkcContents contents;
};

Result<Parsed> parse(ByteView der) {
  if (der.empty() || der.size() > kMaxPkcBytes) {
    return bad("a bundle has 1 to " + std::to_string(kMaxPkcBytes) + " bytes, not " +
               std::to_string(der.size()));
  }
  Parsed p;
  const unsigned char* cursor = der.data();
  p.cms.reset(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(der.size())));
  if (!p.cms || cursor != der.data() + der.size()) {
    ossl::clear_errors();
    return bad("not one DER CMS ContentInfo (or trailing bytes)");
  }
  // DER, not BER: the encoding must be the one OpenSSL re-creates (definite
  // lengths, sorted SET OF): one bundle, one encoding.
  const Bytes again = ossl::to_der(i2d_CMS_ContentInfo, p.cms.get());
  if (again.size() != der.size() || !std::equal(again.begin(), again.end(), der.begin())) {
    return bad("the ContentInfo is BER, not DER");
  }
  if (OBJ_obj2nid(CMS_get0_type(p.cms.get())) != NID_pkcs7_signed) {
    return bad("content type is " + oid_text(CMS_get0_type(p.cms.get())) +
               "; a PKC is signedData (1.2.840.113549.1.7.2)");
  }
  PkcContents& c = p.contents;
  c.content_type = oid_text(CMS_get0_eContentType(p.cms.get()));
  ASN1_OCTET_STRING** content = CMS_get0_content(p.cms.get());
  if (content == nullptr || *content == nullptr) {
    return bad("the content is detached; a PKC carries its statement");
  }
  c.statement_der.assign(ASN1_STRING_get0_data(*content),
                         ASN1_STRING_get0_data(*content) + ASN1_STRING_length(*content));
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(p.cms.get());
  if (signers == nullptr || sk_CMS_SignerInfo_num(signers) != 1) {
    return bad("a PKC has exactly one SignerInfo, this one has " +
               std::to_string(signers == nullptr ? 0 : sk_CMS_SignerInfo_num(signers)));
  }
  p.signer = sk_CMS_SignerInfo_value(signers, 0);
  STACK_OF(X509_CRL)* crls = CMS_get1_crls(p.cms.get());
  const int crl_count = crls == nullptr ? 0 : sk_X509_CRL_num(crls);
  sk_X509_CRL_pop_free(crls, X509_CRL_free);
  if (crl_count != 0) {
    return bad("a PKC carries no CRLs");
  }
  STACK_OF(X509)* certs = CMS_get1_certs(p.cms.get());
  for (int i = 0; certs != nullptr && i < sk_X509_num(certs); ++i) {
    X509* cert = sk_X509_value(certs, i);
    c.certificates.push_back(share(cert));
    if (!c.signer_index && CMS_SignerInfo_cert_cmp(p.signer, cert) == 0) {
      c.signer_index = static_cast<std::size_t>(i);
    }
  }
  sk_X509_pop_free(certs, X509_free);
  ossl::clear_errors();
  X509_ALGOR* digest = nullptr;
  X509_ALGOR* signature = nullptr;
  CMS_SignerInfo_get0_algs(p.signer, nullptr, nullptr, &digest, &signature);
  c.digest_algorithm = algorithm_name(digest);
  c.signature_algorithm = algorithm_name(signature);
  const int at = CMS_signed_get_attr_by_NID(p.signer, NID_pkcs9_signingTime, -1);
  if (at >= 0) {
    const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(p.signer, at), 0);
    if (value != nullptr &&
        (value->type == V_ASN1_UTCTIME || value->type == V_ASN1_GENERALIZEDTIME)) {
      c.signing_time = unix_time_of(value->value.asn1_string);
    }
  }
  auto statement = decode_statement(c.statement_der);
  if (statement.ok()) {
    c.statement = std::move(statement).value();
  } else {
    c.statement_error = statement.error().message;
  }
  return p;
}

bool has_eku(X509* cert, std::string_view oid) {
  auto* ekus =
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr));
  bool found = false;
  for (int i = 0; ekus != nullptr && i < sk_ASN1_OBJECT_num(ekus); ++i) {
    found = found || oid_text(sk_ASN1_OBJECT_value(ekus, i)) == oid;
  }
  sk_ASN1_OBJECT_pop_free(ekus, ASN1_OBJECT_free);
  ossl::clear_errors();
  return found;
}

struct Reporter {
  PkcVerification& v;
  bool blocked = false;
  std::string blocked_by;

  // Records a check; once a prerequisite failed, later checks are "not checked".
  void add(std::string name, bool passed, std::string detail) {
    v.checks.push_back(PkcCheck{std::move(name), passed, std::move(detail)});
  }
  void skip(std::string name) {
    v.checks.push_back(PkcCheck{std::move(name), false, "not checked: " + blocked_by + " failed"});
  }
  void block(const std::string& by) {
    if (!blocked) {
      blocked = true;
      blocked_by = by;
    }
  }
};

}  // namespace

Result<PkcContents> parse_pkc(ByteView der) {
  RPED_TRY_ASSIGN(Parsed p, parse(der));
  return std::move(p.contents);
}

bool PkcVerification::ok() const noexcept {
  return !checks.empty() &&
         std::all_of(checks.begin(), checks.end(), [](const PkcCheck& c) { return c.passed; });
}

PkcVerification verify_pkc(ByteView der, std::span<const crypto::Certificate> roots,
                           const VerifyOptions& options) {
  PkcVerification v;
  Reporter r{v, false, {}};
  const std::int64_t now = options.at_unix_time.value_or(static_cast<std::int64_t>(std::time(nullptr)));
  static constexpr std::string_view kLater[] = {"content type", "statement",       "signature",
                                                "chain",        "signer",          "time",
                                                "key attributes"};
  const auto skip_rest = [&](std::size_t from) {
    for (std::size_t i = from; i < std::size(kLater); ++i) {
      r.skip(std::string(kLater[i]));
    }
    if (options.csr_der) {
      r.skip("csr");
    }
  };

  // 1. structure
  auto parsed = parse(der);
  if (!parsed.ok()) {
    r.add("structure", false, parsed.error().message);
    r.block("structure");
    skip_rest(0);
    return v;
  }
  Parsed& p = parsed.value();
  const PkcContents& c = p.contents;
  if (!c.signer_index) {
    r.add("structure", false, "the certificate the SignerInfo names is not in the bundle");
    r.block("structure");
    skip_rest(0);
    return v;
  }
  r.add("structure", true,
        "DER SignedData, one signer, " + std::to_string(c.certificates.size()) + " certificate(s)");

  // 2. content type: eContentType and, RFC 5652 §5.3 (signed attributes are
  // mandatory for any content type but id-data), the signed contentType attribute.
  {
    const ASN1_OBJECT* signed_type = static_cast<const ASN1_OBJECT*>(CMS_signed_get0_data_by_OBJ(
        p.signer, OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT));
    ossl::clear_errors();
    if (c.content_type != kKeyAttestationContentTypeOid) {
      r.add("content type", false,
            "eContentType is " + c.content_type + "; a PKC is id-ct-rpedKeyAttestation (" +
                std::string(kKeyAttestationContentTypeOid) + ")");
      r.block("content type");
    } else if (signed_type == nullptr || oid_text(signed_type) != c.content_type) {
      r.add("content type", false,
            "the signed contentType attribute is missing or differs from eContentType");
      r.block("content type");
    } else {
      r.add("content type", true, "id-ct-rpedKeyAttestation");
    }
  }

  // 3. statement
  if (r.blocked) {
    r.skip("statement");
  } else if (!c.statement) {
    r.add("statement", false, c.statement_error);
    r.block("statement");
  } else {
    v.statement = c.statement;
    r.add("statement", true, "RpedKeyAttestation v1, HSM " + c.statement->hsm.serial + ", handle " +
                                 std::to_string(c.statement->handle));
  }

  // 4. signature over the signed attributes (and through messageDigest, the
  // content), by the key of the certificate the SignerInfo names.
  if (r.blocked) {
    r.skip("signature");
  } else if (CMS_verify(p.cms.get(), nullptr, nullptr, nullptr, nullptr,
                        CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1) {
    r.add("signature", true, c.signature_algorithm + " by " +
                                 c.certificates[*c.signer_index].subject());
  } else {
    const Error e = ossl::error(Errc::signature_invalid, "the signature does not verify");
    r.add("signature", false, e.message);
    r.block("signature");
  }

  // 5. chain: signer -> HOC -> root (or, pinned, signer -> the pinned HOC).
  X509* const leaf = c.certificates[*c.signer_index].native();
  std::optional<crypto::Certificate> hoc;
  if (r.blocked) {
    r.skip("chain");
  } else {
    const bool pinned_only = roots.empty() && options.pinned_hoc_sha256.has_value();
    std::optional<crypto::TrustStore> store;
    std::string failure;
    if (pinned_only) {
      for (const crypto::Certificate& cert : c.certificates) {
        if (cert.sha256_fingerprint() == *options.pinned_hoc_sha256) {
          auto s = crypto::TrustStore::from_issuer(cert);
          if (s.ok()) {
            store = std::move(s).value();
          }
        }
      }
      if (!store) {
        failure = "no certificate in the bundle has the pinned HOC fingerprint";
      }
    } else if (roots.empty()) {
      failure = "no root configured";
    } else {
      auto s = crypto::TrustStore::from_anchors(roots);
      if (s.ok()) {
        store = std::move(s).value();
      } else {
        failure = s.error().message;
      }
    }
    if (store) {
      std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> untrusted(
          sk_X509_new_null(), [](STACK_OF(X509)* s) { sk_X509_free(s); });
      for (const crypto::Certificate& cert : c.certificates) {
        sk_X509_push(untrusted.get(), cert.native());
      }
      StoreCtx ctx(X509_STORE_CTX_new());
      if (!ctx || X509_STORE_CTX_init(ctx.get(), store->native(), leaf, untrusted.get()) != 1) {
        failure = ossl::error(Errc::internal, "verification setup failed").message;
      } else {
        X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
        X509_VERIFY_PARAM_set_flags(
            param, X509_V_FLAG_X509_STRICT | (pinned_only ? X509_V_FLAG_PARTIAL_CHAIN : 0));
        X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
        if (X509_verify_cert(ctx.get()) != 1) {
          const int code = X509_STORE_CTX_get_error(ctx.get());
          const X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
          failure = std::string(X509_verify_cert_error_string(code)) + " (depth " +
                    std::to_string(X509_STORE_CTX_get_error_depth(ctx.get())) +
                    (at != nullptr ? ", subject " + share(const_cast<X509*>(at)).subject() : "") +
                    ")";
        } else {
          STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
          const int expected = pinned_only ? 2 : 3;
          if (sk_X509_num(chain) != expected) {
            failure = "the chain has " + std::to_string(sk_X509_num(chain)) +
                      " certificates; a PKC chain is attestation certificate, HOC" +
                      (pinned_only ? "" : ", root");
          } else {
            hoc = share(sk_X509_value(chain, 1));
            const crypto::Certificate anchor = share(sk_X509_value(chain, expected - 1));
            v.root_subject = anchor.subject();
            v.root_common_name = anchor.common_name();
            v.hoc_sha256_fingerprint = hoc->sha256_fingerprint();
            if (options.pinned_hoc_sha256 && v.hoc_sha256_fingerprint != *options.pinned_hoc_sha256) {
              failure = "the HOC's SHA-256 fingerprint " + to_hex(v.hoc_sha256_fingerprint) +
                        " is not the pinned one";
              hoc.reset();
            }
          }
        }
      }
      ossl::clear_errors();
    }
    if (hoc) {
      r.add("chain", true,
            pinned_only ? "attestation certificate -> HOC (pinned SHA-256 " +
                              to_hex(v.hoc_sha256_fingerprint) + ")"
                        : "attestation certificate -> HOC -> " + v.root_subject);
    } else {
      r.add("chain", false, failure);
      r.block("chain");
    }
  }

  // 6. signer: an attestation key of the HSM the statement names.
  if (r.blocked) {
    r.skip("signer");
  } else {
    const crypto::Certificate signer = share(leaf);
    const std::string& serial = c.statement->hsm.serial;
    std::string failure;
    if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) == 0 ||
        (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
      failure = "the attestation certificate does not allow digitalSignature";
    } else if (X509_check_ca(leaf) != 0) {
      failure = "the attestation certificate is a CA certificate";
    } else if (!has_eku(leaf, kKeyAttestationEkuOid)) {
      failure = "the attestation certificate lacks extended key usage id-kp-rpedKeyAttestation (" +
                std::string(kKeyAttestationEkuOid) + ")";
    } else if (signer.subject_serial_number() != serial ||
               hoc->subject_serial_number() != serial) {
      failure = "the statement names HSM " + serial + " but the attestation certificate names '" +
                signer.subject_serial_number() + "' and the HOC '" + hoc->subject_serial_number() +
                "'";
    }
    ossl::clear_errors();
    if (failure.empty()) {
      r.add("signer", true, "attestation key of HSM " + serial);
    } else {
      r.add("signer", false, failure);
      r.block("signer");
    }
  }

  // 7. time: within the attestation certificate's validity, not in the future.
  if (r.blocked) {
    r.skip("time");
  } else {
    const std::int64_t at = c.statement->attested_at;
    const auto not_before = unix_time_of(X509_get0_notBefore(leaf));
    const auto not_after = unix_time_of(X509_get0_notAfter(leaf));
    if (at > now + kClockSkewSeconds) {
      r.add("time", false, "attested at " + generalized_time(at) + ", in the future");
    } else if (!not_before || !not_after || at < *not_before || at > *not_after) {
      r.add("time", false,
            "attested at " + generalized_time(at) + ", outside the attestation certificate's validity");
    } else {
      r.add("time", true, "attested at " + generalized_time(at));
    }
  }

  // 8. the attributes that make a key worth trusting (docs/attestation.md §3).
  if (r.blocked) {
    r.skip("key attributes");
  } else {
    const KeyAttributes& a = c.statement->attributes;
    std::string failure;
    if (!a.local) {
      failure = "the key was not generated on the HSM (local is FALSE)";
    } else if (a.extractable) {
      failure = "the key is extractable";
    } else if (!a.never_extractable) {
      failure = "the key was extractable at some time (neverExtractable is FALSE)";
    }
    if (failure.empty()) {
      r.add("key attributes", true, "generated on the HSM, never extractable; usage " +
                                        key_usage_text(a.key_usage));
    } else {
      r.add("key attributes", false, failure);
    }
  }

  // 9. the CSR's key is the attested key, and the CSR is signed by it.
  if (options.csr_der) {
    if (!c.statement) {
      r.skip("csr");
      return v;
    }
    const Bytes& csr = *options.csr_der;
    const unsigned char* cursor = csr.data();
    Req req(d2i_X509_REQ(nullptr, &cursor, static_cast<long>(csr.size())));
    std::string failure;
    if (!req || cursor != csr.data() + csr.size()) {
      failure = "the CSR is not one DER PKCS#10 request";
    } else {
      EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
      const Bytes spki = key != nullptr ? ossl::to_der(i2d_PUBKEY, key) : Bytes{};
      if (spki.empty()) {
        failure = "the CSR's public key cannot be read";
      } else if (X509_REQ_verify(req.get(), key) != 1) {
        failure = "the CSR's self-signature does not verify";
      } else if (spki != c.statement->subject_public_key_info) {
        failure = "the CSR's public key is not the attested key";
      }
    }
    ossl::clear_errors();
    r.add("csr", failure.empty(), failure.empty() ? "the CSR's public key is the attested key"
                                                  : failure);
  }
  return v;
}

HsmPkcVerdict verify_hsm_static_key_pkc(ByteView pkc, const crypto::Certificate& static_key_certificate,
                                        std::uint64_t hsm_serial, std::span<const crypto::Certificate> roots,
                                        const VerifyOptions& options) {
  const PkcVerification v = verify_pkc(pkc, roots, options);
  if (!v.ok()) {
    for (const PkcCheck& check : v.checks) {
      if (!check.passed) {
        return {"PKC " + check.name + ": " + check.detail};
      }
    }
    return {"the PKC does not verify"};
  }
  if (!v.statement) {
    return {"the PKC holds no statement"};
  }
  if (v.statement->hsm.serial != std::to_string(hsm_serial)) {
    return {"the PKC is from HSM " + v.statement->hsm.serial + ", not HSM " + std::to_string(hsm_serial)};
  }
  EVP_PKEY* key = X509_get0_pubkey(static_key_certificate.native());
  const Bytes spki = key != nullptr ? ossl::to_der(i2d_PUBKEY, key) : Bytes{};
  ossl::clear_errors();
  if (spki.empty() || spki != v.statement->subject_public_key_info) {
    return {"the PKC does not attest the HSM's static key"};
  }
  return {};
}

}  // namespace rped::attestation
