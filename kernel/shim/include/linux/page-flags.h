/* z3fold-harden kernel shim: <linux/page-flags.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"
