#include "appconfig/net/dns_wire.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "appconfig/core/text.h"

namespace appconfig::dns_wire {

namespace {

constexpr size_t kHeaderBytes = 12;       // RFC 1035 §4.1.1
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr int kMaxPortValue = 65535;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// string_view::substr without the out_of_range throw (we build without exceptions):
// pos is clamped to the size.
std::string_view sub(std::string_view s, size_t pos, size_t n = std::string_view::npos) {
  if (pos > s.size()) pos = s.size();
  if (n > s.size() - pos) n = s.size() - pos;
  return std::string_view(s.data() + pos, n);
}

// Dotted text -> uncompressed wire name (labels + terminating 0). Returns the
// wire length, or 0 when the name is not a plain hostname-ish name.
size_t encode_name(std::string_view name, bool to_lower, uint8_t* out, size_t cap) {
  name = strip_trailing_dot(name);
  if (name.empty() || name.size() > kMaxNameTextBytes || name.size() + 2 > cap) return 0;
  size_t w = 0;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    size_t label = dot - start;
    if (label == 0 || label > kMaxLabelBytes) return 0;
    out[w++] = static_cast<uint8_t>(label);
    for (size_t i = start; i < dot; ++i) {
      auto c = static_cast<uint8_t>(name[i]);
      if (c < 0x21 || c > 0x7e) return 0;
      out[w++] = to_lower ? static_cast<uint8_t>(text::lower(static_cast<char>(c))) : c;
    }
    start = dot + 1;
  }
  out[w++] = 0;
  return w;
}

// Decodes the (possibly compressed) name at pos into lower-case uncompressed
// wire form. next = the offset just past the name at pos (RFC 1035 §4.1.4).
ParseError read_name(const uint8_t* pkt, size_t len, size_t pos, uint8_t* out, size_t& out_len, size_t& next) {
  size_t p = pos;
  size_t w = 0;
  int hops = 0;
  bool jumped = false;
  for (;;) {
    if (p >= len) return ParseError::kTruncatedPacket;
    uint8_t b = pkt[p];
    if ((b & 0xC0) == 0xC0) {
      if (p + 1 >= len) return ParseError::kTruncatedPacket;
      size_t target = (size_t{b & 0x3Fu} << 8) | pkt[p + 1];
      if (!jumped) next = p + 2;
      if (target >= len) return ParseError::kTruncatedPacket;
      // Only backward pointers ("a prior occurrence"): this alone rules out loops.
      if (target >= p || ++hops > kMaxPointerHops) return ParseError::kPointerLoop;
      jumped = true;
      p = target;
      continue;
    }
    if ((b & 0xC0) != 0) return ParseError::kBadName;  // 01 / 10: extended label types (RFC 6891 §5)
    if (b == 0) {
      if (w + 1 > kMaxNameWireBytes) return ParseError::kBadName;
      out[w++] = 0;
      if (!jumped) next = p + 1;
      out_len = w;
      return ParseError::kNone;
    }
    if (b > len - p - 1) return ParseError::kTruncatedPacket;
    if (w + 1 + b + 1 > kMaxNameWireBytes) return ParseError::kBadName;
    out[w++] = b;
    for (size_t i = 0; i < b; ++i) out[w++] = static_cast<uint8_t>(text::lower(static_cast<char>(pkt[p + 1 + i])));
    p += 1 + size_t{b};
  }
}

struct Record {
  uint8_t owner[kMaxNameWireBytes];
  size_t owner_len;
  uint16_t type;
  uint16_t cls;
  uint32_t ttl_s;
  size_t rdata;
  size_t rdlen;
};

ParseError read_record(const uint8_t* pkt, size_t len, size_t pos, Record& rr, size_t& next) {
  size_t p = 0;
  ParseError e = read_name(pkt, len, pos, rr.owner, rr.owner_len, p);
  if (e != ParseError::kNone) return e;
  if (len - p < 10) return ParseError::kTruncatedPacket;
  rr.type = be16(pkt + p);
  rr.cls = be16(pkt + p + 2);
  uint32_t ttl = be32(pkt + p + 4);
  rr.ttl_s = (ttl & 0x80000000u) ? 0 : ttl;  // RFC 2181 §8: a TTL with the top bit set means 0
  rr.rdlen = be16(pkt + p + 8);
  rr.rdata = p + 10;
  if (rr.rdlen > len - rr.rdata) return ParseError::kTruncatedPacket;
  next = rr.rdata + rr.rdlen;
  return ParseError::kNone;
}

bool same_name(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len) {
  return a_len == b_len && memcmp(a, b, a_len) == 0;
}

void name_to_text(const uint8_t* wire, char* out) {
  size_t w = 0;
  size_t p = 0;
  while (wire[p] != 0) {
    uint8_t n = wire[p];
    if (w > 0) out[w++] = '.';
    for (size_t i = 1; i <= n; ++i) {
      uint8_t c = wire[p + i];
      out[w++] = (c < 0x21 || c > 0x7e || c == '.') ? '?' : static_cast<char>(c);
    }
    p += 1 + size_t{n};
  }
  out[w] = '\0';  // at most 253 characters: a 255-octet wire name
}

// A resolv.conf option value or a port: text::parse_uint with at most 9 digits (so "0000000001"
// is refused as before) and an int result.
bool parse_small_number(std::string_view s, int max_value, int& out) {
  uint64_t v = 0;
  if (s.size() > 9 || !text::parse_uint(s, static_cast<uint64_t>(max_value), &v)) return false;
  out = static_cast<int>(v);
  return true;
}

bool parse_v4(std::string_view s, uint8_t* out) {
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    size_t start = i;
    int v = 0;
    while (i < s.size() && text::is_digit(s[i]) && i - start < 3) v = v * 10 + (s[i++] - '0');
    size_t digits = i - start;
    if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0')) return false;
    out[part] = static_cast<uint8_t>(v);
    if (part < 3) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

// RFC 4291 §2.2: x:x:x:x:x:x:x:x, "::" for one or more zero groups, and an
// optional dotted IPv4 in place of the last two groups.
bool parse_v6(std::string_view s, uint8_t* out) {
  uint16_t groups[8] = {};
  int n = 0;
  int gap = -1;  // index where "::" sits
  size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    if (n == 8) return false;
    size_t start = i;
    unsigned v = 0;
    while (i < s.size() && text::hex_value(s[i]) >= 0 && i - start < 5)
      v = v * 16 + static_cast<unsigned>(text::hex_value(s[i++]));
    if (i < s.size() && s[i] == '.') {
      uint8_t v4[4];
      if (n > 6 || !parse_v4(sub(s, start), v4)) return false;
      groups[n++] = static_cast<uint16_t>((v4[0] << 8) | v4[1]);
      groups[n++] = static_cast<uint16_t>((v4[2] << 8) | v4[3]);
      break;
    }
    size_t digits = i - start;
    if (digits == 0 || digits > 4) return false;
    groups[n++] = static_cast<uint16_t>(v);
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false;  // a single trailing ':'
    }
  }
  if (gap < 0) {
    if (n != 8) return false;
  } else {
    if (n > 7) return false;  // "::" stands for at least one group
    int move = n - gap;
    for (int k = 0; k < move; ++k) groups[7 - k] = groups[n - 1 - k];
    for (int k = gap; k < 8 - move; ++k) groups[k] = 0;
  }
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<uint8_t>(groups[k] >> 8);
    out[2 * k + 1] = static_cast<uint8_t>(groups[k]);
  }
  return true;
}

