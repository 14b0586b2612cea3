#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/net/dns_wire.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace dw = appconfig::dns_wire;
using dw::ParseError;
using dw::Type;

namespace {

// A tiny DNS message writer for hand-built (and deliberately broken) replies.
struct Pkt {
  std::vector<uint8_t> b;
  Pkt& u8(unsigned v) { b.push_back(static_cast<uint8_t>(v)); return *this; }
  Pkt& u16(unsigned v) { u8(v >> 8); return u8(v & 0xff); }
  Pkt& u32(uint32_t v) { u16(v >> 16); return u16(v & 0xffff); }
  Pkt& header(unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns = 0, unsigned ar = 0) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  // Labels of a dotted name, optionally without the terminating zero (to append a pointer).
  Pkt& labels(const std::string& name, bool terminate = true) {
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      u8(static_cast<unsigned>(dot - start));
      for (size_t i = start; i < dot; ++i) u8(static_cast<uint8_t>(name[i]));
      start = dot + 1;
    }
    if (terminate) u8(0);
    return *this;
  }
  Pkt& ptr(unsigned offset) { return u16(0xC000 | offset); }
  Pkt& question(const std::string& name, unsigned type = 1, unsigned cls = 1) { return labels(name).u16(type).u16(cls); }
  // Record fixed part after the owner name.
  Pkt& rr(unsigned type, uint32_t ttl, unsigned rdlen, unsigned cls = 1) { return u16(type).u16(cls).u32(ttl).u16(rdlen); }
  Pkt& a(uint8_t x0, uint8_t x1, uint8_t x2, uint8_t x3) { return u8(x0).u8(x1).u8(x2).u8(x3); }
  size_t size() const { return b.size(); }
};

constexpr unsigned kResp = 0x8180;  // QR, RD, RA, NOERROR

std::string addr_text(const dw::Address& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(a.family, a.bytes, buf, sizeof buf);
  return buf;
}

std::string addrs_text(const dw::Answer& ans) {
  std::string s;
  for (size_t i = 0; i < ans.num_addrs; ++i) s += (i ? "," : "") + addr_text(ans.addrs[i]);
  return s;
}

ParseError parse(const Pkt& p, uint16_t id, const std::string& q, Type t, dw::Answer& ans) {
  // Copy into an exactly-sized heap block so ASan flags any read past the end.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[p.size() ? p.size() : 1]);
  if (!p.b.empty()) memcpy(copy.get(), p.b.data(), p.size());
  return dw::parse_response(copy.get(), p.size(), id, q, t, ans);
}

// Every proper prefix of a valid reply is an error, never a crash or a read past the end.
void expect_all_prefixes_fail(const std::vector<uint8_t>& pkt, uint16_t id, const std::string& q, Type t) {
  for (size_t n = 0; n < pkt.size(); ++n) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[n ? n : 1]);
    memcpy(copy.get(), pkt.data(), n);
    dw::Answer ans;
    ParseError e = dw::parse_response(copy.get(), n, id, q, t, ans);
    EXPECT_NE(e, ParseError::kNone) << "prefix " << n << " of " << pkt.size();
  }
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

// ---------------------------------------------------------------- build_query

TEST(DnsWireQuery, ExactBytes) {
  uint8_t out[dw::kMaxPacketBytes];
  size_t n = dw::build_query(0x1234, "example.com", Type::kA, out, sizeof out);
  const uint8_t want[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                          7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
  ASSERT_EQ(n, sizeof want);
  EXPECT_EQ(memcmp(out, want, n), 0);
  // A trailing dot is the same name; case is kept (the caller may apply 0x20 randomisation).
  uint8_t out2[64];
  ASSERT_EQ(dw::build_query(0x1234, "example.com.", Type::kA, out2, sizeof out2), n);
  EXPECT_EQ(memcmp(out, out2, n), 0);
  ASSERT_EQ(dw::build_query(0xffff, "ExAmple.COM", Type::kAaaa, out2, sizeof out2), n);
  EXPECT_EQ(out2[13], 'E');
  EXPECT_EQ(out2[n - 3], 28);
  // cap exactly n works; n - 1 does not.
  EXPECT_EQ(dw::build_query(1, "example.com", Type::kA, out2, n), n);
  EXPECT_EQ(dw::build_query(1, "example.com", Type::kA, out2, n - 1), 0u);
}

TEST(DnsWireQuery, RejectsBadNames) {
  uint8_t out[600];
  for (const char* bad : {"", ".", "..", "a..b", ".a", "a b", "a\tb", "exa\x01mple.com", "caf\xc3\xa9.com"}) {
    EXPECT_EQ(dw::build_query(1, bad, Type::kA, out, sizeof out), 0u) << bad;
  }
  std::string l63(63, 'x'), l64(64, 'x');
  EXPECT_GT(dw::build_query(1, l63 + ".com", Type::kA, out, sizeof out), 0u);
  EXPECT_EQ(dw::build_query(1, l64 + ".com", Type::kA, out, sizeof out), 0u);
  // 253 characters is the longest name (255 wire octets); 254 is too long.
  std::string n253 = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'y');
  ASSERT_EQ(n253.size(), 253u);
  EXPECT_EQ(dw::build_query(1, n253, Type::kA, out, sizeof out), 12u + 255 + 4);
  EXPECT_EQ(dw::build_query(1, n253 + "y", Type::kA, out, sizeof out), 0u);
  EXPECT_EQ(dw::build_query(1, n253 + ".", Type::kA, out, sizeof out), 12u + 255 + 4);
  EXPECT_EQ(dw::build_query(1, "a.com", Type::kA, nullptr, 100), 0u);
}

