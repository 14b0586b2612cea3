// libFuzzer target: parse_request() and decode_chunked() must give the same
// answer for the whole input as for a prefix/split of it (the server re-parses
// a growing buffer), and must never read outside the buffer (ASan).
#include "appconfig/net/http_parse.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace hp = appconfig::http_parse;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_result(const hp::Result& a, const hp::Result& b) {
  return a.status == b.status && a.error == b.error && a.consumed == b.consumed && a.error_offset == b.error_offset;
}

bool same_request(const hp::Request& a, const hp::Request& b) {
  if (a.method != b.method || a.method_id != b.method_id || a.target != b.target || a.version_minor != b.version_minor ||
      a.num_headers != b.num_headers || a.body != b.body || a.content_length != b.content_length ||
      a.keep_alive != b.keep_alive)
    return false;
  for (size_t i = 0; i < a.num_headers; ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
  }
  return true;
}

// Runs the decoder over `in` whole and split at `split`; both must agree.
void check_chunked(const uint8_t* in, size_t n, size_t split, uint64_t max_chunk) {
  std::unique_ptr<char[]> a(new char[n ? n : 1]);
  memcpy(a.get(), in, n);
  hp::ChunkedDecoder d1{};
  hp::ChunkedResult w = hp::decode_chunked(d1, a.get(), n, max_chunk);
  check(w.data_len <= w.consumed && w.consumed <= n);
  check(w.status != hp::Status::kIncomplete || w.consumed == n);

  if (split > n) split = n;
  std::unique_ptr<char[]> b1(new char[split ? split : 1]);
  memcpy(b1.get(), in, split);
  hp::ChunkedDecoder d2{};
  hp::ChunkedResult p1 = hp::decode_chunked(d2, b1.get(), split, max_chunk);
  size_t data_len = p1.data_len;
  size_t consumed = p1.consumed;
  hp::ChunkedResult last = p1;
  std::unique_ptr<char[]> out(new char[n ? n : 1]);
  memcpy(out.get(), b1.get(), p1.data_len);
  if (p1.status == hp::Status::kIncomplete) {
    check(p1.consumed == split);
    size_t rest = n - split;
    std::unique_ptr<char[]> b2(new char[rest ? rest : 1]);
    memcpy(b2.get(), in + split, rest);
    hp::ChunkedResult p2 = hp::decode_chunked(d2, b2.get(), rest, max_chunk);
    check(p2.data_len <= p2.consumed && p2.consumed <= rest);
    memcpy(out.get() + data_len, b2.get(), p2.data_len);
    data_len += p2.data_len;
    consumed += p2.consumed;
    last = p2;
  }
  check(last.status == w.status && last.error == w.error);
  if (w.status != hp::Status::kError) {
    check(consumed == w.consumed);
    check(data_len == w.data_len && memcmp(out.get(), a.get(), data_len) == 0);
    // Bytes after a complete body are untouched.
    if (w.status == hp::Status::kComplete) check(memcmp(a.get() + w.consumed, in + w.consumed, n - w.consumed) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Byte 0 picks the split point, byte 1 the limits; the rest is the message.
  const uint8_t knob = data[1];
  const uint8_t* in = data + 2;
  const size_t n = size - 2;
  const size_t split = n ? (data[0] * n) / 255 : 0;
  const size_t max_head = (knob & 1) ? 64 + knob : hp::kDefaultMaxHeaderBytes;
  const size_t max_target = (knob & 2) ? 1 + knob / 4 : hp::kDefaultMaxTargetBytes;

  // Exact-size heap copies so ASan sees any read past the end.
  std::unique_ptr<char[]> whole(new char[n ? n : 1]);
  memcpy(whole.get(), in, n);
  std::unique_ptr<char[]> prefix(new char[split ? split : 1]);
  memcpy(prefix.get(), in, split);

  auto r1 = std::make_unique<hp::Request>();
  auto r2 = std::make_unique<hp::Request>();
  hp::Result w = hp::parse_request(std::string_view(whole.get(), n), *r1, max_head, max_target);
  hp::Result p = hp::parse_request(std::string_view(prefix.get(), split), *r2, max_head, max_target);

  check(w.status != hp::Status::kComplete || (w.consumed > 0 && w.consumed <= n && w.consumed <= max_head));
  check(w.status != hp::Status::kError || (w.error != hp::Error::kNone && w.error_offset <= n));
  if (w.status == hp::Status::kComplete) {
    check(r1->num_headers <= hp::kMaxHeaders && r1->target.size() <= max_target && r1->version_minor <= 1);
    for (size_t i = 0; i < r1->num_headers; ++i) {
      const hp::Header& h = r1->headers[i];
      check(!h.name.empty() && h.name.data() >= whole.get() && h.value.data() + h.value.size() <= whole.get() + n);
    }
  }
  if (p.status != hp::Status::kIncomplete) {
    // A prefix that already decided must decide the same way.
    check(same_result(p, w));
    if (p.status == hp::Status::kComplete) {
      // Views point into different buffers; compare contents.
      check(same_request(*r1, *r2));
    }
  }
  if (w.status == hp::Status::kIncomplete) check(p.status == hp::Status::kIncomplete);

  // The decoder on what follows the head (or on everything if there is no head).
  size_t body_at = w.status == hp::Status::kComplete ? w.consumed : 0;
  size_t rest = n - body_at;
  uint64_t max_chunk = (knob & 4) ? knob : UINT64_MAX;
  check_chunked(in + body_at, rest, rest ? (data[0] * rest) / 255 : 0, max_chunk);
  return 0;
}