// Splits text into lines (LF or CRLF) for the hosts and resolv.conf parsers.
struct LineReader {
  std::string_view rest;
  bool next(std::string_view& line) {
    if (rest.empty()) return false;
    size_t nl = rest.find('\n');
    line = sub(rest, 0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : sub(rest, nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  }
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// Next whitespace-separated token of line (consumed), or empty at the end.
std::string_view next_token(std::string_view& line) {
  size_t i = 0;
  while (i < line.size() && is_blank(line[i])) ++i;
  size_t start = i;
  while (i < line.size() && !is_blank(line[i])) ++i;
  std::string_view tok = sub(line, start, i - start);
  line = sub(line, i);
  return tok;
}

bool same_address(const Address& a, const Address& b) {
  return a.family == b.family && memcmp(a.bytes, b.bytes, a.family == AF_INET ? 4 : 16) == 0;
}

// A nameserver token: an IP literal, or our test extension "[v6]:port" / "v4:port".
bool parse_server(std::string_view tok, Address& addr, uint16_t& port) {
  port = kDnsPort;
  if (parse_ip_literal(tok, addr)) return true;
  size_t colon = tok.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = sub(tok, 0, colon);
  int p = 0;
  if (!parse_small_number(sub(tok, colon + 1), kMaxPortValue, p) || p == 0) return false;
  bool ok = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    ok = parse_ip_literal(host, addr);
  } else if (host.find(':') == std::string_view::npos) {
    ok = parse_ip_literal(host, addr);
  }
  if (!ok) return false;
  port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

const char* error_message(ParseError e) {
  switch (e) {
    case ParseError::kNone: return "ok";
    case ParseError::kTruncatedPacket: return "DNS reply truncated or malformed";
    case ParseError::kWrongId: return "DNS reply has the wrong id";
    case ParseError::kNotResponse: return "DNS packet is not a query response";
    case ParseError::kWrongQuestion: return "DNS reply answers a different question";
    case ParseError::kTruncatedFlag: return "DNS reply truncated (TC): retry over TCP";
    case ParseError::kNxDomain: return "DNS name does not exist (NXDOMAIN)";
    case ParseError::kServerFailure: return "DNS server failure (SERVFAIL)";
    case ParseError::kRefused: return "DNS query refused";
    case ParseError::kOtherRcode: return "DNS reply has an error rcode";
    case ParseError::kBadName: return "DNS name is malformed";
    case ParseError::kPointerLoop: return "DNS compression pointer loops or points forward";
    case ParseError::kNoAnswer: return "DNS reply has no address for the name";
  }
  return "unknown DNS error";
}

size_t build_query(uint16_t id, std::string_view name, Type type, uint8_t* out, size_t cap) {
  if (out == nullptr || cap < kHeaderBytes + 4) return 0;
  size_t n = encode_name(name, false, out + kHeaderBytes, cap - kHeaderBytes - 4);
  if (n == 0) return 0;
  memset(out, 0, kHeaderBytes);
  out[0] = static_cast<uint8_t>(id >> 8);
  out[1] = static_cast<uint8_t>(id);
  out[2] = static_cast<uint8_t>(kFlagRd >> 8);
  out[5] = 1;  // QDCOUNT
  size_t p = kHeaderBytes + n;
  auto t = static_cast<uint16_t>(type);
  out[p++] = static_cast<uint8_t>(t >> 8);
  out[p++] = static_cast<uint8_t>(t);
  out[p++] = 0;
  out[p++] = kClassIn;
  return p;
}

namespace {

// A name in wire form (lower case, uncompressed), as read_name writes it.
struct WireName {
  uint8_t bytes[kMaxNameWireBytes];
  size_t len = 0;
};

ParseError rcode_error(unsigned rcode) {
  switch (rcode) {
    case 0: return ParseError::kNone;
    case 2: return ParseError::kServerFailure;
    case 3: return ParseError::kNxDomain;
    case 5: return ParseError::kRefused;
    default: return ParseError::kOtherRcode;
  }
}

// The header (RFC 1035 §4.1.1) and the one question (§4.1.2), which must be ours (qname, in wire
// form, into want); then TC and the rcode. *answers = the offset of the answer section.
ParseError check_header_and_question(const uint8_t* pkt, size_t len, uint16_t expected_id, std::string_view qname,
                                     Type qtype, WireName& want, size_t* answers) {
  if (be16(pkt) != expected_id) return ParseError::kWrongId;
  const uint16_t flags = be16(pkt + 2);
  if ((flags & kFlagQr) == 0 || ((flags >> 11) & 0xF) != 0) return ParseError::kNotResponse;
  want.len = encode_name(qname, true, want.bytes, sizeof want.bytes);
  if (want.len == 0) return ParseError::kBadName;
  const uint16_t qdcount = be16(pkt + 4);
  const unsigned rcode = flags & 0xF;
  if (qdcount != 1) {
    // Some servers drop the question from error replies (e.g. FORMERR, REFUSED).
    if (qdcount == 0 && (flags & kFlagTc)) return ParseError::kTruncatedFlag;
    if (qdcount == 0 && rcode != 0) return rcode_error(rcode);
    return ParseError::kWrongQuestion;
  }
  WireName name;
  size_t pos = 0;
  ParseError e = read_name(pkt, len, kHeaderBytes, name.bytes, name.len, pos);
  if (e != ParseError::kNone) return e;
  if (len - pos < 4) return ParseError::kTruncatedPacket;
  if (!same_name(name.bytes, name.len, want.bytes, want.len) || be16(pkt + pos) != static_cast<uint16_t>(qtype) ||
      be16(pkt + pos + 2) != kClassIn)
    return ParseError::kWrongQuestion;
  *answers = pos + 4;
  if (flags & kFlagTc) return ParseError::kTruncatedFlag;
  return rcode_error(rcode);
}

// Validates every record once (answers fully, authority and additional for framing only: a
// reply shorter than its counts is malformed), so later passes over the answers cannot fail.
// Bytes after the last counted record are ignored.
ParseError check_records(const uint8_t* pkt, size_t len, size_t answers) {
  const size_t ancount = be16(pkt + 6);
  const size_t records = ancount + be16(pkt + 8) + be16(pkt + 10);
  Record rr;
  for (size_t i = 0, p = answers; i < records; ++i) {
    ParseError e = read_record(pkt, len, p, rr, p);
    if (e != ParseError::kNone) return e;
    if (i >= ancount || rr.cls != kClassIn) continue;
    if ((rr.type == static_cast<uint16_t>(Type::kA) && rr.rdlen != 4) ||
        (rr.type == static_cast<uint16_t>(Type::kAaaa) && rr.rdlen != 16))
      return ParseError::kTruncatedPacket;
    if (rr.type == static_cast<uint16_t>(Type::kCname)) {
      WireName target;
      size_t end = 0;
      e = read_name(pkt, len, rr.rdata, target.bytes, target.len, end);
      if (e != ParseError::kNone) return e;
      if (end != rr.rdata + rr.rdlen) return ParseError::kTruncatedPacket;
    }
  }
  return ParseError::kNone;
}

// Follows the CNAME chain from name (records may come in any order); name becomes the last
// target, *ttl_s the smallest TTL on the way. False past kMaxCnameHops (a loop, or too long).
bool follow_cnames(const uint8_t* pkt, size_t len, size_t answers, WireName& name, uint32_t* ttl_s) {
  const size_t ancount = be16(pkt + 6);
  Record rr;
  for (int hop = 0;; ++hop) {
    bool followed = false;
    for (size_t i = 0, p = answers; i < ancount && !followed; ++i) {
      read_record(pkt, len, p, rr, p);
      if (rr.cls != kClassIn || rr.type != static_cast<uint16_t>(Type::kCname) ||
          !same_name(rr.owner, rr.owner_len, name.bytes, name.len))
        continue;
      size_t end = 0;
      read_name(pkt, len, rr.rdata, name.bytes, name.len, end);
      if (rr.ttl_s < *ttl_s) *ttl_s = rr.ttl_s;
      followed = true;
    }
    if (!followed) return true;
    if (hop + 1 > kMaxCnameHops) return false;
  }
}

// The A or AAAA records of name (at most kMaxAddresses), into out; *ttl_s as in follow_cnames.
void collect_addresses(const uint8_t* pkt, size_t len, size_t answers, const WireName& name, Type qtype, Answer& out,
                       uint32_t* ttl_s) {
  const size_t ancount = be16(pkt + 6);
  Record rr;
  for (size_t i = 0, p = answers; i < ancount; ++i) {
    read_record(pkt, len, p, rr, p);
    if (rr.cls != kClassIn || rr.type != static_cast<uint16_t>(qtype) ||
        !same_name(rr.owner, rr.owner_len, name.bytes, name.len))
      continue;
    if (rr.type != static_cast<uint16_t>(Type::kA) && rr.type != static_cast<uint16_t>(Type::kAaaa)) continue;
    if (out.num_addrs == kMaxAddresses) break;
    Address& a = out.addrs[out.num_addrs++];
    memset(a.bytes, 0, sizeof a.bytes);
    a.family = rr.rdlen == 4 ? AF_INET : AF_INET6;
    memcpy(a.bytes, pkt + rr.rdata, rr.rdlen);
    if (rr.ttl_s < *ttl_s) *ttl_s = rr.ttl_s;
  }
}

}  // namespace

ParseError parse_response(const uint8_t* pkt, size_t len, uint16_t expected_id, std::string_view qname, Type qtype,
                          Answer& out) {
  out.num_addrs = 0;
  out.ttl_s = 0;
  out.canonical[0] = '\0';
  if (pkt == nullptr || len < kHeaderBytes) return ParseError::kTruncatedPacket;
  WireName name;  // the question's, then each CNAME target in turn
  size_t answers = 0;
  ParseError e = check_header_and_question(pkt, len, expected_id, qname, qtype, name, &answers);
  if (e != ParseError::kNone) return e;
  e = check_records(pkt, len, answers);
  if (e != ParseError::kNone) return e;
  uint32_t ttl_s = UINT32_MAX;
  if (!follow_cnames(pkt, len, answers, name, &ttl_s)) return ParseError::kNoAnswer;
  collect_addresses(pkt, len, answers, name, qtype, out, &ttl_s);
  if (out.num_addrs == 0) return ParseError::kNoAnswer;
  out.ttl_s = ttl_s;
  name_to_text(name.bytes, out.canonical);
  return ParseError::kNone;
}

size_t lookup_hosts(std::string_view hosts_file_text, std::string_view name, Address* out, size_t cap) {
  name = strip_trailing_dot(name);
  if (name.empty() || out == nullptr || cap == 0) return 0;
  size_t n = 0;
  LineReader lines{hosts_file_text};
  std::string_view line;
  while (n < cap && lines.next(line)) {
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = sub(line, 0, hash);
    Address addr;
    if (!parse_ip_literal(next_token(line), addr)) continue;
    for (std::string_view tok = next_token(line); !tok.empty(); tok = next_token(line)) {
      if (!text::iequals(strip_trailing_dot(tok), name)) continue;
      bool dup = false;
      for (size_t i = 0; i < n; ++i) dup = dup || same_address(out[i], addr);
      if (!dup) out[n++] = addr;
      break;
    }
  }
  // RFC 6761 §6.3: localhost names are the loopback addresses, also where no /etc/hosts says so
  // (a minimal container or chroot has none).
  const bool localhost = text::iequals(name, "localhost") || (name.size() > 10 && text::iends_with(name, ".localhost"));
  if (n == 0 && localhost) {
    Address v4{AF_INET, {127, 0, 0, 1}};
    Address v6{AF_INET6, {}};
    v6.bytes[15] = 1;
    out[n++] = v4;
    if (n < cap) out[n++] = v6;
  }
  return n;
}

ResolvConf parse_resolv_conf(std::string_view text) {
  ResolvConf rc;
  memset(&rc, 0, sizeof rc);
  rc.timeout_s = kDefaultTimeoutS;
  rc.attempts = kDefaultAttempts;
  LineReader lines{text};
  std::string_view line;
  while (lines.next(line)) {
    std::string_view keyword = next_token(line);
    if (keyword.empty() || keyword[0] == '#' || keyword[0] == ';') continue;
    if (keyword == "nameserver") {
      Address addr;
      uint16_t port = kDnsPort;
      if (rc.num_servers < kMaxNameservers && parse_server(next_token(line), addr, port)) {
        rc.servers[rc.num_servers] = addr;
        rc.ports[rc.num_servers] = port;
        ++rc.num_servers;
      }
    } else if (keyword == "options") {
      for (std::string_view opt = next_token(line); !opt.empty(); opt = next_token(line)) {
        int v = 0;
        if (sub(opt, 0, 8) == "timeout:" && parse_small_number(sub(opt, 8), 1000000, v)) {
          rc.timeout_s = v < 1 ? 1 : v > kMaxTimeoutS ? kMaxTimeoutS : v;
        } else if (sub(opt, 0, 9) == "attempts:" && parse_small_number(sub(opt, 9), 1000000, v)) {
          rc.attempts = v < 1 ? 1 : v > kMaxAttempts ? kMaxAttempts : v;
        }
      }
    }
  }
  if (rc.num_servers == 0) {
    rc.servers[0].family = AF_INET;
    rc.servers[0].bytes[0] = 127;
    rc.servers[0].bytes[3] = 1;
    rc.ports[0] = kDnsPort;
    rc.num_servers = 1;
  }
  return rc;
}

bool parse_ip_literal(std::string_view text, Address& out) {
  uint8_t bytes[16] = {};
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    if (!parse_v6(sub(text, 1, text.size() - 2), bytes)) return false;
    out.family = AF_INET6;
  } else if (text.find(':') != std::string_view::npos) {
    if (!parse_v6(text, bytes)) return false;
    out.family = AF_INET6;
  } else {
    if (!parse_v4(text, bytes)) return false;
    out.family = AF_INET;
  }
  memcpy(out.bytes, bytes, sizeof bytes);
  return true;
}

std::string_view strip_trailing_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

}  // namespace appconfig::dns_wire