// ---------------------------------------------------------------- parse_response: corpus

TEST(DnsWireParse, DnspythonCorpus) {
  std::ifstream f(std::string(TEST_DATA_DIR) + "/dns/replies.txt");
  ASSERT_TRUE(f.good()) << "missing " TEST_DATA_DIR "/dns/replies.txt";
  std::string line;
  int cases = 0;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string label, qname, qtype, err, canon, addrs, hex;
    unsigned id = 0, ttl = 0;
    in >> label >> qname >> qtype >> id >> err >> ttl >> canon >> addrs >> hex;
    ASSERT_FALSE(hex.empty()) << line;
    std::vector<uint8_t> pkt;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) pkt.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    Type t = qtype == "AAAA" ? Type::kAaaa : Type::kA;
    dw::Answer ans;
    std::unique_ptr<uint8_t[]> copy(new uint8_t[pkt.size()]);
    memcpy(copy.get(), pkt.data(), pkt.size());
    ParseError e = dw::parse_response(copy.get(), pkt.size(), static_cast<uint16_t>(id), qname, t, ans);
    std::string got_err;
    switch (e) {
#define CASE(x) case ParseError::x: got_err = #x; break;
      CASE(kNone) CASE(kTruncatedPacket) CASE(kWrongId) CASE(kNotResponse) CASE(kWrongQuestion)
      CASE(kTruncatedFlag) CASE(kNxDomain) CASE(kServerFailure) CASE(kRefused) CASE(kOtherRcode)
      CASE(kBadName) CASE(kPointerLoop) CASE(kNoAnswer)
#undef CASE
    }
    EXPECT_EQ(got_err, err) << label;
    if (e == ParseError::kNone) {
      // dnspython keeps an rrset as a set: compare without order.
      auto sorted = [](std::string csv) {
        std::vector<std::string> v;
        std::stringstream ss(csv);
        for (std::string x; std::getline(ss, x, ',');) v.push_back(x);
        std::sort(v.begin(), v.end());
        return v;
      };
      if (label != "many_a_kept_8") {
        EXPECT_EQ(sorted(addrs_text(ans)), sorted(addrs)) << label;
      } else {
        EXPECT_EQ(ans.num_addrs, dw::kMaxAddresses);
      }
      EXPECT_EQ(ans.ttl_s, ttl) << label;
      EXPECT_STREQ(ans.canonical, canon.c_str()) << label;
      expect_all_prefixes_fail(pkt, static_cast<uint16_t>(id), qname, t);
    }
    ++cases;
  }
  EXPECT_GE(cases, 13);
}

// ---------------------------------------------------------------- parse_response: hand-built

TEST(DnsWireParse, ARecordWithPointerToQuestion) {
  Pkt p;
  p.header(0xabcd, kResp, 1, 1).question("api.example.com");
  p.ptr(12).rr(1, 120, 4).a(192, 0, 2, 1);
  dw::Answer ans;
  ASSERT_EQ(parse(p, 0xabcd, "api.example.com", Type::kA, ans), ParseError::kNone);
  ASSERT_EQ(ans.num_addrs, 1u);
  EXPECT_EQ(ans.addrs[0].family, AF_INET);
  EXPECT_EQ(addr_text(ans.addrs[0]), "192.0.2.1");
  EXPECT_EQ(ans.ttl_s, 120u);
  EXPECT_STREQ(ans.canonical, "api.example.com");
  // Trailing dot in qname is accepted.
  EXPECT_EQ(parse(p, 0xabcd, "api.example.com.", Type::kA, ans), ParseError::kNone);
  expect_all_prefixes_fail(p.b, 0xabcd, "api.example.com", Type::kA);
}

