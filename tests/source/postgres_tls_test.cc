// PostgreSQL over TLS (issue 19): libpq's sslmode=verify-full against the test server of
// `make test` (ssl=on with the test PKI's certificate), and each way a TLS connection fails,
// reported as a TlsError that says which: an untrusted CA, a certificate for another host name,
// and a plaintext client of a database that pg_hba.conf serves over TLS only.
#include <gtest/gtest.h>

#include <string>

#include "source/source_fixtures.h"
#include "strata/error.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using testing::User;

// `url` with every occurrence of `from` replaced by `to`.
std::string replaced(std::string url, const std::string& from, const std::string& to) {
  for (auto at = url.find(from); at != std::string::npos; at = url.find(from, at + to.size())) {
    url.replace(at, from.size(), to);
  }
  return url;
}

PostgresSource<User> tls_source(const std::string& url) {
  return PostgresSource<User>(
      {.url = url, .pool_size = 1, .connect_timeout = std::chrono::seconds(5)},
      testing::user_columns(testing::unique_name("strata_tls")));
}

// What a connection through `url` fails with (a test failure if it does not fail with TlsError).
TlsFailure tls_failure_of(const std::string& url) {
  try {
    auto source = tls_source(url);
    (void)source.load("k");
  } catch (const TlsError& e) {
    EXPECT_NE(std::string(e.what()).find("TLS: " + std::string(to_string(e.failure()))),
              std::string::npos)
        << e.what();
    return e.failure();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a TlsError: " << e.what();
    throw;
  }
  ADD_FAILURE() << "connected through " << url;
  throw std::runtime_error("connected");
}

TEST(PostgresTls, VerifyFullServesTheTlsOnlyDatabase) {
  STRATA_SERVER_URL(tls_url, "STRATA_TEST_POSTGRES_TLS_URL");
  // strata_tls_only rejects every plaintext connection: serving it proves the channel is TLS.
  auto source = tls_source(replaced(tls_url, "/strata_test?", "/strata_tls_only?"));
  source.write("k", User{"over tls", {}, 1, 0, {}});
  const auto loaded = source.load("k");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->name, "over tls");
}

TEST(PostgresTls, AnUntrustedCaIsATypedError) {
  STRATA_SERVER_URL(tls_url, "STRATA_TEST_POSTGRES_TLS_URL");
  EXPECT_EQ(tls_failure_of(replaced(tls_url, "/ca.crt", "/other-ca.crt")),
            TlsFailure::kUntrustedCertificate);
}

TEST(PostgresTls, ACertificateForAnotherHostNameIsATypedError) {
  STRATA_SERVER_URL(tls_url, "STRATA_TEST_POSTGRES_TLS_URL");
  // Connects to 127.0.0.1 (hostaddr) but verifies the name the URL gives: not in the certificate.
  const std::string url =
      replaced(tls_url, "@127.0.0.1:", "@wrong.example:") + "&hostaddr=127.0.0.1";
  EXPECT_EQ(tls_failure_of(url), TlsFailure::kHostnameMismatch);
}

TEST(PostgresTls, APlaintextClientOfATlsOnlyDatabaseIsATypedError) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_TLS_ONLY_URL");
  EXPECT_EQ(tls_failure_of(url + "?sslmode=disable"), TlsFailure::kPeerRequiresTls);
}

}  // namespace
}  // namespace strata
