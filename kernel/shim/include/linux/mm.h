/* z3fold-harden kernel shim: <linux/mm.h> is one part of kshim.h. */
#pragma once
#include "kshim.h"