TEST(DnsWireParse, Aaaa) {
  Pkt p;
  p.header(1, kResp, 1, 1).question("v6.example", 28);
  p.ptr(12).rr(28, 7, 16);
  for (int i = 0; i < 15; ++i) p.u8(0);
  p.u8(1);
  dw::Answer ans;
  ASSERT_EQ(parse(p, 1, "v6.example", Type::kAaaa, ans), ParseError::kNone);
  ASSERT_EQ(ans.num_addrs, 1u);
  EXPECT_EQ(ans.addrs[0].family, AF_INET6);
  EXPECT_EQ(addr_text(ans.addrs[0]), "::1");
  // Asking for A with the AAAA question is the wrong question.
  EXPECT_EQ(parse(p, 1, "v6.example", Type::kA, ans), ParseError::kWrongQuestion);
}

TEST(DnsWireParse, CnameChainAnyOrderWithSuffixPointers) {
  // q: www.example.com; answers (out of order): A of c.example.net, CNAME b -> c, CNAME www -> b.
  Pkt p;
  p.header(7, kResp, 1, 4).question("www.example.com");  // "example.com" starts at 16
  size_t c_name = p.size();
  p.labels("c.example.net").rr(1, 600, 4).a(198, 51, 100, 1);
  // second A for the final name, owner compressed to the whole c.example.net name
  p.ptr(static_cast<unsigned>(c_name)).rr(1, 30, 4).a(198, 51, 100, 2);
  size_t b_owner = p.size();
  p.labels("b", false).ptr(static_cast<unsigned>(c_name + 2)).rr(5, 100, 2).ptr(static_cast<unsigned>(c_name));
  p.ptr(12).rr(5, 3600, 2).ptr(static_cast<unsigned>(b_owner));
  dw::Answer ans;
  ASSERT_EQ(parse(p, 7, "WWW.example.COM", Type::kA, ans), ParseError::kNone);
  EXPECT_EQ(addrs_text(ans), "198.51.100.1,198.51.100.2");
  EXPECT_EQ(ans.ttl_s, 30u);
  EXPECT_STREQ(ans.canonical, "c.example.net");
  expect_all_prefixes_fail(p.b, 7, "www.example.com", Type::kA);
}

TEST(DnsWireParse, CnameLoopAndLength) {
  {
    // a -> b -> a: never reaches an address.
    Pkt p;
    p.header(9, kResp, 1, 3).question("a.test");
    size_t b = p.size();
    p.labels("b.test").rr(5, 10, 2).ptr(12);
    p.ptr(12).rr(5, 10, 2).ptr(static_cast<unsigned>(b));
    p.ptr(static_cast<unsigned>(b)).rr(1, 10, 4).a(1, 2, 3, 4);  // would answer b, but chain loops
    dw::Answer ans;
    EXPECT_EQ(parse(p, 9, "a.test", Type::kA, ans), ParseError::kNoAnswer);
  }
  auto chain = [](int links) {
    Pkt p;
    p.header(9, kResp, 1, static_cast<unsigned>(links + 1)).question("n0.test");
    for (int i = 0; i < links; ++i)
      p.labels("n" + std::to_string(i) + ".test").rr(5, 10, static_cast<unsigned>(std::to_string(i + 1).size() + 8))
          .labels("n" + std::to_string(i + 1) + ".test");
    p.labels("n" + std::to_string(links) + ".test").rr(1, 10, 4).a(10, 0, 0, 1);
    return p;
  };
  dw::Answer ans;
  EXPECT_EQ(parse(chain(dw::kMaxCnameHops), 9, "n0.test", Type::kA, ans), ParseError::kNone);
  EXPECT_STREQ(ans.canonical, ("n" + std::to_string(dw::kMaxCnameHops) + ".test").c_str());
  EXPECT_EQ(parse(chain(dw::kMaxCnameHops + 1), 9, "n0.test", Type::kA, ans), ParseError::kNoAnswer);
}

