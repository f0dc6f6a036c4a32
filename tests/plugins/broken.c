/* Plugins built to be broken, one per BROKEN_KIND, for the registry's refusals. */
#define _GNU_SOURCE
#include <nsrig/plugin.h>
#include <sched.h>

#define EXPORT __attribute__((visibility("default")))

#if BROKEN_KIND == 1 /* no entry point: the symbol is not exported */
int32_t nsrig_plugin_entry(uint32_t v, const nsrig_host_api *h, const nsrig_plugin_descriptor **out) {
  (void)v, (void)h, (void)out;
  return NSRIG_OK;
}
#else
static const char *const none[] = {0};
static nsrig_plugin_descriptor desc = {
    sizeof(nsrig_plugin_descriptor), 1, "broken", "0.0.1", "test", 0, none, none,
};
EXPORT int32_t nsrig_plugin_entry(uint32_t v, const nsrig_host_api *h, const nsrig_plugin_descriptor **out) {
  (void)v, (void)h;
#if BROKEN_KIND == 2 /* refuses every version the host offers */
  return NSRIG_ERR_ABI;
#elif BROKEN_KIND == 3 /* answers with a version newer than offered */
  desc.abi_version = 99;
#elif BROKEN_KIND == 4 /* descriptor smaller than version 1's required part */
  desc.struct_size = 8;
#elif BROKEN_KIND == 5 /* a second plugin owning CLONE_NEWUTS */
  desc.name = "uts2";
  desc.clone_flag = CLONE_NEWUTS;
#elif BROKEN_KIND == 6 /* a second plugin named "probe" */
  desc.name = "probe";
#elif BROKEN_KIND == 7 /* an old, smaller descriptor: only the required part (must load) */
  desc.name = "small";
  desc.struct_size = NSRIG_DESCRIPTOR_V1_MIN_SIZE;
  desc.on_configure = (nsrig_configure_fn)1; /* past struct_size: the host must not read it */
#endif
  *out = &desc;
  return NSRIG_OK;
}
#endif
