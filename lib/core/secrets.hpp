#pragma once
// Process-wide registry of secrets (passwords, tokens, URLs with credentials). Everything that leaves the process
// (errors, logs, comments, summaries, outputs) passes through mask_secrets() first.
#include <string>
#include <string_view>

namespace ece {

// Registers a secret; empty or very short values (< 4 bytes) are ignored so masking stays meaningful.
// For a URL with a password, the password part is registered as well.
void register_secret(std::string_view secret);

// Replaces every registered secret in text with "***".
std::string mask_secrets(std::string_view text);

// For tests: forget everything registered.
void clear_secrets_for_test();

}  // namespace ece
