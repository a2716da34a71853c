// Minimal X.509 issuance with OpenSSL: a self-signed placeholder certificate
// for standalone mode before ACME exists (issue 4), and test CAs for tests.
#pragma once

#include <string>
#include <vector>

namespace cumulo::net {

struct KeyCert {
  std::string cert_pem;
  std::string key_pem;
};

/// A CA certificate (P-256 key) with the given common name.
KeyCert make_ca(const std::string& common_name, int days = 30);
/// A leaf for `dns_names` signed by `issuer` (self-signed if issuer is empty).
KeyCert make_leaf(const std::vector<std::string>& dns_names, const KeyCert* issuer, int days = 30);

}  // namespace cumulo::net
