// dns_wire: pure DNS message, /etc/hosts and resolv.conf parsing (no sockets).
//
// Owns: building one-question queries (RFC 1035 §4.1), checking and decoding
// replies (compression pointers §4.1.4, CNAME chains inside the answer section),
// hosts-file lookup (hosts(5)), resolv.conf parsing (resolv.conf(5)) and IP
// literal parsing. Knows nothing of sockets, timers, retries or caching: the
// non-blocking resolver engine (module dns) drives these functions.
//
// Every function reads only inside the spans it is given and never allocates;
// results are copied into caller-provided structs (no views into the packet
// outlive the call).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace appconfig::dns_wire {

// Largest reply we accept over UDP (the EDNS payload size we would advertise,
// RFC 6891 §6.2.5); also the size of the query/reply buffers the engine keeps.
// parse_response itself accepts longer (TCP) replies.
constexpr size_t kMaxPacketBytes = 4096;
// Compression pointers followed while decoding one name. Pointers must point
// strictly backwards (RFC 1035 §4.1.4 "a prior occurrence"), so loops are
// impossible; this bounds the work anyway.
constexpr int kMaxPointerHops = 16;
// Addresses kept from one reply: the HTTP client tries a few, never dozens.
constexpr size_t kMaxAddresses = 8;
// CNAME links followed inside one answer section (glibc and musl use similar
// small bounds); a longer chain or a loop ends in kNoAnswer.
constexpr int kMaxCnameHops = 8;
// RFC 1035 §2.3.4: 63-octet labels, 255-octet wire names (253 text characters).
constexpr size_t kMaxLabelBytes = 63;
constexpr size_t kMaxNameWireBytes = 255;
constexpr size_t kMaxNameTextBytes = 253;
// resolv.conf(5): at most MAXNS = 3 nameservers; timeout capped at 30 s,
// attempts at 5; defaults RES_TIMEOUT = 5 and RES_DFLRETRY = 2.
constexpr size_t kMaxNameservers = 3;
constexpr int kDefaultTimeoutS = 5;
constexpr int kMaxTimeoutS = 30;
constexpr int kDefaultAttempts = 2;
constexpr int kMaxAttempts = 5;
constexpr uint16_t kDnsPort = 53;

enum class Type : uint16_t { kA = 1, kCname = 5, kAaaa = 28 };

struct Address {
  int family;         // AF_INET or AF_INET6
  uint8_t bytes[16];  // network order; IPv4 uses the first 4
};

// Builds a query (RD=1, one question, class IN) for name into out. name is
// dotted text; one trailing dot is allowed. Returns the length, or 0 on error:
// empty name or label, label > 63, name > 253 characters, a byte outside
// printable ASCII (0x21..0x7e), or cap too small.
size_t build_query(uint16_t id, std::string_view name, Type type, uint8_t* out, size_t cap);

enum class ParseError : uint8_t {
  kNone,
  kTruncatedPacket,  // a read past the end, or a malformed record (e.g. A with rdlength != 4)
  kWrongId,
  kNotResponse,      // QR = 0 or opcode != QUERY
  kWrongQuestion,    // question count, name, type or class do not match the query
  kTruncatedFlag,    // TC = 1: retry over TCP (RFC 1035 §4.2.1, RFC 7766)
  kNxDomain,
  kServerFailure,
  kRefused,
  kOtherRcode,
  kBadName,          // label type 01/10, name > 255 octets, qname not encodable
  kPointerLoop,      // a compression pointer not pointing strictly backwards, or too many hops
  kNoAnswer,         // NOERROR without an address for the (final) name; CNAME chain too long
};
const char* error_message(ParseError e);

struct Answer {
  Address addrs[kMaxAddresses];
  size_t num_addrs;
  uint32_t ttl_s;      // minimum TTL of the records used (CNAME links and addresses)
  char canonical[256]; // final name of the chain as text, NUL-terminated, no trailing dot,
                       // lower case; bytes outside 0x21..0x7e (and '.' inside a label) shown as '?'
};

// Checks id, QR/opcode, TC, rcode and the question (name ASCII case-insensitive
// so 0x20-mixed case works, type, class IN); follows CNAME chains inside the
// answer section (bounded by kMaxCnameHops, any record order); collects A or
// AAAA records of class IN for the final name (at most kMaxAddresses, in packet
// order). Every read is length-checked. On error, out is unspecified.
ParseError parse_response(const uint8_t* pkt, size_t len, uint16_t expected_id, std::string_view qname, Type qtype,
                          Answer& out);

// /etc/hosts: finds name (ASCII case-insensitive, trailing dot ignored) among
// the canonical names and aliases of every line and copies the addresses of
// both families, in file order, without duplicates, up to cap. '#' starts a
// comment anywhere; fields are separated by spaces or tabs; lines with an
// unparsable address (including IPv6 with a %zone) are skipped. "localhost" and
// "*.localhost" with no line of their own are 127.0.0.1 and ::1 (RFC 6761 §6.3).
size_t lookup_hosts(std::string_view hosts_file_text, std::string_view name, Address* out, size_t cap);

struct ResolvConf {
  Address servers[kMaxNameservers];
  uint16_t ports[kMaxNameservers];
  size_t num_servers;
  int timeout_s;  // options timeout:n, clamped to [1, 30]
  int attempts;   // options attempts:n, clamped to [1, 5]
};
// "nameserver ADDR" lines (first 3 valid ones; ADDR per parse_ip_literal, plus
// our extension "[ADDR]:PORT" or "a.b.c.d:PORT" for test servers; port 53 by
// default); "options timeout:n attempts:n" (other options, domain, search and
// sortlist are ignored). Lines starting with '#' or ';' are comments.
// No valid nameserver -> 127.0.0.1:53, as resolv.conf(5) specifies.
ResolvConf parse_resolv_conf(std::string_view text);

// "1.2.3.4" (exactly four decimal parts 0..255, no leading zeros, like
// inet_pton), IPv6 text per RFC 4291 §2.2 (with "::" and a trailing dotted
// IPv4), optionally in brackets: "[::1]". No zone ids, no surrounding spaces.
bool parse_ip_literal(std::string_view text, Address& out);

// A name without its root dot: "example.com." -> "example.com" (one dot at most).
std::string_view strip_trailing_dot(std::string_view name);

}  // namespace appconfig::dns_wire
