#include "env/digitalocean_publish.hpp"

#include "core/error.hpp"

namespace ece::env {
namespace {

DigitalOceanProvider& digitalocean_of(Environments& environments) {
    auto* provider = dynamic_cast<DigitalOceanProvider*>(&environments.provider());
    if (!provider) {
        throw Error(ErrorKind::usage, "publishing by resize needs environments.provider digitalocean (this is " +
                                          environments.provider().kind() + "; publish it with ece-publish)",
                    {.field = "environments.provider"});
    }
    return *provider;
}

}  // namespace

ChangePlan plan_publish_by_resize(Environments& environments, const Identity& id) {
    return digitalocean_of(environments).plan_publish(id);
}

digitalocean::PublishResult publish_by_resize(Environments& environments, const Identity& id) {
    auto& provider = digitalocean_of(environments);
    digitalocean::PublishResult result;
    environments.locked(id, [&] {
        result = provider.publish(id);
        environments.forget(id);  // its cluster is production's now
    });
    return result;
}

}  // namespace ece::env
