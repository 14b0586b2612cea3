// cli: the command line around the server (docs/settings.md "Command line").
//
// Owns: argument parsing, --version, --help (generated from settings::variables(), the one
// settings table), the `healthcheck` client and the printing of `check`'s plan.
// Knows nothing of the loop or the server: `check` itself runs in main (the same init code as
// start-up, stopped before anything binds or calls AWS) and hands its findings to print_check().
// No arguments always means "serve", exactly as before this module existed: Lambda starts
// extensions without arguments.
//
// healthcheck is a separate short-lived process (an ECS healthCheck command, a Kubernetes exec
// probe), so it uses plain blocking calls with a bounded total time (kHealthcheckTimeoutMs), not
// the loop. It needs no shell and no curl: the FROM scratch image holds only this binary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/core/settings.h"

namespace appconfig::cli {

// Connect, send and read share this budget. It stays under the callers' own limits (Kubernetes
// probes default to 1 s, ECS health checks to 5 s) so a hung agent is reported by us, not by a
// kill; a healthy agent answers /ping from its loop in well under a millisecond.
constexpr int kHealthcheckTimeoutMs = 800;
// The status line and headers of /ping's answer fit easily; the body is ignored.
constexpr size_t kMaxHealthResponseBytes = 1024;

enum class Command : uint8_t { kServe, kVersion, kHelp, kCheck, kHealthcheck, kUsageError };

struct Args {
  Command command = Command::kServe;
  const char* host = nullptr;  // healthcheck --host
  const char* port = nullptr;  // healthcheck --port
  char error[256] = {};        // kUsageError: what was wrong
};

Args parse(int argc, const char* const* argv);

// Exit codes of the subcommands.
constexpr int kExitOk = 0;
constexpr int kExitUnhealthy = 1;
constexpr int kExitUsage = 2;  // also check's "start-up would fail" code, as start-up's own

void print_version(int fd);
void print_help(int fd);
void print_usage_error(int fd, const Args& a);

// GETs /ping on the agent described by the environment (port, HTTP_HOST, ACCESS_TOKEN,
// REQUIRE_TOKEN) unless --port / --host say otherwise. Prints one line; returns kExitOk on a 200,
// kExitUnhealthy otherwise (no answer, another status, bad settings).
int healthcheck(const Args& a, const char* const* envp);

// What `check` found: everything start-up would use, already validated.
struct Plan {
  const settings::Settings* cfg;
  const char* mode;               // "Lambda extension", "agent", ...
  const char* source;             // "AWS AppConfig at https://..." or "local files in /dir"
  std::string_view region;        // "" when the source needs none
  const char* credentials;        // credential source by name, "" when not needed
  struct Key {
    std::string_view application, environment, profile;
    const char* why;              // "prefetch list", "manifest", "manifest (fetched from AppConfig)"
  };
  const Key* keys;
  size_t num_keys;
};
void print_check(int fd, const Plan& plan);

// The addresses the server binds for these settings, as "127.0.0.1:2772 and [::1]:2772".
void describe_listen(const settings::Settings& cfg, char* out, size_t cap);

}  // namespace appconfig::cli
