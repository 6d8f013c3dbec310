// PostOverHttp (tests only): one HTTP POST on a new connection, for the
// serving tests that check what the HTTP routes answer.
#ifndef FORNAX_TESTS_SERVING_HTTP_TEST_UTIL_H_
#define FORNAX_TESTS_SERVING_HTTP_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace fornax::testing {

// POSTs `body` to `path` at the IPv4 `address`:`port` (Connection: close);
// returns the whole reply (status line, headers, body), empty when the
// connection or the send fails.
inline std::string PostOverHttp(const std::string& address, int port, const std::string& path,
                                const std::string& body) {
  const std::string request =
      absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n",
                   "Content-Length: ", body.size(), "\r\n\r\n", body);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, address.c_str(), &to.sin_addr);
  std::string reply;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t got; (got = recv(fd, buffer, sizeof(buffer), 0)) > 0;) reply.append(buffer, got);
  }
  close(fd);
  return reply;
}

}  // namespace fornax::testing

#endif  // FORNAX_TESTS_SERVING_HTTP_TEST_UTIL_H_
