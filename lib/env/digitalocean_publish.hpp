#pragma once
// Publishing on the digitalocean provider: the branch's cluster is resized in place to the production size,
// tagged as production, and the previous production cluster is deleted once the new one is healthy
// (digitalocean::Provider::publish). The `ece` entry point and ece-publish call this for provider digitalocean;
// ece-env publish is the command-line way.
#include "env/environments.hpp"

namespace ece::env {

// What publish would do (resize, retag, delete) with the monthly cost before and after; only reads. Throws
// ece::Error (usage) when the environments are not on the digitalocean provider, (conflict) when the
// environment has no cluster.
ChangePlan plan_publish_by_resize(Environments& environments, const Identity& id);

// Publishes under the environment's advisory lock (when there is a catalog). The result carries the new
// production cluster, the names deleted, and the monthly cost before (previous production + the branch's
// cluster) and after (the new production alone); the environment's catalog row is then closed (destroyed): its
// cluster is production's now. Nothing of production changes when resize or health fail.
digitalocean::PublishResult publish_by_resize(Environments& environments, const Identity& id);

}  // namespace ece::env
