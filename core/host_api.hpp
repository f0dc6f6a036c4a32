// The host-API table nsrig hands to every plugin (defined in instance.cpp).
#pragma once

#include "nsrig/plugin.h"

namespace nsrig {
/** The one host-API table, static storage, ABI version NSRIG_ABI_VERSION. */
const nsrig_host_api &host_api();
}  // namespace nsrig