TEST(DnsWireParse, PointerLoopsForwardAndOutOfRange) {
  dw::Answer ans;
  {
    Pkt p;  // owner name is a pointer to itself
    p.header(1, kResp, 1, 1).question("x.test");
    size_t self = p.size();
    p.ptr(static_cast<unsigned>(self)).rr(1, 1, 4).a(1, 1, 1, 1);
    EXPECT_EQ(parse(p, 1, "x.test", Type::kA, ans), ParseError::kPointerLoop);
  }
  {
    Pkt p;  // forward pointer into the rdata that follows
    p.header(1, kResp, 1, 1).question("x.test");
    size_t at = p.size();
    p.ptr(static_cast<unsigned>(at + 12)).rr(1, 1, 4).a(1, 1, 1, 1);
    EXPECT_EQ(parse(p, 1, "x.test", Type::kA, ans), ParseError::kPointerLoop);
  }
  {
    Pkt p;  // two pointers pointing at each other (the second backwards, the first forwards)
    p.header(1, kResp, 1, 1).question("x.test");
    size_t at = p.size();
    p.u8(1).u8('y').ptr(static_cast<unsigned>(at + 4)).ptr(static_cast<unsigned>(at)).rr(1, 1, 4).a(1, 1, 1, 1);
    EXPECT_EQ(parse(p, 1, "x.test", Type::kA, ans), ParseError::kPointerLoop);
  }
  {
    Pkt p;  // pointer beyond the end of the packet
    p.header(1, kResp, 1, 1).question("x.test");
    p.ptr(0x3fff).rr(1, 1, 4).a(1, 1, 1, 1);
    EXPECT_EQ(parse(p, 1, "x.test", Type::kA, ans), ParseError::kTruncatedPacket);
  }
  {
    Pkt p;  // pointer in the question pointing into the header (backwards, decodes garbage labels)
    p.header(1, kResp, 1, 0).ptr(2).u16(1).u16(1);
    EXPECT_NE(parse(p, 1, "x.test", Type::kA, ans), ParseError::kNone);
  }
  // A long backward chain inside a TXT rdata: each pointer points at the previous
  // one, the first at the question name. The A record's owner points at the last.
  // Hops = chain length + 1; at most kMaxPointerHops are allowed, none loops.
  auto chain = [](int pointers) {
    Pkt q;
    q.header(1, kResp, 1, 2).question("x.test");
    q.ptr(12).rr(16, 1, static_cast<unsigned>(2 * pointers));
    size_t last = 12;
    for (int i = 0; i < pointers; ++i) {
      size_t here = q.size();
      q.ptr(static_cast<unsigned>(last));
      last = here;
    }
    q.ptr(static_cast<unsigned>(last)).rr(1, 1, 4).a(1, 1, 1, 1);
    return q;
  };
  EXPECT_EQ(parse(chain(dw::kMaxPointerHops - 1), 1, "x.test", Type::kA, ans), ParseError::kNone);
  EXPECT_EQ(parse(chain(dw::kMaxPointerHops), 1, "x.test", Type::kA, ans), ParseError::kPointerLoop);
}

TEST(DnsWireParse, HeaderChecks) {
  auto make = [](unsigned id, unsigned flags) {
    Pkt p;
    p.header(id, flags, 1, 1).question("h.test");
    p.ptr(12).rr(1, 5, 4).a(10, 1, 2, 3);
    return p;
  };
  dw::Answer ans;
  EXPECT_EQ(parse(make(5, kResp), 5, "h.test", Type::kA, ans), ParseError::kNone);
  EXPECT_EQ(parse(make(5, kResp), 6, "h.test", Type::kA, ans), ParseError::kWrongId);
  EXPECT_EQ(parse(make(5, 0x0100), 5, "h.test", Type::kA, ans), ParseError::kNotResponse);
  EXPECT_EQ(parse(make(5, kResp | (2 << 11)), 5, "h.test", Type::kA, ans), ParseError::kNotResponse);  // opcode STATUS
  EXPECT_EQ(parse(make(5, kResp | 0x0200), 5, "h.test", Type::kA, ans), ParseError::kTruncatedFlag);
  EXPECT_EQ(parse(make(5, (kResp & ~0xFu) | 3), 5, "h.test", Type::kA, ans), ParseError::kNxDomain);
  EXPECT_EQ(parse(make(5, (kResp & ~0xFu) | 2), 5, "h.test", Type::kA, ans), ParseError::kServerFailure);
  EXPECT_EQ(parse(make(5, (kResp & ~0xFu) | 5), 5, "h.test", Type::kA, ans), ParseError::kRefused);
  EXPECT_EQ(parse(make(5, (kResp & ~0xFu) | 1), 5, "h.test", Type::kA, ans), ParseError::kOtherRcode);
  EXPECT_EQ(parse(make(5, kResp), 5, "other.test", Type::kA, ans), ParseError::kWrongQuestion);
  EXPECT_EQ(parse(make(5, kResp), 5, "h.tes", Type::kA, ans), ParseError::kWrongQuestion);
  EXPECT_EQ(parse(make(5, kResp), 5, "h.test", Type::kAaaa, ans), ParseError::kWrongQuestion);
  EXPECT_EQ(parse(make(5, kResp), 5, "bad name", Type::kA, ans), ParseError::kBadName);
  // Wrong question beats TC: a spoofed truncated reply must not trigger a TCP retry.
  EXPECT_EQ(parse(make(5, kResp | 0x0200), 5, "other.test", Type::kA, ans), ParseError::kWrongQuestion);
  // Class CH question.
  Pkt ch;
  ch.header(5, kResp, 1, 0).question("h.test", 1, 3);
  EXPECT_EQ(parse(ch, 5, "h.test", Type::kA, ans), ParseError::kWrongQuestion);
  // qdcount 0 / 2
  Pkt q0;
  q0.header(5, (kResp & ~0xFu) | 1, 0, 0);
  EXPECT_EQ(parse(q0, 5, "h.test", Type::kA, ans), ParseError::kOtherRcode);
  Pkt q0ok;
  q0ok.header(5, kResp, 0, 0);
  EXPECT_EQ(parse(q0ok, 5, "h.test", Type::kA, ans), ParseError::kWrongQuestion);
  Pkt q0tc;
  q0tc.header(5, kResp | 0x0200, 0, 0);
  EXPECT_EQ(parse(q0tc, 5, "h.test", Type::kA, ans), ParseError::kTruncatedFlag);
  Pkt q2;
  q2.header(5, kResp, 2, 0).question("h.test").question("h.test");
  EXPECT_EQ(parse(q2, 5, "h.test", Type::kA, ans), ParseError::kWrongQuestion);
  // Empty / short packets.
  Pkt empty;
  EXPECT_EQ(parse(empty, 5, "h.test", Type::kA, ans), ParseError::kTruncatedPacket);
  EXPECT_EQ(dw::parse_response(nullptr, 0, 5, "h.test", Type::kA, ans), ParseError::kTruncatedPacket);
  std::set<std::string> messages;
  for (int i = 0; i <= static_cast<int>(ParseError::kNoAnswer); ++i)
    messages.insert(dw::error_message(static_cast<ParseError>(i)));
  EXPECT_EQ(messages.size(), static_cast<size_t>(ParseError::kNoAnswer) + 1);
}

