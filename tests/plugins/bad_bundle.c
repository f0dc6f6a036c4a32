/* Bundles built to be broken, one per BUNDLE_KIND, for the registry's and
 * plugin-check's refusals. Each is reached as alpha.so and beta.so. */
#define _GNU_SOURCE
#include <nsrig/plugin.h>
#include <sched.h>

#define EXPORT __attribute__((visibility("default")))

static nsrig_plugin_descriptor alpha = {sizeof(nsrig_plugin_descriptor), 1, "alpha", "0.0.1", "test", 0, 0, 0};
static nsrig_plugin_descriptor beta = {sizeof(nsrig_plugin_descriptor), 1, "beta", "0.0.1", "test", 0, 0, 0};
static const nsrig_plugin_descriptor *members[] = {&alpha, &beta};

EXPORT int32_t nsrig_plugin_bundle(uint32_t v, const nsrig_host_api *h, const nsrig_plugin_descriptor *const **out,
                                   uint32_t *count) {
  (void)v, (void)h;
  *out = members;
  *count = 2;
#if BUNDLE_KIND == 1 /* a count far past the array */
  *count = 0xffffffffu;
#elif BUNDLE_KIND == 2 /* two plugins named alpha */
  beta.name = "alpha";
#elif BUNDLE_KIND == 3 /* no plugin at all */
  *count = 0;
#elif BUNDLE_KIND == 4 /* both claim CLONE_NEWUTS */
  alpha.clone_flag = beta.clone_flag = CLONE_NEWUTS;
#elif BUNDLE_KIND == 6 /* alpha is fine, its sibling is not: a name no file can have, and a short descriptor */
  beta.name = "Bad Name";
  beta.struct_size = 8;
#endif
  return NSRIG_OK;
}

#if BUNDLE_KIND == 5 /* the single-plugin entry point too: an older host would get beta for alpha.so */
EXPORT int32_t nsrig_plugin_entry(uint32_t v, const nsrig_host_api *h, const nsrig_plugin_descriptor **out) {
  (void)v, (void)h;
  *out = &beta;
  return NSRIG_OK;
}
#endif
