#pragma once
// What each chain of the entry point can ask GitHub, as the permissions its workflow job must grant the token
// (github/permissions.hpp says what each call needs). tests/workflows holds every workflow to exactly this (plus
// contents: read to check out); the end-to-end tests check every request a chain made against it.
#include "github/permissions.hpp"

#include <string_view>

namespace ece::lifecycle {

// preview, destroy, publish, gc, hints (the fork artifact's preview is preview). Throws ece::Error(usage) for any
// other name.
github::Permissions github_permissions(std::string_view chain);

}  // namespace ece::lifecycle