TEST(DnsWireParse, MixedCase0x20) {
  Pkt p;
  p.header(0x20, kResp, 1, 2).question("aPpCoNfIg.Example.COM");
  p.labels("APPCONFIG.EXAMPLE.COM").rr(1, 9, 4).a(1, 2, 3, 4);
  p.ptr(12).rr(1, 9, 4).a(1, 2, 3, 5);
  dw::Answer ans;
  ASSERT_EQ(parse(p, 0x20, "appconfig.example.com", Type::kA, ans), ParseError::kNone);
  EXPECT_EQ(addrs_text(ans), "1.2.3.4,1.2.3.5");
  EXPECT_STREQ(ans.canonical, "appconfig.example.com");
}

TEST(DnsWireParse, RecordDetails) {
  dw::Answer ans;
  {
    Pkt p;  // A with rdlength 5 is malformed
    p.header(1, kResp, 1, 1).question("r.test");
    p.ptr(12).rr(1, 1, 5).a(1, 2, 3, 4).u8(0);
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kTruncatedPacket);
  }
  {
    Pkt p;  // rdlength past the end
    p.header(1, kResp, 1, 1).question("r.test");
    p.ptr(12).rr(1, 1, 4).u8(1).u8(2).u8(3);
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kTruncatedPacket);
  }
  {
    Pkt p;  // class CH record ignored, other-name record ignored, TTL with top bit -> 0
    p.header(1, kResp, 1, 3).question("r.test");
    p.ptr(12).rr(1, 1, 4, 3).a(9, 9, 9, 9);
    p.labels("s.test").rr(1, 1, 4).a(8, 8, 8, 8);
    p.ptr(12).rr(1, 0x80000005u, 4).a(7, 7, 7, 7);
    ASSERT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kNone);
    EXPECT_EQ(addrs_text(ans), "7.7.7.7");
    EXPECT_EQ(ans.ttl_s, 0u);
  }
  {
    Pkt p;  // extended label type 0x40
    p.header(1, kResp, 1, 1).question("r.test");
    p.u8(0x41).u8('x').u8(0).rr(1, 1, 4).a(1, 2, 3, 4);
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kBadName);
  }
  {
    Pkt p;  // owner name of 5 x 63-octet labels = 321 octets > 255
    p.header(1, kResp, 1, 1).question("r.test");
    for (int i = 0; i < 5; ++i) p.labels(std::string(63, 'z'), false);
    p.u8(0).rr(1, 1, 4).a(1, 2, 3, 4);
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kBadName);
  }
  {
    Pkt p;  // CNAME rdata longer than the name inside it
    p.header(1, kResp, 1, 1).question("r.test");
    p.ptr(12).rr(5, 1, 3).ptr(12).u8(0);
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kTruncatedPacket);
  }
  {
    Pkt p;  // NOERROR, no answers
    p.header(1, kResp, 1, 0).question("r.test");
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kNoAnswer);
  }
  {
    Pkt p;  // bytes after the last counted record are ignored
    p.header(1, kResp, 1, 1).question("r.test");
    p.ptr(12).rr(1, 3, 4).a(1, 2, 3, 4).u8(0xff).u8(0xff);
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kNone);
    // ... but an authority record promised by NSCOUNT must be there and well framed.
    p.b[9] = 1;
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kTruncatedPacket);
    p.b.resize(p.size() - 2);
    p.u8(0).rr(2, 1, 2).ptr(12);  // root owner, NS -> r.test
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kNone);
    p.b[11] = 1;  // ARCOUNT 1 but nothing follows
    EXPECT_EQ(parse(p, 1, "r.test", Type::kA, ans), ParseError::kTruncatedPacket);
  }
}

