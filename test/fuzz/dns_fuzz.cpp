// libFuzzer target for appconfig::dns_wire.
// Input layout: [selector][name length n][n bytes of name][rest]. The selector picks:
//   0-3: parse_response(rest, id taken from rest's header so the id check passes,
//        qname = name, qtype A or AAAA); if the packet is a reply to a well-formed
//        query, also re-run it with the question spliced in from build_query.
//   4:   lookup_hosts(rest, name)
//   5:   parse_resolv_conf(rest)
//   6:   parse_ip_literal(rest), checked against glibc's inet_pton
//   7:   build_query(name) -> a reply built from it parses to exactly one address.
// Invariants: no fault or out-of-bounds read anywhere (ASan on exact-size copies);
// a successful parse has 1..kMaxAddresses addresses of the asked family and a
// canonical name of at most 253 characters; hosts results respect cap and are
// unique; resolv.conf yields 1..3 servers and clamped options.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "appconfig/net/dns_wire.h"

namespace dw = appconfig::dns_wire;

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) {        \
      __builtin_trap();   \
    }                     \
  } while (0)

namespace {

void check_answer(const dw::Answer& a, dw::Type t) {
  CHECK(a.num_addrs >= 1 && a.num_addrs <= dw::kMaxAddresses);
  for (size_t i = 0; i < a.num_addrs; ++i) CHECK(a.addrs[i].family == (t == dw::Type::kA ? AF_INET : AF_INET6));
  CHECK(strnlen(a.canonical, sizeof a.canonical) <= dw::kMaxNameTextBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint8_t selector = data[0] % 8;
  size_t name_len = data[1];
  if (2 + name_len > size) name_len = size - 2;
  std::string_view name(reinterpret_cast<const char*>(data + 2), name_len);
  const uint8_t* rest = data + 2 + name_len;
  size_t rest_len = size - 2 - name_len;

  // Exact-size heap copy so any over-read is caught.
  uint8_t* buf = static_cast<uint8_t*>(malloc(rest_len ? rest_len : 1));
  if (rest_len) memcpy(buf, rest, rest_len);
  std::string_view text(reinterpret_cast<const char*>(buf), rest_len);

  switch (selector) {
    case 0: case 1: case 2: case 3: {
      dw::Type t = (selector & 1) ? dw::Type::kAaaa : dw::Type::kA;
      uint16_t id = rest_len >= 2 ? static_cast<uint16_t>((buf[0] << 8) | buf[1]) : 0;
      dw::Answer ans;
      if (dw::parse_response(buf, rest_len, id, name, t, ans) == dw::ParseError::kNone) check_answer(ans, t);
      // Splice a valid question for name into the packet (after a 12-byte header) so
      // the fuzzer reaches the answer section without having to guess the question.
      uint8_t q[dw::kMaxPacketBytes];
      size_t qn = dw::build_query(id, name, t, q, sizeof q);
      if (qn != 0 && rest_len >= 12) {
        size_t total = qn + rest_len - 12;
        uint8_t* pkt = static_cast<uint8_t*>(malloc(total));
        memcpy(pkt, buf, 12);
        pkt[4] = 0;
        pkt[5] = 1;
        memcpy(pkt + 12, q + 12, qn - 12);
        memcpy(pkt + qn, buf + 12, rest_len - 12);
        if (dw::parse_response(pkt, total, id, name, t, ans) == dw::ParseError::kNone) check_answer(ans, t);
        free(pkt);
      }
      break;
    }
    case 4: {
      dw::Address out[dw::kMaxAddresses];
      size_t cap = 1 + name_len % dw::kMaxAddresses;
      size_t n = dw::lookup_hosts(text, name, out, cap);
      CHECK(n <= cap);
      for (size_t i = 0; i < n; ++i) {
        CHECK(out[i].family == AF_INET || out[i].family == AF_INET6);
        for (size_t j = 0; j < i; ++j)
          CHECK(out[i].family != out[j].family || memcmp(out[i].bytes, out[j].bytes, 16) != 0 ||
                out[i].family == AF_INET);  // IPv4 compares only 4 bytes; the rest is unspecified
      }
      break;
    }
    case 5: {
      dw::ResolvConf rc = dw::parse_resolv_conf(text);
      CHECK(rc.num_servers >= 1 && rc.num_servers <= dw::kMaxNameservers);
      CHECK(rc.timeout_s >= 1 && rc.timeout_s <= dw::kMaxTimeoutS);
      CHECK(rc.attempts >= 1 && rc.attempts <= dw::kMaxAttempts);
      for (size_t i = 0; i < rc.num_servers; ++i) CHECK(rc.ports[i] != 0);
      break;
    }
    case 6: {
      dw::Address a;
      bool got = dw::parse_ip_literal(text, a);
      // inet_pton needs a C string; brackets are our extension, strip them for the oracle.
      if (rest_len < 64 && memchr(buf, 0, rest_len) == nullptr) {
        char s[64];
        std::string_view inner = text;
        bool bracketed = inner.size() >= 2 && inner.front() == '[' && inner.back() == ']';
        if (bracketed) inner = inner.substr(1, inner.size() - 2);
        memcpy(s, inner.data(), inner.size());
        s[inner.size()] = '\0';
        unsigned char ref[16];
        bool v6 = memchr(s, ':', inner.size()) != nullptr;
        bool want = inet_pton(v6 ? AF_INET6 : AF_INET, s, ref) == 1 && (!bracketed || v6);
        CHECK(got == want);
        if (got) CHECK(memcmp(a.bytes, ref, v6 ? 16 : 4) == 0);
      }
      break;
    }
    case 7: {
      uint8_t pkt[dw::kMaxPacketBytes];
      for (dw::Type t : {dw::Type::kA, dw::Type::kAaaa}) {
        size_t n = dw::build_query(0x5a5a, name, t, pkt, sizeof pkt - 64);
        if (n == 0) continue;
        CHECK(n == 12 + 2 + (name.back() == '.' ? name.size() - 1 : name.size()) + 4);
        pkt[2] |= 0x80;  // QR
        pkt[7] = 1;      // ANCOUNT
        size_t p = n;
        pkt[p++] = 0xC0;
        pkt[p++] = 12;
        pkt[p++] = 0;
        pkt[p++] = static_cast<uint8_t>(t);
        pkt[p++] = 0;
        pkt[p++] = 1;
        pkt[p++] = 0; pkt[p++] = 0; pkt[p++] = 0; pkt[p++] = 9;
        size_t rdlen = t == dw::Type::kA ? 4 : 16;
        pkt[p++] = 0;
        pkt[p++] = static_cast<uint8_t>(rdlen);
        for (size_t i = 0; i < rdlen; ++i) pkt[p++] = static_cast<uint8_t>(i + 1);
        dw::Answer ans;
        CHECK(dw::parse_response(pkt, p, 0x5a5a, name, t, ans) == dw::ParseError::kNone);
        CHECK(ans.num_addrs == 1 && ans.ttl_s == 9);
        check_answer(ans, t);
      }
      break;
    }
  }
  free(buf);
  return 0;
}
