// http_parse: pure, incremental, zero-copy HTTP/1.1 request and response head
// parsers plus a resumable in-place chunked body decoder (RFC 9110, RFC 9112).
//
// Owns: the byte-level grammar of request lines, status lines, header fields,
// message framing (Content-Length / Transfer-Encoding / Connection) and chunked
// transfer coding. Knows nothing of sockets, the event loop, routing or bodies
// beyond their framing. Model: picohttpparser -- the caller keeps every byte it
// has received in one buffer and calls parse_*() again on the whole buffer when
// more arrive; any split of the input gives the same final result. A caller
// that keeps a RequestScan between calls (the server) has each byte examined
// about once however the head is split (picohttpparser's last_len, taken to
// the byte); without one every call starts again at byte 0.
//
// Lifetimes: every std::string_view in Request / Response / Header points into
// the `buf` passed to the parse call and is valid only while that buffer is
// unchanged. decode_chunked() rewrites its buffer in place. After kIncomplete
// or kError the contents of the Request / Response are unspecified.
//
// Strictness choices are documented in docs/http-parser.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/core/text.h"

namespace appconfig::http_parse {

// Header fields kept per message: the agent's callers (Lambda functions over
// localhost, AppConfig over TLS) send about a dozen; 64 leaves room for proxies
// and SDKs while bounding the Request struct to ~2 KiB.
constexpr size_t kMaxHeaders = 64;
// Request line + header fields + final CRLF. 16 KiB is well above what real
// clients send and keeps the server's per-connection input buffer small.
constexpr size_t kDefaultMaxHeaderBytes = 16 * 1024;
// Longest request-target; RFC 9112 §3 recommends supporting at least 8000 octets.
constexpr size_t kDefaultMaxTargetBytes = 8 * 1024;
// One chunk-size line including chunk extensions (RFC 9112 §7.1.1). Extensions
// are ignored, so the only reason to accept them at all is interoperability;
// bound them so a peer cannot stream an endless size line.
constexpr size_t kMaxChunkLineBytes = 4096;
// The trailer section after the last chunk (RFC 9112 §7.1.2) is skipped; it is
// bounded like a header section.
constexpr size_t kMaxTrailerBytes = kDefaultMaxHeaderBytes;

enum class Status : uint8_t { kComplete, kIncomplete, kError };

enum class Error : uint8_t {
  kNone,
  kBadRequestLine,
  kBadMethod,
  kBadTarget,
  kBadVersion,
  kVersionNotSupported,
  kBadHeader,
  kTooManyHeaders,
  kHeadersTooLarge,
  kUriTooLong,
  kBadContentLength,
  kBadTransferEncoding,
  kUnsupportedTransferEncoding,
  kBadStatusLine,
  kBadChunk,
  kChunkTooLarge,
  kConflictingFraming,  // Transfer-Encoding together with Content-Length (RFC 9112 §6.3 ¶3)
};
// One short lowercase phrase, e.g. "malformed request line". Never null.
const char* error_message(Error e);
// The status a server answers with: 400, 413, 414, 431, 501, 505 (500 for kNone,
// which is a caller bug).
int error_status(Error e);

enum class Method : uint8_t { kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch, kConnect, kTrace, kOther };
// kUntilClose only for responses (RFC 9112 §6.3 ¶8).
enum class BodyKind : uint8_t { kNone, kContentLength, kChunked, kUntilClose };

struct Header {
  std::string_view name;
  std::string_view value;  // without surrounding OWS
};

struct Request {
  std::string_view method;  // case-sensitive token (RFC 9110 §9.1)
  Method method_id;         // exact-case match of a standard method, else kOther
  std::string_view target;  // as sent: origin-, absolute-, authority- or asterisk-form
  uint8_t version_minor;    // 0 or 1
  Header headers[kMaxHeaders];
  size_t num_headers;
  BodyKind body;            // kNone, kContentLength or kChunked
  uint64_t content_length;  // valid when body == kContentLength
  bool keep_alive;          // RFC 9112 §9.3: 1.1 default on unless "close"; 1.0 needs "keep-alive"
};

struct Result {
  Status status;
  Error error;          // kNone unless status == kError
  size_t consumed;      // kComplete: bytes of the head incl. final CRLF (body excluded); else 0
  size_t error_offset;  // kError: offset in buf where the problem was detected
};

Result parse_request(std::string_view buf, Request& out, size_t max_header_bytes = kDefaultMaxHeaderBytes,
                     size_t max_target_bytes = kDefaultMaxTargetBytes);

// What the framing headers said so far (internal to the parser; kept in
// RequestScan so a resumed scan knows the lines it already checked).
struct Framing {
  bool has_cl = false;
  uint64_t cl = 0;
  bool has_te = false;
  int te_chunked = 0;          // how many "chunked" codings
  int te_other = 0;            // codings other than chunked
  bool te_last_chunked = false;
  size_t te_offset = 0;        // first Transfer-Encoding line, for error offsets
  bool conn_close = false;
  bool conn_keep_alive = false;
};

// Where a request-head scan stopped. Value-initialise (`RequestScan{}`) before
// each request and pass the same one, with the same `out`, on every call for
// that head. Between calls the caller may append bytes and may move the
// buffer (the views already in `out` are rebased), but must not change bytes
// already passed. Every byte is examined once, except the few bytes of a
// partial CRLF or version, which are looked at again.
struct RequestScan {
  const char* base = nullptr;  // buf.data() at the previous call
  size_t pos = 0;              // bytes [0, pos) are checked
  uint64_t scanned = 0;        // bytes stepped over, all calls together (tests, stats)
  uint8_t phase = 0;
  uint8_t minor = 0;
  size_t mark = 0;  // start of the token being read (method, target, version, field name)
  size_t method_end = 0, target_start = 0, target_end = 0, name_end = 0, value_start = 0;
  size_t num_headers = 0;
  Framing framing;
};
Result parse_request(std::string_view buf, Request& out, RequestScan& scan,
                     size_t max_header_bytes = kDefaultMaxHeaderBytes, size_t max_target_bytes = kDefaultMaxTargetBytes);

struct Response {
  uint8_t version_minor;  // 0 or 1
  int status;             // 100..999
  std::string_view reason;
  Header headers[kMaxHeaders];
  size_t num_headers;
  BodyKind body;
  uint64_t content_length;
  bool keep_alive;
};

// BodyKind follows RFC 9112 §6.3: HEAD requests, 1xx, 204 and 304 have no body;
// then chunked; then Content-Length; otherwise the body runs until close.
Result parse_response(std::string_view buf, Response& out, bool request_was_head,
                      size_t max_header_bytes = kDefaultMaxHeaderBytes);

// Resumable in-place chunked decoder (RFC 9112 §7.1). Zero-initialise (or
// value-initialise with `ChunkedDecoder{}`) before each body.
enum class ChunkState : uint8_t {
  kSizeStart = 0,  // first hex digit of a chunk-size
  kSize,           // further hex digits
  kExtBws,         // after size or extension; expect BWS, ';' or CR
  kExtBwsSemi,     // BWS seen; only more BWS or ';' may follow
  kExtNameStart,   // after ';' (BWS allowed), expect token
  kExtName,
  kExtAfterName,   // '=', BWS, ';' or CR
  kExtNameBws,     // BWS after a name; '=' or ';' must follow
  kExtValueStart,  // after '=' (BWS allowed), token or quoted-string
  kExtValueToken,
  kExtQuoted,
  kExtQuotedPair,  // after a backslash inside a quoted-string
  kSizeLf,         // CR seen at end of size line
  kData,
  kDataCr,
  kDataLf,
  kTrailerStart,   // start of a trailer line or the final CRLF
  kTrailerName,
  kTrailerValue,
  kTrailerLf,
  kFinalLf,
  kDone,
  kError,
};
struct ChunkedDecoder {
  ChunkState state;
  uint8_t size_digits;     // significant hex digits seen in the current chunk-size
  uint16_t line_bytes;     // bytes of the current size line (<= kMaxChunkLineBytes)
  uint32_t trailer_bytes;  // bytes of the trailer section so far
  uint64_t remaining;      // chunk-size being read, then data bytes still to copy
  Error error;             // sticky once state == kError
};
struct ChunkedResult {
  Status status;
  Error error;
  size_t data_len;  // decoded bytes now at buf[0..data_len)
  size_t consumed;  // input bytes used; on kIncomplete always == len
};
// Decodes buf[0..len): the decoded body bytes are moved to buf[0..data_len);
// consumed = input bytes used. kComplete after the last chunk and the trailer
// section's final CRLF (trailers are validated and skipped, bounded by
// kMaxTrailerBytes); bytes after `consumed` are untouched (a pipelined message).
// kIncomplete = feed more later; all input is consumed (partial lines live in
// the state). A chunk larger than max_chunk_bytes is kChunkTooLarge.
ChunkedResult decode_chunked(ChunkedDecoder& d, char* buf, size_t len, uint64_t max_chunk_bytes);

// RFC 9110 §5.6.2 token: one or more tchar (method names, header names, codings).
bool is_token(std::string_view s);
// A field value fit to send (RFC 9110 §5.5): visible ASCII, SP and HTAB only. Stricter than what
// the parsers accept (no obs-text, no other control bytes): CR, LF and NUL would let a value
// smuggle a header or a second request, so every value sent from input stays visible ASCII.
bool is_visible_field_value(std::string_view s);

// Case-insensitive name lookup; the first match, or an empty view (data()==nullptr) if absent.
std::string_view find_header(const Header* headers, size_t n, std::string_view name);

}  // namespace appconfig::http_parse