TEST(DnsWireParse, RandomMutationsNeverCrash) {
  uint64_t seed = std::random_device{}();
  printf("dns mutation seed: %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  Pkt base;
  base.header(3, kResp, 1, 3).question("www.example.com");
  base.ptr(12).rr(5, 100, 2).ptr(16);
  base.ptr(16).rr(1, 100, 4).a(1, 2, 3, 4);
  base.ptr(16).rr(1, 50, 4).a(1, 2, 3, 5);
  dw::Answer ans;
  ASSERT_EQ(parse(base, 3, "www.example.com", Type::kA, ans), ParseError::kNone);
  EXPECT_EQ(addrs_text(ans), "1.2.3.4,1.2.3.5");
  int ok = 0;
  for (int i = 0; i < 200000; ++i) {
    Pkt p = base;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) p.b[12 + rng() % (p.size() - 12)] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) p.b.resize(rng() % p.size());
    if (parse(p, 3, "www.example.com", Type::kA, ans) == ParseError::kNone) {
      ++ok;
      ASSERT_GE(ans.num_addrs, 1u);
      ASSERT_LE(ans.num_addrs, dw::kMaxAddresses);
      ASSERT_LT(strlen(ans.canonical), 254u);
    }
  }
  EXPECT_GT(ok, 0);
}

// ---------------------------------------------------------------- hosts

TEST(DnsWireHosts, Lookup) {
  const std::string hosts =
      "# The following lines are desirable for IPv4 capable hosts\r\n"
      "127.0.0.1\tlocalhost\r\n"
      "127.0.1.1 \t my-host.example.org   my-host # trailing comment\n"
      "::1     localhost ip6-localhost ip6-loopback\n"
      "fe00::0 ip6-localnet\n"
      "fe80::1%eth0 linklocal\n"
      "   10.0.0.7 Api.Example.COM api\n"
      "#10.9.9.9 api\n"
      "10.0.0.8#comment-glued api\n"
      "10.0.0.7 api duplicate\n"
      "999.0.0.1 api\n"
      "2001:db8::7 api\n"
      "10.0.0.9 apix xapi a.pi\n"
      "api 10.0.0.10\n"
      "\n"
      "10.0.0.11";  // no newline at end, no names
  dw::Address out[8];
  ASSERT_EQ(dw::lookup_hosts(hosts, "localhost", out, 8), 2u);
  EXPECT_EQ(addr_text(out[0]), "127.0.0.1");
  EXPECT_EQ(addr_text(out[1]), "::1");
  ASSERT_EQ(dw::lookup_hosts(hosts, "MY-HOST", out, 8), 1u);
  EXPECT_EQ(addr_text(out[0]), "127.0.1.1");
  ASSERT_EQ(dw::lookup_hosts(hosts, "ip6-loopback", out, 8), 1u);
  EXPECT_EQ(out[0].family, AF_INET6);
  EXPECT_EQ(dw::lookup_hosts(hosts, "linklocal", out, 8), 0u);  // zone ids unsupported
  ASSERT_EQ(dw::lookup_hosts(hosts, "api.", out, 8), 2u);        // trailing dot ignored; dup removed
  EXPECT_EQ(addr_text(out[0]), "10.0.0.7");
  EXPECT_EQ(addr_text(out[1]), "2001:db8::7");
  ASSERT_EQ(dw::lookup_hosts(hosts, "api.example.com", out, 8), 1u);
  EXPECT_EQ(dw::lookup_hosts(hosts, "api", out, 1), 1u);  // cap respected
  EXPECT_EQ(dw::lookup_hosts(hosts, "local", out, 8), 0u);
  EXPECT_EQ(dw::lookup_hosts(hosts, "10.0.0.7", out, 8), 0u);
  EXPECT_EQ(dw::lookup_hosts(hosts, "", out, 8), 0u);
  EXPECT_EQ(dw::lookup_hosts(hosts, "comment", out, 8), 0u);
  EXPECT_EQ(dw::lookup_hosts(hosts, "localhost", out, 0), 0u);
}

