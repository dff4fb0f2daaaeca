/* z3fold-harden kernel shim: <linux/types.h> is the system's (the C library includes it), the
 * shim's definitions come with kshim.h. */
#pragma once
#include_next <linux/types.h>
