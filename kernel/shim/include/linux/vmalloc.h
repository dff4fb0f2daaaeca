/* z3fold-harden kernel shim: <linux/vmalloc.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"
