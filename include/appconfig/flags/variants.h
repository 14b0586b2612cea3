// variants: multi-variant feature flags (spec §1 Context header, §4 binary Ion
// answers, §6 evaluation, §7 local development Ion text files).
//
// Owns: the Context request header (key=value pairs, percent-decoded);
// compiling a multi-variant flag profile (Ion text or binary) into one
// self-contained blob at store time; choosing each flag's variant per request
// and answering (combined with ?flag=) as writev pieces, with no allocation.
// Knows nothing of sockets, the cache or where the profile came from. Plain
// JSON flag documents stay with the flags module.
//
// Profile shape (both encodings): a stream of top-level values, one per flag,
// each annotated with the flag name:
//   'basic'::'''{"enabled":true}'''                     one fixed value
//   'flag'::[ [ (rule), '''{"_variant":"A",…}''' ], …, '''{"_variant":"D",…}''' ]
// Variants are tried in order; the first true rule wins; the last element is
// the default (no rule: a bare string, or a one-element list). Every variant of
// a list must be a JSON object holding "_variant"; it is output as written.
//
// Lifetimes: evaluate() pieces point into the blob (which must stay where it is
// and unchanged while they are written), into `scratch` and into static
// storage. Context pairs point into Context::storage (the Context must not be
// copied while its pairs are in use: copying moves the storage).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "appconfig/flags/flags.h"
#include "appconfig/flags/rules.h"