// RFC 6761 §6.3: with no hosts line of their own (a minimal chroot has no /etc/hosts),
// localhost names are the loopback addresses; a hosts line still wins.
TEST(DnsWireHosts, LocalhostWithoutAHostsLine) {
  dw::Address out[8];
  ASSERT_EQ(dw::lookup_hosts("", "localhost", out, 8), 2u);
  EXPECT_EQ(addr_text(out[0]), "127.0.0.1");
  EXPECT_EQ(addr_text(out[1]), "::1");
  ASSERT_EQ(dw::lookup_hosts("", "LocalHost.", out, 1), 1u);  // case, trailing dot, cap
  EXPECT_EQ(addr_text(out[0]), "127.0.0.1");
  ASSERT_EQ(dw::lookup_hosts("", "api.localhost", out, 8), 2u);
  EXPECT_EQ(dw::lookup_hosts("", "notlocalhost", out, 8), 0u);
  EXPECT_EQ(dw::lookup_hosts("", "localhost.example", out, 8), 0u);
  ASSERT_EQ(dw::lookup_hosts("10.1.2.3 localhost\n", "localhost", out, 8), 1u);
  EXPECT_EQ(addr_text(out[0]), "10.1.2.3");
}

TEST(DnsWireHosts, SystemFileDoesNotCrash) {
  std::string text = slurp("/etc/hosts");
  dw::Address out[dw::kMaxAddresses];
  size_t n = dw::lookup_hosts(text, "localhost", out, dw::kMaxAddresses);
  if (text.find("127.0.0.1") != std::string::npos && text.find("localhost") != std::string::npos) {
    EXPECT_GE(n, 1u);
  }
}

// ---------------------------------------------------------------- resolv.conf

TEST(DnsWireResolvConf, DefaultsAndOptions) {
  dw::ResolvConf rc = dw::parse_resolv_conf("");
  ASSERT_EQ(rc.num_servers, 1u);
  EXPECT_EQ(addr_text(rc.servers[0]), "127.0.0.1");
  EXPECT_EQ(rc.ports[0], 53);
  EXPECT_EQ(rc.timeout_s, 5);
  EXPECT_EQ(rc.attempts, 2);

  rc = dw::parse_resolv_conf(
      "# generated\n"
      "; also a comment\n"
      "search example.com corp.example\n"
      "nameserver 10.0.0.2\n"
      "nameserver\tbogus\n"
      "nameserver 2001:4860:4860::8888\r\n"
      "  nameserver [::1]:5353\n"
      "nameserver 8.8.8.8\n"
      "options ndots:2 timeout:3 rotate attempts:4\n");
  ASSERT_EQ(rc.num_servers, 3u);
  EXPECT_EQ(addr_text(rc.servers[0]), "10.0.0.2");
  EXPECT_EQ(addr_text(rc.servers[1]), "2001:4860:4860::8888");
  EXPECT_EQ(addr_text(rc.servers[2]), "::1");
  EXPECT_EQ(rc.ports[0], 53);
  EXPECT_EQ(rc.ports[1], 53);
  EXPECT_EQ(rc.ports[2], 5353);
  EXPECT_EQ(rc.timeout_s, 3);
  EXPECT_EQ(rc.attempts, 4);

  rc = dw::parse_resolv_conf("options timeout:99 attempts:0\noptions attempts:9\nnameserver 127.0.0.1:1053 # x\n");
  EXPECT_EQ(rc.timeout_s, 30);
  EXPECT_EQ(rc.attempts, 5);
  ASSERT_EQ(rc.num_servers, 1u);
  EXPECT_EQ(rc.ports[0], 1053);
  rc = dw::parse_resolv_conf("options timeout:0 attempts:x timeout:abc\nnameserver 1.2.3.4:0\nnameserver ::1:53\n");
  EXPECT_EQ(rc.timeout_s, 1);
  EXPECT_EQ(rc.attempts, 2);
  ASSERT_EQ(rc.num_servers, 1u);  // "::1:53" is the IPv6 address ::1:53, port 53
  EXPECT_EQ(rc.servers[0].family, AF_INET6);
  EXPECT_EQ(rc.servers[0].bytes[13], 1);
  EXPECT_EQ(rc.servers[0].bytes[14], 0);
  EXPECT_EQ(rc.servers[0].bytes[15], 0x53);
  EXPECT_EQ(rc.ports[0], 53);
  rc = dw::parse_resolv_conf("#nameserver 9.9.9.9\nnameservers 1.1.1.1\nnameserver fe80::1%eth0\n");
  ASSERT_EQ(rc.num_servers, 1u);
  EXPECT_EQ(addr_text(rc.servers[0]), "127.0.0.1");
}

