#pragma once
// Process-wide registry of secrets (passwords, tokens, URLs with credentials). Everything that leaves the process
// (errors, logs, comments, summaries, outputs) passes through mask_secrets() first.
#include <string>
#include <string_view>
#include <vector>

namespace ece {

// Registers a secret in every form of secret_forms(); empty or very short values (< 4 bytes) are ignored so masking
// stays meaningful.
void register_secret(std::string_view secret);

// The shapes a secret reaches output in: as is and percent-encoded (upper- and lower-case hex); for a URL with a
// password, also that password as written in the URL and decoded (each percent-encoded too).
std::vector<std::string> secret_forms(std::string_view secret);

// Replaces every registered secret in text with "***".
std::string mask_secrets(std::string_view text);

// For tests: forget everything registered.
void clear_secrets_for_test();

}  // namespace ece