namespace appconfig::variants {

// Pairs per request. Rules reference a handful of keys (country, tier,
// userId); 32 leaves room and bounds the per-lookup scan on the request path.
constexpr size_t kMaxContextPairs = 32;
// Decoded bytes of all keys and values together. Sits in the request's stack
// frame; the HTTP layer already caps a header section far above this, but a
// Context over 4 KiB is a client error, not something to evaluate.
constexpr size_t kMaxContextBytes = 4096;
// Flags per profile. AppConfig's own limit on a flag profile is far lower;
// this bounds the linear name lookup per ?flag= key (32 keys × 4096 names,
// charged to kMaxEvalSteps) and the duplicate-name check at compile time
// (a sort: 4096 names of 900 bytes sharing a prefix, 3.7 MB, compile 45 ms
// of which the Ion text reader takes 22).
constexpr size_t kMaxFlags = 4096;
// Variants per flag (AWS allows a few dozen). Each costs a 16-byte entry and
// one budget step when visited per request.
constexpr size_t kMaxVariants = 256;

using ContextPair = rules::ContextPair;

struct Context {
  ContextPair pairs[kMaxContextPairs];
  size_t num_pairs;
  char storage[kMaxContextBytes];  // decoded keys and values
  size_t used;
};

// header_values: every Context header value of the request, in order. Each
// is a comma-separated list of key=value (RFC 9110 §5.6.1 list: empty
// elements and whitespace around elements are ignored). Key and value are
// trimmed of spaces/tabs and percent-decoded (%XX; '+' stays '+'); the first
// '=' separates them, so values may contain '=' but a literal ',' must be sent
// as %2C. Empty values are allowed, empty keys are not. When a key repeats,
// the last pair wins. On failure returns false with a one-line message in err
// naming the pair (always NUL-terminated when err_cap > 0).
bool parse_context(const std::string_view* header_values, size_t n, Context& out, char* err, size_t err_cap);

struct CompileResult {
  bool ok;
  bool out_of_space;  // on failure: only the buffer was too small; retry with a larger one
  size_t blob_len;    // the blob occupies out[0, blob_len)
  char message[256];  // on failure: what, which flag, which input byte offset
};

// Memory one profile compile may use: the parse tree (104 bytes per Ion
// value, whatever the encoding: a binary null is one byte) and the blob under
// construction (40 bytes per rule node, programs, texts) share one buffer.
// The caller maps it lazily (pages are touched only as the arena fills), so a
// small profile uses little of it; a profile that needs more is refused with
// a message naming the limit, and the previous version stays in the cache.
// 16 MiB holds about 160 000 Ion values with their compiled rules (a 1 MB
// profile at 6 bytes per value), far beyond real profiles, and keeps a 128 MB
// Lambda alive. It also bounds the work spent before refusing: the parse
// stops when the arena is full (measured in docs/feature-flags.md). Peak RSS
// while loading the worst accepted profile is stated in docs/settings.md
// next to AWS_APPCONFIG_EXTENSION_CACHE_SIZE.
constexpr size_t kMaxCompileBytes = 16u << 20;

// A buffer size for compiling a profile of input_len bytes: about 160 bytes
// per input byte, at most kMaxCompileBytes. With a buffer of kMaxCompileBytes
// an over-size profile is a final error (out_of_space false, message names
// the limit); with a smaller one out_of_space says a retry with up to
// kMaxCompileBytes may succeed.
size_t compile_capacity_hint(size_t input_len);

// Compile a profile in Ion text (local development files) or Ion binary (the
// service's answer to the Ion Accept header). The buffer is also used as
// scratch for the parse tree; `out` needs no particular alignment.
CompileResult compile_ion_text(std::string_view text, uint8_t* out, size_t cap);
CompileResult compile_ion_binary(std::string_view bytes, uint8_t* out, size_t cap);

// True when bytes start with the Ion binary version marker E0 01 00 EA.
bool looks_like_ion_binary(std::string_view bytes);

enum class EvalError : uint8_t {
  kNone,
  kUnknownFlag,      // *bad_key_index names the first unknown key, in query order
  kTooManyKeys,      // more than flags::kMaxFlagKeys keys
  kScratchTooSmall,  // the answer needs more pieces than flags::kMaxPieces and scratch cannot hold the spill
  kCorruptBlob,      // not a blob produced by compile_*
  kOverBudget,       // the answer needs more than kMaxEvalSteps; EvalCost::flag_index names the flag
};
const char* eval_error_message(EvalError error);

// Work one request's evaluation may do, in regex::run steps (one Pike VM
// thread step, about 2 ns; rules.cpp weighs other work in the same unit):
// every flag-name comparison, variant visited, rule node, context lookup,
// byte comparison and regex step of the answer draws from this one budget.
// Worst case measured on the reference machine (release build, CPU time):
// 1.5-3 ms of loop time whatever the profile and Context
// (docs/feature-flags.md). Real answers take far less: the example profile
// 133 steps; kMaxFlags flags × 8 variants with a rule each, every rule run,
// 660 000. Over it, the request is answered with an error naming the flag
// being evaluated (the hostile case: a 6.7 KB profile of (or (matches …) …)
// with [^…]{1000} against a 4 000-byte Context value took 19.7 s before).
constexpr uint64_t kMaxEvalSteps = 1'000'000;

struct EvalCost {
  uint64_t steps;     // steps the evaluation took
  size_t flag_index;  // kOverBudget: the flag (profile order) being evaluated; else SIZE_MAX
};

// The name of flag `flag_index` (profile order); empty when out of range.
std::string_view flag_name(std::string_view blob, size_t flag_index);

// Scratch that always suffices for any answer from this blob (the largest
// possible all-flags answer). Most answers need none.
size_t scratch_bytes_needed(std::string_view blob);

// Answers a request: no keys -> {"flag":value,…} for every flag in profile
// order; one distinct key -> that flag's value alone; several -> an object
// keyed by flag in query order (repeated keys count once). Each value is the
// chosen variant's JSON. No Context pairs -> every flag's default variant.
// Pieces point into the blob where possible (adjacent ones merged); if the
// answer needs more than flags::kMaxPieces pieces, the rest is copied into
// scratch. Runs no allocation.
EvalError evaluate(std::string_view blob, const Context& ctx, std::span<const std::string_view> keys, char* scratch,
                   size_t scratch_cap, flags::Filtered& out, size_t* bad_key_index, EvalCost* cost = nullptr);

}  // namespace appconfig::variants