TEST(DnsWireResolvConf, SystemFile) {
  dw::ResolvConf rc = dw::parse_resolv_conf(slurp("/etc/resolv.conf"));
  EXPECT_GE(rc.num_servers, 1u);
  EXPECT_LE(rc.num_servers, dw::kMaxNameservers);
}

// ---------------------------------------------------------------- IP literals

TEST(DnsWireIp, StripTrailingDot) {
  EXPECT_EQ(dw::strip_trailing_dot("example.com."), "example.com");
  EXPECT_EQ(dw::strip_trailing_dot("example.com"), "example.com");
  EXPECT_EQ(dw::strip_trailing_dot("a.."), "a.") << "one root dot at most";
  EXPECT_EQ(dw::strip_trailing_dot("."), "");
  EXPECT_EQ(dw::strip_trailing_dot(""), "");
}

TEST(DnsWireIp, Literals) {
  struct C { const char* text; bool ok; const char* norm; };
  const C cases[] = {
      {"1.2.3.4", true, "1.2.3.4"},       {"255.255.255.255", true, "255.255.255.255"},
      {"0.0.0.0", true, "0.0.0.0"},       {"256.1.1.1", false, ""},
      {"01.2.3.4", false, ""},            {"1.2.3", false, ""},
      {"1.2.3.4.5", false, ""},           {"1.2.3.4 ", false, ""},
      {" 1.2.3.4", false, ""},            {"1..3.4", false, ""},
      {"1.2.3.", false, ""},              {"", false, ""},
      {"::", true, "::"},                 {"::1", true, "::1"},
      {"[::1]", true, "::1"},             {"[1.2.3.4]", false, ""},
      {"[::1", false, ""},                {"1::", true, "1::"},
      {"1:2:3:4:5:6:7:8", true, "1:2:3:4:5:6:7:8"},
      {"1:2:3:4:5:6:7:8:9", false, ""},   {"1:2:3:4:5:6:7", false, ""},
      {"1:2:3:4:5:6:7::", true, "1:2:3:4:5:6:7:0"},
      {"::2:3:4:5:6:7:8", true, "0:2:3:4:5:6:7:8"},
      {"1:2:3:4::5:6:7:8", false, ""},    {"1::2::3", false, ""},
      {":1::", false, ""},                {"1:::2", false, ""},
      {"::ffff:192.0.2.1", true, "::ffff:192.0.2.1"},
      {"64:ff9b::192.0.2.33", true, "64:ff9b::c000:221"},
      {"1:2:3:4:5:6:1.2.3.4", true, "1:2:3:4:5:6:102:304"},
      {"1:2:3:4:5:6:7:1.2.3.4", false, ""},
      {"::1.2.3.4:1", false, ""},         {"00000::1", false, ""},
      {"0001::1", true, "1::1"},          {"FFFF::abcd", true, "ffff::abcd"},
      {"g::1", false, ""},                {"1:", false, ""},
      {"fe80::1%eth0", false, ""},
  };
  for (const C& c : cases) {
    dw::Address a;
    memset(&a, 0xAA, sizeof a);
    bool ok = dw::parse_ip_literal(c.text, a);
    EXPECT_EQ(ok, c.ok) << c.text;
    if (ok && c.ok) {
      EXPECT_EQ(addr_text(a), c.norm) << c.text;
    }
  }
}

// Differential test against glibc's inet_pton on random strings.
TEST(DnsWireIp, AgreesWithInetPton) {
  uint64_t seed = std::random_device{}();
  printf("ip literal seed: %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const char alphabet[] = "0123456789abcdefAF::::....";
  int valid = 0;
  for (int i = 0; i < 300000; ++i) {
    std::string s;
    size_t len = rng() % 24;
    for (size_t k = 0; k < len; ++k) s += alphabet[rng() % (sizeof alphabet - 1)];
    if (rng() % 8 == 0) {  // also valid-ish shapes
      uint8_t raw[16];
      for (auto& b : raw) b = (rng() % 3) ? 0 : static_cast<uint8_t>(rng());
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, raw, buf, sizeof buf);
      s = buf;
    }
    unsigned char ref[16];
    bool want = s.find(':') != std::string::npos ? inet_pton(AF_INET6, s.c_str(), ref) == 1
                                                 : inet_pton(AF_INET, s.c_str(), ref) == 1;
    dw::Address a;
    bool got = dw::parse_ip_literal(s, a);
    ASSERT_EQ(got, want) << "'" << s << "'";
    if (got) {
      ++valid;
      ASSERT_EQ(memcmp(a.bytes, ref, a.family == AF_INET ? 4 : 16), 0) << s;
    }
  }
  EXPECT_GT(valid, 1000);
}
